"""A Keras value — a Keras 2 ``tf.Variable``, a Keras 3 ``Variable``, a tensor or already an array — as numpy.

Why one function: Keras 3 Variables are not tensors, and the ways to read one differ by stack and
backend (``np.array(v)`` goes through ``__array__``, ``v.numpy()`` through the backend, ``v.value`` is a
tensor on TensorFlow and something else on others). fpga_accel reads weights, folded kernels and layer
outputs on both stacks in the one way both provide, ``.numpy()``, and falls back to ``np.asarray`` only
for what is already an array (or a list).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_numpy"]


def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` as a numpy array (of ``dtype`` when given), through its ``.numpy()`` where it has one."""
    array = value.numpy() if hasattr(value, "numpy") else value
    return np.asarray(array, dtype=dtype)
