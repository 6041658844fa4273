"""Input checks shared by csim and the board: nothing reaches a library or a DMA buffer unchecked."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InputError


def check_input(x: object, input_shape: Sequence[int]) -> np.ndarray:
    """Return ``x`` as C-contiguous float32 of shape (n, prod(input_shape)), or raise InputError."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # a ragged list: rows of different lengths
        raise InputError("input is not a rectangular array of numbers: its samples have different lengths") from None
    shape = tuple(int(s) for s in input_shape)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"input dtype {arr.dtype} is not numeric; the design takes float32")
    if arr.shape[1:] != shape:
        hint = " (add a batch axis: x[None])" if arr.shape == shape else ""
        raise InputError(f"input has shape {arr.shape}, the design expects (batch,) + {shape}{hint}")
    if arr.shape[0] == 0:
        raise InputError("input batch is empty")
    flat = arr.reshape(arr.shape[0], -1)
    if flat.dtype.kind == "f":
        bad = ~np.isfinite(flat)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise InputError(f"input holds NaN or inf in {len(rows)} sample(s), first at index {rows[0]}")
    if flat.dtype.itemsize > 4 or flat.dtype.kind != "f":  # float64 and wide integers may not fit float32
        big = np.abs(flat.astype(np.float64)) > FLOAT32_MAX
        if big.any():
            rows = np.unique(np.nonzero(big)[0])
            raise InputError(f"input holds values outside float32's range (|x| > {FLOAT32_MAX:.4g}) in "
                             f"{len(rows)} sample(s), first at index {rows[0]}: the design takes float32")
    return np.ascontiguousarray(flat, dtype=np.float32)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def exact_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per sample: are all of its values equal bit for bit? (the agreement figure csim is judged by)"""
    return np.all(np.reshape(a, (len(a), -1)) == np.reshape(b, (len(b), -1)), axis=1)


def argmax_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.reshape(a, (len(a), -1)).argmax(1) == np.reshape(b, (len(b), -1)).argmax(1)))


def softmax_rows(values: np.ndarray, shape: Sequence[int], axis: int) -> np.ndarray:
    """A batch of softmax inputs or outputs of ``shape`` per sample, one row per independent softmax
    (along ``axis``, counted from the end of ``shape``): (n * rows, shape[axis])."""
    v = np.reshape(values, (len(values),) + tuple(int(d) for d in shape))
    return np.moveaxis(v, len(shape) + axis + 1, -1).reshape(-1, int(shape[axis]))


SOFTMAX_INV_TABLE_BITS = 12
"""Index bits of the softmax's inverse table (``fpga_accel.hls.exact_types.MAX_INV_TABLE_BITS``)."""


def softmax_tolerance(k: int, result_frac: int) -> float:
    """The largest error a softmax of ``k`` values normalised as Keras does can have with the tables convert
    sizes (``exact_types.softmax_types``): the inverse table reads the sum (at least 1, the largest value's
    own exp) on a grid of 2^(ceil(log2(k+1)) - 12), so 1/sum is off by at most that share; up to exp(-8) per
    value where x_max - x saturates at 8; 2^-11 where x_max - x is truncated to its table's index; and one
    step of the result type (its cast truncates). Anything larger is a softmax computed over other values
    than Keras' (another axis, other rows), not table rounding."""
    step = 2.0 ** (math.ceil(math.log2(k + 1)) - SOFTMAX_INV_TABLE_BITS)
    return step + k * math.exp(-8) + 2.0 ** -11 + 2.0 ** -result_frac


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, for designs whose softmax runs on the host."""
    z = z.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


RANDOM_SEED = 0


def random_inputs(n: int, input_shape: Sequence[int], bound: float = 1.0, seed: int = RANDOM_SEED) -> np.ndarray:
    """The one random-input policy, wherever inputs are made up (convert's check, the flow's csim step
    without data, a bundle's test vectors, bench): ``n`` samples uniform in [-bound, bound), float32, from
    a fixed seed so a rerun sees the same samples. ``bound``: ``keras_compat.input_bound(model)`` where a
    model is at hand (the input quantizer's range and past it, so saturation is exercised), else 1."""
    shape = (int(n),) + tuple(int(d) for d in input_shape)
    return np.random.default_rng(seed).uniform(-bound, bound, shape).astype(np.float32)
