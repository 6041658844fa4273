"""QConv2DBatchnorm: the design computes with the folded weights QKeras uses at inference (its TensorFlow
rsqrt), not hls4ml's numpy 1/sqrt fold, which lands some weights on the neighbouring quantizer step.

The model's kernel is chosen so that for every filter whose two folds differ, one weight sits exactly where
they round to different steps: without ``batchnorm_fold.refold`` the design would compute another model.
"""
from __future__ import annotations

import numpy as np

import fpga_accel as fa

STEP = 2.0 ** -7  # quantized_bits(8, 0, alpha=1)
FILTERS = 16


def _numpy_inv(layer) -> np.ndarray:
    bn = layer.batchnorm
    return np.reciprocal(np.sqrt(bn.moving_variance.numpy() + bn.epsilon)) * bn.gamma.numpy()


def _layer_inv(layer) -> np.ndarray:
    """gamma / sqrt(variance + eps) as the layer computes it (its folded kernel at a kernel of ones)."""
    kernel = layer.kernel.numpy()
    layer.kernel.assign(np.ones_like(kernel))
    inv = np.asarray(layer.get_folded_weights()[0])[0, 0, 0, :]
    layer.kernel.assign(kernel)
    return inv


def _split_weight(q, a: np.float32, b: np.float32) -> np.float32:
    """A kernel value whose quantized fold differs between the two inverses ``a`` and ``b`` (searched
    from a half step outward, one float32 ulp at a time)."""
    import tensorflow as tf

    k0 = np.float32(10.5 * STEP / a)
    for distance in range(400):
        for direction in (np.float32(np.inf), np.float32(-np.inf)):
            k = k0
            for _ in range(distance):
                k = np.nextafter(k, direction)
            if np.asarray(q(tf.constant([a * k])))[0] != np.asarray(q(tf.constant([b]) * tf.constant([k])))[0]:
                return k
    raise AssertionError("no splitting weight near a half step")


def _model(seed: int = 0):
    """Input quantizer -> QConv2DBatchnorm -> relu quantizer -> QConv2DBatchnorm, plus the quantized input
    as a skip branch (Add) -> output quantizer; io_stream-friendly 'same' padding."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2DBatchnorm, quantized_bits, quantized_relu

    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((6, 6, FILTERS))
    x = QActivation(quantized_bits(8, 2, alpha=1), name="q_in")(inp)
    kw = dict(padding="same", kernel_quantizer=quantized_bits(8, 0, alpha=1),
              bias_quantizer=quantized_bits(8, 3, alpha=1))
    y = QConv2DBatchnorm(FILTERS, 3, name="cbn1", **kw)(x)
    y = QActivation(quantized_relu(8, 3), name="relu1")(y)
    y = QConv2DBatchnorm(FILTERS, 3, name="cbn2", **kw)(y)
    y = QActivation(quantized_bits(8, 3, alpha=1), name="q_res")(y)
    out = QActivation(quantized_bits(10, 4, alpha=1), name="q_out")(tf.keras.layers.Add(name="skip")([x, y]))
    model = tf.keras.Model(inp, out)
    for name in ("cbn1", "cbn2"):
        layer = model.get_layer(name)
        bn = layer.batchnorm
        bn.moving_variance.assign(rng.uniform(0.05, 3, FILTERS).astype(np.float32))
        bn.moving_mean.assign(rng.normal(0, 0.3, FILTERS).astype(np.float32))
        bn.gamma.assign(rng.uniform(0.5, 1.5, FILTERS).astype(np.float32))
        bn.beta.assign(rng.normal(0, 0.3, FILTERS).astype(np.float32))
        kernel = rng.normal(0, 0.05, layer.kernel.shape).astype(np.float32)
        a, b = _numpy_inv(layer), _layer_inv(layer)
        for f in np.flatnonzero(a != b):
            kernel[1, 1, f, f] = _split_weight(layer.kernel_quantizer_internal, a[f], b[f])
        layer.kernel.assign(kernel)
    return model


def test_refold_writes_the_weights_qkeras_computes_with() -> None:
    import hls4ml

    from fpga_accel.hls.batchnorm_fold import qkeras_folded, refold
    from fpga_accel.keras_compat import hls4ml_parsing

    model = _model()
    layer = model.get_layer("cbn1")
    kernel, _ = qkeras_folded(layer)
    numpy_fold = np.asarray(layer.kernel_quantizer_internal(_numpy_inv(layer) * layer.kernel.numpy()))
    # QKeras 0.9 (rsqrt): the model is built so the two folds differ; qkeras-v3 folds as numpy does
    folds_differ = bool(np.any(_numpy_inv(layer) != _layer_inv(layer)))
    assert bool(np.any(kernel != numpy_fold)) == folds_differ
    with hls4ml_parsing():
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name")
        hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type="io_stream")
    assert sorted(refold(hls_model, model)) == (["cbn1", "cbn2"] if folds_differ else [])
    for name in ("cbn1", "cbn2"):
        node = hls_model.graph[name]
        expected_kernel, expected_bias = qkeras_folded(model.get_layer(name))
        np.testing.assert_array_equal(node.weights["weight"].data, expected_kernel)
        np.testing.assert_array_equal(np.ravel(node.weights["bias"].data), expected_bias)


def test_conv_batchnorm_with_a_skip_add_is_bit_exact_over_the_whole_range(tmp_path) -> None:
    """One csim build: io_stream, inputs over ±1.25 x the input quantizer's bound (saturation included)."""
    model = _model()
    x = np.random.default_rng(1).uniform(-5, 5, (300, 6, 6, FILTERS)).astype(np.float32)
    design = fa.convert(model, fa.ConvertConfig(name="cbn_skip", output_dir=tmp_path, io_type="io_stream"),
                        calibration=x)
    verdict = design.meta.fidelity
    assert verdict["passed"] and verdict["bit_exact"] == 1.0, verdict["message"]


def test_batchnorm_class_names_are_one_tuple() -> None:
    """The Keras batch-norm class names are written once (``hls.probe.BATCHNORM_CLASSES``) and hls4ml's node
    class of the same name once (``hls.node_keys.BATCHNORM_NODE``); a module that spells one again is a second
    table that can disagree. The layer-support table keeps its rows (one per Keras class, checked against the
    tuple here); analysis/estimate.py still spells hls4ml's node class (its own table of scale classes)."""
    import ast
    from collections import Counter
    from pathlib import Path

    from fpga_accel.hls.node_keys import BATCHNORM_NODE
    from fpga_accel.hls.probe import BATCHNORM_CLASSES
    from fpga_accel.layer_support import TABLE

    package = Path(fa.__file__).parent
    spelled: Counter = Counter()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in (*BATCHNORM_CLASSES, BATCHNORM_NODE):
                spelled[path.relative_to(package).as_posix()] += 1
    assert dict(spelled) == {
        "hls/probe.py": 2,  # the tuple
        "hls/node_keys.py": 1,  # hls4ml's node class
        "layer_support.py": 2,  # its rows (keys of the layer-class table)
        "analysis/estimate.py": 1,  # SCALE_CLASSES (hls4ml's node class)
    }
    assert set(BATCHNORM_CLASSES) <= set(TABLE)


def test_keras_values_are_read_one_way_on_both_stacks() -> None:
    """A Keras variable (Keras 2's tf.Variable, Keras 3's Variable), a tensor and an array read alike."""
    import tensorflow as tf

    from fpga_accel.hls.values import to_numpy
    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    values = np.array([[0.5, -1.25], [3.0, 2.0 ** -7]], dtype=np.float32)
    for value in (keras.Variable(values) if hasattr(keras, "Variable") else tf.Variable(values),
                  tf.constant(values), values, values.tolist()):
        read = to_numpy(value, np.float64)
        assert type(read) is np.ndarray and read.dtype == np.float64 and np.array_equal(read, values)
    assert to_numpy(tf.constant(values)).dtype == np.float32
