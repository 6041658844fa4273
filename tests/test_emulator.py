"""The emulator (fpga_accel/runtime/emulator.py): the design's arithmetic in numpy, bit for bit csim's.

The zoo-wide third oracle (QKeras == emulator == csim, both io types, inputs inside and beyond the input
quantizer's range, per-layer traces) runs with the fidelity zoo in tests/test_fidelity.py, on the projects
those tests build anyway. Here: the casts against the ap_fixed rules, the engines' contract (auto checks
and falls back, emulator refuses what it does not cover, never compiles), and the CLI flag — one compile.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from fpga_accel.errors import ConfigError
from fpga_accel.runtime.emulator import NotEmulated, cast
from fpga_accel.runtime.hls_text import c_int
from fpga_accel.runtime.fixed_point import OVERFLOW, QUANTIZATION, FixedType
from models import float_inputs, qmlp


def _types():
    rng = np.random.default_rng(7)
    for q in QUANTIZATION:
        for o in OVERFLOW:
            for signed in (True, False):
                if o == "WRAP_SM" and not signed:
                    continue
                for _ in range(6):
                    width = int(rng.integers(1, 24))
                    yield FixedType(width, int(rng.integers(-3, width + 4)), signed, q, o, int(rng.integers(0, 2)) if o == "WRAP" else 0)


def test_cast_is_ap_fixed_assignment():
    """The emulator's fast cast equals FixedType.quantize (itself checked against the ap_fixed headers by a
    compiled program): every rounding and overflow mode, halves, values far out of range, signed zero."""
    types = list(_types())
    assert len(types) > 300
    for t in types:
        rng = np.random.default_rng(t.width * 131 + t.integer)
        lsb = t.lsb
        grid = rng.integers(-2 ** 12, 2 ** 12, 4000) * (lsb / 8)  # values 1/8 of a step apart: halves included
        big = rng.uniform(-1, 1, 500) * 2.0 ** rng.integers(0, 40, 500) * lsb
        v = np.concatenate([grid, big, [0.0, -0.0, lsb / 2, -lsb / 2, 3 * lsb / 2, -3 * lsb / 2]])
        assert np.array_equal(cast(v, t), t.quantize(v)), t


def test_cast_falls_back_per_value_beyond_float64_steps():
    """Values the fast path cannot hold (beyond 2^52 grid steps, ±inf, NaN) mixed into an ordinary batch:
    the header's bit-level rules for those values, the fast path for the rest — bit for bit quantize."""
    rng = np.random.default_rng(11)
    odd = np.array([2.0 ** 60, -2.0 ** 60, 3e38, -3e38, np.inf, -np.inf, np.nan, 2.0 ** -1074])
    for t in (FixedType(8, 3, True, "RND_CONV", "SAT"), FixedType(18, 8), FixedType(6, 0, False, "RND", "SAT_ZERO"),
              FixedType(32, 3, True, "RND_CONV", "SAT"), FixedType(12, 4, True, "TRN", "SAT_SYM")):
        v = rng.uniform(-20, 20, 1000)
        v[rng.choice(1000, len(odd), replace=False)] = odd
        assert np.array_equal(cast(v, t), t.quantize(v)), t
        assert np.array_equal(cast(v[:5], t), t.quantize(v[:5])), t
        assert float(cast(np.array(v[0]), t)) == float(t.quantize(np.array([v[0]]))[0]), t  # 0-d, as the tables use


def test_cast_of_typed_values_skips_only_what_cannot_change_them():
    """_cast_from (the ReLU's and BN's cast of values of a known type: no scan for huge values, the clamp
    always applied) equals FixedType.quantize for every rounding and overflow mode, on every value of a
    source type and on values out of the result's range on both sides."""
    from fpga_accel.runtime.emulator import _cast_from

    sources = (FixedType(18, 8), FixedType(12, 4, False), FixedType(44, 10), FixedType(9, 9))
    for t in _types():
        for src in sources:
            lo, hi = src.raw_range()
            raw = np.random.default_rng(src.width).integers(lo, hi + 1, 3000)
            v = np.concatenate([raw, [lo, hi, 0, 1]]) * src.lsb
            assert np.array_equal(_cast_from(v, src, t), t.quantize(v)), (src, t)


def test_struct_sizes_are_integer_expressions_not_code():
    fields = {"filt_height": "3", "filt_width": "3", "kernel_size": "filt_height * filt_width", "n": "6*6*4"}
    assert c_int("kernel_size", fields) == 9
    assert c_int("(kernel_size + 1) * 2", fields) == 20
    assert c_int("n", fields) == 144
    assert c_int("16u", fields) == 16
    for text in ("DIV_ROUNDUP(n, 2)", "__import__('os')", "n / 0", "kernel_size;", "unknown"):
        assert c_int(text, fields) is None


def _geometry(h, wd, c, f, kh, kw, sh, sw, pads):
    top, bottom, left, right = pads
    oh, ow = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    return dict(in_height=h, in_width=wd, n_chan=c, n_filt=f, filt_height=kh, filt_width=kw, stride_height=sh,
                stride_width=sw, pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right, out_height=oh,
                out_width=ow)


@pytest.mark.parametrize("case", [
    (9, 9, 3, 5, 3, 3, 1, 1, (1, 1, 1, 1)),  # 'same'
    (8, 8, 4, 6, 4, 4, 1, 1, (1, 2, 1, 2)),  # even kernel, the ResNet's asymmetric 'same'
    (8, 8, 3, 4, 4, 4, 4, 4, (0, 0, 0, 0)),  # stride = kernel
    (11, 10, 2, 3, 3, 2, 2, 3, (0, 1, 1, 0)),  # strides whose windows miss the last rows/columns
    (7, 9, 5, 2, 1, 1, 2, 2, (0, 0, 0, 0)),  # pointwise, strided
    (1, 12, 3, 4, 1, 5, 1, 2, (0, 0, 2, 2)),  # Conv1D
    (5, 5, 2, 3, 5, 5, 1, 1, (0, 0, 0, 0)),  # the kernel covers the image
])
def test_convolution_by_taps_sums_what_im2col_sums(case, monkeypatch):
    """The convolution's sums by kernel taps (shifted slices of the padded image) equal im2col patches @
    weights bit for bit, on integers large enough that a lost or doubled term would show: every stride,
    padding and kernel shape the tap shifts and stride phases must get right, in sample blocks too."""
    from fpga_accel.runtime import emulator
    from fpga_accel.runtime.emulator import _conv_by_taps, _patches

    g = _geometry(*case)
    rng = np.random.default_rng(sum(case[:8]))
    n, k = 7, g["filt_height"] * g["filt_width"] * g["n_chan"]
    v = rng.integers(-2 ** 12, 2 ** 12, (n, g["in_height"] * g["in_width"] * g["n_chan"])).astype(np.float64)
    w = rng.integers(-2 ** 10, 2 ** 10, (k, g["n_filt"])).astype(np.float64)
    patches = np.ascontiguousarray(_patches(v, g)).reshape(-1, k)
    expected = patches @ w
    assert expected.shape == (n * g["out_height"] * g["out_width"], g["n_filt"])
    assert np.array_equal(_conv_by_taps(v, g, w), expected)
    monkeypatch.setattr(emulator, "TAP_BLOCK_VALUES", 1)  # one sample per block
    assert np.array_equal(_conv_by_taps(v, g, w), expected)


@pytest.mark.parametrize("case", [
    (9, 9, 3, 5, 3, 3, 1, 1, (1, 1, 1, 1)),  # 'same'
    (8, 8, 1, 4, 3, 3, 1, 1, (0, 0, 0, 0)),  # the zoo's qconv2d_bn
    (11, 10, 2, 3, 3, 2, 2, 3, (0, 1, 1, 0)),  # strides whose windows miss the last rows/columns
    (1, 12, 3, 4, 1, 5, 1, 2, (0, 0, 2, 2)),  # Conv1D, strided, padded
    (1, 6, 2, 3, 1, 1, 1, 1, (0, 0, 4, 4)),  # padding wider than the kernel: outputs no input reaches
    (3, 3, 2, 40, 3, 3, 1, 1, (1, 1, 1, 1)),  # more filters than a band's columns: one pixel per band
])
def test_banded_product_sums_what_the_whole_image_matrix_sums(case):
    """A convolution's whole-image matrix times the batch by bands of output pixels (each band times the
    input rows its windows cover) equals the one dense product and im2col bit for bit, on integers large
    enough that a lost or doubled term would show; batches below BAND_MIN_ROWS take the dense product."""
    from fpga_accel.runtime.emulator import BAND_MIN_ROWS, _banded, _conv_matrix, _patches

    g = _geometry(*case)
    rng = np.random.default_rng(sum(case[:8]))
    k = g["filt_height"] * g["filt_width"] * g["n_chan"]
    w = rng.integers(-2 ** 10, 2 ** 10, (k, g["n_filt"])).astype(np.float64)
    big, _ = _conv_matrix(w, np.zeros(g["n_filt"]), g)
    product = _banded(big, g["n_filt"])
    for n in (BAND_MIN_ROWS + 3, 2):
        v = rng.integers(-2 ** 12, 2 ** 12, (n, g["in_height"] * g["in_width"] * g["n_chan"])).astype(np.float64)
        expected = (np.ascontiguousarray(_patches(v, g)).reshape(-1, k) @ w).reshape(n, -1)
        assert np.array_equal(product(v, big), expected), n
        assert np.array_equal(v @ big, expected)


@pytest.mark.parametrize("xt, accum, res, window", [
    (FixedType(6, 2, False), FixedType(8, 3, False), FixedType(7, 2, False), (1, 2)),  # the zoo's 1-D pooling
    (FixedType(8, 3), FixedType(10, 5), FixedType(8, 3, True, "RND", "SAT"), (2, 2)),  # signed: towards zero
    (FixedType(8, 3), FixedType(12, 6), FixedType(6, 2, True, "TRN", "SAT"), (2, 2)),  # res saturates
    (FixedType(8, 3), FixedType(10, 5), FixedType(8, 3, True, "TRN", "SAT_SYM"), (1, 2)),  # -4 becomes -max
])
def test_average_pooling_matrix_equals_summed_views(xt, accum, res, window):
    """Unpadded average pooling as one product with the 2^F/size window matrix equals the sums of the
    windows cast to accum_t, divided as ap_fixed divides (truncated towards zero) and cast to res_t."""
    from fpga_accel.runtime.emulator import _average_matrix, _divide, _patches

    ph, pw = window
    h, w, c = 4 * ph, 6 * pw, 3
    g = {"in_height": h, "in_width": w, "n_chan": c, "filt_height": ph, "filt_width": pw, "stride_height": ph,
         "stride_width": pw, "out_height": h // ph, "out_width": w // pw, "pad_top": 0, "pad_bottom": 0,
         "pad_left": 0, "pad_right": 0}
    lo, hi = xt.raw_range()
    rng = np.random.default_rng(3)
    v = np.ldexp(rng.integers(lo, hi + 1, (40, h * w * c)).astype(np.float64), -xt.frac)
    v[0] = xt.value_range()[0]  # every window at the lowest value, then the highest
    v[1] = xt.value_range()[1]
    sums = _patches(v, g).sum(axis=(3, 4)).reshape(40, -1)
    expected = cast(_divide(cast(sums, accum), ph * pw, accum), res)
    run = _average_matrix(g, ph * pw, xt, accum, res)
    assert run is not None
    assert np.array_equal(run(v), expected)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """A 16-64-32-32-5 QKeras MLP converted once (convert's verdict compiles it)."""
    import fpga_accel as fa

    root = tmp_path_factory.mktemp("emulator")
    model = qmlp()
    rng = np.random.default_rng(3)
    x = float_inputs(rng, (16,), n=300, low=-5.0, high=5.0)  # the input quantizer spans [-4, 4): beyond it too
    design = fa.convert(model, fa.ConvertConfig(name="mlp", output_dir=root), calibration=x)
    return design, model, x


def test_emulator_equals_csim_and_qkeras(mlp):
    from fpga_accel.design import Design

    design, model, x = mlp
    fresh = Design(design.root)
    y = fresh.predict(x, engine="emulator")
    assert fresh._build is None  # the emulator never compiles
    assert np.array_equal(y, design.predict(x, engine="csim"))
    assert np.array_equal(y, np.asarray(model.predict(x, verbose=0), dtype=np.float32))
    (y_emu, traces), (y_csim, csim_traces) = fresh.trace(x, engine="emulator"), design.trace(x, engine="csim")
    assert np.array_equal(y_emu, y_csim) and np.array_equal(y_emu, y)
    assert sorted(traces) == sorted(csim_traces) and len(traces) >= 7
    for name, values in csim_traces.items():
        assert traces[name].shape == values.shape and np.array_equal(traces[name], values), name
    assert fresh.compare(model, x, engine="emulator").bit_exact == 1.0


def test_auto_falls_back_to_csim_when_the_emulator_differs(mlp, monkeypatch, caplog):
    from fpga_accel.design import Design
    from fpga_accel.runtime.emulator import Emulator

    design, model, x = mlp
    truth = design.predict(x, engine="csim")
    assert np.array_equal(design.predict(x, engine="auto"), truth)
    original = Emulator.predict
    monkeypatch.setattr(Emulator, "predict", lambda self, a: original(self, a) + np.float32(2 ** -10))
    fresh = Design(design.root)
    with caplog.at_level(logging.WARNING, logger="fpga_accel.engines"):
        y = fresh.predict(x, engine="auto")
    assert np.array_equal(y, truth)
    assert any("differs from csim" in r.getMessage() and "using csim" in r.getMessage() for r in caplog.records)
    assert not np.array_equal(fresh.predict(x, engine="emulator"), truth)  # the broken emulator, asked for
    assert fresh.compare(model, x, engine="auto").engine.startswith("csim (the emulator differed: ")


def test_compare_checks_the_emulator_once_with_one_csim_trace(mlp, monkeypatch):
    """compare with auto (the default from 256 samples; convert's verdict) runs csim once — a trace of the
    first 64 samples, which checks the outputs and every traced layer — and computes everything else by the
    emulator, the diagnosis of the samples that differ from Keras included: its report equals csim's."""
    from fpga_accel.design import Design
    from fpga_accel.runtime.csim_lib import CsimLibrary

    design, model, x = mlp
    other = qmlp(seed=1)  # same shapes, other weights: every sample differs, the diagnosis runs
    xs = np.concatenate([x, x])  # 600 samples: auto by default
    truth = Design(design.root).compare(other, xs, engine="csim")
    assert truth.bit_exact < 0.5 and truth.first_divergent_layer == "fc1"
    calls = []
    for method in ("predict", "trace"):
        original = getattr(CsimLibrary, method)
        monkeypatch.setattr(CsimLibrary, method, lambda self, a, *args, _m=method, _o=original, **kw:
                            calls.append((_m, len(a))) or _o(self, a, *args, **kw))
    report = Design(design.root).compare(other, xs)
    assert calls == [("trace", 64)]
    assert report.engine == "emulator, equal to csim on the first 64 samples"
    assert (report.bit_exact, report.element_exact, report.max_abs_diff, report.first_divergent_layer,
            report.layer_exact) == (truth.bit_exact, truth.element_exact, truth.max_abs_diff,
                                    truth.first_divergent_layer, truth.layer_exact)


def test_the_verdict_runs_blas_on_one_thread():
    """convert's verdict limits BLAS (the emulator's products) to one thread, and puts the limit back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from fpga_accel.stages.convert import verify

    def blas() -> list:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    class Stop(Exception):
        pass

    class Probe:
        def compare(self, reference, x, progress=None, layers=True):
            seen.append(blas())
            raise Stop

    seen: list = []
    with threadpool_limits(2, user_api="blas"):
        before = blas()
        with pytest.raises(Stop):
            verify(Probe(), None, (np.zeros((4, 16), np.float32), "zeros"), [])
        assert blas() == before
    assert before and seen == [[1] * len(before)]


def test_chunks_change_neither_outputs_nor_traces(mlp, monkeypatch):
    """The emulator sizes its chunks by its widest layer: chunks of 7 samples (the last one shorter) give
    the same outputs and traces as one chunk, in order, and equal csim's."""
    from fpga_accel.runtime import emulator

    design, _, x = mlp
    emu = design.emulator()
    y, layers = emu.trace(x)
    monkeypatch.setattr(emulator, "CHUNK_VALUES", 7 * emu._widest)
    assert [len(part) for part in emu._chunks(x)][:2] == [7, 7]
    assert np.array_equal(emu.predict(x), y)
    y7, layers7 = emu.trace(x)
    assert np.array_equal(y7, y) and sorted(layers7) == sorted(layers)
    assert all(np.array_equal(layers7[name], values) for name, values in layers.items())
    assert np.array_equal(y7.reshape(len(x), -1), design._library().predict(x).reshape(len(x), -1))


def test_convert_verdict_says_which_engine_computed_it(mlp):
    """convert's verdict on 300 calibration samples runs auto: csim on the first 64, the emulator on all;
    the record and its message say so (and it is still the csim == Keras verdict)."""
    design, model, x = mlp
    verdict = design.meta.fidelity
    assert verdict["passed"] and verdict["samples"] == len(x)
    assert verdict["engine"] == "emulator, equal to csim on the first 64 samples"
    assert verdict["message"].startswith("csim == Keras bit for bit on 300 samples (calibration data; computed by "
                                         "the emulator, equal to csim on the first 64 samples)")
    assert design.compare(model, x, engine="csim").engine == "csim"


def test_a_layer_it_does_not_cover_is_named(mlp, monkeypatch):
    from fpga_accel.design import Design
    from fpga_accel.runtime import emulator

    design, _, x = mlp
    monkeypatch.delitem(emulator._LAYERS, "relu")
    fresh = Design(design.root)
    with pytest.raises(NotEmulated, match=r"layer 'relu1'.*nnet::relu"):
        fresh.predict(x, engine="emulator")
    assert np.array_equal(fresh.predict(x, engine="auto"), design.predict(x, engine="csim"))
    with pytest.raises(ConfigError, match="engine must be one of csim, emulator, auto"):
        fresh.predict(x, engine="fast")


def test_a_flow_asking_for_the_emulator_gets_csim_where_it_does_not_cover(mlp, monkeypatch, caplog):
    """engines.emulator_else_csim, the flow's csim step's policy (a sweep asks for the emulator to save a
    compile): the emulator where it covers the design, csim where it does not — logged, and the report says
    which computed it; any other engine is passed through as asked."""
    from fpga_accel.design import Design
    from fpga_accel.engines import emulator_else_csim
    from fpga_accel.runtime import emulator

    design, model, x = mlp
    asked = []

    def compare(engine):
        asked.append(engine)
        return Design(design.root).compare(model, x, engine=engine)

    assert emulator_else_csim(compare, "emulator", design.name).engine == "emulator" and asked == ["emulator"]
    assert emulator_else_csim(compare, None, design.name).engine.startswith("emulator, equal to csim")
    monkeypatch.delitem(emulator._LAYERS, "relu")
    asked.clear()
    with caplog.at_level(logging.INFO, logger="fpga_accel.engines"):
        report = emulator_else_csim(compare, "emulator", design.name)
    assert asked == ["emulator", "csim"] and report.engine == "csim" and report.bit_exact == 1.0
    assert any("nnet::relu" in r.getMessage() and "running csim" in r.getMessage() for r in caplog.records)


def test_default_engine_by_batch_size():
    from fpga_accel.engines import AUTO_MIN_SAMPLES, resolve_engine

    assert resolve_engine(None, AUTO_MIN_SAMPLES - 1) == "csim"
    assert resolve_engine(None, AUTO_MIN_SAMPLES) == "auto"
    assert resolve_engine("emulator", 1) == "emulator"


def test_csim_cli_engine_flag(mlp, tmp_path):
    from fpga_accel.cli import main

    design, _, x = mlp
    np.save(tmp_path / "x.npy", x)
    for engine in ("csim", "emulator", "auto"):
        assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--output",
                     str(tmp_path / f"{engine}.npy"), "--engine", engine]) == 0
    assert np.array_equal(np.load(tmp_path / "emulator.npy"), np.load(tmp_path / "csim.npy"))
    assert np.array_equal(np.load(tmp_path / "auto.npy"), np.load(tmp_path / "csim.npy"))
    with pytest.raises(SystemExit) as info:
        main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--engine", "fast"])
    assert info.value.code == 2


@pytest.mark.slow
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("entry_id", ["global_average_1d", "global_average_2d", "global_average_1d_by_6",
                                      "global_max_2d"])
def test_global_pooling_is_emulated(entry_id, io_type, tmp_path):
    """GlobalAveragePooling over signed inputs (power-of-two and other pixel counts): the emulator's
    sums and ap_fixed division (truncation towards zero) equal csim bit for bit, outputs and traces, also
    beyond the input range — and so QKeras where csim does (not over 6 pixels: the division truncates)."""
    import fpga_accel as fa
    from breadth_zoo import BREADTH

    entry = BREADTH.get(entry_id) or BREADTH["global_average_2d"]
    model = entry.model(0) if entry_id in BREADTH else _global_max_2d()
    x = entry.inputs(model)
    xs = np.concatenate([x, entry.inputs(model, seed=1) * np.float32(4)])
    config = fa.ConvertConfig(name=entry_id, output_dir=tmp_path, io_type=io_type, verify_samples=0)
    design = fa.convert(model, config, calibration=x)
    emulated, compiled = design.predict(xs, engine="emulator"), design.predict(xs, engine="csim")
    assert np.array_equal(emulated, compiled)
    y, layers = design.trace(xs, engine="emulator")
    _, csim_layers = design.trace(xs, engine="csim")
    assert sorted(layers) == sorted(csim_layers)
    for name, values in csim_layers.items():
        assert np.array_equal(layers[name], values), name
    ours, truth = design.compare(model, x, engine="emulator"), design.compare(model, x, engine="csim")
    assert ours.bit_exact == truth.bit_exact and ours.max_abs_diff == truth.max_abs_diff
    if entry_id != "global_average_1d_by_6":  # dividing by 6 in ap_fixed truncates: csim itself differs there
        assert ours.bit_exact == 1.0


def _global_max_2d():
    """global_average_2d's layers with GlobalMaxPooling2D (signed inputs: the max of negatives too)."""
    from breadth_zoo import _q, _qconv, _seed, _seq
    from tensorflow import keras

    _seed(0)
    return _seq("global_max_2d", (6, 6, 2), [_q(), _qconv(2, 4, 3), _q(8, 3), keras.layers.GlobalMaxPooling2D()])


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["stable", "latency"])
@pytest.mark.parametrize("entry_id", ["softmax_multidim", "softmax_axis1"])
def test_softmax_is_emulated(entry_id, implementation, tmp_path, monkeypatch):
    """hls4ml's stable and latency softmax over rows of the last axis (n_outer) and of a strided axis
    (n_inner): the emulator equals csim bit for bit, outputs and traces, inside and 4x beyond the input
    range — by its one-entry-per-raw-value exp lookup and by the cast-and-slice index path that lookup
    replaces (kept for wide input types)."""
    import fpga_accel as fa
    from breadth_zoo import BREADTH
    from fpga_accel.design import Design
    from fpga_accel.layout import ProjectLayout
    from fpga_accel.runtime import emulator

    entry = BREADTH[entry_id]
    model = entry.model(0)
    x = entry.inputs(model)
    xs = np.concatenate([x, entry.inputs(model, seed=1) * np.float32(4)])
    config = fa.ConvertConfig(name=entry_id, output_dir=tmp_path, verify_samples=0)
    root = fa.convert(model, config, calibration=x).root
    parameters = ProjectLayout(root, entry_id).parameters_h
    text = parameters.read_text()
    assert "softmax_implementation::stable" in text
    parameters.write_text(text.replace("softmax_implementation::stable", f"softmax_implementation::{implementation}"))
    design = Design(root)
    compiled, csim_layers = design.trace(xs, engine="csim")
    runs = [Design(root).trace(xs, engine="emulator")]
    monkeypatch.setattr(emulator, "SOFTMAX_DIRECT", 0)  # every input type takes the index path
    runs.append(Design(root).trace(xs, engine="emulator"))
    for emulated, layers in runs:
        assert np.array_equal(emulated, compiled)
        assert sorted(layers) == sorted(csim_layers)
        for name, values in csim_layers.items():
            assert np.array_equal(layers[name], values), name
