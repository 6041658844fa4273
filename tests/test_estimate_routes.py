"""One ruler (issue 23): a model estimated before conversion and the hls4ml project it becomes give the same
per-layer records and the same estimate; weights are counted as the hardware holds them; HLS types are read
by the codec's parser, and a type it does not understand is reported NOT COSTED, never guessed."""
from __future__ import annotations

import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.analysis.estimate import FREE_CLASSES, estimate_layers, precision_bits
from fpga_accel.hls.foreign_project import c_int, from_model, read_hls4ml_project
from fpga_accel.analysis.weight_stats import UnknownType, hls_type, type_problem, weight_stats
from fpga_accel.boards import get_board
from models import float_mlp, qcnn, qcnn_mixed, qmlp

FIXTURE = Path(__file__).parent / "fixtures" / "hls4ml_06_project"
# what the estimator reads from a layer record (besides name and class)
ESTIMATOR_FIELDS = ("shape", "reuse_factor", "strategy", "n_in", "n_out", "rf_n_in", "rf_n_out", "n_chan",
                    "filt_height", "filt_width", "in_height", "in_width", "pool_height", "pool_width",
                    "activation", "n_weights", "n_nonzero_weights", "n_pow2_weights", "n_csd_digits", "not_costed")
PRECISIONS = ("input_precision", "precision", "weight_precision", "accum_precision")


def float_jet_tagger():
    """The 16-64-32-32-5 Dense jet tagger, float-trained (random float weights), hls4ml's ap_fixed<16,6>."""
    from tensorflow import keras

    rng = np.random.default_rng(1)
    inp = keras.Input((16,), name="x")
    t = inp
    for i, units in enumerate((64, 32, 32)):
        t = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(t)
    t = keras.layers.Dense(5, activation="softmax", name="out")(t)
    model = keras.Model(inp, t, name="jet")
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def float_cnn():
    """Conv2D → relu → MaxPooling2D → Flatten → Dense, float weights."""
    from tensorflow import keras

    rng = np.random.default_rng(2)
    inp = keras.Input((8, 8, 3), name="image")
    t = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    t = keras.layers.MaxPooling2D(2, name="pool")(t)
    t = keras.layers.Flatten(name="flat")(t)
    t = keras.layers.Dense(5, name="dense")(t)
    model = keras.Model(inp, t, name="cnn")
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _same_type(a, b) -> bool:
    return hls_type(a) == hls_type(b) if a and b else a == b


@pytest.mark.parametrize("build,io_type", [(float_jet_tagger, "io_parallel"), (float_jet_tagger, "io_stream"),
                                           (qmlp, "io_parallel"), (qmlp, "io_stream"),
                                           (float_cnn, "io_parallel"), (qcnn, "io_stream"), (qcnn_mixed, "io_stream"),
                                           (float_mlp, "io_parallel")],
                         ids=["float-jet-parallel", "float-jet-stream", "qkeras-mlp-parallel", "qkeras-mlp-stream",
                              "float-cnn-parallel", "qkeras-cnn-stream", "qkeras-po2-cnn-stream", "float-bn-softmax"])
def test_model_and_written_project_give_the_same_records_and_estimate(build, io_type, tmp_path, monkeypatch):
    import hls4ml
    import numpy

    if not hasattr(numpy, "product"):  # hls4ml 1.3 writes po2 weights with np.product, gone in numpy 2
        monkeypatch.setattr(numpy, "product", numpy.prod, raising=False)
    from fpga_accel.keras_compat import hls4ml_parsing

    model = build()
    project = tmp_path / "prj"
    with hls4ml_parsing():  # what convert and estimate do around hls4ml parsing a QKeras model on Keras 3
        config = {"IOType": io_type, "ClockPeriod": 10.0, "Part": "xc7z020clg400-1",
                  "HLSConfig": hls4ml.utils.config_from_keras_model(model, granularity="name")}
        hls4ml.converters.convert_from_keras_model(
            model, hls_config=config["HLSConfig"], output_dir=str(project), io_type=io_type, clock_period=10.0,
            part=config["Part"], backend="Vivado").write()
    in_memory = from_model(model, config)["layers"]
    written = {l["name"]: l for l in read_hls4ml_project(project)["layers"]}
    compared = 0
    for layer in in_memory:
        if layer["class"] in FREE_CLASSES and layer["class"] != "Input":
            continue  # Flatten/Reshape: no layer call in the project, and free for the estimator
        other = written[layer["name"]]
        assert other["class"] == layer["class"]
        fields = ("shape",) if layer["class"] == "Input" else ESTIMATOR_FIELDS if "rf_n_in" in layer else \
            [f for f in ESTIMATOR_FIELDS if f not in ("n_in", "n_out")]  # sizes the estimator reads of kernels only
        for key in fields:
            assert other.get(key) == layer.get(key), (layer["name"], key)
        for key in PRECISIONS:  # spelt alike too (the project's typedefs printed as hls4ml prints types)
            assert _same_type(other.get(key), layer.get(key)) and other.get(key) == layer.get(key), (layer["name"], key)
        compared += 1
    assert compared == len(written)  # and the project holds no layer the model route lacks
    kernels = [l for l in in_memory if "n_weights" in l]
    assert kernels and all(0 < l["n_nonzero_weights"] <= l["n_weights"] for l in kernels)

    by_model, by_project = fa.estimate(model=model, config=config), fa.estimate(project)
    assert by_model.total == by_project.total and by_model.ip_total == by_project.ip_total
    assert (by_model.latency_cycles, by_model.interval, by_model.verdict) == \
        (by_project.latency_cycles, by_project.interval, by_project.verdict)
    rows = {l.name: l for l in by_project.layers}
    for row in by_model.layers:
        if row.name in rows:
            assert (row.dsp, row.lut, row.ff, row.bram36, row.multiplications, row.flag) == \
                (rows[row.name].dsp, rows[row.name].lut, rows[row.name].ff, rows[row.name].bram36,
                 rows[row.name].multiplications, rows[row.name].flag), row.name


def _oracle(text_values, width, integer):
    """Non-zero and ±2^k counts of decimal texts in ap_fixed<width,integer> (AP_TRN, AP_WRAP), exactly."""
    frac = width - integer
    nonzero = pow2 = 0
    for text in text_values:
        q = math.floor(Fraction(text) * 2 ** frac)  # AP_TRN: towards -inf
        q = (q + 2 ** (width - 1)) % 2 ** width - 2 ** (width - 1)  # AP_WRAP
        if q:
            nonzero += 1
            pow2 += abs(q) & (abs(q) - 1) == 0
    return nonzero, pow2


def test_weights_are_counted_as_the_hardware_holds_them():
    """Float weights are written by hls4ml with F decimals and converted by the type's own modes: a tiny
    float is a zero, a small negative one is -2^-F (AP_TRN rounds towards -inf), an out-of-range one wraps."""
    rng = np.random.default_rng(0)
    values = list(rng.normal(0, 0.7, 2000)) + [1e-9, -1e-9, 0.0, 0.5, -0.25, 1.5, -1.0, 0.0625, 0.99]
    texts = [f"{v:.5f}" for v in values]
    stats = weight_stats(values, "ap_fixed<6,1>")
    assert (stats["n_nonzero_weights"], stats["n_pow2_weights"]) == _oracle(texts, 6, 1)
    assert weight_stats([float(t) for t in texts], "ap_fixed<6,1>", written=True) == stats  # the project route
    small = weight_stats([1e-9, -1e-9, 1.5, 0.99, 0.0625], "ap_fixed<4,1>")  # step 1/8, 3 decimals written
    # 1e-9 -> 0; -1e-9 -> "-0.000" -> 0; 1.5 wraps to -0.5 (a power of two); 0.99 -> 7/8; 0.0625 -> "0.062" -> 0
    assert (small["n_nonzero_weights"], small["n_pow2_weights"]) == (2, 1)
    sat = weight_stats([1.5, 0.99, -0.07], "ap_fixed<4,1,AP_RND,AP_SAT>")  # the type's own modes
    # 1.5 saturates to 7/8; 0.99 rounds to 8/8, saturates to 7/8; -0.07 rounds to -1/8 (a power of two)
    assert (sat["n_nonzero_weights"], sat["n_pow2_weights"], sat["n_csd_digits"]) == (3, 1, 2 + 2 + 1)
    assert weight_stats([-1.5, 2.7, 300.0], "ap_int<8>")["n_nonzero_weights"] == 3  # ints: 0 decimals written
    assert weight_stats([0.4], "ap_int<8>")["n_nonzero_weights"] == 0
    with pytest.raises(UnknownType, match="not understood"):
        weight_stats([0.5], "weight2_t")


def test_precision_widths_come_from_the_codec_parser():
    widths = {"fixed<16,6,TRN,WRAP,0>": 16, "ap_ufixed<6,2>": 6, "ap_fixed<18,8,AP_RND,AP_SAT>": 18, "int<8>": 8,
              "ap_uint<1>": 1, "uint<3>": 3, "ap_fixed<70,30>": 70, "ufixed<18,1,RND_CONV,SAT>": 18}
    assert {t: precision_bits(t) for t in widths} == widths
    for bad in ("foo_t", "float", "ap_fixed<16,6,AP_FAST>", "fixed<0,0>", "ap_fixed<16"):
        assert type_problem({"name": "l", "class": "Dense", "weight_precision": bad}) == \
            f"weight type {bad!r} not understood"
    assert type_problem({"name": "l", "class": "Dense", "weight_precision": "ap_fixed<6,1>"}) is None


def test_an_unknown_weight_type_is_not_costed_and_never_fits():
    layer = {"name": "d", "class": "Dense", "shape": [5], "n_in": 16, "n_out": 5, "rf_n_in": 16, "rf_n_out": 5,
             "reuse_factor": 1, "input_precision": "fixed<8,3>", "precision": "fixed<8,3>",
             "weight_precision": "fixed<4,1>", "accum_precision": "fixed<12,4>", "n_weights": 80,
             "n_nonzero_weights": 80, "strategy": "latency"}
    layers = [{"name": "in", "class": "Input", "shape": [16], "precision": "fixed<8,3>"}, layer]
    kw = dict(name="u", board=get_board("pynq-z2"), io_type="io_parallel", clock_period=10, margin=5.0)
    assert estimate_layers(layers, **kw).verdict == "FITS"
    for bad in (dict(layer, weight_precision="mystery_t"), dict(layer, not_costed="size n_in = 'X' not understood")):
        est = estimate_layers([layers[0], bad], **kw)
        assert est.verdict == "UNCERTAIN" and est.unknown_layers == ["d"]
        assert est.layers[1].flag.startswith("not costed: ")

def test_an_unknown_type_in_a_project_is_not_costed(tmp_path):
    prj = shutil.copytree(FIXTURE, tmp_path / "prj")
    defines = prj / "firmware" / "defines.h"
    defines.write_text(defines.read_text().replace("typedef ap_fixed<16,6> weight2_t;", "typedef mystery_t weight2_t;"))
    layers = {l["name"]: l for l in read_hls4ml_project(prj)["layers"]}
    assert layers["fc1"]["not_costed"] == "weight type 'mystery_t' not understood"
    assert "not_costed" not in layers["fc2"]
    est = fa.estimate(prj, margin=100.0)
    assert est.unknown_layers == ["fc1"] and est.verdict == "UNCERTAIN"


def test_c_constant_expressions():
    names = {"N_LAYER_2": "64", "N_IN": "N_LAYER_2 / 4", "LOOP": "LOOP + 1", "n_filt": "8", "n_chan": "n_filt"}
    assert [c_int(t, names) for t in ("16", "16*1", "0x10U", "64ul", "N_IN", "(N_IN + 2) % 5", "-7 / 2", "-(3)",
                                      "n_chan * 3")] == [16, 16, 16, 64, 16, 3, -3, -3, 24]
    for bad in ("LOOP", "UNKNOWN", "DIV_ROUNDUP(n_in, 2)", "1 / 0", "n_in << 2", "sizeof(int)", "(3", "3)", "",
                "(n_filt == -1) ? 1 : 2", "__import__('os').getcwd()", "lambda: 1"):
        assert c_int(bad, names) is None, bad
