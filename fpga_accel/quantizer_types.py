"""QKeras quantizers as HLS types: the one table of which fixed-point type *is* which quantizer.

hls4ml 1.3 turns a quantizer whose integer bits reach its width (``quantized_relu(6, 6)``,
``quantized_bits(6, 6)``, ``quantized_relu(6, 8)``) into ``ap_int``/``ap_uint``: the wrong grid for
``integer > bits``, and a type that truncates and wraps where QKeras rounds half to even and saturates
(the MLPerf-Tiny anomaly-detection autoencoder: 0 % exact). ``ap_fixed<W, I>`` takes any ``I`` (above
``W`` or below 0), so every ``quantized_bits``/``quantized_relu`` setting has an exact type:

- ``quantized_bits(bits, integer, keep_negative=True)``: step ``2**(integer - bits + 1)``, values
  ``[-2**integer, 2**integer - step]`` → ``ap_fixed<bits, integer + 1, AP_RND_CONV, AP_SAT>``
  (``symmetric``: ``AP_SAT_SYM``, the lowest value left out as QKeras clips it);
- ``quantized_bits(..., keep_negative=False)``: step ``2**(integer - bits)`` → ``ap_ufixed<bits, integer, ...>``;
- ``quantized_relu(bits, integer)``: step ``2**(integer - bits)`` → ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``.

QKeras rounds with ``tf.round`` (half to even) = ``AP_RND_CONV``. Settings with no exact type
(a 1-bit ``quantized_bits`` is a sign function, ``alpha`` scales, stochastic rounding, ``qnoise_factor``
below 1 blends in the float value) give a reason instead, which convert turns into a refusal.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

ROUNDING = "RND_CONV"
HLS4ML_ACTIVATION_QUANTIZERS = ("quantized_relu", "quantized_tanh", "binary_tanh", "ternary_tanh",
                                "quantized_sigmoid", "quantized_bits", "binary", "ternary")
"""The activation quantizers hls4ml 1.3's QKeras parser accepts (it raises a bare Exception on others)."""


def _config(quantizer: Any) -> tuple[str, dict[str, Any]]:
    """(class name, config) of a QKeras quantizer object, or of hls4ml's {'class_name', 'config'} dict."""
    if isinstance(quantizer, Mapping):
        name = str(quantizer.get("class_name", ""))
        return ("quantized_bits" if name == "linear" else name), dict(quantizer.get("config") or {})
    if hasattr(quantizer, "get_config"):
        return type(quantizer).__name__, dict(quantizer.get_config())
    return str(getattr(quantizer, "__name__", type(quantizer).__name__)), {}


def _number(value: Any) -> float:
    return float(np.asarray(value).reshape(-1)[0]) if value is not None else 0.0


def unmatched_reason(quantizer: Any) -> str | None:
    """Why no HLS type computes what this ``quantized_bits``/``quantized_relu`` setting computes (None:
    :func:`fixed_type` has its type). Other quantizer kinds: None (their own rules apply)."""
    kind, cfg = _config(quantizer)
    if kind not in ("quantized_bits", "quantized_relu"):
        return None
    if cfg.get("use_stochastic_rounding"):
        return "stochastic rounding cannot be reproduced by a deterministic design"
    if _number(cfg.get("qnoise_factor", 1.0)) != 1.0:
        return (f"qnoise_factor={_number(cfg.get('qnoise_factor')):g} blends the float value into the output "
                "(set it to 1.0 after training)")
    bits = int(cfg.get("bits", 8))
    if kind == "quantized_bits":
        alpha = cfg.get("alpha")
        if isinstance(alpha, str):
            return f"quantized_bits(alpha={alpha!r}) scales by statistics of each batch"
        if alpha is not None and _number(alpha) != 1.0:
            return f"quantized_bits(alpha={alpha}) scales its output; use alpha=1 (or None)"
        if bits - int(bool(cfg.get("keep_negative", True))) <= 0:
            return f"quantized_bits({bits}) with no magnitude bits is a sign function, not a fixed-point grid"
    return None


def fixed_type(quantizer: Any) -> Any | None:
    """The hls4ml ``FixedPrecisionType`` whose cast is the quantizer (its grid, range, convergent rounding
    and saturation), or None when :func:`unmatched_reason` gives a reason or the kind is another one."""
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    kind, cfg = _config(quantizer)
    if kind not in ("quantized_bits", "quantized_relu") or unmatched_reason(quantizer) is not None:
        return None
    bits, integer = int(cfg.get("bits", 8)), int(_number(cfg.get("integer", 0)))
    if kind == "quantized_relu":
        if _number(cfg.get("negative_slope", 0.0)) != 0 or cfg.get("use_sigmoid"):
            return None
        signed = False
    else:
        signed = bool(cfg.get("keep_negative", True))
    saturation = SaturationMode.SAT_SYM if signed and kind == "quantized_bits" and cfg.get("symmetric") \
        else SaturationMode.SAT
    return FixedPrecisionType(bits, integer + int(signed), signed=signed, rounding_mode=RoundingMode.RND_CONV,
                              saturation_mode=saturation)


def type_string(quantizer: Any) -> str | None:
    """:func:`fixed_type` in the form an hls4ml config takes (``fixed<6,6,RND_CONV,SAT>``)."""
    found = fixed_type(quantizer)
    if found is None:
        return None
    sat = "SAT_SYM" if "SAT_SYM" in str(found) else "SAT"
    return f"{'' if found.signed else 'u'}fixed<{found.width},{found.integer},{ROUNDING},{sat}>"


def holds(precision: Any, values: np.ndarray) -> bool:
    """Does a fixed or integer type hold every value exactly (on its grid, inside its range)?"""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if not isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
        return True  # other kinds (xnor, exponent) have their own rules
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return True
    width, integer, signed = int(precision.width), int(precision.integer), bool(precision.signed)
    frac = width - integer
    scaled = np.ldexp(v, frac)
    if not np.all(np.isfinite(scaled)) or not np.all(scaled == np.round(scaled)):
        return False
    lo = -(2.0 ** (width - 1)) if signed else 0.0
    hi = 2.0 ** (width - int(signed)) - 1
    return bool(scaled.min() >= lo and scaled.max() <= hi)


def output_quantizer(layer: Any) -> Any | None:
    """The quantizer a Keras layer applies to its output (a QActivation's, or a QKeras layer's
    ``activation`` given as a quantizer), None for layers whose output is a float32 computation."""
    from .keras_compat import quantizer_of

    if type(layer).__name__ == "QActivation":
        return quantizer_of(layer)
    act = getattr(layer, "activation", None)
    if act is None or isinstance(act, str):
        return None
    if hasattr(act, "get_config") and type(act).__name__.startswith(("quantized_", "binary", "ternary")):
        return act
    name = getattr(act, "__name__", "")
    return act if name in ("binary", "ternary", "binary_tanh", "ternary_tanh") else None


__all__ = ["HLS4ML_ACTIVATION_QUANTIZERS", "fixed_type", "holds", "output_quantizer", "type_string",
           "unmatched_reason"]
