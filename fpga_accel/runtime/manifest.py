"""The deployment bundle (bitstreams/NAME/) and its manifest.json: what the board runtime needs to know.

A bundle holds NAME.bit and NAME.hwh (pynq wants the same base name), manifest.json, the design's C++
sources (so the csim fallback builds from the bundle alone) and test vectors with their QKeras outputs.
"""
from __future__ import annotations

import hashlib
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional, Union

from ..errors import BoardError, ConfigError
from ..layout import MANIFEST, META_FILE, TEST_VECTORS, ProjectLayout, ProjectMeta, read_json

DMA_PATH = "hier_0/axi_dma_0"
"""Where hls4ml's PYNQ-Z2 block design (axi_stream_design.tcl) puts the AXI DMA."""
MAX_MANIFEST_BYTES = 16 << 20
MAX_JSON_DEPTH = 32
"""A manifest is a flat record with a few small tables: deeper nesting is damage or hostility (and Python's
JSON parser would raise RecursionError on it)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        return " or ".join(_type_name(a) for a in args)
    if hint is type(None):
        return "null"
    if origin in (list, dict):
        return {list: "a list", dict: "an object"}[origin] + (f" of {_type_name(args[0])}" if origin is list and args else "")
    return {str: "text", int: "a whole number", float: "a number", bool: "true/false"}.get(hint, str(hint))


def matches(value: Any, hint: Any) -> bool:
    """``value`` (parsed JSON) is of the type ``hint`` (a field's annotation) says."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Union:
        return any(matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list or hint is list:
        return isinstance(value, list) and (not args or all(matches(v, args[0]) for v in value))
    if origin is dict or hint is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


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
        record["selftest"] = None  # what a board said about an earlier bundle is the host's record
        return cls(**record, **bundle)

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = MANIFEST) -> "Manifest":
        """Every field of the type it is declared with, bit/hwh the pair pynq loads, hashes that are
        sha256 digests — or one ConfigError naming the field."""
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in data and not matches(data[f.name], hints[f.name]):
                raise ConfigError(f"{source}: {f.name} {_short(data[f.name])} is not {_type_name(hints[f.name])}; {cls.FIX}")
        names = {f.name for f in fields(cls)}
        manifest = super().from_dict({k: v for k, v in data.items() if k in names}, source)
        bitfile, hwhfile = data.get("bitfile"), data.get("hwhfile")
        for key, value in (("bitfile", bitfile), ("hwhfile", hwhfile)):
            if value is not None and (Path(value).name != value or value in (".", "..") or "\\" in value):
                raise ConfigError(f"{source}: {key} {value!r} is not a plain file name; {cls.FIX}")
        if (bitfile is None) != (hwhfile is None):
            raise ConfigError(f"{source}: bitfile and hwhfile go together (got {bitfile!r}, {hwhfile!r}); {cls.FIX}")
        if bitfile is not None:
            # pynq's Overlay("NAME.bit") reads NAME.hwh whatever the manifest says: the manifest must name
            # (and hash) exactly that file
            if not bitfile.endswith(".bit") or hwhfile != bitfile[:-len(".bit")] + ".hwh":
                raise ConfigError(f"{source}: hwhfile {hwhfile!r} is not the file pynq loads with {bitfile!r} "
                                  f"(NAME.bit loads NAME.hwh); {cls.FIX}")
            for key in ("bit_sha256", "hwh_sha256"):
                if not isinstance(data.get(key), str) or not _SHA256.match(data[key]):
                    raise ConfigError(f"{source}: {key} {_short(data.get(key))} is not a sha256 digest; {cls.FIX}")
        for key in ("axi_input_type", "axi_output_type"):
            if key in data:  # checked here, not when the board has already been programmed
                from .fixed_point import Codec  # numpy only, as everything here

                try:
                    Codec.parse(data[key])
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {key}: {exc}; {cls.FIX}") from None
        manifest.extra = {**dict(data.get("extra") or {}), **{k: v for k, v in data.items() if k not in names}}
        return manifest

    @classmethod
    def read_file(cls, path: Path) -> Any:
        """Read and check a manifest: size and nesting bounded before the JSON parser sees it."""
        data = read_json(path, cls.FIX, max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_JSON_DEPTH)
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is damaged (not a JSON object); {cls.FIX}")
        return cls.from_dict(data, str(path))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        loaded_hwh = self.bitfile.with_suffix(".hwh")  # what pynq's Overlay(NAME.bit) reads, whatever is named
        if loaded_hwh != self.hwhfile:
            raise BoardError(f"manifest.json names {self.manifest.hwhfile} but pynq loads {loaded_hwh.name} with "
                             f"{self.bitfile.name}: refused; rebuild the bundle")
        for path, expected in ((self.bitfile, self.manifest.bit_sha256), (loaded_hwh, self.manifest.hwh_sha256)):
            actual = sha256_file(path)
            if actual != expected:
                raise BoardError(f"{path.name} does not match manifest.json (sha256 {actual[:12]}… != "
                                 f"{str(expected)[:12]}…): the bundle is corrupt or was edited; rebuild or re-copy it")
