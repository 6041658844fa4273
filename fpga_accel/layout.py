"""Where everything of a project lands: every path under hls_projects/NAME/ (the vitis build's too), of a
flow run, a bundle (bitstreams/NAME/) and a sweep comes from here (tests/test_layout_names.py checks that
no other module writes these names).

Light on purpose (pathlib + json): the board runtime reads projects and bundles through it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO, Callable, ClassVar, Dict, Iterator, List, Optional, Union

from .errors import ConfigError

log = logging.getLogger(__name__)

META_FILE = "fpga_accel.json"
"""Written by the convert stage next to hls4ml's files: shapes, precisions, settings, hashes."""
HLS4ML_CONFIG = "hls4ml_config.yml"
"""hls4ml's record of a conversion, in the project folder."""
PROJECT_TCL = "project.tcl"
"""hls4ml's Tcl variables of a project (its part among them), in the project folder."""
BUILD_TCL = "build_prj.tcl"
"""hls4ml's Vivado HLS script, run in the project folder (vivado-hls flow)."""
DESIGN_TCL = "design.tcl"
"""hls4ml's block design script, run in the project folder (vivado-hls flow)."""
MANIFEST = "manifest.json"
"""A bundle's record (``runtime.manifest.Manifest``), in bitstreams/NAME/."""
TEST_VECTORS = "test_vectors.npz"
"""A bundle's inputs and their QKeras outputs for the board's self-test."""
VIVADO_RUNS = Path("project_1.runs") / "impl_1"
"""Where Vivado puts the implementation run of a project's block design (both build flows)."""


@dataclass(frozen=True)
class ProjectLayout:
    root: Path
    project_name: str

    @classmethod
    def open(cls, root: str | Path) -> "ProjectLayout":
        root = Path(root)
        return cls(root=root, project_name=ProjectMeta.read(root).project_name)

    @classmethod
    def unnamed(cls, root: str | Path) -> "ProjectLayout":
        """Any hls4ml project whose project name is not known yet (someone else's, before its top-level
        ``.cpp`` is found): only the paths that do not hold the name (``meta_file``, ``firmware``,
        ``weights``, ``defines_h``, ``parameters_h``) mean anything."""
        return cls(root=Path(root), project_name="")

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
    def weights(self) -> Path:
        """hls4ml's weight files (``<layer weight>.txt``), which the csim library loads at run time."""
        return self.firmware / "weights"

    def weight_files(self, variable: str) -> tuple[Path, Path]:
        """hls4ml's two files of one weight variable (``w2``): the text csim loads, the header synthesis
        includes."""
        return self.weights / f"{variable}.txt", self.weights / f"{variable}.h"

    @property
    def top_cpp(self) -> Path:
        return self.firmware / f"{self.project_name}.cpp"

    @property
    def top_h(self) -> Path:
        return self.firmware / f"{self.project_name}.h"

    @property
    def defines_h(self) -> Path:
        """hls4ml's typedefs of every layer's types."""
        return self.firmware / "defines.h"

    @property
    def parameters_h(self) -> Path:
        """hls4ml's layer config structs (and the weights' includes)."""
        return self.firmware / "parameters.h"

    @property
    def axi_cpp(self) -> Path:
        """hls4ml's AXI-stream wrapper: what the PYNQ DMA talks to."""
        return self.firmware / f"{self.project_name}_axi.cpp"

    @property
    def axi_h(self) -> Path:
        return self.firmware / f"{self.project_name}_axi.h"

    @property
    def bridge_cpp(self) -> Path:
        return self.root / f"{self.project_name}_bridge.cpp"

    @property
    def keras_model(self) -> Path:
        """The (QKeras) model the design was converted from, saved with its custom objects."""
        return self.root / "reference_model.h5"

    @property
    def hls4ml_config(self) -> Path:
        """The hls4ml configuration convert wrote (``Design.hls_model`` rebuilds hls4ml's model from it)."""
        return self.root / HLS4ML_CONFIG

    @property
    def rebuilt(self) -> Path:
        """``Design.hls_model``'s own output folder: its ``write()`` never overwrites the project."""
        return self.root / "hls4ml_rebuilt"

    @property
    def build_tcl(self) -> Path:
        return self.root / BUILD_TCL

    @property
    def project_tcl(self) -> Path:
        return self.root / PROJECT_TCL

    @property
    def design_tcl(self) -> Path:
        return self.root / DESIGN_TCL

    @classmethod
    def under(cls, output_dir: "str | Path", name: str) -> "ProjectLayout":
        """Where a project named ``name`` goes: ``output_dir/name`` (convert, fit, the flow)."""
        return cls(Path(output_dir) / name, name)

    @property
    def build_log(self) -> Path:
        """Vendor tool output of ``build`` (both flows)."""
        return self.root / "build.log"

    @property
    def flat_utilization(self) -> Path:
        """The flat utilisation report Vivado is asked for beside hls4ml's hierarchical one."""
        return self.root / "vivado_utilization.rpt"

    @property
    def hls_solution(self) -> Path:
        """Vivado HLS's solution of hls4ml's build_prj.tcl (vivado-hls flow)."""
        return self.root / f"{self.project_name}_prj" / "solution1"

    @property
    def vivado_accelerator(self) -> Path:
        """hls4ml's design.tcl Vivado project (vivado-hls flow)."""
        return self.root / f"{self.project_name}_vivado_accelerator"

    @property
    def vivado_runs(self) -> Path:
        """Vivado's implementation run of that project's block design."""
        return self.vivado_accelerator / VIVADO_RUNS


@dataclass(frozen=True)
class VitisLayout:
    """Every path of the vitis build flow (``build_flows/vitis.py``) under hls_projects/NAME/."""

    root: Path
    project_name: str

    @property
    def folder(self) -> Path:
        return self.root / "vitis"

    @property
    def wrapper(self) -> Path:
        return self.folder / f"{self.project_name}_axis.cpp"

    @property
    def testbench(self) -> Path:
        return self.folder / f"{self.project_name}_axis_tb.cpp"

    @property
    def hls_tcl(self) -> Path:
        return self.folder / "build_hls.tcl"

    @property
    def options_tcl(self) -> Path:
        return self.folder / "hls_options.tcl"

    @property
    def design_tcl(self) -> Path:
        return self.folder / "design.tcl"

    @property
    def hls_project(self) -> Path:
        return self.root / f"{self.project_name}_vitis_prj"

    @property
    def vivado_project(self) -> Path:
        return self.root / f"{self.project_name}_vitis_vivado"

    @property
    def hls_solution(self) -> Path:
        """The HLS tool's solution of build_hls.tcl."""
        return self.hls_project / "solution1"

    @property
    def vivado_runs(self) -> Path:
        """Vivado's implementation run of the block design."""
        return self.vivado_project / VIVADO_RUNS

    @property
    def flat_utilization(self) -> Path:
        return ProjectLayout(self.root, self.project_name).flat_utilization


@dataclass(frozen=True)
class FlowLayout:
    """Where ``fpga-accel flow`` keeps its own files: ``<output_dir>/<name>.flow/`` beside the project,
    and the bundle under the bitstreams folder."""

    output_dir: Path
    name: str
    bitstreams: Path

    @property
    def work_dir(self) -> Path:
        return Path(self.output_dir) / f"{self.name}.flow"

    @property
    def record_file(self) -> Path:
        return self.work_dir / "flow.json"

    @property
    def quantized_model(self) -> Path:
        return self.work_dir / "quantized.h5"

    @property
    def csim_report(self) -> Path:
        return self.work_dir / "csim_report.json"

    @property
    def inputs(self) -> Path:
        """Copies of a run's own inputs (the demo's trained model and data)."""
        return self.work_dir / "inputs"

    @property
    def project(self) -> ProjectLayout:
        return ProjectLayout.under(self.output_dir, self.name)

    @property
    def bundle(self) -> Path:
        return Path(self.bitstreams) / self.name

    @property
    def bundle_manifest(self) -> Path:
        return self.bundle / MANIFEST


@dataclass(frozen=True)
class SweepLayout:
    """Where a sweep keeps its files: ``<output_dir>/<name>/`` with one folder per point under ``points/``
    (each a flow's output folder, plus the point's parameters and result) and the table and figure of all."""

    root: Path

    def point(self, point_id: str) -> Path:
        return Path(self.root) / "points" / point_id

    @staticmethod
    def point_params(point_dir: Path) -> Path:
        return Path(point_dir) / "params.json"

    @staticmethod
    def point_result(point_dir: Path) -> Path:
        """Written last: a point is finished exactly when this file exists."""
        return Path(point_dir) / "result.json"

    @property
    def results_csv(self) -> Path:
        return Path(self.root) / "results.csv"

    @property
    def pareto_png(self) -> Path:
        return Path(self.root) / "pareto.png"


def refuse_overwrite(path: Path, force: bool) -> None:
    """Nothing is overwritten without --force: an existing file, or a folder that is not empty."""
    path = Path(path)
    if force or not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    what = "exists and is not empty" if path.is_dir() else "exists"
    raise ConfigError(f"{path} {what}; pass --force to overwrite it")


def check_writable(path: Path, folder: bool = False) -> None:
    """Before the long work: ``path`` (a file, or with ``folder`` a folder) can be written — it is not a
    folder (or a file) already, and the nearest existing folder above it accepts new files."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise ConfigError(f"cannot write {path}: it is a {'file' if folder else 'folder'}")
    parent = path if folder and path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: no permission to write in {parent}")


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target``: the old one is moved aside first and removed only
    once ``new`` is in place, so at every instant ``target`` is the old folder or the new one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_atomic(path: Path, content: "bytes | str | Callable[[BinaryIO], None]") -> Path:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed into place when complete.
    An error or interruption (Ctrl-C, SIGTERM) leaves the previous file as it was and no temporary."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with open(tmp, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a file size limit, a folder that cannot be written
        reason = exc.strerror or f"the disk is full or a file size limit was reached ({exc})"
        kept = " (the previous file is unchanged)" if path.exists() else ""
        raise ConfigError(f"cannot write {path}: {reason}{kept}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@contextlib.contextmanager
def sole_writer(target: Path, step: str, force: bool) -> Iterator[None]:
    """Serialise writers of one folder: a second ``step`` of ``target`` at the same time is refused
    instead of interleaving with the first. The lock (``.NAME.lock`` beside it) dies with its process, so
    a writer killed by SIGKILL or power loss leaves no stale lock; what it left around ``target`` is
    cleaned up here before the next write: a folder moved aside but not yet replaced is put back, its
    staging folders (``.NAME.STEP-*``) and old copies are removed. Then, and again under the lock, an
    existing ``target`` is only replaced with ``force``."""
    import fcntl

    lock_path = target.with_name(f".{target.name}.lock")
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another {step} is writing {target} right now; wait for it to finish") from None
        try:
            aside = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
            if aside and not target.exists():
                log.warning("an earlier %s of %s was cut off while replacing it: the previous one is put back",
                            step, target)
                aside.pop().rename(target)
            for leftover in aside + list(target.parent.glob(f".{target.name}.{step}-*")):
                shutil.rmtree(leftover, ignore_errors=True)
            refuse_overwrite(target, force)
            yield
        finally:
            lock_path.unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


MAX_JSON_DEPTH = 64
"""Nesting a record file of ours may have; deeper is damage (or an attack on the parser's recursion)."""
MAX_JSON_BYTES = 64 << 20


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text``, counted without parsing it (brackets
    inside strings do not count): a nesting bomb is refused before Python's recursive parser meets it."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def read_json(path: Path, fix: str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The one reader of our JSON files (fpga_accel.json, flow.json, sweep results, a bundle's manifest):
    damaged, too large, too deeply nested or unreadable is one ConfigError naming the file and ``fix``.
    Size and nesting are bounded before the JSON parser sees the text."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise ConfigError(f"{path} is larger than {max_bytes} bytes: it is not one of ours; {fix}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is damaged (not UTF-8: {exc.reason}); {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a file; {fix}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if json_depth(text) > max_depth:
        raise ConfigError(f"{path} is damaged (nested too deeply): JSON nested deeper than {max_depth} levels; {fix}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); {fix}") from None


MAX_VALUES = 1 << 26
"""Values per sample or per traced layer a record may claim (a shape is a buffer size: bounded)."""


def _is_shape(shape: Any) -> bool:
    if not isinstance(shape, list) or not shape or \
            not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        return False
    size = 1
    for d in shape:
        size *= d
    return size <= MAX_VALUES


def check_layers(layers: Any, source: str) -> None:
    """Per-layer entries of a record: names, classes, shapes and traced flags of the right types (what
    trace and compare read before any pointer into the library is followed)."""
    if not isinstance(layers, list) or not all(isinstance(e, dict) for e in layers):
        raise ConfigError(f"{source}: layers is not a list of layer entries; {ProjectMeta.FIX}")
    for i, entry in enumerate(layers):
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: layer {i} has no name; {ProjectMeta.FIX}")
        if "class" in entry and not isinstance(entry["class"], str):
            raise ConfigError(f"{source}: layer {name!r} class {entry['class']!r} is not text; {ProjectMeta.FIX}")
        if not isinstance(entry.get("traced", False), bool):
            raise ConfigError(f"{source}: layer {name!r} traced {entry['traced']!r} is not true or false; "
                              f"{ProjectMeta.FIX}")
        if "shape" in entry and not _is_shape(entry["shape"]):
            raise ConfigError(f"{source}: layer {name!r} shape {entry['shape']!r} is not a list of positive "
                              f"integers (at most {MAX_VALUES} values); {ProjectMeta.FIX}")
        if entry.get("traced") and "shape" not in entry:
            raise ConfigError(f"{source}: layer {name!r} is traced but has no shape; {ProjectMeta.FIX}")


def check_identity(data: Dict[str, Any], source: str) -> None:
    """Names that become C identifiers and paths, and shapes that size buffers, are what they claim
    (a project record or a bundle manifest read back from disk is never trusted as it is)."""
    for key in ("name", "project_name"):
        if not isinstance(data.get(key), str) or not _CNAME.match(data[key]):
            raise ConfigError(f"{source}: {key} {data.get(key)!r} is not a C identifier")
    for key in ("input_shape", "output_shape"):
        shape = data.get(key)
        if not _is_shape(shape):
            raise ConfigError(f"{source}: {key} {shape!r} is not a list of positive integers")


META_FORMAT = 2
"""Version of fpga_accel.json: 2 adds the fidelity verdict and uncovered layers (format 1 still loads)."""
_CNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _size(shape: List[int]) -> int:
    total = 1
    for d in shape:
        total *= int(d)
    return total


def check_tensors(value: Any, key: str, source: str, fix: str) -> None:
    """A record's ``inputs``/``outputs`` table: a list of {"name": text, "shape": [whole numbers >= 1]}."""
    if not isinstance(value, list):
        raise ConfigError(f"{source}: {key} {value!r} is not a list; {fix}")
    for i, entry in enumerate(value):
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(shape, list) and shape
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
            raise ConfigError(f"{source}: {key}[{i}] {entry!r} is not {{'name': text, 'shape': [whole numbers >= 1]}}; "
                              f"{fix}")


def stream_length(tensors: List[Dict[str, Any]]) -> int:
    """Values per sample on a stream carrying ``tensors`` one after another (see runtime/streams.py)."""
    return sum(_size(t["shape"]) for t in tensors)


@dataclass
class ProjectMeta:
    """fpga_accel.json — what convert recorded about a project: one reader (:meth:`read`, validating)
    and one writer (:meth:`write`, atomic), used by the host and, numpy-free, by the board runtime."""

    name: str
    project_name: str
    board: str
    part: str
    board_part: str
    clock_period: float
    io_type: str
    strategy: str
    reuse_factor: Union[int, str]
    default_precision: str
    input_precision: str
    output_precision: str
    softmax: str
    input_shape: List[int]
    output_shape: List[int]
    axi_input_type: str = "float32"
    axi_output_type: str = "float32"
    layers: List[Dict[str, Any]] = field(default_factory=list)
    """Per hls4ml layer: name, class, shape, precision, traced, and what the estimator needs."""
    model_sha256: str = ""
    config_sha256: str = ""
    hls4ml_version: str = ""
    created: str = ""
    uncovered_layers: List[str] = field(default_factory=list)
    """Layers no exact type rule covered (``exact_types``)."""
    fidelity: Optional[Dict[str, Any]] = None
    """convert's own check of csim against the Keras model."""
    estimate: Optional[Dict[str, Any]] = None
    """The flow's estimate step: totals, per-layer rows and the verdict for the board."""
    build: Optional[Dict[str, Any]] = None
    """The vendor build's reports (C-synthesis, Vivado utilisation and timing) and tool versions."""
    selftest: Optional[Dict[str, Any]] = None
    """The board's last self-test of this design (``deploy`` records it): board, bundle, time, passed and
    the board's ``SelfTestResult`` as a dict. A failed self-test is recorded too."""
    inputs: List[Dict[str, Any]] = field(default_factory=list)
    """A multi-input/output design's inputs in stream order (Keras' ``model.inputs``): name and shape
    each; with more than one, ``input_shape`` is the stream's length per sample. Empty: a single-input,
    single-output design (and every older file)."""
    outputs: List[Dict[str, Any]] = field(default_factory=list)
    """A multi-output design's outputs in stream order (``model.outputs``), as ``inputs``."""
    format: int = META_FORMAT

    FIX: ClassVar[str] = "re-convert the project (`fpga-accel convert --force`)"
    """What the user does about a file of this kind that cannot be read."""

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = META_FILE) -> "ProjectMeta":
        fmt = data.get("format")
        if fmt not in (1, META_FORMAT):
            raise ConfigError(f"{source} has format {fmt!r}, this fpga_accel reads {META_FORMAT}: {cls.FIX}")
        names = [f.name for f in fields(cls)]
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
                   and f.name not in data]
        if missing:
            raise ConfigError(f"{source} lacks {missing}: it is truncated or edited; {cls.FIX}")
        meta = cls(**{k: v for k, v in data.items() if k in names})
        meta.check(source)
        return meta

    def check(self, source: str = META_FILE) -> None:
        data = self.to_dict()
        check_identity(data, source)
        check_layers(data["layers"], source)
        texts = ("board", "part", "board_part", "io_type", "strategy", "default_precision", "input_precision",
                 "output_precision", "softmax", "axi_input_type", "axi_output_type", "model_sha256",
                 "config_sha256", "hls4ml_version", "created")
        for key in texts:
            if not isinstance(data[key], str):
                raise ConfigError(f"{source}: {key} {data[key]!r} is not text; {self.FIX}")
        for key, choices in (("io_type", ("io_parallel", "io_stream")), ("strategy", ("latency", "resource")),
                             ("softmax", ("design", "host"))):
            if data[key].lower() not in choices:
                raise ConfigError(f"{source}: {key} {data[key]!r} is not one of {', '.join(choices)}; {self.FIX}")
        period = data["clock_period"]
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not 0 < period < 1000:
            raise ConfigError(f"{source}: clock_period {period!r} is not a period in ns; {self.FIX}")
        reuse = data["reuse_factor"]
        if not (reuse == "auto" or (isinstance(reuse, int) and not isinstance(reuse, bool) and reuse >= 1)):
            raise ConfigError(f"{source}: reuse_factor {reuse!r} is not a positive integer or 'auto'; {self.FIX}")
        if not isinstance(data["uncovered_layers"], list):
            raise ConfigError(f"{source}: uncovered_layers {data['uncovered_layers']!r} is not a list; {self.FIX}")
        for key in ("fidelity", "estimate", "build", "selftest"):
            if data[key] is not None and not isinstance(data[key], dict):
                raise ConfigError(f"{source}: {key} {data[key]!r} is not a JSON object; {self.FIX}")
        for key, shape in (("inputs", "input_shape"), ("outputs", "output_shape")):
            check_tensors(data[key], key, source, self.FIX)
            if data[key] and stream_length(data[key]) != _size(data[shape]):
                raise ConfigError(f"{source}: {key} add up to {stream_length(data[key])} values per sample, "
                                  f"{shape} {data[shape]} says {_size(data[shape])}; {self.FIX}")

    RESULTS: ClassVar[tuple] = ("estimate", "build", "selftest")
    """Sections later steps add; not part of what the design is."""

    def design_sha256(self) -> str:
        """What the design is (everything convert recorded): unchanged when estimate or build add their
        results, so steps that read the design are not re-run because of them."""
        import hashlib

        record = {k: v for k, v in self.to_dict().items() if k not in self.RESULTS
                  and not (k in ("inputs", "outputs") and not v)}  # unchanged for files older than them
        return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()

    @classmethod
    def read(cls, root: "str | Path") -> "ProjectMeta":
        path = Path(root) / META_FILE
        if not path.is_file():
            raise ConfigError(f"{root} is not an fpga_accel HLS project ({META_FILE} missing); create one with "
                              "`fpga-accel convert`")
        return cls.read_file(path)

    @classmethod
    def read_file(cls, path: Path) -> Any:
        """The one validating reader of this kind of file (damaged JSON, wrong types, unknown format)."""
        data = read_json(Path(path), cls.FIX)
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is damaged (not a JSON object); {cls.FIX}")
        return cls.from_dict(data, str(path))

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def write(self, root: "str | Path") -> None:
        """Written whole or not at all (temporary file, then rename)."""
        self.write_file(Path(root) / META_FILE)

    def write_file(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
