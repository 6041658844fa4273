"""MLPerf-Tiny models as hls4ml's authors published them for the PYNQ-Z2, re-created with seeded weights.

The anomaly-detection autoencoder AD08 (hls4ml-finn-mlperftiny, ``ad08.yml``): 64 inputs, QDense 72-72-8-72-72
with ``quantized_bits(12, 6)`` weights and biases, each followed by a Keras BatchNormalization and
``quantized_relu(6, 6)``, a last QDense(64) with ``quantized_bits(12, 0)``, no input quantizer. hls4ml 1.3
types ``quantized_relu(6, 6)`` as ``ap_uint<6>`` (truncating, wrapping): 0 % exact before the quantizer
types of ``fpga_accel.quantizer_types``.
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
