"""``ap_fixed``/``ap_ufixed`` quantization bit for bit as the Xilinx headers do it, and the AXI-stream word codec.

hls4ml's accelerator wrapper streams float32 by default (word = IEEE float). With an ``ap_fixed<W,I,Q,O,N>``
AXI type the wrapper converts each float with ``ap_fixed(double(x))`` and each word carries the W-bit
pattern, sign-extended (``ap_fixed``) or zero-extended (``ap_ufixed``) to 32 bits — 64 bits when W > 32.

:class:`FixedType` follows ``ap_fixed_base(double)`` of the ``ap_fixed_base.h`` hls4ml ships
(``templates/vivado/ap_types``), for every quantization mode (``AP_RND``, ``AP_RND_ZERO``,
``AP_RND_MIN_INF``, ``AP_RND_INF``, ``AP_RND_CONV``, ``AP_TRN``, ``AP_TRN_ZERO``) and overflow mode
(``AP_SAT``, ``AP_SAT_ZERO``, ``AP_SAT_SYM``, ``AP_WRAP``, ``AP_WRAP_SM``, both with N saturation bits),
signed and unsigned, 1 <= W <= 64, any I. What the header does, stated on the exact value x·2^F (F = W - I):

- quantization: q = floor(x·2^F) plus one where the mode rounds up (RND: halves up; RND_ZERO/RND_INF:
  halves towards/away from zero; RND_MIN_INF: halves down; RND_CONV: halves to even; TRN_ZERO: every
  inexact negative value up); the raw word is q modulo 2^W.
- overflow is q > max for x >= 0, underflow q < min for x < 0 (min = -2^(W-1) or 0). SAT clamps,
  SAT_ZERO gives 0, SAT_SYM gives -max on underflow and also for q == min (signed, W >= 2; with W = 1
  the header's -max is min, so SAT_SYM is SAT). WRAP keeps q mod 2^W; with N > 0, on overflow or
  underflow it then sets the top bit to the sign and the next N-1 bits to its complement (unsigned: the
  top N bits to ones, on underflow too). WRAP_SM follows the header's bit recipe, including its use of
  bit W of floor(x·2^F) before rounding. ``ap_ufixed`` has no WRAP_SM (the header exits).
- like the header, the double's bits are read as sign, exponent and mantissa with the implicit one always
  set: ±inf act as ±2^1024, NaN as a number of that size, subnormals as ±(1.m)·2^-1023.

Numpy only, Python 3.8 syntax: this module runs on the board.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..errors import ConfigError

QUANTIZATION = ("RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV", "TRN", "TRN_ZERO")
"""ap_fixed's quantization modes (``ap_q_mode`` without the ``AP_`` prefix); ap_fixed's default is TRN."""

OVERFLOW = ("SAT", "SAT_ZERO", "SAT_SYM", "WRAP", "WRAP_SM")
"""ap_fixed's overflow modes (``ap_o_mode`` without the ``AP_`` prefix); ap_fixed's default is WRAP."""

MAX_WIDTH = 64

_FIXED = re.compile(r"^(ap_)?(u?)fixed<\s*(\d+)\s*,\s*([-+]?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?"
                    r"(?:,\s*(\d+)\s*)?>$")
_U64 = np.uint64
_MANTISSA = _U64((1 << 52) - 1)
_HIDDEN = _U64(1 << 52)
_ABS = _U64((1 << 63) - 1)


def _mode(name: Optional[str], choices: Tuple[str, ...], default: str, what: str, text: str) -> str:
    if name is None:
        return default
    bare = name[3:] if name.startswith("AP_") else name
    if bare not in choices:
        raise ConfigError(f"{text!r}: unknown {what} mode {name!r}; ap_fixed has "
                          + ", ".join("AP_" + c for c in choices))
    return bare


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, AP_<quantization>, AP_<overflow>, sat_bits>`` (``ap_ufixed`` if not signed)."""

    width: int
    integer: int
    signed: bool = True
    quantization: str = "TRN"
    overflow: str = "WRAP"
    sat_bits: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise ConfigError(f"{self}: width {self.width} is not supported (1 to {MAX_WIDTH} bits)")
        if self.quantization not in QUANTIZATION:
            raise ConfigError(f"{self}: quantization mode must be one of {', '.join(QUANTIZATION)}")
        if self.overflow not in OVERFLOW:
            raise ConfigError(f"{self}: overflow mode must be one of {', '.join(OVERFLOW)}")
        if not 0 <= self.sat_bits <= self.width:
            raise ConfigError(f"{self}: saturation bits N must be between 0 and the width {self.width}")
        if self.overflow == "WRAP_SM" and not self.signed:
            raise ConfigError(f"{self}: ap_ufixed cannot use AP_WRAP_SM (the ap_fixed headers refuse it too)")
        key = (self.width, self.integer, self.signed, self.quantization, self.overflow, self.sat_bits)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    # Types key the emulator's per-type caches (cast plans, no-op checks) and are compared on every layer
    # call: the dataclass's own __hash__/__eq__ built a tuple of the six fields each time, ~1 µs each,
    # ~25 of them per emulator call on the jet MLP — a quarter of a 1-sample call. Same fields, same answers.
    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key == other._key  # type: ignore[attr-defined, no-any-return]

    def __reduce__(self) -> Tuple[type, Tuple[object, ...]]:
        """Rebuilt by the constructor: the cached hash of a str field differs between processes."""
        return self.__class__, self._key  # type: ignore[attr-defined]

    @classmethod
    def parse(cls, text: str) -> "FixedType":
        """``ap_fixed<W,I[,Q[,O[,N]]]>``/``ap_ufixed<...>``, with or without ``ap_`` and ``AP_`` prefixes."""
        m = _FIXED.match(text.strip())
        if not m:
            raise ConfigError(f"{text!r} is not a fixed-point type such as 'ap_fixed<16,6,AP_RND,AP_SAT>'")
        return cls(int(m.group(3)), int(m.group(4)), m.group(2) != "u",
                   _mode(m.group(5), QUANTIZATION, "TRN", "quantization", text),
                   _mode(m.group(6), OVERFLOW, "WRAP", "overflow", text), int(m.group(7) or 0))

    def __str__(self) -> str:
        return (f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer},AP_{self.quantization},"
                f"AP_{self.overflow},{self.sat_bits}>")

    @property
    def frac(self) -> int:
        """Fraction bits F = W - I (negative when I > W)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """The grid step 2^-F."""
        return float(np.ldexp(1.0, -self.frac))

    def raw_range(self) -> Tuple[int, int]:
        """(min, max) of q, the value in units of the grid step."""
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1

    def value_range(self) -> Tuple[float, float]:
        """(min, max) representable value (rounded to float64 when W > 53)."""
        lo, hi = self.raw_range()
        return float(np.ldexp(float(lo), -self.frac)), float(np.ldexp(float(hi), -self.frac))

    def to_bits(self, x: np.ndarray) -> np.ndarray:
        """Values → the W-bit patterns of ``ap_fixed(double(x))``, as uint64 (the upper bits zero)."""
        d = np.asarray(x, dtype=np.float64)
        return self._words(np.ascontiguousarray(d).reshape(-1).view(_U64)).reshape(d.shape)

    def _words(self, bits: np.ndarray) -> np.ndarray:
        """to_bits on float64 bit patterns (1-d uint64)."""
        neg = (bits >> _U64(63)).astype(bool)
        nonzero = (bits & _ABS) != 0
        m = (bits & _MANTISSA) | _HIDDEN  # the header sets the implicit one even for subnormals, inf, NaN
        k = ((bits >> _U64(52)) & _U64(0x7FF)).astype(np.int64) - 1075 + self.frac  # x·2^F = ±m·2^k
        sm = np.where(neg, -m.astype(np.int64), m.astype(np.int64))
        shifted = k >= 0  # ±m·2^k is an integer: nothing to round

        # k < 0: floor and the bits shifted out (2^54 and more behave alike: everything is shifted out)
        sh = np.clip(-k, 0, 60).astype(_U64)
        one = _U64(1)
        mag = m >> sh
        rem = m & ((one << sh) - one)
        half = (one << sh) >> one
        exact = rem == 0
        qb = ~exact & np.where(neg, rem <= half, rem >= half)  # first dropped bit of floor's two's complement
        r = ~exact & (rem != half)  # any bit below it
        t = np.where(neg, -mag.astype(np.int64) - (~exact), mag.astype(np.int64))  # floor(x·2^F)
        q = t + self._round_up(qb, r, neg, t)  # |q| <= 2^53

        words = np.where(shifted, self._shift_words(sm, k), q.astype(_U64)) & self._mask()
        words = np.where(nonzero, words, _U64(0))
        if self.overflow == "WRAP" and self.sat_bits == 0:
            return words
        over, under = self._out_of_range(neg & nonzero, ~neg & nonzero, shifted, k, m, q)
        return self._adjust(words, over, under, sm, k)

    def from_bits(self, words: np.ndarray) -> np.ndarray:
        """W-bit patterns (any integer dtype; bits above W ignored) → values as float64 (exact for W <= 53)."""
        raw = np.asarray(words)
        raw = (raw.astype(np.int64).view(_U64) if raw.dtype.kind == "i" else raw.astype(_U64)) & self._mask()
        if self.signed:
            up = _U64(64 - self.width)
            value = ((raw << up).view(np.int64) >> np.int64(64 - self.width)).astype(np.float64)
        else:
            value = raw.astype(np.float64)
        return np.ldexp(value, -self.frac)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """The value ``ap_fixed(double(x))`` holds, as float64."""
        return self.from_bits(self.to_bits(x))

    # -- the steps of to_bits ----------------------------------------------------------------------------

    def _mask(self) -> np.uint64:
        return _U64((1 << self.width) - 1)

    def _round_up(self, qb: np.ndarray, r: np.ndarray, neg: np.ndarray, t: np.ndarray) -> np.ndarray:
        """ap_fixed_base::quantization_adjust: 1 where the mode adds one to floor(x·2^F)."""
        mode = self.quantization
        if mode == "TRN":
            return np.zeros(qb.shape, np.int64)
        if mode == "RND":
            up = qb
        elif mode == "RND_ZERO":
            up = qb & (neg | r)
        elif mode == "RND_MIN_INF":
            up = qb & r
        elif mode == "RND_INF":
            up = qb & (~neg | r)
        elif mode == "RND_CONV":
            up = qb & (((t & 1) == 1) | r)
        else:  # TRN_ZERO
            up = neg & (qb | r)
        return up.astype(np.int64)

    def _shift_words(self, sm: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Low 64 bits of ±m·2^k for k >= 0 (0 from 2^64 on)."""
        low = sm.view(_U64) << np.clip(k, 0, 63).astype(_U64)
        return np.where(k < 64, low, _U64(0))

    def _out_of_range(self, neg: np.ndarray, pos: np.ndarray, shifted: np.ndarray, k: np.ndarray,
                      m: np.ndarray, q: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(overflow, underflow) as the header flags them: q > max for x >= 0, q < min for x < 0 — or
        q <= min for AP_SAT_SYM. For k >= 0, m in [2^52, 2^53) decides from the exponent alone."""
        magnitude = self.width - 1 if self.signed else self.width  # max = 2^magnitude - 1
        over = pos & np.where(shifted, k >= magnitude - 52, q >= np.int64(1 << min(magnitude, 62)))
        if not self.signed:
            return over, neg & (shifted | (q < 0))
        p = self.width - 1  # min = -2^p
        if self.overflow == "SAT_SYM":  # q <= -2^p
            big = k >= p - 52
            small = q <= -np.int64(1 << min(p, 62))
        else:  # q < -2^p
            big = (k > p - 52) | ((k == p - 52) & (m != _HIDDEN))
            small = q < -np.int64(1 << min(p, 62))
        return over, neg & np.where(shifted, big, small)

    def _adjust(self, words: np.ndarray, over: np.ndarray, under: np.ndarray, sm: np.ndarray,
                k: np.ndarray) -> np.ndarray:
        """ap_fixed_base::overflow_adjust on the wrapped words."""
        w, n, mode = self.width, self.sat_bits, self.overflow
        hit = over | under
        msb = _U64(1 << (w - 1))
        if mode in ("SAT", "SAT_SYM"):
            lo, hi = self.raw_range()
            lo_word = _U64(lo & ((1 << w) - 1))
            if mode == "SAT_SYM" and self.signed:
                lo_word = lo_word | _U64(1)  # -max; with W = 1 that is min
            return np.where(over, _U64(hi), np.where(under, lo_word, words))
        if mode == "SAT_ZERO":
            return np.where(hit, _U64(0), words)
        top = _U64(((1 << n) - 1) << (w - n))  # bits W-N .. W-1
        below = top & ~msb  # bits W-N .. W-2
        sign = under  # the header's neg_src: set on underflow, clear on overflow
        if mode == "WRAP":
            if not self.signed:
                fixed = words | top
            else:
                fixed = np.where(sign, (words & ~top) | msb, (words & ~top) | below)
            return np.where(hit, fixed, words)
        # WRAP_SM
        mask = self._mask()
        ro = (words & msb) != 0
        if n == 0:
            j = w - k  # the header's lD: bit W of floor(x·2^F), before rounding
            ld = (j >= 0) & (((sm >> np.clip(j, 0, 63)) & 1) == 1)
            flipped = np.where(ld != ro, (~words & mask & ~msb) | np.where(ld, msb, _U64(0)), words)
        elif n == 1:
            flipped = np.where(sign != ro, ~words & mask, words)
            flipped = (flipped & ~msb) | np.where(sign, msb, _U64(0))
        else:
            lno = (words & _U64(1 << (w - n))) != 0
            flipped = np.where(lno == sign, ~words & mask, words)
            flipped = np.where(sign, (flipped & ~top) | msb, (flipped & ~top) | below)
        return np.where(hit, flipped, words)


def _half_toward_zero(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.ceil(np.abs(v) - 0.5)


def _half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


_ROUND = {"TRN": np.floor, "TRN_ZERO": np.trunc, "RND": lambda v: np.floor(v + 0.5), "RND_ZERO": _half_toward_zero,
          "RND_INF": _half_away, "RND_MIN_INF": lambda v: np.ceil(v - 0.5), "RND_CONV": np.rint}
"""x·2^F (a float64 holding it exactly) → the integer each quantization mode makes of it."""


@dataclass(frozen=True)
class Codec:
    """float32 ↔ AXI words for one stream type: float32 as is, or ap_fixed bit patterns (int32 words,
    int64 when W > 32)."""

    kind: str  # "float32" or "fixed"
    fixed: Optional[FixedType] = None

    @classmethod
    def parse(cls, text: str) -> "Codec":
        text = text.strip()
        if text in ("float", "float32"):
            return cls("float32")
        if not _FIXED.match(text):
            raise ConfigError(f"unsupported AXI stream type {text!r}: expected float32 or ap_fixed<W,I,...>")
        return cls("fixed", FixedType.parse(text))

    @property
    def width(self) -> int:
        return 32 if self.fixed is None else self.fixed.width

    @property
    def integer(self) -> int:
        return 0 if self.fixed is None else self.fixed.integer

    @property
    def signed(self) -> bool:
        return True if self.fixed is None else self.fixed.signed

    @property
    def frac(self) -> int:
        return self.width - self.integer

    def range(self) -> Tuple[int, int]:
        """(min, max) raw word value."""
        return self._fixed().raw_range()

    def encode(self, x: np.ndarray) -> np.ndarray:
        """float32 values → words (float32 as is, or the fixed-point bit patterns, sign- or zero-extended)."""
        if self.fixed is None:
            return np.asarray(x, dtype=np.float32)
        words = self._encode_fast(x)
        return self._encode_exact(x) if words is None else words

    @property
    def _fast(self) -> bool:
        """Whether :meth:`_encode_fast` covers this type: int32 words, an overflow mode that clips, zeroes
        or wraps without saturation bits (the others go the exact way)."""
        f = self.fixed
        return f is not None and f.width <= 32 and (f.overflow in ("SAT", "SAT_ZERO", "SAT_SYM")
                                                    or (f.overflow == "WRAP" and f.sat_bits == 0))

    def _encode_fast(self, x: np.ndarray) -> Optional[np.ndarray]:
        """:meth:`_encode_exact` for float32 values in a few whole-array float64 steps (the board's per-call
        cost), or None where it would not be exact: a float32 times 2^F is exact in float64, and so are its
        floor, ceil and ±0.5 while |x·2^F| < 2^52; an infinity or NaN (the header reads their bits) goes the
        exact way. tests/test_fixed_point_codec.py checks both agree bit for bit over every mode."""
        f = self.fixed
        xs = np.asarray(x)
        if f is None or not self._fast or xs.dtype != np.float32 or abs(f.frac) > 900:  # 2^F: a float64
            return None
        v = xs.astype(np.float64)
        v *= 2.0 ** f.frac
        if not np.abs(v).max(initial=0.0) < 2.0 ** 52:  # False for inf and NaN too
            return None
        q = _ROUND[f.quantization](v)
        lo, hi = f.raw_range()
        if f.overflow == "WRAP":
            span = float(1 << f.width)
            q = np.mod(q - lo, span) + lo  # two's complement wrap (unsigned: lo = 0)
        elif f.overflow == "SAT_ZERO":
            q = np.where((q < lo) | (q > hi), 0.0, q)
        else:  # np.clip costs more than these two on a sample's few values
            low = lo + 1 if f.overflow == "SAT_SYM" and f.signed and f.width >= 2 else lo
            q = np.minimum(np.maximum(q, float(low)), float(hi))
        # q is an integer in [lo, hi]: int32 holds a signed one, uint32 an unsigned one (then its bits as int32)
        return q.astype(np.int32) if f.signed else q.astype(np.uint32).view(np.int32)

    def _encode_exact(self, x: np.ndarray) -> np.ndarray:
        """The header's conversion read off the double's bits (:meth:`FixedType.to_bits`), any value."""
        bits = self._fixed().to_bits(x)
        if self.fixed.signed:  # sign-extend the W-bit pattern to 64 bits
            up = _U64(64 - self.fixed.width)
            bits = ((bits << up).view(np.int64) >> np.int64(64 - self.fixed.width)).view(_U64)
        if self.word_dtype == np.int32:
            return bits.astype(np.uint32).view(np.int32)
        return bits.view(np.int64)

    def decode(self, words: np.ndarray) -> np.ndarray:
        """words → float32 values."""
        if self.fixed is None:
            return np.asarray(words, dtype=np.float32)
        values = self._decode_fast(words)
        return self.fixed.from_bits(words).astype(np.float32) if values is None else values

    def _decode_fast(self, words: np.ndarray) -> Optional[np.ndarray]:
        """:meth:`decode` of int32 words in three whole-array steps (the board's per-call path): the low W
        bits sign- or zero-extended in 32 bits, times 2^-F in float64 (exact: |q| < 2^32), rounded once to
        float32 — what ``from_bits`` gives; None for other words (the general way)."""
        f = self.fixed
        w = np.asarray(words)
        if f is None or f.width > 32 or w.dtype != np.int32 or abs(f.frac) > 900:
            return None
        up = np.uint32(32 - f.width)
        if f.signed:
            q = (w.view(np.uint32) << up).view(np.int32) >> up.astype(np.int32)
        else:
            q = w.view(np.uint32) & np.uint32((1 << f.width) - 1)
        return (q * (2.0 ** -f.frac)).astype(np.float32)

    @property
    def word_dtype(self) -> np.dtype:
        if self.fixed is None:
            return np.dtype(np.float32)
        return np.dtype(np.int32 if self.fixed.width <= 32 else np.int64)

    def _fixed(self) -> FixedType:
        if self.fixed is None:
            raise ConfigError("a float32 stream has no fixed-point range")
        return self.fixed
