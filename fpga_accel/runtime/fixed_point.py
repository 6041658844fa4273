"""Encode/decode AXI-stream words when hls4ml's wrapper streams ap_fixed instead of float32.

hls4ml's accelerator wrapper streams float32 by default (word = IEEE float). With an ``ap_fixed<W,I>``
AXI type each 32-bit word carries the W-bit two's complement value, sign-extended.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ..errors import ConfigError

_FIXED = re.compile(r"^(ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+))?\s*(?:,\s*(\w+))?.*>$")


@dataclass(frozen=True)
class Codec:
    """float32 ↔ 32-bit AXI words for one stream type."""

    kind: str  # "float32" or "fixed"
    width: int = 32
    integer: int = 0
    signed: bool = True
    rounding: str = "TRN"
    saturating: bool = False

    @classmethod
    def parse(cls, text: str) -> "Codec":
        text = text.strip()
        if text in ("float", "float32"):
            return cls("float32")
        m = _FIXED.match(text)
        if not m:
            raise ConfigError(f"unsupported AXI stream type {text!r}: expected float32 or ap_fixed<W,I>")
        width, integer = int(m.group(3)), int(m.group(4))
        if not 1 <= width <= 32:
            raise ConfigError(f"AXI stream type {text!r} does not fit a 32-bit word")
        rounding = (m.group(5) or "TRN").replace("AP_", "")
        saturating = (m.group(6) or "WRAP").replace("AP_", "").startswith("SAT")
        return cls("fixed", width, integer, m.group(2) != "u", rounding, saturating)

    @property
    def frac(self) -> int:
        return self.width - self.integer

    def range(self) -> Tuple[int, int]:
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1

    def encode(self, x: np.ndarray) -> np.ndarray:
        """float32 values → words (float32 as is, or int32 raw fixed-point bits)."""
        if self.kind == "float32":
            return np.asarray(x, dtype=np.float32)
        scaled = np.asarray(x, dtype=np.float64) * (2.0 ** self.frac)
        if self.rounding == "TRN":
            q = np.floor(scaled)
        elif self.rounding == "RND_CONV":
            q = np.round(scaled)  # numpy rounds half to even, like AP_RND_CONV
        else:  # RND and the other round-half modes: half up
            q = np.floor(scaled + 0.5)
        lo, hi = self.range()
        if self.saturating:
            q = np.clip(q, lo, hi)
        else:  # wrap around in W bits, as ap_fixed does
            q = (q.astype(np.int64) - lo) % (1 << self.width) + lo
        return q.astype(np.int64).astype(np.int32)

    def decode(self, words: np.ndarray) -> np.ndarray:
        """words → float32 values."""
        if self.kind == "float32":
            return np.asarray(words, dtype=np.float32)
        raw = np.asarray(words).astype(np.int64) & ((1 << self.width) - 1)
        if self.signed:
            raw = np.where(raw >= 1 << (self.width - 1), raw - (1 << self.width), raw)
        return (raw * (2.0 ** -self.frac)).astype(np.float32)

    @property
    def word_dtype(self) -> np.dtype:
        return np.dtype(np.float32 if self.kind == "float32" else np.int32)
