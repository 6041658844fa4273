"""hls4ml 1.3's lookup-table activations (``nnet_activation.h``) in numpy: which input each table entry
stands for, the float value ``init_<fn>_table`` computes for it, and the entry ``nnet::<fn>`` reads for an
input value.

One description read by two users, so they cannot disagree: the emulator (which must compute what csim
computes) and the convert-time rule that sizes these tables (``fpga_accel.hls.exact_types``: one entry per
representable input, the following quantizer's type as the table's type).

How hls4ml indexes (tanh, sigmoid, softplus, softsign): ``index = int(x * table_size / (2*h)) + table_size/2``,
clamped to ``[0, table_size - 1]``; ``int()`` truncates towards zero. Entry ``i`` holds
``f(2*h*(i - table_size/2) / table_size)`` computed in float, then assigned to ``table_t``. ``h`` is 4 for tanh,
8 for the others: the tables cover ``[-h, h)`` and inputs beyond read the first or last entry.

Numpy only, Python 3.8 syntax: this module runs on the board.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict

import numpy as np

__all__ = ["NegativeTableFunction", "TABLE_FUNCTIONS", "TableFunction"]


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(np.float32)


def _exp32(x: np.ndarray) -> np.ndarray:
    """std::exp on float: correctly rounded float32 (glibc's expf), via float64."""
    return _f32(np.exp(np.asarray(x, dtype=np.float64)))


def _tanh(v: np.ndarray) -> np.ndarray:
    return _f32(np.tanh(v.astype(np.float64)))


def _sigmoid(v: np.ndarray) -> np.ndarray:
    # 1.0 / (1 + std::exp(-input)): float exp, float sum, double quotient returned as float
    return _f32(1.0 / (np.float32(1) + _exp32(-v)).astype(np.float64))


def _softplus(v: np.ndarray) -> np.ndarray:
    # std::log(std::exp(input) + 1.): float exp, double sum and log, returned as float
    return _f32(np.log(_exp32(v).astype(np.float64) + 1.0))


def _softsign(v: np.ndarray) -> np.ndarray:
    # input / (std::abs(input) + 1.): double, returned as float
    x = v.astype(np.float64)
    return _f32(x / (np.abs(x) + 1.0))


@dataclass(frozen=True)
class TableFunction:
    """One of hls4ml's symmetric lookup tables: ``f`` sampled on ``[-half_range, half_range)``."""

    name: str
    half_range: float
    compute: Callable[[np.ndarray], np.ndarray]
    """float32 values of f as hls4ml's ``init_<name>_table`` computes them (the C++ float arithmetic)."""

    def inputs(self, n: int) -> np.ndarray:
        """The input each of the ``n`` entries stands for (float32, as the C++ computes ``in_val``)."""
        ii = np.arange(n, dtype=np.float64)
        return _f32(2 * self.half_range * (ii - float(n) / 2.0) / float(n))

    def values(self, n: int) -> np.ndarray:
        """The entries before their cast to ``table_t`` (float64 holding float32 values)."""
        return self.compute(self.inputs(n)).astype(np.float64)

    def index(self, x: np.ndarray, n: int) -> np.ndarray:
        """The entry ``nnet::<name>`` reads for input values ``x`` (on their type's grid): ``x * n / (2h)`` is
        exact in ap_fixed when ``n`` is a multiple of ``2h``, then truncated towards zero."""
        index = np.trunc(np.asarray(x, dtype=np.float64) * n / (2 * self.half_range)) + n / 2
        return np.clip(index, 0, n - 1).astype(np.int64)

    def lookup(self, x: np.ndarray, table: np.ndarray, n: int, alpha: float = 1.0) -> np.ndarray:
        """What ``nnet::<name>`` assigns to its result for inputs ``x``, given the table cast to table_t
        (``alpha``: elu's parameter, already in its type)."""
        return table[self.index(x, n)]

    def entries_for_grid(self, frac: int) -> int:
        """Table size with one entry per value of a grid of ``frac`` fraction bits over the table's range."""
        return int(2 * self.half_range) << max(0, int(frac))


def _elu(v: np.ndarray) -> np.ndarray:
    # std::exp(input) - 1.: float exp, double difference, returned as float
    return _f32(_exp32(v).astype(np.float64) - 1.0)


@dataclass(frozen=True)
class NegativeTableFunction(TableFunction):
    """elu: ``x >= 0`` passes x itself; the table samples ``[-h, 0)`` as ``f(-h*i/table_size)`` and
    ``x < 0`` reads entry ``int(x * table_size / -h)``, clamped to the last."""

    def inputs(self, n: int) -> np.ndarray:
        return _f32(-self.half_range * np.arange(n, dtype=np.float64) / float(n))

    def index(self, x: np.ndarray, n: int) -> np.ndarray:
        index = np.trunc(np.asarray(x, dtype=np.float64) * n / -self.half_range)
        return np.clip(index, 0, n - 1).astype(np.int64)

    def lookup(self, x: np.ndarray, table: np.ndarray, n: int, alpha: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0, x, alpha * table[self.index(x, n)])  # param_t times table_t: exact

    def entries_for_grid(self, frac: int) -> int:
        return int(self.half_range) << max(0, int(frac))


TABLE_FUNCTIONS: Dict[str, TableFunction] = {
    "tanh": TableFunction("tanh", 4.0, _tanh),
    "sigmoid": TableFunction("sigmoid", 8.0, _sigmoid),
    "softplus": TableFunction("softplus", 8.0, _softplus),
    "softsign": TableFunction("softsign", 8.0, _softsign),
    "elu": NegativeTableFunction("elu", 8.0, _elu),
}
"""hls4ml function name → its table (elu: ``nnet::elu(data, alpha, res)``, alpha in its ``param_t``)."""
