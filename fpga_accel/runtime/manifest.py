"""The deployment bundle (bitstreams/NAME/) and its manifest.json: what the board runtime needs to know.

A bundle holds NAME.bit and NAME.hwh (pynq wants the same base name), manifest.json, the design's C++
sources (so the csim fallback builds from the bundle alone) and test vectors with their QKeras outputs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional

from ..errors import BoardError, ConfigError
from ..layout import META_FILE, ProjectLayout, ProjectMeta, check_identity

MANIFEST = "manifest.json"
TEST_VECTORS = "test_vectors.npz"
DMA_PATH = "hier_0/axi_dma_0"
"""Where hls4ml's PYNQ-Z2 block design (axi_stream_design.tcl) puts the AXI DMA."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest(ProjectMeta):
    """manifest.json: the design's own record (``ProjectMeta`` — one field list, one validating reader —
    without its per-layer table) plus what the bundle adds: the bitstream's files and their hashes."""

    bitfile: Optional[str] = None
    hwhfile: Optional[str] = None
    bit_sha256: Optional[str] = None
    hwh_sha256: Optional[str] = None
    dma: str = DMA_PATH
    extra: Dict[str, Any] = field(default_factory=dict)
    """What else the bundle records (e.g. the build's tool versions)."""

    FIX: ClassVar[str] = "re-create the bundle (`fpga-accel bundle` or `build`) or copy it again"

    @classmethod
    def for_project(cls, meta: ProjectMeta, **bundle: Any) -> "Manifest":
        record = {f.name: getattr(meta, f.name) for f in fields(ProjectMeta)}
        record["layers"] = []  # the board needs shapes and types, not the estimator's layer table
        return cls(**record, **bundle)

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = MANIFEST) -> "Manifest":
        for key in ("bitfile", "hwhfile"):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or Path(value).name != value or value in (".", "..")):
                raise ConfigError(f"{source}: {key} {value!r} is not a plain file name; {cls.FIX}")
        names = {f.name for f in fields(cls)}
        manifest = super().from_dict({k: v for k, v in data.items() if k in names}, source)
        manifest.extra = {**dict(data.get("extra") or {}), **{k: v for k, v in data.items() if k not in names}}
        return manifest


@dataclass
class Bundle:
    """A deployment bundle, or an HLS project (csim only: it has no bitstream)."""

    root: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: "str | Path") -> "Bundle":
        root = Path(path)
        if (root / MANIFEST).is_file():
            return cls(root, Manifest.read_file(root / MANIFEST))
        if (root / META_FILE).is_file():
            return cls(root, Manifest.for_project(ProjectMeta.read(root)))
        if not root.exists():
            raise ConfigError(f"{root} does not exist")
        raise ConfigError(f"{root} is neither a bundle ({MANIFEST}) nor an HLS project ({META_FILE})")

    @property
    def layout(self) -> ProjectLayout:
        return ProjectLayout(self.root, self.manifest.project_name)

    @property
    def bitfile(self) -> Optional[Path]:
        return self.root / self.manifest.bitfile if self.manifest.bitfile else None

    @property
    def hwhfile(self) -> Optional[Path]:
        return self.root / self.manifest.hwhfile if self.manifest.hwhfile else None

    @property
    def has_bitstream(self) -> bool:
        return bool(self.bitfile and self.bitfile.is_file() and self.hwhfile and self.hwhfile.is_file())

    @property
    def test_vectors(self) -> Path:
        return self.root / TEST_VECTORS

    def verify(self) -> None:
        """Check bit and hwh against the manifest's sha256 before anything programs the FPGA."""
        if not self.has_bitstream:
            raise BoardError(f"{self.root} has no bitstream ({self.manifest.bitfile}, {self.manifest.hwhfile}); "
                             "build one with `fpga-accel build`, or use backend='csim'")
        for path, expected in ((self.bitfile, self.manifest.bit_sha256), (self.hwhfile, self.manifest.hwh_sha256)):
            actual = sha256_file(path)
            if actual != expected:
                raise BoardError(f"{path.name} does not match manifest.json (sha256 {actual[:12]}… != "
                                 f"{str(expected)[:12]}…): the bundle is corrupt or was edited; rebuild or re-copy it")
