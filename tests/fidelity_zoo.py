"""The fidelity zoo: small QKeras models re-created from hls4ml's own test suite and its published example
models, each with seeded random weights, for measuring how often csim reproduces QKeras bit for bit.

Sources the builders follow (re-created, not copied): hls4ml ``test/pytest/test_qkeras.py``
(single Dense → quantized_relu with ``alpha=1`` / ``"auto_po2"``; binary/ternary "btnn" Dense models; activation
quantizers given as layer arguments; ``QConv2DBatchnorm``; ``QDepthwiseConv2D``; ``QSeparableConv1D/2D``;
``quantized_po2(18, max_value=2**20)``; quantized_tanh/sigmoid), ``q_leaky_relu_test.py`` (``negative_slope``),
``test_binary_cnn.py`` (binary CNN), ``test_keras_api.py`` (pooling, Conv1D/2D padding and strides), and the
example models ``qkeras_mnist_dense`` (quantized_relu(2) input, quantized_po2(4) weights), ``qkeras_mnist_cnn``
(``QConv2D(activation="relu")`` then ``QActivation``, no input quantizer) and the jet tagger ``qkeras_3layer``
(and its float ``KERAS_3layer`` with BatchNormalization first).

Sizes are chosen so that every sum QKeras computes in float32 is exact (≤ 24 significant bits): a mismatch
is then csim's, not the reference's rounding.

``ZOO`` (QKeras models, csim must be bit-exact) and ``FLOAT_MODELS`` (float Keras models, argmax
agreement) map an id to a ``ZooEntry``. Used by ``tests/test_fidelity.py`` and ``benchmarks/fidelity.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

N_SAMPLES = 500


@dataclass(frozen=True)
class ZooEntry:
    id: str
    build: Callable[[int], Any]
    """seed → an uncompiled ``keras.Model`` (single input, single output)."""
    low: float
    high: float
    """Range of the uniform float32 inputs fed to the model."""
    kind: str
    """Short human description for the README table."""
    refusal: str | None = None
    """If set: ``fa.convert`` must raise ``ConfigError`` whose message contains this text."""

    def model(self, seed: int = 0) -> Any:
        return self.build(seed)

    def inputs(self, model: Any, seed: int = 0, n: int = N_SAMPLES) -> np.ndarray:
        """n arbitrary float32 inputs in [low, high), not on any fixed-point grid."""
        shape = tuple(model.input_shape[1:])
        return np.random.default_rng(seed).uniform(self.low, self.high, (n,) + shape).astype(np.float32)


ZOO: dict[str, ZooEntry] = {}
FLOAT_MODELS: dict[str, ZooEntry] = {}


def _register(registry: dict[str, ZooEntry], low: float, high: float, kind: str, refusal: str | None = None):
    def deco(fn: Callable[[int], Any]) -> Callable[[int], Any]:
        entry_id = fn.__name__
        assert entry_id not in ZOO and entry_id not in FLOAT_MODELS, entry_id
        registry[entry_id] = ZooEntry(entry_id, fn, low, high, kind, refusal)
        return fn

    return deco


def zoo(low: float, high: float, kind: str, refusal: str | None = None):
    return _register(ZOO, low, high, kind, refusal)


def float_model(low: float, high: float, kind: str):
    return _register(FLOAT_MODELS, low, high, kind)


# --------------------------------------------------------------------------------------------- helpers


def _seed(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def qb(bits: int, integer: int = 0, alpha: Any = 1, **kw: Any) -> Any:
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=alpha, **kw)


def _input(shape, name: str = "x"):
    from tensorflow import keras

    return keras.Input(tuple(shape), name=name)


def _in_quant(t, bits: int = 8, integer: int = 2, name: str = "input_quant", **kw):
    from qkeras import QActivation

    return QActivation(qb(bits, integer, **kw), name=name)(t)


def _model(inp, out, name: str):
    from tensorflow import keras

    return keras.Model(inp, out, name=name)


def randomize_bn(model: Any, seed: int) -> Any:
    """Non-trivial gamma/beta/moving mean/variance for every BatchNormalization-like layer (BN, QBN,
    QConv2DBatchnorm), matched by variable name; a layer's weights are otherwise left as initialized."""
    rng = np.random.default_rng(seed + 1000)
    ranges = {"gamma": (0.5, 2.0), "beta": (-1.0, 1.0), "moving_mean": (-1.0, 1.0), "moving_variance": (0.2, 3.0)}
    for layer in model.layers:
        names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
        if "moving_variance" not in names:
            continue
        values = layer.get_weights()
        for i, (name, value) in enumerate(zip(names, values)):
            if name in ranges:
                values[i] = rng.uniform(*ranges[name], value.shape).astype(value.dtype)
        layer.set_weights(values)
    return model


# ------------------------------------------------------------------------ Dense, quantized_bits, relu


@zoo(-3, 3, "QDense 16, quantized_bits(4,0,alpha=1) weights, quantized_relu(4,0)")
def qdense_bits4_alpha1(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((16,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(4, 0, alpha=1), bias_quantizer=qb(4, 0, alpha=1),
               kernel_initializer="lecun_uniform", name="fc1")(t)
    t = QActivation(quantized_relu(4, 0), name="relu1")(t)
    return _model(inp, t, "qdense_bits4_alpha1")


@zoo(-3, 3, "QDense 16, quantized_bits(4,0,alpha='auto_po2') weights, quantized_relu(4,0)")
def qdense_bits4_auto_po2(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((16,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(4, 0, alpha="auto_po2"), bias_quantizer=qb(4, 0, alpha=1),
               kernel_initializer="lecun_uniform", name="fc1")(t)
    t = QActivation(quantized_relu(4, 0), name="relu1")(t)
    return _model(inp, t, "qdense_bits4_auto_po2")


@zoo(-6, 6, "16-bit input quantizer and quantized_relu(16,6), 4- and 3-bit weights, linear output")
def qdense_wide16(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((8,))
    t = _in_quant(inp, 16, 4)
    t = QDense(16, kernel_quantizer=qb(4, 0), bias_quantizer=qb(8, 2), name="fc1")(t)
    t = QActivation(quantized_relu(16, 6), name="relu1")(t)
    t = QDense(4, kernel_quantizer=qb(3, 0), bias_quantizer=qb(8, 3), name="out")(t)
    return _model(inp, t, "qdense_wide16")


@zoo(0, 1.2, "unsigned input quantizer quantized_bits(8,0,keep_negative=False), 2 QDense")
def qdense_unsigned_input(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((20,))
    t = _in_quant(inp, 8, 0, keep_negative=False)
    t = QDense(12, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QActivation(quantized_relu(5, 1), name="relu1")(t)
    t = QDense(3, kernel_quantizer=qb(5, 1), bias_quantizer=qb(5, 1), name="out")(t)
    return _model(inp, t, "qdense_unsigned_input")


@zoo(-2, 2, "QDense(activation='quantized_relu(4,0)') argument, 4-bit weights")
def qdense_act_arg_relu4(seed: int):
    from qkeras import QDense

    _seed(seed)
    inp = _input((10,))
    t = _in_quant(inp, 8, 1)
    t = QDense(10, activation="quantized_relu(4,0)", kernel_quantizer="quantized_bits(4,0,alpha=1)",
               bias_quantizer="quantized_bits(4,0,alpha=1)", kernel_initializer="lecun_uniform", name="qdense")(t)
    return _model(inp, t, "qdense_act_arg_relu4")


@zoo(-2, 2, "QDense(activation='quantized_relu(2,0)') argument, no input quantizer")
def qdense_act_arg_relu2(seed: int):
    from qkeras import QDense

    _seed(seed)
    inp = _input((10,))
    t = QDense(10, activation="quantized_relu(2,0)", kernel_quantizer="quantized_bits(4,0,alpha=1)",
               bias_quantizer="quantized_bits(4,0,alpha=1)", kernel_initializer="lecun_uniform", name="qdense")(inp)
    return _model(inp, t, "qdense_act_arg_relu2")


@zoo(-2, 2, "QDense without kernel/bias quantizers (float weights), activation quantized_relu(8,0)")
def qdense_float_weights_relu8(seed: int):
    from qkeras import QDense

    _seed(seed)
    inp = _input((10,))
    t = _in_quant(inp, 8, 1)
    t = QDense(10, activation="quantized_relu(8,0)", kernel_initializer="lecun_uniform", name="qdense")(t)
    return _model(inp, t, "qdense_float_weights_relu8")


@zoo(-2, 2, "QDense binary weights and bias, activation='binary' argument")
def qdense_act_arg_binary(seed: int):
    from qkeras import QDense

    _seed(seed)
    inp = _input((10,))
    t = _in_quant(inp, 8, 1)
    t = QDense(10, activation="binary", kernel_quantizer="binary", bias_quantizer="binary",
               kernel_initializer="lecun_uniform", name="qdense")(t)
    return _model(inp, t, "qdense_act_arg_binary")


@zoo(-2, 2, "QDense ternary weights and bias, activation='ternary' argument", refusal="ternary activation")
def qdense_act_arg_ternary(seed: int):
    from qkeras import QDense

    _seed(seed)
    inp = _input((10,))
    t = _in_quant(inp, 8, 1)
    t = QDense(10, activation="ternary", kernel_quantizer="ternary", bias_quantizer="ternary",
               kernel_initializer="lecun_uniform", name="qdense")(t)
    return _model(inp, t, "qdense_act_arg_ternary")


@zoo(-3, 3, "quantized_relu with negative_slope (leaky): (8,2,0.25) and (4,0,0.5)", refusal="negative_slope")
def qrelu_leaky(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((12,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QActivation(quantized_relu(8, 2, negative_slope=0.25), name="leaky1")(t)
    t = QDense(8, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc2")(t)
    t = QActivation(quantized_relu(4, 0, negative_slope=0.5), name="leaky2")(t)
    return _model(inp, t, "qrelu_leaky")


@zoo(-8, 8, "quantized_relu with integer bits: (8,4) then (10,5), 5-bit weights")
def qrelu_integer_bits(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((12,))
    t = _in_quant(inp, 8, 3)
    t = QDense(16, kernel_quantizer=qb(5, 1), bias_quantizer=qb(5, 2), name="fc1")(t)
    t = QActivation(quantized_relu(8, 4), name="relu1")(t)
    t = QDense(8, kernel_quantizer=qb(5, 0), bias_quantizer=qb(5, 2), name="fc2")(t)
    t = QActivation(quantized_relu(10, 5), name="relu2")(t)
    return _model(inp, t, "qrelu_integer_bits")


@zoo(-20, 20, "only QActivation(quantized_bits(6,2,alpha=1)) (saturating inputs)")
def qact_only_bits(seed: int):
    _seed(seed)
    inp = _input((8,))
    t = _in_quant(inp, 6, 2, name="quantizer")
    return _model(inp, t, "qact_only_bits")


@zoo(-40, 40, "only QActivation(quantized_relu(10,5)), no input quantizer")
def qact_only_relu(seed: int):
    from qkeras import QActivation, quantized_relu

    _seed(seed)
    inp = _input((8,))
    t = QActivation(quantized_relu(10, 5), name="quantizer")(inp)
    return _model(inp, t, "qact_only_relu")


@zoo(-4, 4, "only QActivation(quantized_tanh(8)), no input quantizer")
def qact_only_tanh(seed: int):
    from qkeras import QActivation, quantized_tanh

    _seed(seed)
    inp = _input((8,))
    t = QActivation(quantized_tanh(8), name="quantizer")(inp)
    return _model(inp, t, "qact_only_tanh")


@zoo(-3, 3, "QDense → quantized_tanh(8) → QDense → quantized_tanh(4)")
def qdense_tanh(seed: int):
    from qkeras import QActivation, QDense, quantized_tanh

    _seed(seed)
    inp = _input((12,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QActivation(quantized_tanh(8), name="tanh1")(t)
    t = QDense(6, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc2")(t)
    t = QActivation(quantized_tanh(4), name="tanh2")(t)
    return _model(inp, t, "qdense_tanh")


@zoo(-3, 3, "QDense → quantized_sigmoid(6) → QDense → quantized_sigmoid(8)")
def qdense_sigmoid(seed: int):
    from qkeras import QActivation, QDense, quantized_sigmoid

    _seed(seed)
    inp = _input((12,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QActivation(quantized_sigmoid(6), name="sigmoid1")(t)
    t = QDense(6, kernel_quantizer=qb(6, 1), bias_quantizer=qb(6, 0), name="fc2")(t)
    t = QActivation(quantized_sigmoid(8), name="sigmoid2")(t)
    return _model(inp, t, "qdense_sigmoid")


# ------------------------------------------------------------------------------ binary and ternary


def _btnn(seed: int, name: str, kernel: Any, activation: Any, batchnorm: bool):
    """hls4ml's test_btnn topology: QDense(10) [→ BatchNormalization] → QActivation."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    _seed(seed)
    inp = _input((10,))
    t = _in_quant(inp, 8, 1)
    t = QDense(10, kernel_quantizer=kernel, bias_quantizer=qb(5, 2, alpha=None), name="dense")(t)
    if batchnorm:
        t = keras.layers.BatchNormalization(name="bn")(t)
    t = QActivation(activation, name="act")(t)
    return randomize_bn(_model(inp, t, name), seed)


@zoo(-2, 2, "QDense ternary(alpha=1) weights → binary_tanh")
def btnn_ternary_binary_tanh(seed: int):
    from qkeras import ternary

    return _btnn(seed, "btnn_ternary_binary_tanh", ternary(alpha=1), "binary_tanh", False)


@zoo(-2, 2, "QDense binary() weights → binary_tanh")
def btnn_binary_binary_tanh(seed: int):
    from qkeras import binary

    return _btnn(seed, "btnn_binary_binary_tanh", binary(), "binary_tanh", False)


@zoo(-2, 2, "QDense binary() weights → binary()")
def btnn_binary_binary(seed: int):
    from qkeras import binary

    return _btnn(seed, "btnn_binary_binary", binary(), binary(), False)


@zoo(-2, 2, "QDense ternary(alpha='auto') → BatchNormalization → binary()")
def btnn_ternary_auto_bn_binary(seed: int):
    from qkeras import binary, ternary

    return _btnn(seed, "btnn_ternary_auto_bn_binary", ternary(alpha="auto"), binary(), True)


@zoo(-2, 2, "QDense ternary(alpha='auto') → BatchNormalization → 'ternary'", refusal="ternary activation")
def btnn_ternary_auto_bn_ternary(seed: int):
    from qkeras import ternary

    return _btnn(seed, "btnn_ternary_auto_bn_ternary", ternary(alpha="auto"), "ternary", True)


@zoo(-2, 2, "QDense ternary(alpha='auto') → BatchNormalization → ternary(threshold=0.2)",
     refusal="ternary activation")
def btnn_ternary_auto_bn_ternary_thr(seed: int):
    from qkeras import ternary

    return _btnn(seed, "btnn_ternary_auto_bn_ternary_thr", ternary(alpha="auto"), ternary(threshold=0.2), True)


@zoo(-1, 1, "binary CNN: binary QConv2D ×2, QBatchNormalization, binary acts, MaxPooling, binary QDense, softmax")
def binary_cnn(seed: int):
    from qkeras import QActivation, QBatchNormalization, QConv2D, QDense
    from tensorflow import keras

    _seed(seed)
    inp = _input((10, 10, 1), "image")
    t = _in_quant(inp, 8, 0)
    t = QConv2D(4, 3, kernel_quantizer="binary", use_bias=False, name="conv1")(t)
    t = QBatchNormalization(name="bn1")(t)
    t = QActivation("binary", name="act1")(t)
    t = QConv2D(8, 3, kernel_quantizer="binary", use_bias=False, name="conv2")(t)
    t = QBatchNormalization(name="bn2")(t)
    t = QActivation("binary", name="act2")(t)
    t = keras.layers.MaxPooling2D(2, name="pool")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(10, kernel_quantizer="binary", use_bias=False, name="fc1")(t)
    t = QBatchNormalization(name="bn3")(t)
    t = QActivation("binary_tanh", name="act3")(t)
    t = QDense(10, kernel_quantizer="binary", use_bias=False, activation="softmax", name="out")(t)
    return randomize_bn(_model(inp, t, "binary_cnn"), seed)


# ------------------------------------------------------------------------------------------- po2


@zoo(0, 1.2, "qkeras_mnist_dense: quantized_relu(2) input, quantized_po2(4,1) weights, relu(3,1), softmax")
def mnist_dense_po2(seed: int):
    from qkeras import QActivation, QDense, quantized_po2, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((64,))
    t = QActivation(quantized_relu(2), name="input_quant")(inp)
    t = QDense(20, kernel_quantizer=quantized_po2(4, max_value=1),
               bias_quantizer=qb(2, 0, alpha=None, symmetric=1), name="fc1")(t)
    t = QActivation(quantized_relu(3, 1), name="relu1")(t)
    t = QDense(10, kernel_quantizer=qb(4, 0, alpha=1, symmetric=1), bias_quantizer=qb(4, 0, alpha=None, symmetric=1),
               name="fc2")(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return _model(inp, t, "mnist_dense_po2")


@zoo(0, 1, "QDense quantized_po2(18, max_value=2**20) weights of ~2**18, float bias")
def qdense_po2_18bit(seed: int):
    from qkeras import QDense, quantized_po2

    _seed(seed)
    inp = _input((26,))
    t = _in_quant(inp, 8, 0)
    t = QDense(6, kernel_quantizer=quantized_po2(18, max_value=2 ** 20), name="dense")(t)
    model = _model(inp, t, "qdense_po2_18bit")
    layer = model.get_layer("dense")
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(seed)
    layer.set_weights([(2 ** 18 * rng.uniform(0.01, 1, kernel.shape)).astype(np.float32), bias])
    return model


# ------------------------------------------------------------------------------------- convolutions


@zoo(-3, 3, "QConv1D (valid) → quantized_relu → MaxPooling1D → QDense, 32×3 sequence")
def qconv1d_maxpool(seed: int):
    from qkeras import QActivation, QConv1D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((32, 3), "seq")
    t = _in_quant(inp, 8, 2)
    t = QConv1D(4, 3, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.MaxPooling1D(2, name="pool1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="out")(t)
    return _model(inp, t, "qconv1d_maxpool")


@zoo(-3, 3, "QConv1D padding='same' → relu → AveragePooling1D → strided QConv1D, 16×2 sequence")
def qconv1d_same_avgpool(seed: int):
    from qkeras import QActivation, QConv1D, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((16, 2), "seq")
    t = _in_quant(inp, 8, 2)
    t = QConv1D(4, 5, padding="same", kernel_quantizer=qb(5, 0), bias_quantizer=qb(5, 0), name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.AveragePooling1D(2, name="pool1")(t)
    t = QConv1D(3, 3, strides=2, kernel_quantizer=qb(5, 0), bias_quantizer=qb(5, 0), name="conv2")(t)
    t = QActivation(quantized_relu(8, 3), name="relu2")(t)
    return _model(inp, t, "qconv1d_same_avgpool")


@zoo(-3, 3, "QConv2D strides=2 padding='same' → QConv2D padding='same' → QDense, 10×10×1")
def qconv2d_strided_same(seed: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((10, 10, 1), "image")
    t = _in_quant(inp, 8, 2)
    t = QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = QConv2D(6, 3, padding="same", kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv2")(t)
    t = QActivation(quantized_relu(6, 2), name="relu2")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="out")(t)
    return _model(inp, t, "qconv2d_strided_same")


@zoo(-3, 3, "QConv2D → quantized_relu → AveragePooling2D → QDense, 8×8×2")
def qconv2d_avgpool(seed: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((8, 8, 2), "image")
    t = _in_quant(inp, 8, 2)
    t = QConv2D(4, 3, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.AveragePooling2D(2, name="pool1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="out")(t)
    return _model(inp, t, "qconv2d_avgpool")


@zoo(-1, 1, "QDepthwiseConv2D 3×3, quantized_bits(6,0) depthwise, activation='quantized_relu(3,0)'")
def qdepthwise2d(seed: int):
    from qkeras import QDepthwiseConv2D

    _seed(seed)
    inp = _input((8, 8, 3), "image")
    t = _in_quant(inp, 8, 0)
    t = QDepthwiseConv2D(3, depthwise_quantizer="quantized_bits(6,0,alpha=1)",
                         bias_quantizer="quantized_bits(4,0,alpha=1)", bias_initializer="he_normal",
                         activation="quantized_relu(3,0)", name="dwconv")(t)
    return _model(inp, t, "qdepthwise2d")


@zoo(-1, 1, "QSeparableConv1D(5, 3), quantized_bits(8,3) depthwise/pointwise/bias, linear output")
def qsepconv1d(seed: int):
    from qkeras import QSeparableConv1D

    _seed(seed)
    inp = _input((16, 4), "seq")
    t = _in_quant(inp, 8, 0)
    t = QSeparableConv1D(5, 3, depthwise_quantizer=qb(8, 3), pointwise_quantizer=qb(8, 3), bias_quantizer=qb(8, 3),
                         name="sepconv")(t)
    return _model(inp, t, "qsepconv1d")


@zoo(-1, 1, "QSeparableConv2D(4, 3), quantized_bits(6,1) depthwise/pointwise/bias → quantized_relu(8,3)")
def qsepconv2d(seed: int):
    from qkeras import QActivation, QSeparableConv2D, quantized_relu

    _seed(seed)
    inp = _input((8, 8, 3), "image")
    t = _in_quant(inp, 8, 0)
    t = QSeparableConv2D(4, 3, depthwise_quantizer=qb(6, 1), pointwise_quantizer=qb(6, 1), bias_quantizer=qb(6, 1),
                         name="sepconv")(t)
    t = QActivation(quantized_relu(8, 3), name="relu1")(t)
    return _model(inp, t, "qsepconv2d")


@zoo(-1, 1, "QConv2DBatchnorm (folded BN), quantized_bits(8,0) weights, activation='quantized_relu(8,0)'")
def qconv2d_batchnorm(seed: int):
    from qkeras import QConv2DBatchnorm
    from tensorflow import keras

    _seed(seed)
    inp = _input((8, 8, 1), "image")
    t = _in_quant(inp, 8, 0)
    t = QConv2DBatchnorm(4, 3, kernel_quantizer="quantized_bits(8,0,alpha=1)",
                         bias_quantizer="quantized_bits(8,0,alpha=1)", activation="quantized_relu(8,0)",
                         name="convbn")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    return randomize_bn(_model(inp, t, "qconv2d_batchnorm"), seed)


@zoo(0, 1, "qkeras_mnist_cnn: QConv2D(activation='relu') → QActivation, MaxPooling, Dropout, softmax; "
     "no input quantizer")
def mnist_cnn(seed: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((10, 10, 1), "image")
    t = QConv2D(8, 3, activation="relu", kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv1")(inp)
    t = QActivation(quantized_relu(6, 0), name="relu1")(t)
    t = keras.layers.MaxPooling2D(2, name="pool1")(t)
    t = QConv2D(8, 3, activation="relu", kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv2")(t)
    t = QActivation(quantized_relu(6, 0), name="relu2")(t)
    t = keras.layers.MaxPooling2D(2, name="pool2")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = keras.layers.Dropout(0.5, name="dropout")(t)
    t = QDense(10, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="logits")(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return _model(inp, t, "mnist_cnn")


@zoo(-2, 2, "QConv2D(activation='relu') → QActivation(quantized_relu(4,2)) → QConv2D → QDense, 8×8×1")
def qconv2d_relu_arg(seed: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((8, 8, 1), "image")
    t = _in_quant(inp, 8, 1)
    t = QConv2D(4, 3, activation="relu", kernel_quantizer=qb(4, 0), bias_quantizer=qb(4, 0), name="conv1")(t)
    t = QActivation(quantized_relu(4, 2), name="relu1")(t)
    t = QConv2D(4, 3, kernel_quantizer=qb(4, 0), bias_quantizer=qb(4, 0), name="conv2")(t)
    t = QActivation(quantized_relu(6, 3), name="relu2")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(4, kernel_quantizer=qb(4, 0), bias_quantizer=qb(4, 0), name="out")(t)
    return _model(inp, t, "qconv2d_relu_arg")


# --------------------------------------------------------------------------------- batch normalization


@zoo(-3, 3, "QDense → QBatchNormalization (default quantizers) → quantized_relu(6,2) → QDense")
def qdense_qbn(seed: int):
    from qkeras import QActivation, QBatchNormalization, QDense, quantized_relu

    _seed(seed)
    inp = _input((16,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QBatchNormalization(name="bn")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="out")(t)
    return randomize_bn(_model(inp, t, "qdense_qbn"), seed)


@zoo(-3, 3, "QDense(use_bias=False) → Keras BatchNormalization → quantized_relu(4,1) → QDense")
def qdense_bn(seed: int):
    from qkeras import QActivation, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((16,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(5, 0), use_bias=False, name="fc1")(t)
    t = keras.layers.BatchNormalization(name="bn")(t)
    t = QActivation(quantized_relu(4, 1), name="relu1")(t)
    t = QDense(5, kernel_quantizer=qb(5, 0), bias_quantizer=qb(5, 0), name="out")(t)
    return randomize_bn(_model(inp, t, "qdense_bn"), seed)


@zoo(-3, 3, "QConv2D → BatchNormalization → quantized_relu(5,2) → MaxPooling2D → QDense, 8×8×1")
def qconv2d_bn(seed: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((8, 8, 1), "image")
    t = _in_quant(inp, 8, 2)
    t = QConv2D(4, 3, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="conv1")(t)
    t = keras.layers.BatchNormalization(name="bn")(t)
    t = QActivation(quantized_relu(5, 2), name="relu1")(t)
    t = keras.layers.MaxPooling2D(2, name="pool1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="out")(t)
    return randomize_bn(_model(inp, t, "qconv2d_bn"), seed)


# ----------------------------------------------------------------------------------------- softmax


@zoo(-3, 3, "jet tagger qkeras_3layer: 16-64-32-32-5, quantized_bits(6,0) / relu(6,0), softmax; no input quantizer")
def jet_tagger(seed: int):
    from qkeras import QActivation, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = _input((16,))
    t = inp
    for i, units in enumerate((64, 32, 32)):
        t = QDense(units, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), kernel_initializer="lecun_uniform",
                   name=f"fc{i + 1}")(t)
        t = QActivation(quantized_relu(6, 0), name=f"relu{i + 1}")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), kernel_initializer="lecun_uniform",
               name="output")(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return _model(inp, t, "jet_tagger")


@zoo(-3, 3, "QDense(activation='softmax') output layer")
def qdense_softmax_arg(seed: int):
    from qkeras import QActivation, QDense, quantized_relu

    _seed(seed)
    inp = _input((16,))
    t = _in_quant(inp, 8, 2)
    t = QDense(16, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), name="fc1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = QDense(5, kernel_quantizer=qb(6, 0), bias_quantizer=qb(6, 0), activation="softmax", name="out")(t)
    return _model(inp, t, "qdense_softmax_arg")


# ------------------------------------------------------------------------------------- float models


@zoo(-3, 3, "QDense → QActivation(quantized_bits): signed, unsigned, symmetric 'linear' quantizers")
def qdense_qbits_activations(seed: int):
    from qkeras import QActivation, QConv1D, QDense
    from tensorflow import keras

    _seed(seed)
    inp = _input((12, 2))
    t = _in_quant(inp, 10, 2)
    t = QConv1D(4, 3, kernel_quantizer=qb(5, 0), bias_quantizer=qb(5, 0), name="conv")(t)
    t = QActivation(qb(6, 2), name="q_signed")(t)
    t = keras.layers.Flatten(name="flat")(t)
    t = QDense(12, kernel_quantizer=qb(4, 0), bias_quantizer=qb(4, 0), name="fc1")(t)
    t = QActivation(qb(5, 1, keep_negative=False), name="q_unsigned")(t)
    t = QDense(6, kernel_quantizer=qb(6, 1), name="fc2")(t)
    t = QActivation(qb(4, 1, symmetric=True), name="q_symmetric")(t)
    return _model(inp, t, "qdense_qbits_activations")


@float_model(-3, 3, "jet tagger KERAS_3layer style: BatchNormalization first, Dense/relu, softmax")
def float_bn_first(seed: int):
    from tensorflow import keras

    _seed(seed)
    inp = _input((16,))
    t = keras.layers.BatchNormalization(name="bn_in")(inp)
    t = keras.layers.Dense(32, activation="relu", name="fc1")(t)
    t = keras.layers.Dense(16, activation="relu", name="fc2")(t)
    t = keras.layers.Dense(5, name="fc3")(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return randomize_bn(_model(inp, t, "float_bn_first"), seed)


@float_model(-3, 3, "Dense(activation='softmax') output")
def float_dense_softmax_arg(seed: int):
    from tensorflow import keras

    _seed(seed)
    inp = _input((16,))
    t = keras.layers.Dense(16, activation="relu", name="fc1")(inp)
    t = keras.layers.Dense(5, activation="softmax", name="out")(t)
    return _model(inp, t, "float_dense_softmax_arg")


@float_model(-3, 3, "Conv1D padding='same' → MaxPooling1D → Dense, 16×2 sequence")
def float_conv1d_same(seed: int):
    from tensorflow import keras

    _seed(seed)
    inp = _input((16, 2), "seq")
    t = keras.layers.Conv1D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    t = keras.layers.MaxPooling1D(2, name="pool1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = keras.layers.Dense(5, name="out")(t)
    return _model(inp, t, "float_conv1d_same")


@float_model(-3, 3, "Conv2D strides=2 → relu → Dense, 10×10×1")
def float_conv2d_strided(seed: int):
    from tensorflow import keras

    _seed(seed)
    inp = _input((10, 10, 1), "image")
    t = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv1")(inp)
    t = keras.layers.Flatten(name="flatten")(t)
    t = keras.layers.Dense(5, name="out")(t)
    return _model(inp, t, "float_conv2d_strided")


@float_model(-3, 3, "only a softmax Activation")
def float_softmax_only(seed: int):
    from tensorflow import keras

    _seed(seed)
    inp = _input((10,))
    t = keras.layers.Activation("softmax", name="softmax")(inp)
    return _model(inp, t, "float_softmax_only")


ALL: dict[str, ZooEntry] = {**ZOO, **FLOAT_MODELS}
