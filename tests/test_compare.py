"""Design.compare and `fpga-accel csim --reference` on any single-input, single-output model: wherever its
softmax is (a layer of its own, a layer's activation, nowhere, or the whole model), and the first
diverging layer compared on the same tensor on both sides."""
from __future__ import annotations

import numpy as np
import pytest

from fpga_accel import ConfigError
from fpga_accel.model_io import ends_in_softmax, logits_layer, logits_model
from models import _seed, float_inputs, q, qmlp


def float_dense_softmax(seed=0):
    """A float MLP whose softmax is the last Dense's activation (no Softmax layer)."""
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((16,), name="x")
    t = keras.layers.Dense(32, activation="relu", name="fc1")(inp)
    t = keras.layers.Dense(5, activation="softmax", name="out")(t)
    return keras.Model(inp, t, name="float_dense_softmax")


def qdense_softmax(seed=0):
    """A QKeras MLP ending in QDense(..., activation="softmax")."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((16,), name="x")
    t = QActivation(q(8, 2), name="input_quant")(inp)
    t = QDense(32, kernel_quantizer=q(), bias_quantizer=q(), activation="quantized_relu(6,2)", name="fc1")(t)
    t = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), activation="softmax", name="out")(t)
    return keras.Model(inp, t, name="qdense_softmax")


def softmax_only(n=5, layer="Activation"):
    from tensorflow import keras

    inp = keras.Input((n,), name="x")
    sm = keras.layers.Softmax(name="sm") if layer == "Softmax" else keras.layers.Activation("softmax", name="sm")
    return keras.Model(inp, sm(inp), name="softmax_only")


def qconv_relu(input_quantizer=True, float_head=False, seed=0):
    """QConv2D(activation="relu") → QActivation(quantized_relu) → Flatten → (Q)Dense: hls4ml traces conv1
    before its relu (node conv1) and after it (a split-off node), Keras only after it."""
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((8, 8, 1), name="image")
    t = QActivation(q(8, 2), name="input_quant")(inp) if input_quantizer else inp
    t = QConv2D(4, 3, kernel_quantizer=q(), bias_quantizer=q(), activation="relu", name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    if float_head:  # float32 weights: csim sums them exactly, Keras in float32 (rounded), so `out` differs
        t = keras.layers.Dense(5, name="out")(t)
    else:
        t = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), name="out")(t)
    return keras.Model(inp, t, name="qconv_relu")


# ---- where the logits are (no conversion) -----------------------------------------------------------

def test_logits_layer_finds_every_kind_of_softmax_ending():
    from qkeras import QActivation, QConv2D, QDense
    from tensorflow import keras

    def ending(*layers, shape=(16,)):
        inp = keras.Input(shape)
        t = inp
        for layer in layers:
            t = layer(t)
        return keras.Model(inp, t)

    dense = ending(keras.layers.Dense(5, name="d"), keras.layers.Softmax(name="s"))
    assert logits_layer(dense).layer == "s" and not logits_layer(dense).inside
    act = ending(keras.layers.Dense(5), keras.layers.Activation("softmax", name="a"))
    assert logits_layer(act).layer == "a" and not logits_layer(act).inside
    qact = ending(QDense(5, kernel_quantizer=q()), QActivation("softmax", name="qa"))
    assert logits_layer(qact).layer == "qa" and not logits_layer(qact).inside
    for layer in (keras.layers.Dense(5, activation="softmax", name="ds"),
                  QDense(5, kernel_quantizer=q(), bias_quantizer=q(), activation="softmax", name="ds")):
        where = logits_layer(ending(layer))
        assert where.layer == "ds" and where.inside and not where.from_input
    conv = ending(QConv2D(3, 2, kernel_quantizer=q(), activation="softmax", name="c"), shape=(4, 4, 1))
    assert logits_layer(conv).inside
    assert logits_layer(ending(keras.layers.Dense(5, activation="relu"))) is None
    assert not ends_in_softmax(ending(QDense(5, kernel_quantizer=q(), activation="quantized_relu(4,2)")))
    assert logits_layer(softmax_only()).from_input
    assert ends_in_softmax(dense) and ends_in_softmax(conv)


@pytest.mark.parametrize("make", [float_dense_softmax, qdense_softmax], ids=["Dense", "QDense"])
def test_logits_model_is_the_pre_activation_with_shared_weights(rng, make):
    model = make()
    x = float_inputs(rng, (16,), n=64)
    logits = logits_model(model)
    assert [layer.name for layer in logits.layers] == [layer.name for layer in model.layers]
    z = logits.predict(x, verbose=0)
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(1, keepdims=True), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert np.any(z < 0)  # not post-softmax
    assert model.get_layer("out").activation.__name__ == "softmax"  # the model itself is untouched


# ---- compare on converted designs ---------------------------------------------------------------

def test_float_model_ending_in_dense_softmax(build, rng):
    model = float_dense_softmax()
    x = float_inputs(rng, (16,), n=500, low=-1, high=1)
    design = build(model, calibration=x)
    report = design.compare(model, x)
    assert report.compared == "logits"
    assert report.n_samples == 500
    assert report.argmax_agreement >= 0.99, report.format()
    assert report.output_bit_exact is not None and report.output_max_abs_diff < 0.05
    assert np.isfinite(report.max_abs_diff) and report.max_abs_diff < 0.1, report.format()
    assert 0.0 <= report.bit_exact <= 1.0
    if report.bit_exact < 1.0:  # a float model is not bit-exact: the search names a layer that is in it
        assert report.first_divergent_layer in {"fc1", "out"}
    assert "bit-exact (logits )" in report.format()


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_qkeras_model_ending_in_qdense_softmax_is_bit_exact_on_logits(build, rng, io_type):
    model = qdense_softmax()
    x = float_inputs(rng, (16,), n=500)
    report = build(model, io_type=io_type).compare(model, x)
    assert report.compared == "logits"
    assert report.bit_exact == 1.0, report.format()
    assert report.max_abs_diff == 0.0 and report.passed
    assert report.argmax_agreement >= 0.99
    assert report.output_max_abs_diff < 0.01


def test_qdense_softmax_on_the_host_compares_logits(build, rng):
    model = qdense_softmax()
    x = float_inputs(rng, (16,), n=300)
    # a softmax inside a QDense cannot move to the host: convert refuses it, saying what to do
    with pytest.raises(ConfigError, match=r"softmax inside \w+: put it in its own Activation layer"):
        build(model, softmax="host")
    design = build(model)  # on the device, the comparison still reaches the logits inside the layer
    report = design.compare(model, x)
    assert report.compared == "logits" and report.bit_exact == 1.0, report.format()


@pytest.mark.parametrize("layer", [
    "Activation",
    "Softmax",
])
def test_softmax_only_model_compares_its_input_as_logits(build, layer):
    model = softmax_only(layer=layer)
    grid = np.random.default_rng(3).integers(-64, 64, (200, 5)) / 16  # on the design's input grid
    design = build(model, input_precision="ap_fixed<16,4,AP_RND_CONV,AP_SAT>")
    report = design.compare(model, grid.astype(np.float32))
    assert report.compared == "logits"
    assert report.bit_exact == 1.0, report.format()
    assert report.argmax_agreement >= 0.99
    assert report.output_max_abs_diff < 0.01
    off_grid = design.compare(model, grid.astype(np.float32) + 1e-3)  # the input cast is what differs
    assert off_grid.compared == "logits" and off_grid.bit_exact == 0.0
    assert off_grid.first_divergent_layer == "sm"


def test_model_without_softmax_compares_outputs(build, rng, monkeypatch):
    from fpga_accel.stages.csim import csim

    model = qmlp()
    x = float_inputs(rng, (16,), n=300)
    design = build(model)
    report = design.compare(model, x)
    assert report.compared == "outputs" and report.output_bit_exact is None
    assert report.bit_exact == 1.0, report.format()
    # `fpga-accel csim --reference`: the design runs over x once; the outputs returned are the ones compared
    runs, run = [], design._csim_predict
    monkeypatch.setattr(design, "_csim_predict", lambda *a: runs.append(len(a[0])) or run(*a))
    result = csim(design, x, model, engine="csim")
    assert runs == [300] and result.report is not None and result.report.bit_exact == 1.0
    np.testing.assert_array_equal(result.outputs, design.predict(x, engine="emulator"))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_divergence_compares_a_layers_activation_output(build, rng, io_type):
    """conv1's relu output is exact; the float Dense after it is not (Keras rounds its float32 sums): blame
    `out`, not conv1."""
    model = qconv_relu(float_head=True)
    x = float_inputs(rng, (8, 8, 1), n=300)
    design = build(model, io_type=io_type)
    report = design.compare(model, x)
    assert report.bit_exact < 1.0
    assert report.layer_exact["conv1"] == 1.0 and report.layer_exact["relu1"] == 1.0, report.layer_exact
    assert report.first_divergent_layer == "out", report.format()
    # conv1's own node is before relu: it is not what Keras' conv1 outputs
    y, traced = design.trace(x[:50])  # hls4ml's convention: (outputs, per-layer outputs)
    assert np.array_equal(y, design.predict(x[:50]))
    with pytest.warns(DeprecationWarning, match="use `y, layers = design.trace"):
        assert design.trace(x[:2])["conv1"].shape == traced["conv1"][:2].shape  # the old dict spelling
    keras_conv1 = _keras_layer_output(model, "conv1", x[:50])
    assert np.any(traced["conv1"].reshape(50, -1) != keras_conv1.reshape(50, -1))


def test_divergence_with_an_inexact_input_type_blames_the_first_layer(build, rng):
    """No input quantizer and a 6-bit design input: conv1 sees rounded inputs and is the first to differ."""
    model = qconv_relu(input_quantizer=False)
    x = float_inputs(rng, (8, 8, 1), n=300)
    design = build(model, input_precision="ap_fixed<6,3>")
    report = design.compare(model, x)
    assert report.bit_exact < 1.0
    assert report.first_divergent_layer == "conv1", report.format()
    assert report.layer_exact["conv1"] < 1.0
    assert list(report.layer_exact) == ["conv1", "relu1", "out"]  # graph order; Flatten has no trace
    assert "first diverging layer   conv1" in report.format()


def _keras_layer_output(model, name, x):
    from tensorflow import keras

    return keras.Model(model.inputs, model.get_layer(name).output).predict(x, verbose=0)


# ---- what cannot be compared says so ---------------------------------------------------------------

def test_references_that_do_not_fit_the_design_are_config_errors(build, rng):
    from tensorflow import keras

    model = qdense_softmax()
    design = build(model)
    x = float_inputs(rng, (16,), n=20)
    inp = keras.Input((16,))
    with pytest.raises(ConfigError, match="outputs .* per sample"):
        design.compare(keras.Model(inp, keras.layers.Dense(7, activation="softmax")(inp)), x)
    with pytest.raises(ConfigError, match="takes inputs of shape"):
        other = keras.Input((8,))
        design.compare(keras.Model(other, keras.layers.Dense(5)(other)), float_inputs(rng, (16,), n=4))
    with pytest.raises(ConfigError, match="single-input, single-output"):
        design.compare(keras.Model(inp, [keras.layers.Dense(5)(inp), keras.layers.Dense(5)(inp)]), x)
    no_softmax = qmlp()  # a model without softmax against a softmax design compares outputs: runs, inexact
    assert design.compare(no_softmax, x).compared == "outputs"


def test_softmax_reference_against_a_design_without_softmax(build, rng):
    design = build(qmlp())
    x = float_inputs(rng, (16,), n=20)
    from tensorflow import keras

    inp = keras.Input((16,))
    with pytest.raises(ConfigError, match="ends in softmax but design"):
        design.compare(keras.Model(inp, keras.layers.Dense(5, activation="softmax")(inp)), x)


# ---- the CLI -------------------------------------------------------------------------------------

def test_cli_csim_reference_with_dense_softmax_model(tmp_path, capsys):
    from fpga_accel.cli import EXIT_NOT_EXACT, main

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 16)).astype(np.float32)
    float_dense_softmax().save(tmp_path / "model.h5")
    np.save(tmp_path / "x.npy", x)
    assert main(["convert", str(tmp_path / "model.h5"), "--name", "dsm", "--output-dir", str(tmp_path / "hls"),
                 "--calibration", str(tmp_path / "x.npy")]) == 0
    capsys.readouterr()
    code = main(["csim", str(tmp_path / "hls" / "dsm"), "--input", str(tmp_path / "x.npy"),
                 "--reference", str(tmp_path / "model.h5")])
    assert code in (0, EXIT_NOT_EXACT)
    printed = capsys.readouterr().out
    assert "bit-exact (logits )" in printed and "argmax agreement" in printed
