"""One ruler: HLS types and the statistics of a layer's weights as the hardware holds them.

Why one module: the estimator's inputs come from three places — convert (a model converted in memory),
the hls4ml project parser (someone else's ``firmware/``) and the calibration set — and they must measure
the same thing, or the same design gets two answers (a float-trained 16-64-32-32-5 jet tagger at
ap_fixed<16,6> was costed 3,795 DSPs from the model and 3,738 from its written project, because one route
counted zeros and ±2^k on the float weights and the other on the quantized ones; ``tests/test_estimate_routes.py``
now holds both routes to identical records).

What is measured: with the Latency strategy every non-zero weight is a multiplication by a constant; HLS
skips zeros, builds ±2^k as shifts, and builds a narrow product as shift-and-add logic, a constant whose
canonical signed-digit (CSD) form has d non-zero digits costing d - 1 adders. Those counts are taken on the
constants HLS compiles: hls4ml writes each weight as decimal text with as many decimals as the weight type
has fraction bits (``{:.Ff}``; integers for ``ap_int``), and the C++ initialiser converts that double to the
weight type by the type's own modes (AP_TRN / AP_WRAP unless the type names others; ``ap_int`` truncates
towards zero). Types are parsed, and values quantized, by the AXI codec's
:class:`fpga_accel.runtime.fixed_point.FixedType`, which follows the ``ap_fixed`` headers bit for bit.

A type this module does not understand (an unresolved typedef name, ``float``, garbage) raises
:class:`UnknownType`: callers mark the layer ``not_costed`` rather than guess a width or a weight count.

Callers pass plain sequences of floats (the estimator itself stays free of numpy arrays).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional

if TYPE_CHECKING:  # the codec's module imports numpy: loaded on first use, not with the estimator
    from ..runtime.fixed_point import FixedType

__all__ = ["UnknownType", "csd_digits", "hls_type", "precision_width", "written_value", "weight_stats",
           "shift_weight_stats", "type_problem", "PRECISION_FIELDS"]

PRECISION_FIELDS = ("input_precision", "precision", "weight_precision", "accum_precision")
"""The fields of a layer record that hold HLS types (what the estimator reads widths from)."""

_INT = re.compile(r"^(?:ap_)?(u?)int<\s*(\d+)\s*>$")
_WIDTH = re.compile(r"^\s*(?:ap_)?u?(?:fixed|int)<\s*(\d+)")


class UnknownType(ValueError):
    """An HLS type text that is not ap_(u)fixed / ap_(u)int (or their hls4ml spellings without ``ap_``)."""


def csd_digits(n: int) -> int:
    """Non-zero digits of the canonical signed-digit (non-adjacent) form of the integer ``n``."""
    n = abs(int(n))
    count = 0
    while n:
        if n & 1:
            count += 1
            n = n - 1 if n & 3 == 1 else n + 1  # digit +1 (…01) or -1 (…11)
        n >>= 1
    return count


@lru_cache(maxsize=1024)
def hls_type(text: str) -> "FixedType":
    """The codec's :class:`FixedType` of an HLS type text: ``ap_fixed<W,I[,Q[,O[,N]]]>``, ``ap_ufixed<...>``
    (with or without ``ap_``/``AP_``, as hls4ml and the headers spell them), ``ap_int<W>``/``ap_uint<W>``
    (a fixed type with no fraction bits that truncates towards zero, as ``ap_int(double)`` does).
    Raises :class:`UnknownType` for anything else, and for widths the codec does not model (> 64 bits)."""
    from ..errors import ConfigError
    from ..runtime.fixed_point import FixedType

    t = (text or "").strip() if isinstance(text, str) else ""
    try:
        m = _INT.match(t)
        if m:
            return FixedType(int(m.group(2)), int(m.group(2)), not m.group(1), "TRN_ZERO", "WRAP")
        return FixedType.parse(t)
    except ConfigError as exc:
        raise UnknownType(f"type {text!r} not understood") from exc


def precision_width(text: Optional[str]) -> Optional[int]:
    """Bits of an HLS type (``ap_fixed<37,17>`` -> 37, ``uint<1>`` -> 1); None when not understood.
    Types wider than the codec's 64 bits (wide accumulators) have their modes checked on a 64-bit copy."""
    try:
        return hls_type(text).width
    except UnknownType:
        m = _WIDTH.match(text or "") if isinstance(text, str) else None
        if m and int(m.group(1)) > 64:
            try:
                hls_type(text[:m.start(1)] + "64" + text[m.end(1):])
                return int(m.group(1))
            except UnknownType:
                return None
        return None


def written_value(value: float, precision: str) -> float:
    """``value`` as hls4ml writes it into ``firmware/weights`` for a weight of type ``precision``: decimal
    text with max(0, fraction bits) decimals, read back as the C++ double literal it becomes."""
    return float(f"{float(value):.{max(0, hls_type(precision).frac)}f}")


def weight_stats(values: Iterable[float], precision: str, written: bool = False) -> Dict[str, Any]:
    """The weight counts the estimator reads, on the weights HLS compiles: ``n_weights``,
    ``n_nonzero_weights``, ``n_pow2_weights`` (non-zero ±2^k: shifts), ``n_csd_digits`` (non-zero CSD
    digits summed over the non-zero weights) and ``csd_hist`` (weights with 1, 2, 3, … such digits).

    ``values``: the layer's weights — floats from a model (``written=False``: first turned into the text
    hls4ml writes), or the numbers read from a project's weight files (``written=True``: already that
    text). Raises :class:`UnknownType` when ``precision`` is not an HLS fixed-point or integer type."""
    ft = hls_type(precision)
    values = [float(v) for v in values]
    if not written:
        values = [written_value(v, precision) for v in values]
    ints: List[int] = []
    if values:
        scale = 2.0 ** ft.frac
        ints = [int(round(q * scale)) for q in ft.quantize(values).tolist()]  # exact: q is on the 2^-F grid
    nonzero = [q for q in ints if q]
    digits = [csd_digits(q) for q in nonzero]
    hist = [0] * (max(digits) if digits else 0)
    for d in digits:
        hist[d - 1] += 1
    return {"n_weights": len(ints), "n_nonzero_weights": len(nonzero), "n_pow2_weights": hist[0] if hist else 0,
            "n_csd_digits": sum(digits), "csd_hist": hist}


def shift_weight_stats(count: int) -> Dict[str, Any]:
    """The counts of ``count`` power-of-two weights (QKeras ``quantized_po2``: hls4ml stores each as a sign
    and an exponent, and the product is a shift): every one is a non-zero ±2^k with one signed digit."""
    return {"n_weights": count, "n_nonzero_weights": count, "n_pow2_weights": count, "n_csd_digits": count,
            "csd_hist": [count] if count else []}


def type_problem(layer: Mapping[str, Any]) -> Optional[str]:
    """Why a layer record cannot be costed, or None: its ``not_costed`` marker (set by whoever built the
    record), else the first type field holding a type that is not understood."""
    if layer.get("not_costed"):
        return str(layer["not_costed"])
    for key in PRECISION_FIELDS:
        value = layer.get(key)
        if value not in (None, "") and precision_width(value) is None:
            return f"{key.replace('_precision', '') if key != 'precision' else 'result'} type {value!r} not understood"
    return None
