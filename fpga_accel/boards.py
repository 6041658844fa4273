"""Board table: one place that knows each supported board's part, clock and resources."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    board_part: str
    clock_period: float
    """ns; the clock hls4ml's block design feeds the IP (PYNQ-Z2: FCLK_CLK0 at 100 MHz)."""
    lut: int
    ff: int
    dsp: int
    bram36: int


BOARDS: dict[str, Board] = {
    "pynq-z2": Board(
        name="pynq-z2",
        part="xc7z020clg400-1",
        board_part="tul.com.tw:pynq-z2:part0:1.0",
        clock_period=10.0,
        lut=53_200,
        ff=106_400,
        dsp=220,
        bram36=140,
    ),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown board {name!r}; supported: {', '.join(sorted(BOARDS))}") from None
