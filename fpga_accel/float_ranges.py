"""Types for float Keras models (no quantizers), sized from calibration data like hls4ml's profiling.

A float model has no quantizer to derive types from; hls4ml's default ``ap_fixed<16,6>`` everywhere
both wraps large values and drops small ones. Each layer's result type gets the integer bits its
output needs on the calibration data (plus one bit of headroom) and a fixed number of fraction bits,
rounding and saturating; weights and biases get their own range. Sums stay exact (``exact_types``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

FRACTION_BITS = 12
"""Fraction bits of every result: relative error ~2**-12 of a unit-sized activation."""
WEIGHT_BITS = 18
HEADROOM_BITS = 1
"""Calibration data seldom holds the extreme sample: one more integer bit than it needs."""
SKIPPED = ("InputLayer", "Softmax", "Dropout")


def is_float_model(model: Any) -> bool:
    return not any(type(layer).__name__.startswith("Q") for layer in model.layers)


def integer_bits(peak: float, signed: bool = True) -> int:
    """Integer bits (sign included when signed) of a fixed type that holds |values| <= peak."""
    bits = math.floor(math.log2(peak)) + 1 if peak > 0 else 0
    return max(1, bits + int(signed))


def _pre_activation(layer: Any, inputs: np.ndarray) -> np.ndarray:
    """The layer's output before its activation argument (hls4ml computes it as a node of its own)."""
    cfg = layer.get_config() | {"activation": "linear"}
    clone = type(layer).from_config(cfg)
    clone.build(inputs.shape)
    clone.set_weights(layer.get_weights())
    return np.asarray(clone(inputs))


def layer_peaks(model: Any, x: np.ndarray) -> dict[str, float]:
    """max |output| per hls4ml layer name on ``x``: Keras layers, and the linear part hls4ml splits off a
    layer with an activation argument (the layer keeps the name, the activation becomes NAME_act)."""
    from .keras_compat import keras_module

    keras = keras_module()
    layers = [layer for layer in model.layers if type(layer).__name__ not in SKIPPED
              and not (type(layer).__name__ == "Activation" and layer.get_config().get("activation") == "softmax")]
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [layer.output for layer in layers] + [layer.input for layer in layers])
    outs = probe.predict(x, verbose=0, batch_size=1024)
    outs = outs if isinstance(outs, list) else [outs]
    n = len(layers)
    peaks: dict[str, float] = {}
    for layer, out, inp in zip(layers, outs[:n], outs[n:]):
        activation = layer.get_config().get("activation")
        peak = float(np.max(np.abs(out)))
        if activation not in (None, "linear") and type(layer).__name__ != "Activation":
            peaks[f"{layer.name}_{activation}"] = peak
            peak = float(np.max(np.abs(_pre_activation(layer, inp))))
        peaks[layer.name] = peak
    return peaks


def float_precisions(model: Any, x: np.ndarray) -> dict[str, dict[str, str]]:
    """hls4ml ``LayerName`` precision entries for a float model, from calibration inputs ``x``."""
    precisions: dict[str, dict[str, str]] = {}
    for name, peak in layer_peaks(model, x).items():
        integer = integer_bits(peak) + HEADROOM_BITS
        precisions[name] = {"result": f"fixed<{integer + FRACTION_BITS},{integer},RND,SAT>"}
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ in ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D") and weights:
            entry = precisions.setdefault(layer.name, {})
            for key, w in zip(("weight", "bias"), weights):
                integer = integer_bits(float(np.max(np.abs(w))))
                entry[key] = f"fixed<{max(WEIGHT_BITS, integer + 2)},{integer},RND,SAT>"
    return precisions


__all__ = ["float_precisions", "is_float_model", "layer_peaks"]
