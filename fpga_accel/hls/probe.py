"""What a Keras (Q)BatchNormalization computes, y = a*x + b per channel, probed from the live layer.

Why: QKeras quantizes gamma, beta, mean and variance its own way, so the map hls4ml derives from the
layer's weights is not the one Keras computes. The layer handlers of both Keras stacks (``exact_types``
on Keras 2, ``hls.keras3`` on Keras 3) set the node's scale and bias from this probe instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .values import to_numpy

KERAS_BATCHNORM_CLASS = "BatchNormalization"
"""Keras' own batch norm (quantize folds it into the kernel before it, or keeps it with a quantized output)."""
QKERAS_BATCHNORM_CLASS = "QBatchNormalization"
BATCHNORM_CLASSES = (KERAS_BATCHNORM_CLASS, QKERAS_BATCHNORM_CLASS)
"""The Keras layer classes whose affine map is probed (the one tuple every batch-norm check reads; the
convolutions with a batch norm folded in are ``batchnorm_fold.FOLDED_CLASSES``)."""


def affine_probe(layer: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, bias) per channel of ``layer`` for one input sample of ``shape``: the layer on zeros
    gives the bias, on ones scale + bias."""
    import tensorflow as tf

    n = int(shape[-1])
    zero = to_numpy(layer(tf.zeros((1,) + shape), training=False), np.float64).reshape(-1, n)[0]
    one = to_numpy(layer(tf.ones((1,) + shape), training=False), np.float64).reshape(-1, n)[0]
    return one - zero, zero


__all__ = ["BATCHNORM_CLASSES", "KERAS_BATCHNORM_CLASS", "QKERAS_BATCHNORM_CLASS", "affine_probe"]
