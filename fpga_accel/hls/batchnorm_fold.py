"""The folded weights of ``QConv2DBatchnorm`` as QKeras computes them at inference, written into hls4ml's model.

hls4ml 1.3 folds the batch norm itself (``Conv2DBatchnorm._get_folded_weights``) with numpy's
``1 / sqrt(var + eps)``; QKeras 0.9's ``call`` uses TensorFlow's ``rsqrt``, which differs in the last
float32 bit for about half the variances (qkeras-v3 divides as hls4ml does). A folded weight that lands next to a quantizer step is then rounded to the
neighbouring step, and the design computes with a different weight than the model: a few percent of the
outputs off by one step, worst on large inputs (the MLPerf-Tiny ResNet measured 94.7 % exact on ±4).
:func:`refold` replaces hls4ml's folded kernel and bias by QKeras' own: ``kernel_quantizer(inv * kernel)``
and ``bias_quantizer(inv * (bias - moving_mean) + beta)`` with ``inv = gamma * rsqrt(moving_variance +
eps)`` as the layer itself computes it — the inference branch of ``QConv2DBatchnorm.call`` for both
folding modes.
The values stay on the quantizers' grids, so the types hls4ml inferred from the quantizers still hold them.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from . import node_keys as keys
from .values import to_numpy

log = logging.getLogger(__name__)

FOLDED_CLASSES = ("QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm")
"""Keras classes whose batch norm hls4ml folds into the convolution (the depthwise one only if parsed)."""


def qkeras_folded(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """(quantized folded kernel, quantized folded bias) exactly as ``layer.call(x, training=False)`` uses them:
    the layer's own ``get_folded_weights`` (the same operations as its inference branch: TensorFlow's
    ``rsqrt`` in QKeras 0.9, ``1 / keras.ops.sqrt`` in qkeras-v3), then its kernel and bias quantizers."""
    folded_kernel, folded_bias = layer.get_folded_weights()
    if layer.kernel_quantizer_internal is not None:
        folded_kernel = layer.kernel_quantizer_internal(folded_kernel)
    if layer.bias_quantizer_internal is not None:
        folded_bias = layer.bias_quantizer_internal(folded_bias)
    return to_numpy(folded_kernel, np.float32), to_numpy(folded_bias, np.float32)


def _keras_layers(model: Any) -> dict[str, Any]:
    """Every layer by name, into nested models (hls4ml flattens them and keeps the inner names)."""
    found: dict[str, Any] = {}
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        found.setdefault(layer.name, layer)
        stack.extend(getattr(layer, "layers", []) or [])
    return found


def refold(hls_model: Any, model: Any) -> list[str]:
    """Write QKeras' folded weights into every folded convolution of ``hls_model`` (converted from
    ``model``), in the layout hls4ml chose (the resource strategy stores the kernel filters-first).
    Returns the names of the layers whose weights changed (logged)."""
    keras_layers = _keras_layers(model)
    changed: list[str] = []
    for node in hls_model.get_layers():
        layer = keras_layers.get(node.name)
        if layer is None or type(layer).__name__ not in FOLDED_CLASSES:
            continue
        kernel, bias = qkeras_folded(layer)
        weight = node.weights[keys.WEIGHT]
        current = np.asarray(weight.data)
        if current.shape != kernel.shape:
            kernel = np.transpose(kernel, axes=[3, 0, 1, 2])
        assert kernel.shape == current.shape, f"{node.name}: kernel {kernel.shape} vs hls4ml's {current.shape}"
        differs = int(np.count_nonzero(kernel != current))
        old_bias = np.asarray(node.weights[keys.BIAS].data).reshape(bias.shape)
        differs += int(np.count_nonzero(bias != old_bias))
        weight.data = kernel
        node.weights[keys.BIAS].data = bias.reshape(np.shape(node.weights[keys.BIAS].data))
        if differs:
            changed.append(node.name)
            log.info("%s: %d folded weights set to QKeras' rsqrt fold (hls4ml's 1/sqrt rounded them to "
                     "another quantizer step)", node.name, differs)
    return changed


__all__ = ["FOLDED_CLASSES", "qkeras_folded", "refold"]
