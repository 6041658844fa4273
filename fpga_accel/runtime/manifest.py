"""The deployment bundle (bitstreams/NAME/) and its manifest.json: what the board runtime needs to know.

A bundle holds NAME.bit and NAME.hwh (pynq wants the same base name), manifest.json, the design's C++
sources (so the csim fallback builds from the bundle alone) and test vectors with their QKeras outputs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

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
class Manifest:
    name: str
    project_name: str
    input_shape: List[int]
    output_shape: List[int]
    axi_input_type: str = "float32"
    axi_output_type: str = "float32"
    softmax: str = "design"
    bitfile: Optional[str] = None
    hwhfile: Optional[str] = None
    bit_sha256: Optional[str] = None
    hwh_sha256: Optional[str] = None
    dma: str = DMA_PATH
    extra: Dict[str, Any] = field(default_factory=dict)
    """Everything else recorded (part, clock, tool and hls4ml versions, model/config hashes, created)."""

    FIELDS = ("name", "project_name", "input_shape", "output_shape", "axi_input_type", "axi_output_type",
              "softmax", "bitfile", "hwhfile", "bit_sha256", "hwh_sha256", "dma")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Manifest":
        missing = [k for k in ("name", "project_name", "input_shape", "output_shape") if k not in data]
        if missing:
            raise ConfigError(f"manifest lacks {missing}")
        check_identity(data, MANIFEST)
        for key in ("bitfile", "hwhfile"):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or Path(value).name != value or value in (".", "..")):
                raise ConfigError(f"{MANIFEST}: {key} {value!r} is not a plain file name")
        known = {k: data[k] for k in cls.FIELDS if k in data}
        return cls(**known, extra={k: v for k, v in data.items() if k not in cls.FIELDS})

    def to_dict(self) -> Dict[str, Any]:
        out = dict(self.extra)
        out.update({k: getattr(self, k) for k in self.FIELDS})
        return out


@dataclass
class Bundle:
    """A deployment bundle, or an HLS project (csim only: it has no bitstream)."""

    root: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: "str | Path") -> "Bundle":
        root = Path(path)
        if (root / MANIFEST).is_file():
            return cls(root, Manifest.from_dict(json.loads((root / MANIFEST).read_text())))
        if (root / META_FILE).is_file():
            return cls(root, Manifest.from_dict(ProjectMeta.read(root).to_dict()))
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
