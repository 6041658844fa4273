"""Small models for tests, seeded: the arithmetic (not training) is what csim must reproduce."""
from __future__ import annotations

import numpy as np


def _seed(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def q(bits=6, integer=0, **kw):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1, **kw)


def qmlp(input_quantizer=True, n_in=16, seed=0):
    """A 16-64-32-32-5 QKeras MLP, like the one the pipeline issue measured."""
    from qkeras import QActivation, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((n_in,), name="x")
    t = QActivation(q(8, 2), name="input_quant")(inp) if input_quantizer else inp
    for i, units in enumerate((64, 32, 32)):
        t = QDense(units, kernel_quantizer=q(), bias_quantizer=q(), name=f"fc{i + 1}")(t)
        t = QActivation(quantized_relu(6, 2), name=f"relu{i + 1}")(t)
    t = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), name="out")(t)
    return keras.Model(inp, t, name="qmlp")


def jet_tagger(quantized: bool, seed: int = 0):
    """The hls4ml tutorial's 16-64-32-32-5 jet tagger: 6-bit QKeras (quantized_bits(6,0) weights and biases,
    quantized_relu(6,0)) or float-trained (hls4ml's ap_fixed defaults, types sized from calibration data)."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((16,), name="x")
    t = QActivation(quantized_bits(8, 2, alpha=1), name="input_quant")(inp) if quantized else inp
    for i, units in enumerate((64, 32, 32, 5)):
        name = f"fc{i + 1}" if units != 5 else "output"
        if quantized:
            t = QDense(units, kernel_quantizer=quantized_bits(6, 0, alpha=1),
                       bias_quantizer=quantized_bits(6, 0, alpha=1), name=name)(t)
        else:
            t = keras.layers.Dense(units, name=name)(t)
        if units != 5:
            t = (QActivation(quantized_relu(6, 0), name=f"relu{i + 1}") if quantized
                 else keras.layers.Activation("relu", name=f"relu{i + 1}"))(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return keras.Model(inp, t, name="jet")


def qcnn(input_quantizer=True, softmax=False, seed=0):
    """Conv2D → relu → MaxPooling → Conv2D → relu → Flatten → Dense on 8x8x1 inputs."""
    from qkeras import QActivation, QConv2D, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((8, 8, 1), name="image")
    t = QActivation(q(8, 2), name="input_quant")(inp) if input_quantizer else inp
    t = QConv2D(4, 3, kernel_quantizer=q(), bias_quantizer=q(), name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.MaxPooling2D(2, name="pool1")(t)
    t = QConv2D(8, 2, kernel_quantizer=q(), bias_quantizer=q(), name="conv2")(t)
    t = QActivation(quantized_relu(6, 2), name="relu2")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = QDense(10, kernel_quantizer=q(), bias_quantizer=q(), name="logits")(t)
    if softmax:
        t = keras.layers.Activation("softmax", name="softmax")(t)
    return keras.Model(inp, t, name="qcnn")


def qmlp_bn(qbn: bool, seed=0):
    """QDense → (Q)BatchNormalization → QActivation, with non-trivial BN statistics."""
    from qkeras import QActivation, QBatchNormalization, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((16,), name="x")
    t = QActivation(q(8, 2), name="input_quant")(inp)
    t = QDense(32, kernel_quantizer=q(), bias_quantizer=q(), name="fc1")(t)
    if qbn:
        bn = QBatchNormalization(name="bn", gamma_quantizer=q(6, 2), beta_quantizer=q(6, 2),
                                 mean_quantizer=q(8, 3), variance_quantizer=q(8, 3))
    else:
        bn = keras.layers.BatchNormalization(name="bn")
    t = bn(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), name="out")(t)
    model = keras.Model(inp, t, name="qmlp_bn")
    r = np.random.default_rng(seed)
    bn.set_weights([r.uniform(0.5, 2, 32), r.uniform(-1, 1, 32), r.uniform(-1, 1, 32), r.uniform(0.2, 3, 32)])
    return model


def qcnn_mixed(seed=0):
    """Quantizer and layer kinds of published QKeras models: po2 weights, a symmetric quantizer, a float
    relu inside QConv2D followed by a QActivation, Dropout, and a softmax output."""
    from qkeras import QActivation, QConv2D, QDense, quantized_po2, quantized_relu
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((8, 8, 1), name="image")
    t = QActivation(q(8, 2), name="input_quant")(inp)
    t = QConv2D(4, 3, kernel_quantizer=quantized_po2(4), bias_quantizer=q(), activation="relu", name="conv1")(t)
    t = QActivation(quantized_relu(6, 2), name="relu1")(t)
    t = keras.layers.MaxPooling2D(2, name="pool1")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = keras.layers.Dropout(0.25, name="dropout")(t)
    t = QDense(10, kernel_quantizer=q(6, 0, symmetric=True), bias_quantizer=q(), name="logits")(t)
    t = keras.layers.Activation("softmax", name="softmax")(t)
    return keras.Model(inp, t, name="qcnn_mixed")


def float_mlp(seed=0, bn=True):
    from tensorflow import keras

    _seed(seed)
    inp = keras.Input((64,), name="pixels")
    t = keras.layers.Dense(32, name="fc1")(inp)
    if bn:
        t = keras.layers.BatchNormalization(name="bn1")(t)
    t = keras.layers.Activation("relu", name="relu1")(t)
    t = keras.layers.Dense(10, name="logits")(t)
    t = keras.layers.Softmax(name="softmax")(t)
    model = keras.Model(inp, t, name="float_mlp")
    if bn:
        r = np.random.default_rng(seed)
        model.get_layer("bn1").set_weights([r.uniform(0.5, 2, 32), r.uniform(-1, 1, 32), r.uniform(-1, 1, 32),
                                            r.uniform(0.2, 3, 32)])
    return model


def float_inputs(rng: np.random.Generator, shape, n=500, low=-3.0, high=3.0) -> np.ndarray:
    """Arbitrary float32 inputs, not on any fixed-point grid."""
    return rng.uniform(low, high, (n,) + tuple(shape)).astype(np.float32)


def two_input(seed=0):
    """Two QDense branches (4 and 3 inputs, each with its own input quantizer) concatenated, one head."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    _seed(seed)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    da = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), name="da")(QActivation(q(8, 2), name="qa")(a))
    db = QDense(2, kernel_quantizer=q(), bias_quantizer=q(), name="db")(QActivation(q(8, 2), name="qb")(b))
    t = keras.layers.Concatenate(name="cat")([da, db])
    return keras.Model([a, b], QDense(3, kernel_quantizer=q(), bias_quantizer=q(), name="head")(t), name="two_in")


def two_output(seed=0):
    """One trunk, two QDense heads (3 and 2 outputs)."""
    from qkeras import QActivation, QDense, quantized_relu
    from tensorflow import keras

    _seed(seed)
    x = keras.Input((6,), name="x")
    t = QDense(8, kernel_quantizer=q(), bias_quantizer=q(), name="trunk")(QActivation(q(8, 2), name="qx")(x))
    t = QActivation(quantized_relu(6, 2), name="relu")(t)
    y1 = QDense(3, kernel_quantizer=q(), bias_quantizer=q(), name="y1")(t)
    y2 = QDense(2, kernel_quantizer=q(), bias_quantizer=q(), name="y2")(t)
    return keras.Model(x, [y1, y2], name="two_out")
