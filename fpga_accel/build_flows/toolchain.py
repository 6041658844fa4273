"""The AMD tools on this machine: where they are, which release, and the PYNQ-Z2 board files.

Versions are parsed into tuples and compared as numbers (``2023.10 > 2023.2``), never as strings. Used
by the build flows' preflight and by ``fpga-accel doctor``.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, NamedTuple, Optional

VERSION_FLAGS: Dict[str, str] = {"vivado_hls": "-version", "vivado": "-version", "vitis_hls": "-version",
                                 "vitis-run": "--version", "v++": "--version"}
"""How each tool prints its release (the AMD tools disagree on one dash or two)."""

_VERSION = re.compile(r"\bv(\d{4})\.(\d+)(?:\.(\d+))?\b")


class Version(NamedTuple):
    """An AMD release, e.g. 2023.2 or 2024.1.1: compares as numbers."""

    year: int
    release: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.year}.{self.release}" + (f".{self.patch}" if self.patch else "")

    @classmethod
    def of(cls, text: str) -> "Version":
        """``"2020.1"`` → Version(2020, 1); for the constants the flows state."""
        parts = [int(p) for p in text.split(".")]
        return cls(*parts)


def parse_version(banner: str) -> Optional[Version]:
    """The release in a tool's version banner ("Vivado v2023.2 (64-bit)", "****** vitis-run v2024.1.1")."""
    m = _VERSION.search(banner)
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


@dataclass(frozen=True)
class Tool:
    name: str
    path: Optional[Path]
    """None: not on PATH."""
    version: Optional[Version] = None
    """None when it is missing or its banner names no release."""

    @property
    def found(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        if self.path is None:
            return f"{self.name}: not on PATH"
        return f"{self.name} {self.version or '(version unknown)'} at {self.path}"


def find_tool(name: str, timeout: float = 120) -> Tool:
    """Look ``name`` up on PATH and ask it its release (the AMD launchers take seconds to answer)."""
    path = shutil.which(name)
    if path is None:
        return Tool(name, None)
    try:
        out = subprocess.run([path, VERSION_FLAGS.get(name, "-version")], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return Tool(name, Path(path))
    return Tool(name, Path(path), parse_version(out.stdout + out.stderr))


def board_repositories() -> list:
    """Where Vivado looks for board files: the install's data/boards, the user's Xilinx folder, and the
    folders ``XILINX_BOARD_REPO_PATHS`` names (what ``board.repoPaths`` is set to in Vivado_init.tcl)."""
    roots = [Path(p) for p in os.environ.get("XILINX_BOARD_REPO_PATHS", "").split(os.pathsep) if p]
    if os.environ.get("XILINX_VIVADO"):
        roots.append(Path(os.environ["XILINX_VIVADO"]) / "data" / "boards")
    vivado = shutil.which("vivado")
    if vivado:
        roots.append(Path(vivado).resolve().parents[1] / "data" / "boards")
    roots.append(Path.home() / ".Xilinx")
    return roots


def find_board_files(board_part: str) -> Optional[Path]:
    """board.xml of ``vendor:name:...`` in Vivado's board repositories, or None."""
    vendor, name = board_part.split(":")[:2]
    for root in board_repositories():
        for found in sorted(glob.glob(str(root / "**" / name / "**" / "board.xml"), recursive=True)):
            text = Path(found).read_text(errors="replace")
            if f'vendor="{vendor}"' in text and f'name="{name}"' in text:
                return Path(found)
    return None


HWH_FOLDERS = ("project_1.gen", "project_1.srcs")
"""Where Vivado writes the block design's hardware handoff: ``.gen`` from 2020.2 on, ``.srcs`` before."""


def find_hwh(vivado_project: Path) -> Path:
    """design_1.hwh wherever this Vivado release put it (the newest if a project holds both); the
    ``.gen`` path when there is none yet, to name in messages."""
    found = [vivado_project / folder / "sources_1" / "bd" / "design_1" / "hw_handoff" / "design_1.hwh"
             for folder in HWH_FOLDERS]
    present = [p for p in found if p.is_file()]
    return max(present, key=lambda p: p.stat().st_mtime) if present else found[0]


def build_outputs(solution: Path, top: str, vivado_project: Path, runs: Path, utilization: Path) -> Dict[str, Path]:
    """What a build collects, where the HLS tool (``solution`` of the IP ``top``) and Vivado (``runs`` of
    ``vivado_project``) leave it: Vivado HLS 2020.1 and Vitis HLS, and Vivado's releases, lay these out alike."""
    return {"csynth": solution / "syn" / "report" / f"{top}_csynth.xml", "ip": solution / "impl" / "ip",
            "bit": runs / "design_1_wrapper.bit", "hwh": find_hwh(vivado_project), "utilization": utilization}


BOARD_FILES_HINT = ("install the PYNQ-Z2 board files: in Vivado 2023.1+ Tools > Vivado Store > Boards > "
                    "'PYNQ-Z2', or unzip TUL's pynq-z2 board files into a folder and add "
                    "`set_param board.repoPaths [list <folder>]` to ~/.Xilinx/Vivado/Vivado_init.tcl "
                    "(export XILINX_BOARD_REPO_PATHS=<folder> so fpga-accel finds them too), or copy them "
                    "into <Vivado>/data/boards/board_files/pynq-z2/")
"""What to do when ``tul.com.tw:pynq-z2:part0:1.0`` is missing (Vivado says "[Board 49-71] The
board_part definition was not found")."""
