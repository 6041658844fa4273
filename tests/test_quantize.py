from __future__ import annotations

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.keras_compat import quantizer_of
from fpga_accel.stages.quantize import input_integer_bits
from models import float_mlp


def test_quantize_replaces_layers_and_adds_input_quantizer(rng):
    model = float_mlp()
    x = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    x[0, 0] = 1.0  # like digits/16: the range includes 1.0
    qmodel = fa.quantize(model, fa.QuantizeConfig(weight_bits=4, layers={"logits": {"weight_bits": 8}}), x)
    kinds = {layer.name: type(layer).__name__ for layer in qmodel.layers}
    assert kinds == {"pixels": "InputLayer", "input_quant": "QActivation", "fc1": "QDense",
                     "relu1": "QActivation", "logits": "QDense", "softmax": "Activation"}
    assert "bn1" not in kinds  # folded into fc1
    assert qmodel.get_layer("fc1").kernel_quantizer_internal.bits == 4
    assert qmodel.get_layer("logits").kernel_quantizer_internal.bits == 8
    quantizer = quantizer_of(qmodel.get_layer("input_quant"))
    assert (quantizer.bits, quantizer.integer) == (8, 1)  # [0, 1] needs 1 integer bit


def test_batchnorm_folding_is_exact_in_float(rng):
    """With wide quantizers the quantized model must equal the float model: folding changed nothing."""
    model = float_mlp()
    x = rng.uniform(0, 1, (200, 64)).astype(np.float32)
    wide = fa.QuantizeConfig(weight_bits=24, weight_integer=6, bias_bits=24, bias_integer=6,
                             activation_bits=24, activation_integer=8, input_bits=0)
    qmodel = fa.quantize(model, wide)
    np.testing.assert_allclose(qmodel.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)
    assert not any(layer.name == "bn1" for layer in qmodel.layers)


def test_unsupported_layers_are_named_before_any_work():
    from tensorflow import keras

    inp = keras.Input((8,))
    t = keras.layers.Dense(4, activation="sigmoid", name="gate")(inp)
    t = keras.layers.GaussianNoise(0.1, name="noise")(t)
    model = keras.Model(inp, t)
    with pytest.raises(fa.ConfigError, match=r"noise \(GaussianNoise\).*gate \(activation sigmoid\)"):
        fa.quantize(model)


def test_qat_needs_labels_and_improves_nothing_silently(rng):
    model = float_mlp(bn=False)
    x = rng.uniform(0, 1, (128, 64)).astype(np.float32)
    with pytest.raises(fa.ConfigError, match="needs data with x and y"):
        fa.quantize(model, fa.QuantizeConfig(epochs=1), x)
    y = rng.integers(0, 10, 128)
    before = fa.quantize(model, fa.QuantizeConfig(), x)
    after = fa.quantize(model, fa.QuantizeConfig(epochs=2), x, y)
    assert not np.array_equal(before.get_layer("fc1").get_weights()[0], after.get_layer("fc1").get_weights()[0])


def test_bad_calibration_data(rng):
    model = float_mlp()
    with pytest.raises(fa.InputError, match=r"sample shape \(10,\)"):
        fa.quantize(model, x=np.zeros((4, 10), np.float32))
    bad = rng.uniform(0, 1, (4, 64)).astype(np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(fa.InputError, match="NaN"):
        fa.quantize(model, x=bad)


@pytest.mark.parametrize("peak, bits", [(0.9, 0), (1.0, 1), (3.0, 2), (16.0, 5)])
def test_input_integer_bits(peak, bits):
    assert input_integer_bits(np.array([0.0, -peak / 2, peak])) == bits


def test_batchnorm_that_cannot_be_folded_is_followed_by_a_quantizer(build, rng):
    """Dense(relu) → BN: BN after an activation cannot be folded; its float output gets a quantizer, so
    the design stays bit-exact with QKeras (a Sequential model, as many users write them)."""
    from tensorflow import keras

    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(10,)),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(4, name="out")])
    model.get_layer("bn").set_weights([rng.uniform(0.5, 2, 16), rng.uniform(-1, 1, 16), rng.uniform(0, 1, 16),
                                       rng.uniform(0.5, 2, 16)])
    x = rng.uniform(0, 2, (300, 10)).astype(np.float32)
    qmodel = fa.quantize(model, x=x)
    names = [layer.name for layer in qmodel.layers]
    assert names.index("bn_quant") == names.index("bn") + 1
    report = build(qmodel, calibration=x, io_type="io_stream").compare(qmodel, x)
    assert report.bit_exact == 1.0, report.format()
