"""Statistics of a layer's quantized weights that decide what HLS builds for its constant products.

Why: with the Latency strategy every non-zero weight is a multiplication by a constant, and HLS builds a
narrow one (an operand below 10 bits) as shift-and-add logic in LUTs. A constant whose canonical
signed-digit (CSD) form has d non-zero digits costs d - 1 adders (a power of two, d = 1, is a wire), so
the LUTs of a layer should follow the total count of non-zero CSD digits rather than the count of weights
times the weight's width. Convert records the count for every new project (``n_csd_digits`` in
``fpga_accel.json``, via :func:`fpga_accel.analysis.hls4ml_project.weight_statistics`) and the calibration
set stores it per layer (``weights.n_csd_digits``, from :func:`weight_stats`), the weights first quantized to
the layer's weight type (truncation, AP_TRN, as ap_fixed does by default). The estimator does not use it
yet: a LUT term on it did not lower the leave-one-design-out error on the calibration set's four
narrow-product designs (issue 13); the statistic is kept so a larger set can test it again.

Numpy-free: values are any iterable of floats.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, Optional

__all__ = ["csd_digits", "fractional_bits", "quantize", "weight_stats"]


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


def fractional_bits(precision: Optional[str]) -> Optional[int]:
    """Fractional bits of an HLS fixed-point type ('fixed<8,4>' -> 4, 'ap_ufixed<6,0>' -> 6, 'int<8>' -> 0)."""
    text = precision or ""
    m = re.search(r"fixed<\s*(\d+)\s*,\s*(-?\d+)", text)
    if m:
        return int(m.group(1)) - int(m.group(2))
    return 0 if re.search(r"int<\s*\d+", text) else None


def quantize(value: float, frac_bits: Optional[int]) -> int:
    """``value`` as an integer count of 2^-frac_bits (truncated towards -inf, AP_TRN); 16 fractional bits
    when the type is unknown."""
    f = 16 if frac_bits is None else frac_bits
    return int(math.floor(float(value) * (2 ** f) + 1e-9))


def weight_stats(values: Iterable[float], precision: Optional[str]) -> Dict[str, Any]:
    """n_weights, n_nonzero, n_pow2 (±2^k), n_csd_digits (sum over the non-zero weights of their non-zero CSD
    digits) and csd_hist (weights with 1, 2, 3, … non-zero digits) of the weights quantized to ``precision``."""
    f = fractional_bits(precision)
    ints = [quantize(v, f) for v in values]
    nonzero = [q for q in ints if q]
    digits = [csd_digits(q) for q in nonzero]
    hist = [0] * (max(digits) if digits else 0)
    for d in digits:
        hist[d - 1] += 1
    return {"n_weights": len(ints), "n_nonzero": len(nonzero), "n_pow2": hist[0] if hist else 0,
            "n_csd_digits": sum(digits), "csd_hist": hist}

