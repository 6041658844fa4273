"""The type rules of fpga_accel.hls.exact_types, and convert's verdict, refusals and float-model sizing."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import fpga_accel as fa
from models import float_inputs, float_mlp, qmlp


def _values(precision, n=4096, seed=0):
    """Random values on the grid and in the range of a fixed type."""
    lsb = 2.0 ** -(precision.width - precision.integer)
    lo = -(2.0 ** (precision.integer - 1)) if precision.signed else 0.0
    hi = 2.0 ** (precision.integer - int(precision.signed)) - lsb
    steps = np.random.default_rng(seed).integers(0, int(round((hi - lo) / lsb)) + 1, n)
    return lo + steps * lsb


@pytest.mark.parametrize("values", [
    np.array([0.5, -0.25, 0.125]), np.array([2.0 ** -9, 1.0, -1.0]), np.array([3.0, 7.0]),
    np.array([2.0 ** 18, -(2.0 ** 20)]), np.array([0.0, 0.0]), np.array([-0.75, 0.3125]),
])
def test_exact_type_holds_every_value_exactly_and_is_minimal(values):
    from fpga_accel.hls.exact_types import exact_type

    t = exact_type(values)
    frac = t.width - t.integer
    assert np.all(np.ldexp(values, frac) == np.round(np.ldexp(values, frac)))  # on the grid
    lsb = 2.0 ** -frac
    assert values.max() <= 2.0 ** (t.integer - int(t.signed)) - lsb
    assert values.min() >= (-(2.0 ** (t.integer - 1)) if t.signed else 0.0)
    if frac > 0:  # one fraction bit fewer would not hold them
        assert not np.all(np.ldexp(values, frac - 1) == np.round(np.ldexp(values, frac - 1)))


def test_exact_type_refuses_values_off_any_short_grid():
    from fpga_accel.hls.exact_types import exact_type

    assert exact_type(np.array([0.1], dtype=np.float32), max_fraction=16) is None


@pytest.mark.parametrize("x, w, n, bias", [
    ((8, 3, True), (6, 1, True), 16, (6, 1, True)),
    ((8, 0, False), (4, 1, True), 64, None),
    ((2, 2, True), (2, 2, True), 128, (5, 2, True)),     # ±1 activations, ±1 weights
    ((6, 2, False), (6, 2, False), 3, (4, 1, False)),
])
def test_sum_type_never_rounds_or_overflows(x, w, n, bias):
    """Worst-case sums of random on-grid operands are held exactly by the derived accumulator."""
    from hls4ml.model.types import FixedPrecisionType

    from fpga_accel.hls.exact_types import sum_type

    acc = sum_type(x, w, n, bias)
    xs = _values(FixedPrecisionType(*x), n * 64).reshape(64, n)
    ws = _values(FixedPrecisionType(*w), n, seed=1)
    b = _values(FixedPrecisionType(*bias), 1, seed=2)[0] if bias else 0.0
    extremes = [np.full(n, v) for v in (xs.min(), xs.max())]
    wext = [np.full(n, v) for v in (ws.min(), ws.max())]
    sums = [float(np.dot(a, c) + b) for a in [*xs, *extremes] for c in (ws, *wext)]
    frac = acc.width - acc.integer
    lo = -(2.0 ** (acc.integer - 1)) if acc.signed else 0.0
    hi = 2.0 ** (acc.integer - int(acc.signed)) - 2.0 ** -frac
    for s in sums:
        assert lo <= s <= hi
        assert np.ldexp(s, frac) == np.round(np.ldexp(s, frac))


@pytest.mark.parametrize("config, expected", [
    ({"bits": 8, "integer": 2, "keep_negative": True, "alpha": 1}, "fixed<8,3,RND_CONV,SAT>"),
    ({"bits": 8, "integer": 0, "keep_negative": False, "alpha": 1}, "ufixed<8,0,RND_CONV,SAT>"),
    ({"bits": 6, "integer": 1, "keep_negative": True, "symmetric": 1, "alpha": 1}, "fixed<6,2,RND_CONV,SAT_SYM>"),
])
def test_quantized_bits_activation_type_is_the_quantizer(config, expected):
    from fpga_accel.hls.exact_types import quantized_bits_type

    assert str(quantized_bits_type(config)).replace(",0>", ">") == expected


def test_quantized_bits_with_data_dependent_alpha_has_no_type():
    from fpga_accel.hls.exact_types import quantized_bits_type

    assert quantized_bits_type({"bits": 4, "integer": 0, "alpha": "auto"}) is None


def test_hls4ml_flows_are_restored_after_convert(tmp_path, monkeypatch):
    """The BN+binary threshold merge and merge_linear_activation are out of hls4ml's flows while fpga_accel
    converts (seen from inside hls4ml's conversion), and hls4ml's own flow objects are back afterwards."""
    import hls4ml
    from hls4ml.model.flow import get_flow

    hls4ml.backends.get_backend("VivadoAccelerator")
    names = ("vivado:quantization", "convert")
    before = {name: (get_flow(name), list(get_flow(name).optimizers)) for name in names}
    seen = {}
    convert_from_keras_model = hls4ml.converters.convert_from_keras_model

    def spy(*args, **kwargs):
        seen.update({name: list(get_flow(name).optimizers) for name in names})
        seen["flows"] = kwargs["hls_config"]["Flows"]
        return convert_from_keras_model(*args, **kwargs)

    monkeypatch.setattr(hls4ml.converters, "convert_from_keras_model", spy)
    fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=0))
    assert "vivado:merge_batch_norm_quantized_tanh" in before["vivado:quantization"][1]
    assert "merge_linear_activation" in before["convert"][1]
    assert seen["vivado:quantization"] == [p for p in before["vivado:quantization"][1] if p not in
                                           ("vivado:merge_batch_norm_quantized_tanh", "vivado:quantize_dense_output")]
    assert seen["convert"] == [p for p in before["convert"][1] if p != "merge_linear_activation"]
    assert seen["flows"][0] == "fpga_accel:exact_types"
    for name, (flow, optimizers) in before.items():
        assert get_flow(name) is flow and list(flow.optimizers) == optimizers


def test_convert_records_its_verdict(tmp_path, rng, caplog):
    model = qmlp()
    x = float_inputs(rng, (16,), n=300)
    with caplog.at_level(logging.INFO, logger="fpga_accel"):
        design = fa.convert(model, fa.ConvertConfig(name="mlp", output_dir=tmp_path), calibration=x)
    verdict = json.loads((design.root / "fpga_accel.json").read_text())["fidelity"]
    assert verdict["passed"] and verdict["bit_exact"] == 1.0
    assert verdict["samples"] == 300 and verdict["source"] == "calibration data"
    assert any("csim == Keras bit for bit on 300 samples" in r.message for r in caplog.records)


def test_convert_without_calibration_checks_generated_samples(tmp_path):
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=200))
    verdict = design.meta.fidelity
    assert verdict["samples"] == 200 and verdict["source"] == "uniform samples in ±5"  # 1.25 × 2**2
    assert verdict["passed"]


def test_strict_convert_fails_on_an_inexact_design_and_keeps_it(tmp_path, rng):
    model = qmlp(input_quantizer=False)
    x = float_inputs(rng, (16,), n=200)
    config = fa.ConvertConfig(name="coarse", output_dir=tmp_path, input_precision="ap_fixed<6,3>", strict=True)
    with pytest.raises(fa.NotExactError, match="first diverging layer fc1") as info:
        fa.convert(model, config, calibration=x)
    assert "project kept at" in str(info.value)
    assert (tmp_path / "coarse" / "fpga_accel.json").is_file()
    # not strict: the same design converts, with the disagreement recorded
    design = fa.convert(model, fa.ConvertConfig(name="coarse", output_dir=tmp_path, input_precision="ap_fixed<6,3>"),
                        calibration=x, force=True)
    assert not design.meta.fidelity["passed"]
    assert design.meta.fidelity["first_divergent_layer"] == "fc1"


def _ternary_activation_model():
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((8,), name="x")
    t = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    t = QDense(4, kernel_quantizer=quantized_bits(4, 0, alpha=1), name="fc")(t)
    t = QActivation("ternary", name="tern")(t)
    return keras.Model(inp, t)


def test_layers_without_an_exact_counterpart_are_refused_up_front(tmp_path, caplog):
    config = fa.ConvertConfig(name="tern", output_dir=tmp_path)
    with pytest.raises(fa.ConfigError, match="tern: QKeras' ternary activation"):
        fa.convert(_ternary_activation_model(), config)
    assert not (tmp_path / "tern").exists()  # nothing written
    with caplog.at_level(logging.WARNING, logger="fpga_accel"):
        design = fa.convert(_ternary_activation_model(),
                            fa.ConvertConfig(name="tern", output_dir=tmp_path, allow_inexact=True, verify_samples=100))
    assert any("not exact: tern" in r.message for r in caplog.records)
    assert design.meta.fidelity is not None


def test_float_model_types_come_from_calibration_data(tmp_path, rng, caplog):
    model = float_mlp(bn=False)
    x = float_inputs(rng, (64,), n=400, low=-1, high=1)
    design = fa.convert(model, fa.ConvertConfig(name="fl", output_dir=tmp_path), calibration=x)
    layers = {layer["name"]: layer for layer in design.meta.layers}
    peak = float(np.max(np.abs(model.get_layer("fc1")(x))))
    integer = int(layers["fc1"]["precision"].split(",")[1])
    assert 2.0 ** (integer - 1) > peak  # holds the calibration range with headroom
    assert layers["fc1"]["precision"].endswith("RND,SAT,0>")
    assert design.meta.fidelity["criterion"] == "argmax >= 99%" and design.meta.fidelity["passed"]
    with caplog.at_level(logging.WARNING, logger="fpga_accel"):
        fa.convert(model, fa.ConvertConfig(name="fl2", output_dir=tmp_path, verify_samples=0))
    assert any("float model without calibration data" in r.message and "ap_fixed<16,6>" in r.message
               for r in caplog.records)


def test_every_quantizer_without_an_exact_counterpart_is_named():
    from qkeras import QActivation, quantized_bits, quantized_relu
    from tensorflow import keras

    from fpga_accel.hls.exact_types import inexact_layers

    inp = keras.Input((4,))
    t = QActivation(quantized_relu(4, 1, relu_upper_bound=1.0), name="bounded")(inp)
    t = QActivation(quantized_bits(4, 0, alpha="auto_po2"), name="batch_alpha")(t)
    t = QActivation(quantized_bits(4, 0, alpha=1, use_stochastic_rounding=True), name="stochastic")(t)
    t = QActivation(quantized_relu(4, 1, negative_slope=0.25), name="leaky")(t)
    t = QActivation(quantized_relu(4, 1), name="plain")(t)
    t = QActivation(quantized_bits(6, 2, alpha=1), name="bits")(t)
    found = inexact_layers(keras.Model(inp, t))
    assert [reason.split(":")[0] for reason in found] == ["bounded", "batch_alpha", "stochastic", "leaky"]


def _merge_model(op: str):
    """Two quantized branches of different types (ufixed<6,2>, fixed<8,4>) merged by ``op``."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    inp = tf.keras.Input((6,))
    q = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1))
    a = QActivation(quantized_relu(6, 2), name="a")(QDense(4, **q)(inp))
    b = QActivation(quantized_bits(8, 3, alpha=1), name="b")(QDense(4, **q)(inp))
    merged = getattr(tf.keras.layers, op)(name="merged")([a, b])
    return tf.keras.Model(inp, QDense(2, **q)(merged))


@pytest.mark.parametrize("op, width, integer", [
    ("Add", 9, 5), ("Subtract", 9, 5), ("Multiply", 14, 6), ("Maximum", 8, 4), ("Minimum", 8, 4),
])
def test_merges_of_two_get_a_type_holding_every_result(op, width, integer):
    """The type rule's result type holds every value of ``a op b`` for ``a`` on ufixed<6,2>'s grid and ``b``
    on fixed<8,4>'s (checked over both grids), and is recorded as a rule, not left to hls4ml's default."""
    from hls4ml.model.types import FixedPrecisionType

    from fpga_accel.stages.convert import probe_layers

    records = {r["name"]: r for r in probe_layers(_merge_model(op), fa.ConvertConfig(name="m", io_type="io_parallel"))}
    result = records["merged"]["types"]["result_t"]
    assert result["precision"].startswith(f"fixed<{width},{integer},") and result["rule"] != "hls4ml's inference"
    fn = {"Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply, "Maximum": np.maximum,
          "Minimum": np.minimum}[op]
    a = np.arange(0, 64) / 16.0  # every ufixed<6,2> value
    b = np.arange(-128, 128) / 16.0  # every fixed<8,4> value
    values = fn(a[:, None], b[None, :]).ravel()
    t = FixedPrecisionType(width, integer, True)
    frac = t.width - t.integer
    assert values.min() >= -(2.0 ** (t.integer - 1)) and values.max() <= 2.0 ** (t.integer - 1) - 2.0 ** -frac
    assert np.all(np.ldexp(values, frac) == np.round(np.ldexp(values, frac)))


def _probed(entry_id, io_type="io_stream"):
    """result_t of every layer of a breadth-zoo model as convert would type it (no C++ written)."""
    from breadth_zoo import BREADTH

    from fpga_accel.stages.convert import probe_layers

    model = BREADTH[entry_id].model(0)
    return {r["name"]: r["types"]["result_t"] for r in probe_layers(model, fa.ConvertConfig(name="m", io_type=io_type))}


def test_a_relu_layer_keeps_its_inputs_type():
    """A Keras ReLU layer after a sum wider than hls4ml's default (Keras 2: hls4ml names its activation "ReLU";
    Keras 3: a thresholded relu with threshold 0): the sum's type, not ap_fixed<16,6> (0.5 % exact before)."""
    types = _probed("relu_layer_wide_sum")
    assert types["relu"]["precision"] == types["sum"]["precision"] == "fixed<23,7,TRN,WRAP,0>"
    assert types["relu"]["rule"] == "float relu/linear: keeps its input's type"


def test_concatenate_holds_both_derived_input_types():
    """po2_sum: fixed<21,8> (13 fraction bits), unsigned: ufixed<10,0> (one more integer bit beside a signed
    input): fixed<21,8>. hls4ml's own rule, from the types its inference gave the inputs, cut fraction bits."""
    types = _probed("concat_mixed_types")
    assert types["po2_sum"]["precision"].startswith("fixed<21,8,")
    assert types["unsigned"]["precision"].startswith("ufixed<10,0,")
    assert types["concat"]["precision"] == "fixed<21,8,TRN,WRAP,0>"
    assert types["concat"]["rule"] == "concatenation: a type holding both inputs' types"


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_cropping_passes_its_inputs_type_through(io_type):
    types = _probed("crop_unsigned_asym", io_type)
    assert types["crop_unsigned"]["precision"] == "ufixed<6,2,RND_CONV,SAT,0>"  # hls4ml's default before
    assert types["crop_sum"]["precision"] == "fixed<25,9,TRN,WRAP,0>"
    assert types["crop_1d"]["precision"] == "ufixed<7,3,RND_CONV,SAT,0>"
    assert {types[n]["rule"] for n in ("crop_unsigned", "crop_sum", "crop_1d")} == {"values move: the input's type"}


def _float_kernels_between_quantizers(separable: bool = False):
    """A model kept out of the zoos (issue 24): plain Keras DepthwiseConv1D and a Conv1D (or SeparableConv1D),
    float32 kernels, between QKeras quantizers. With hls4ml's default weight type (ap_fixed<16,6>) 35.7 %
    exact (measured with the SeparableConv1D)."""
    from qkeras import QActivation, quantized_bits

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(1)
    L = keras.layers
    q = lambda integer: QActivation(quantized_bits(8, integer, alpha=1))  # noqa: E731
    second = L.SeparableConv1D(4, 3, strides=2, name="sep") if separable else L.Conv1D(4, 3, strides=2, name="conv")
    return keras.Sequential([keras.Input((16, 3)), q(2), L.DepthwiseConv1D(3, name="dw"), q(3), second, q(3),
                             L.Flatten()], name="float_kernels")


def _fixed(text):
    import re

    from hls4ml.model.types import FixedPrecisionType

    width, integer = map(int, re.match(r"fixed<(\d+),(-?\d+)", text).groups())
    return FixedPrecisionType(width, integer, True)


def test_float_kernels_in_a_quantized_model_get_their_values_exact_type():
    from fpga_accel.hls.exact_types import float_kernel_types
    from fpga_accel.quantizer_types import holds
    from fpga_accel.stages.convert import hls_config

    model = _float_kernels_between_quantizers()
    cfg = hls_config(model, fa.ConvertConfig(name="fk"), "fixed<8,3>")["LayerName"]
    types = float_kernel_types(model)
    for name in ("dw", "conv"):
        assert cfg[name]["Precision"]["weight"] == types[name]["weight"] != "auto"
        assert holds(_fixed(types[name]["weight"]), np.asarray(model.get_layer(name).get_weights()[0], np.float64))
    float_cfg = hls_config(float_mlp(), fa.ConvertConfig(name="fm"), "fixed<16,6>")["LayerName"]  # float model:
    assert all(entry.get("Precision", {}).get("weight") in (None, "auto") for entry in float_cfg.values())  # untouched


def test_float_separable_kernels_get_both_exact_types(tmp_path):
    from fpga_accel.hls.exact_types import float_kernel_types
    from fpga_accel.keras_compat import is_keras3
    from fpga_accel.quantizer_types import holds
    from fpga_accel.stages.convert import hls_config

    model = _float_kernels_between_quantizers(separable=True)
    types = float_kernel_types(model)["sep"]
    depthwise, pointwise = model.get_layer("sep").get_weights()[:2]
    assert holds(_fixed(types["depthwise"]), np.asarray(depthwise, np.float64))
    assert holds(_fixed(types["pointwise"]), np.asarray(pointwise, np.float64))
    if is_keras3():  # hls4ml's Keras 3 parser fails on a Keras SeparableConv: refused before it (layer_support)
        with pytest.raises(fa.ConfigError, match=r"sep \(SeparableConv1D\) on the Keras 3 stack"):
            fa.convert(model, fa.ConvertConfig(name="sep", output_dir=tmp_path))
        return
    cfg = hls_config(model, fa.ConvertConfig(name="fk"), "fixed<8,3>")["LayerName"]
    assert {k: cfg["sep"]["Precision"][k] for k in ("depthwise", "pointwise")} == types


@pytest.mark.slow
def test_float_kernels_in_a_quantized_model_are_bit_exact(tmp_path):
    model = _float_kernels_between_quantizers()
    design = fa.convert(model, fa.ConvertConfig(name="fk", output_dir=tmp_path, io_type="io_stream",
                                                verify_samples=0))
    x = np.random.default_rng(0).uniform(-15, 15, (300, 16, 3)).astype(np.float32)  # 3x the input quantizer's range
    report = design.compare(model, x)
    assert report.bit_exact == 1.0, report.format()


def test_a_thresholded_relu_truncates_its_threshold_onto_the_inputs_grid():
    """ThresholdedReLU(0.37) on steps of 0.125: hls4ml cast theta to the input's RND_CONV type (0.375, dropping the
    inputs equal to it that Keras passes); truncated, 0.25, no grid value lies between it and 0.37."""
    from breadth_zoo import NotOnThisStack

    try:
        types = {r["name"]: r["types"] for r in _probed_layers("thresholded_relu_offgrid")}
    except NotOnThisStack as exc:
        pytest.skip(str(exc))
    assert types["thr"]["result_t"]["precision"] == "fixed<6,3,RND_CONV,SAT,0>"  # the input quantizer's
    assert types["thr"]["param_t"]["precision"] == "ufixed<3,0,TRN,WRAP,0>"
    assert types["thr2"]["param_t"]["precision"] == "ufixed<5,0,TRN,WRAP,0>"  # 0.3 on steps of 1/32: 9/32
    assert types["thr"]["param_t"]["rule"].startswith("threshold truncated onto the input's grid")


def _probed_layers(entry_id, io_type="io_parallel"):
    from breadth_zoo import BREADTH

    from fpga_accel.stages.convert import probe_layers

    return probe_layers(BREADTH[entry_id].model(0), fa.ConvertConfig(name="m", io_type=io_type))
