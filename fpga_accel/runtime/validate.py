"""Input checks shared by csim and the board: nothing reaches a library or a DMA buffer unchecked."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError


def check_input(x: object, input_shape: Sequence[int]) -> np.ndarray:
    """Return ``x`` as C-contiguous float32 of shape (n, prod(input_shape)), or raise InputError."""
    arr = np.asarray(x)
    shape = tuple(int(s) for s in input_shape)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"input dtype {arr.dtype} is not numeric; the design takes float32")
    if arr.shape[1:] != shape:
        hint = " (add a batch axis: x[None])" if arr.shape == shape else ""
        raise InputError(f"input has shape {arr.shape}, the design expects (batch,) + {shape}{hint}")
    if arr.shape[0] == 0:
        raise InputError("input batch is empty")
    arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(arr.shape[0], -1)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise InputError(f"input holds NaN or inf in {len(rows)} sample(s), first at index {rows[0]}")
    return arr


def exact_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per sample: are all of its values equal bit for bit? (the agreement figure csim is judged by)"""
    return np.all(np.reshape(a, (len(a), -1)) == np.reshape(b, (len(b), -1)), axis=1)


def argmax_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.reshape(a, (len(a), -1)).argmax(1) == np.reshape(b, (len(b), -1)).argmax(1)))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, for designs whose softmax runs on the host."""
    z = z.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
