"""Where everything of a project lands: every path under hls_projects/NAME/ comes from here.

Light on purpose (pathlib + json): the board runtime reads projects and bundles through it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

META_FILE = "fpga_accel.json"
"""Written by the convert stage next to hls4ml's files: shapes, precisions, settings, hashes."""


@dataclass(frozen=True)
class ProjectLayout:
    root: Path
    project_name: str

    @classmethod
    def open(cls, root: str | Path) -> "ProjectLayout":
        root = Path(root)
        meta = read_meta(root)
        return cls(root=root, project_name=meta["project_name"])

    @property
    def meta_file(self) -> Path:
        return self.root / META_FILE

    @property
    def firmware(self) -> Path:
        return self.root / "firmware"

    @property
    def ap_types(self) -> Path:
        return self.firmware / "ap_types"

    @property
    def top_cpp(self) -> Path:
        return self.firmware / f"{self.project_name}.cpp"

    @property
    def axi_cpp(self) -> Path:
        """hls4ml's AXI-stream wrapper: what the PYNQ DMA talks to."""
        return self.firmware / f"{self.project_name}_axi.cpp"

    @property
    def bridge_cpp(self) -> Path:
        return self.root / f"{self.project_name}_bridge.cpp"

    @property
    def keras_model(self) -> Path:
        """The (QKeras) model the design was converted from, saved with its custom objects."""
        return self.root / "reference_model.h5"

    @property
    def build_tcl(self) -> Path:
        return self.root / "build_prj.tcl"

    @property
    def project_tcl(self) -> Path:
        return self.root / "project.tcl"

    @property
    def design_tcl(self) -> Path:
        return self.root / "design.tcl"


def refuse_overwrite(path: Path, force: bool) -> None:
    """Nothing is overwritten without --force: an existing file, or a folder that is not empty."""
    path = Path(path)
    if force or not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    what = "exists and is not empty" if path.is_dir() else "exists"
    raise ConfigError(f"{path} {what}; pass --force to overwrite it")


def read_meta(root: str | Path) -> dict[str, Any]:
    path = Path(root) / META_FILE
    if not path.is_file():
        raise ConfigError(
            f"{root} is not an fpga_accel HLS project ({META_FILE} missing); create one with `fpga-accel convert`"
        )
    return json.loads(path.read_text())


def write_meta(root: Path, meta: dict[str, Any]) -> None:
    (root / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
