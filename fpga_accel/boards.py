"""Board table: one place that knows each supported board — its part, clock and resources, and the
platform around the design (the processing system, the DMA path, what that platform costs).

Adding a board is one :func:`register_board` call; everything board-specific (the Vitis block design,
the estimator's platform row, the bundle's DMA path, ``--board`` choices) reads its entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, Mapping, Optional

from .errors import ConfigError


@dataclass(frozen=True)
class ProcessingSystem:
    """The board's processing system as the block design instantiates it (Vivado IP and its ports)."""

    ip: str = "xilinx.com:ip:processing_system7"
    """VLNV without the version (the newest in the Vivado catalog is used)."""
    cell: str = "processing_system7_0"
    automation_rule: str = "xilinx.com:bd_rule:processing_system7"
    config: str = "CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz"
    """Tcl ``set_property -dict`` pairs: enable the slave port the DMA writes memory through and set the
    fabric clock (``$fclk_mhz`` is the design's clock)."""
    clock: str = "FCLK_CLK0"
    """The fabric clock pin that drives the DMA and the design."""
    master: str = "M_AXI_GP0"
    """The port the CPU reaches the DMA's registers through."""
    memory: str = "S_AXI_HP0"
    """The port the DMA reads and writes DDR through."""


ZYNQ_7000 = ProcessingSystem()
"""The Zynq-7000 PS (PYNQ-Z1/Z2, ZedBoard...)."""


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    board_part: str
    clock_period: float
    """ns; the clock the block design feeds the IP (PYNQ-Z2: FCLK_CLK0 at 100 MHz)."""
    lut: int
    ff: int
    dsp: int
    bram36: int
    ps: ProcessingSystem = ZYNQ_7000
    dma_path: str = "hier_0/axi_dma_0"
    """Where the overlay's AXI DMA is (the runtime looks it up there; both build flows put it there)."""
    platform: Mapping[str, float] = field(hash=False, default_factory=lambda: MappingProxyType(
        {"lut": 2100, "ff": 3000, "dsp": 0, "bram36": 2}))
    """What the platform around the IP uses (AXI DMA with 256-beat bursts, interconnect, reset logic);
    the estimator adds it to every design. A GUESS for PYNQ-Z2: the calibration reports are of the IP
    alone, so this row is not fitted."""
    hls4ml_board: Optional[str] = None
    """The board's name in hls4ml's VivadoAccelerator ``supported_boards.json``, if hls4ml knows it: hls4ml's
    own design.tcl (``--flow vivado-hls``) then builds its overlay. None: convert writes the wrapper from
    hls4ml's pynq-z2 template (the AXI-stream wrapper is the same for every board, the part is this board's)
    and only a flow with its own block design (``--flow vitis``) builds it."""

    @property
    def hls4ml_template(self) -> str:
        """The hls4ml VivadoAccelerator board convert names (hls4ml refuses names it does not know)."""
        return self.hls4ml_board or HLS4ML_FALLBACK_BOARD


HLS4ML_FALLBACK_BOARD = "pynq-z2"
"""hls4ml's template for boards it does not know: its wrapper C++ is board-independent."""

BOARDS: Dict[str, Board] = {}
"""Boards by (lower-case) name; fill it through :func:`register_board`."""


def register_board(board: Board, replace: bool = False) -> Board:
    """Add a board to the table (``--board NAME`` and ``board: NAME`` then accept it). A name already
    taken is refused unless ``replace``: two tables that disagree are what this one replaces."""
    if not isinstance(board, Board):
        raise ConfigError(f"register_board takes a Board, got {type(board).__name__}")
    key = board.name.lower()
    if not key or key != key.strip():
        raise ConfigError(f"board name {board.name!r} must be a non-empty name without surrounding spaces")
    if key in BOARDS and not replace:
        raise ConfigError(f"board {board.name!r} is already registered; pass replace=True to redefine it")
    missing = [k for k in ("lut", "ff", "dsp", "bram36") if k not in board.platform]
    if missing:
        raise ConfigError(f"board {board.name!r}: platform resources lack {missing}")
    BOARDS[key] = board
    return board


def unregister_board(name: str) -> None:
    """Remove a board (tests and notebooks that registered a toy one)."""
    BOARDS.pop(name.lower(), None)


register_board(Board(
    name="pynq-z2",
    part="xc7z020clg400-1",
    board_part="tul.com.tw:pynq-z2:part0:1.0",
    clock_period=10.0,
    lut=53_200,
    ff=106_400,
    dsp=220,
    bram36=140,
    hls4ml_board="pynq-z2",
))


def get_board(name: str) -> Board:
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown board {name!r}; supported: {', '.join(sorted(BOARDS))}") from None


__all__ = ["BOARDS", "Board", "ProcessingSystem", "ZYNQ_7000", "get_board", "register_board", "unregister_board"]
