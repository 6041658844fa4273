"""MLPerf-Tiny models as hls4ml's authors published them for the PYNQ-Z2, re-created with seeded weights.

The anomaly-detection autoencoder AD08 (hls4ml-finn-mlperftiny, ``ad08.yml``): 64 inputs, QDense 72-72-8-72-72
with ``quantized_bits(12, 6)`` weights and biases, each followed by a Keras BatchNormalization and
``quantized_relu(6, 6)``, a last QDense(64) with ``quantized_bits(12, 0)``, no input quantizer. hls4ml 1.3
types ``quantized_relu(6, 6)`` as ``ap_uint<6>`` (truncating, wrapping): 0 % exact before the quantizer
types of ``fpga_accel.quantizer_types``.

The image-classification ResNet RN07 (``resnet_v1_eembc_quantized`` with ``tiny2_pynq-z2.yml``'s settings):
QConv2DBatchnorm layers, skip Adds, 8-bit quantizers, no input quantizer. Its first convolution computes on
the raw float inputs, which Keras rounds in float32 and the design does not: bit-exact on 8-bit pixels (what
the published design takes), a few float inputs one step off, the verdict names that layer.
"""
from __future__ import annotations

import numpy as np
import pytest

import fpga_accel as fa


def ad08(seed: int = 0):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    tf.keras.utils.set_random_seed(seed)

    def quantized(bits, integer):
        return dict(kernel_quantizer=quantized_bits(bits, integer, alpha=1),
                    bias_quantizer=quantized_bits(bits, integer, alpha=1), kernel_initializer="lecun_uniform")

    inp = keras.Input((64,))
    h = inp
    for units in (72, 72, 8, 72, 72):
        h = QDense(units, **quantized(12, 6))(h)
        h = keras.layers.BatchNormalization()(h)
        h = QActivation(quantized_relu(6, 6))(h)
    model = keras.Model(inp, QDense(64, **quantized(12, 0))(h), name="ad08")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # trained-looking batch-norm statistics, not the identity
        if isinstance(layer, keras.layers.BatchNormalization):
            n = int(layer.gamma.shape[0])
            layer.set_weights([rng.uniform(0.5, 2, n), rng.uniform(-1, 1, n), rng.uniform(-1, 1, n),
                               rng.uniform(0.2, 3, n)])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 7])
def test_anomaly_detection_autoencoder_is_bit_exact_in_io_stream(tmp_path, seed):
    """convert's own verdict (1,000 uniform float inputs in ±4, the default without calibration) and an
    independent check on other inputs both find every output bit-exact."""
    model = ad08(seed)
    design = fa.convert(model, fa.ConvertConfig(name="ad08", io_type="io_stream", output_dir=tmp_path))
    verdict = design.meta.fidelity
    assert verdict["passed"] and verdict["bit_exact"] == 1.0 and verdict["samples"] == 1000
    x = np.random.default_rng(seed + 100).normal(0, 2, (500, 64)).astype(np.float32)
    report = design.compare(model, x)
    assert report.bit_exact >= 0.999, report.format()
    defines = (design.root / "firmware" / "defines.h").read_text()
    assert "ap_uint<6>" not in defines


def rn07(seed: int = 0, skip: bool = True):
    """The MLPerf-Tiny image-classification ResNet hls4ml's authors built for the PYNQ-Z2 (hls4ml-finn-mlperftiny,
    ``resnet_v1_eembc_quantized`` with the RN07 / ``tiny2_pynq-z2.yml`` settings): 32x32x3 images, no input
    quantizer; QConv2DBatchnorm filters 32-4-32-32-32 with kernels 1-4-4-4-4 and strides 1-1-1-4-1, the
    second stack's shortcut a QConv2D (4x4, stride 4); ``quantized_bits(8, 2, alpha=1)`` weights, biases and
    residual quantizers, ``quantized_relu(8, 2)`` activations; QDense(10) logits (the softmax removed, as
    their convert does). ``skip=True`` keeps the residual ``Add``s of ``resnet_v1_eembc_quantized`` (the
    published RN07 sets ``skip: 0``; the shortcut branch is then dead and Keras drops it)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QConv2DBatchnorm, QDense, quantized_bits, quantized_relu

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    tf.keras.utils.set_random_seed(seed)
    logit, relu = quantized_bits(8, 2, alpha=1), quantized_relu(8, 2)

    def conv(filters, kernel, strides, batchnorm=True):
        kind = QConv2DBatchnorm if batchnorm else QConv2D
        return kind(filters, kernel, strides=strides, padding="same", kernel_quantizer=logit,
                    bias_quantizer=logit, kernel_initializer="he_normal")

    def residual(x, y):
        if not skip:
            return QActivation(relu)(y)
        return QActivation(relu)(keras.layers.Add()([x, QActivation(logit)(y)]))

    inp = keras.Input((32, 32, 3))
    x = QActivation(relu)(conv(32, 1, 1)(inp))
    y = QActivation(relu)(conv(4, 4, 1)(x))
    x = residual(x, conv(32, 4, 1)(y))
    y = QActivation(relu)(conv(32, 4, 4)(x))
    y = conv(32, 4, 1)(y)
    x = residual(QActivation(logit)(conv(32, 4, 4, batchnorm=False)(x)), y)
    model = keras.Model(inp, QDense(10, kernel_quantizer=logit, bias_quantizer=logit,
                                    kernel_initializer="he_normal")(keras.layers.Flatten()(x)),
                        name="rn07" if not skip else "rn07_skip")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # trained-looking batch-norm statistics, not the identity
        if isinstance(layer, QConv2DBatchnorm):
            bn = layer.batchnorm
            n = int(bn.gamma.shape[0])
            bn.set_weights([rng.uniform(0.5, 2, n), rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n),
                            rng.uniform(0.2, 3, n)])
    return model


def _first_of(model, class_name: str):
    """The model's first layer of a class (Keras numbers layer names per process: the names depend on which
    models the process built before)."""
    return next(layer for layer in model.layers if type(layer).__name__ == class_name)


def _first_activation_exact(model, x: np.ndarray) -> np.ndarray:
    """q_activation (``quantized_relu(8, 2)`` of the first QConv2DBatchnorm, a 1x1 convolution) computed
    without rounding from the float32 inputs: float64 holds every product and sum exactly."""
    from fpga_accel.hls.batchnorm_fold import qkeras_folded

    kernel, bias = qkeras_folded(_first_of(model, "QConv2DBatchnorm"))
    exact = np.einsum("nhwc,cf->nhwf", x.astype(np.float64), kernel[0, 0].astype(np.float64)) + bias
    steps = np.round(exact * 64)  # no exact ties: the inputs' fractions are finer than the weights' grid
    return np.clip(steps, 0, 255) / 64


@pytest.mark.slow
def test_image_classification_resnet_is_bit_exact_in_io_stream(tmp_path):
    """The ResNet with its skip Adds, no input quantizer, converted with the defaults in io_stream (one csim
    build, verdict by the emulator). On images as the published design takes them (8-bit pixels / 256,
    ``ap_ufixed<8,0>``) and on values beyond that range (negative, up to 2), every output is bit-exact. On
    arbitrary float32 inputs the design computes the first convolution exactly where Keras rounds it in
    float32: the verdict names that layer as a float part, the first diverging layer is the first quantizer
    after it, and there the design equals an exact evaluation; the emulator equals csim bit for bit."""
    model = rn07(0)
    design = fa.convert(model, fa.ConvertConfig(name="rn07", io_type="io_stream", output_dir=tmp_path))
    verdict = design.meta.fidelity
    assert verdict["samples"] == 1000
    (judged,) = verdict["judged_layers"]
    conv, act = _first_of(model, "QConv2DBatchnorm").name, _first_of(model, "QActivation").name
    assert judged.startswith(f"{conv} (QConv2DBatchnorm) on the unquantized input"), judged
    if not verdict["passed"]:  # uniform float inputs in ±4: a few values within float32 rounding of a step
        assert verdict["first_divergent_layer"] == act, verdict["message"]
        assert "without an exact type rule" not in verdict["message"]  # the skip Adds have their rule
    rng = np.random.default_rng(1)
    pixels = (rng.integers(-256, 512, (100, 32, 32, 3)) / 256).astype(np.float32)
    report = design.compare(model, pixels, engine="csim")
    assert report.bit_exact >= 0.999, report.format()
    np.testing.assert_array_equal(design.predict(pixels[:20], engine="emulator"),
                                  design.predict(pixels[:20], engine="csim"))

    x = rng.uniform(0, 1, (24, 32, 32, 3)).astype(np.float32)
    y_csim, csim_layers = design.trace(x, engine="csim")
    y_emulator, emulator_layers = design.trace(x, engine="emulator")
    np.testing.assert_array_equal(y_emulator, y_csim)
    for name, values in csim_layers.items():
        np.testing.assert_array_equal(emulator_layers[name], values, err_msg=name)
    first = csim_layers[act].reshape(x.shape[:3] + (32,))
    assert np.mean(first == _first_activation_exact(model, x)) >= 1 - 1e-5  # the 24-bit input type rounds a few
