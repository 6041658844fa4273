"""One flow: the pipeline as named steps with one signature, run by one runner (FINN's builder shape).

Every step is ``step(project: FlowProject, progress: Progress) -> FlowProject``; their order is
:data:`STEPS`. The runner starts and stops at named steps (``fpga-accel flow project.yml --from csim
--to bundle``), records per step what ran, how long it took and its outcome in
``<output_dir>/<name>.flow/flow.json``, and skips a step whose inputs (files and settings, by sha256)
are the ones it last ran with and whose outputs are still there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .config import FLOW_SECTIONS, ConvertConfig, QuantizeConfig, load_project_file, quantize_config_from
from .errors import ConfigError, NotExactError
from .layout import META_FILE, FlowLayout, ProjectMeta, read_json, write_atomic
from .runtime.progress import Progress, Update, default_progress

log = logging.getLogger(__name__)

SUBSETS = {"host": ("quantize", "estimate"), "board": ("build", "deploy")}
"""Named ranges of steps: what runs without vendor tools, and what needs them (and a board)."""
DEFAULT_STOP = "bundle"
"""deploy reaches a board: it runs only when asked for (``--to deploy``) and configured."""
FLOW_KEYS = tuple(k for k in FLOW_SECTIONS if k != "quantize")
"""Project-file keys of the flow itself, beside ConvertConfig's keys, ``model`` and ``quantize:``."""



@dataclass(frozen=True)
class FlowConfig:
    """A project file parsed once: model and data, and the settings of every step."""

    model: Path
    convert: ConvertConfig
    quantize: Optional[QuantizeConfig] = None
    """None: the model is already quantized (QKeras) and is used as it is."""
    data: Optional[Path] = None
    """.npz with x (and y; x_test/y_test, else the last 20 % of x/y are the test set)."""
    test_samples: int = 500
    build_steps: Tuple[str, ...] = field(default_factory=lambda: _build_vocabulary()[1])
    """Default: ``stages.build.DEFAULT_STEPS``."""
    build_flow: Optional[str] = None
    """A name in ``stages.build.FLOWS`` (``vitis``, ``vivado-hls``, or one registered with
    ``register_build_flow``); None picks by the tools on PATH."""
    bitstreams: Path = Path("bitstreams")
    deploy: Optional[Mapping[str, Any]] = None
    """Keyword arguments of ``stages.deploy.Remote`` (host, user, identity, ...)."""
    custom_objects: Optional[str] = None
    """Module with the model's custom layer classes (see ``model_io.load_model``)."""
    require_exact: bool = True
    """The csim step fails (NotExactError) unless csim is bit-exact; a sweep records the figure instead."""

    @classmethod
    def from_file(cls, path: "str | Path", overrides: Optional[Mapping[str, Any]] = None) -> "FlowConfig":
        """Parse a project file; ``overrides`` (from CLI flags) win over its keys; relative paths in it
        are relative to its folder."""
        return cls.from_settings(load_project_file(path), Path(path).resolve().parent, str(path), overrides)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], base: Path, source: str,
                      overrides: Optional[Mapping[str, Any]] = None) -> "FlowConfig":
        """The one place project settings become typed sections (``source`` names them in errors)."""
        data = _relative_paths(dict(settings), base)
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        path = source
        model = data.pop("model", None)
        if not model:
            raise ConfigError(f"{path}: no `model:` (the float or QKeras model the flow starts from)")
        if not isinstance(model, (str, Path)):
            raise ConfigError(f"{path}: model {model!r} must be a file path")
        if "name" not in data:
            raise ConfigError(f"{path}: no project `name:`")
        quantize = data.pop("quantize", None)
        if quantize is not None and not isinstance(quantize, Mapping):
            raise ConfigError(f"{path}: quantize must be a section of settings (weight_bits: 6, ...), "
                              f"got {quantize!r}")
        flow = {k: data.pop(k) for k in FLOW_KEYS if k in data}
        custom_objects = data.pop("custom_objects", None)
        if custom_objects is not None and not isinstance(custom_objects, (str, Path)):
            raise ConfigError(f"{path}: custom_objects {custom_objects!r} must be a module name or a .py file")
        if flow.get("data") is not None and not isinstance(flow["data"], (str, Path)):
            raise ConfigError(f"{path}: data {flow['data']!r} must be a file path")
        build = _build_section(flow.get("build"), path)
        return cls(
            model=Path(model), convert=ConvertConfig(**data),
            quantize=quantize_config_from(quantize) if quantize is not None else None,
            data=Path(flow["data"]) if flow.get("data") else None,
            test_samples=_test_samples(flow.get("test_samples", 500), path),
            build_steps=build["steps"], build_flow=build.get("flow"),
            bitstreams=Path(build["bitstreams"]), deploy=_deploy_section(flow.get("deploy"), base, path),
            custom_objects=str(custom_objects) if custom_objects is not None else None)

    @property
    def name(self) -> str:
        return self.convert.name


MAX_TEST_SAMPLES = 10_000_000


def _relative(base: Path, value: Any) -> Any:
    """A path setting of a project file, relative to the file's folder (other types are left for the
    schema to refuse by name)."""
    if not isinstance(value, (str, Path)) or not str(value):
        return value
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _relative_paths(data: Dict[str, Any], base: Path) -> Dict[str, Any]:
    """Every path in a project file is relative to the file — model, data, custom_objects (a .py file),
    output_dir and build.bitstreams, their defaults included — never to the working folder, so a flow run
    from anywhere finds and writes the same files."""
    for key in ("model", "data"):
        if key in data:
            data[key] = _relative(base, data[key])
    custom = data.get("custom_objects")
    if isinstance(custom, str) and (custom.endswith(".py") or "/" in custom):
        data["custom_objects"] = str(_relative(base, custom))
    data["output_dir"] = _relative(base, data.get("output_dir", ConvertConfig.output_dir))
    build = data.get("build")
    if build is None or isinstance(build, Mapping):
        build = dict(build or {})
        build["bitstreams"] = _relative(base, build.get("bitstreams", "bitstreams"))
        data["build"] = build
    return data


def _test_samples(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TEST_SAMPLES:
        raise ConfigError(f"{path}: test_samples must be a whole number from 1 to {MAX_TEST_SAMPLES}, got {value!r}")
    return value


def _build_vocabulary() -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """(build steps, default build steps, build flow names) from the build stage's tables: one place
    each (imported when a project's build settings are read, not when the flow module is)."""
    from .stages.build import DEFAULT_STEPS, FLOWS, STEPS as BUILD_STEPS

    return BUILD_STEPS, DEFAULT_STEPS, tuple(FLOWS)


def _build_section(build: Any, path: str) -> Dict[str, Any]:
    if build is None:
        build = {}
    if not isinstance(build, Mapping):
        raise ConfigError(f"{path}: build must be a section (steps:, flow:, bitstreams:), got {build!r}")
    unknown = set(build) - {"steps", "bitstreams", "flow"}
    if unknown:
        raise ConfigError(f"{path}: unknown build keys {sorted(map(str, unknown))}; known: ['bitstreams', 'flow', 'steps']")
    build_steps, default_steps, flows = _build_vocabulary()
    if build.get("flow") not in (None, *flows):
        raise ConfigError(f"{path}: build flow {build['flow']!r} is not {' or '.join(map(repr, flows))}")
    steps = build.get("steps", list(default_steps))
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",")]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise ConfigError(f"{path}: build steps must be a list of step names ({', '.join(build_steps)}), "
                          f"got {build.get('steps')!r}")
    bad = [s for s in steps if s not in build_steps]
    if bad:
        raise ConfigError(f"{path}: unknown build step {bad[0]!r}; the steps are {', '.join(build_steps)}")
    bitstreams = build.get("bitstreams", "bitstreams")
    if not isinstance(bitstreams, (str, Path)) or not str(bitstreams):
        raise ConfigError(f"{path}: build bitstreams {bitstreams!r} must be a folder path")
    return {"steps": tuple(steps), "flow": build.get("flow"), "bitstreams": bitstreams}


DEPLOY_KEYS = {"host": str, "user": str, "port": int, "identity": str, "ssh_options": list, "python": str,
               "remote_dir": str}
"""The deploy section's keys (``stages.deploy.Remote``'s fields) and their YAML types."""


def _deploy_section(deploy: Any, base: Path, path: str) -> Optional[Dict[str, Any]]:
    if deploy is None:
        return None
    if not isinstance(deploy, Mapping):
        raise ConfigError(f"{path}: deploy must be a section (host:, user:, ...), got {deploy!r}")
    unknown = sorted(str(k) for k in set(deploy) - set(DEPLOY_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown deploy keys {unknown}; known: {sorted(DEPLOY_KEYS)}")
    if "host" not in deploy:
        raise ConfigError(f"{path}: deploy needs a `host:` (the board's address)")
    for key, kind in DEPLOY_KEYS.items():
        value = deploy.get(key)
        if key in deploy and (isinstance(value, bool) or not isinstance(value, kind) or value == ""):
            what = {str: "text", int: "a whole number", list: "a list of ssh options"}[kind]
            raise ConfigError(f"{path}: deploy {key} must be {what}, got {value!r}")
    if "port" in deploy and not 1 <= deploy["port"] <= 65535:
        raise ConfigError(f"{path}: deploy port must be 1 to 65535, got {deploy['port']!r}")
    if not all(isinstance(o, str) for o in deploy.get("ssh_options", [])):
        raise ConfigError(f"{path}: deploy ssh_options must be a list of text, got {deploy['ssh_options']!r}")
    section = dict(deploy)
    if "identity" in section:
        section["identity"] = _relative(base, section["identity"])
    if "ssh_options" in section:
        section["ssh_options"] = tuple(section["ssh_options"])
    return section


@dataclass
class StepRecord:
    step: str
    status: str
    """ran, skipped (inputs unchanged), not configured, failed."""
    seconds: float = 0.0
    inputs: str = ""
    """sha256 over the step's settings and input files."""
    outputs: Dict[str, str] = field(default_factory=dict)
    detail: str = ""


@dataclass
class FlowProject:
    """The flow's state: its settings, where every output lands, and what each step last did."""

    config: FlowConfig
    records: Dict[str, StepRecord] = field(default_factory=dict)
    jobs: Optional[int] = None
    """g++ processes for csim builds: the cores this flow has to itself (None: the default)."""
    _data: Optional[Tuple[Any, Any, Any, Any]] = field(default=None, repr=False, compare=False)
    estimate: Optional[Any] = field(default=None, repr=False, compare=False)
    """The estimate step's ``Estimate`` of this run (what its progress line said), for callers to show."""
    notes: Dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """A step's one-line account of what it decided (e.g. the settings ``fit`` chose), kept in flow.json."""
    steps: Tuple[Any, ...] = field(default=(), repr=False, compare=False)
    """The steps of this run (:class:`Step`); empty: :data:`STEP_TABLE`."""
    calibration: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    """Inputs that size the convert step's types; None: the data file's ``x`` (``convert --calibration``
    sets it)."""
    _models: Dict[Tuple[str, int, int], Any] = field(default_factory=dict, repr=False, compare=False)
    engine: Optional[str] = field(default=None, repr=False, compare=False)
    """The csim step's engine (``Design.predict``); None: by batch size. "emulator" here falls back to csim
    for a design the emulator does not cover (``engines.emulator_else_csim``; a sweep asks for it to skip
    the compile)."""

    @property
    def step_table(self) -> Tuple["Step", ...]:
        return tuple(self.steps) or STEP_TABLE

    def rows(self) -> List[Dict[str, Any]]:
        """What each step of this flow last did, in the pipeline's order (steps not yet run left out)."""
        return [{"step": step.name, "status": r.status, "seconds": round(r.seconds, 1), "detail": r.detail}
                for step in self.step_table for r in [self.records.get(step.name)] if r is not None]

    def to_dataframe(self) -> Any:
        from .runtime.tables import to_dataframe

        return to_dataframe(self.rows(), ("step", "status", "seconds", "detail"))

    def format(self) -> str:
        """One line per step: what ``fpga-accel flow`` prints."""
        return "\n".join(f"{r['step']:11s} {r['status']:14s} {r['seconds']:7.1f} s  {r['detail']}".rstrip()
                         for r in self.rows())

    __str__ = format

    def _repr_html_(self) -> str:
        from .runtime.tables import html_report

        failed = [r["step"] for r in self.rows() if r["status"] == "failed"]
        return html_report(f"flow {self.config.name}", [("project", str(self.layout.project.root))], self.rows(),
                           ("step", "status", "seconds", "detail"),
                           verdict=(f"failed at {failed[0]}", False) if failed else None)

    def step(self, name: str) -> "Step":
        for step in self.step_table:
            if step.name == name:
                return step
        raise ConfigError(f"unknown step {name!r}; the steps are {', '.join(s.name for s in self.step_table)}")

    @property
    def layout(self) -> FlowLayout:
        """Every path of the flow (``layout.FlowLayout``)."""
        return FlowLayout(self.config.convert.output_dir, self.config.name, self.config.bitstreams)

    @property
    def work_dir(self) -> Path:
        return self.layout.work_dir

    @property
    def record_file(self) -> Path:
        return self.layout.record_file

    @property
    def quantized_model(self) -> Path:
        return self.layout.quantized_model if self.config.quantize is not None else self.config.model

    @property
    def hls_project(self) -> Path:
        return self.layout.project.root

    @property
    def bundle(self) -> Path:
        return self.layout.bundle

    @classmethod
    def open(cls, config: FlowConfig, jobs: Optional[int] = None,
             steps: Optional[Sequence[Any]] = None, engine: Optional[str] = None) -> "FlowProject":
        project = cls(config, jobs=jobs, steps=step_list(steps) if steps is not None else (), engine=engine)
        if project.record_file.exists():
            project.records = read_records(project.record_file)
        return project

    def save(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        order = [s.name for s in self.step_table]
        names = order + sorted(set(self.records) - set(order))  # records of steps not in this run are kept
        steps = [dataclasses.asdict(self.records[s]) for s in names if s in self.records]
        write_atomic(self.record_file, json.dumps({"format": 1, "name": self.config.name, "steps": steps}, indent=2) + "\n")

    # ---- data the steps share ------------------------------------------------------------------

    def load(self, path: Path) -> Any:
        """The Keras model in ``path``, loaded once per run while the file stays as it was (convert, csim and
        bundle all read the quantized model; a step that rewrites the file gets the new one)."""
        from .model_io import load_model

        try:
            stat = Path(path).stat()
        except OSError:
            return load_model(path, self.config.custom_objects)  # its error says what is missing
        key = self._model_key(path, stat)
        if key not in self._models:
            self._models[key] = load_model(path, self.config.custom_objects)
        return self._models[key]

    def loaded(self, path: Path, model: Any) -> None:
        """``model`` is what ``path`` now holds (a step just saved it there): later steps of this run take
        it instead of reading the file back — in a sweep, reloading each point's quantized model (QKeras
        rebuilding every layer from its config) was ~15 % of a point's CPU time with the emulator."""
        self._models[self._model_key(path, Path(path).stat())] = model

    @staticmethod
    def _model_key(path: Path, stat: os.stat_result) -> Tuple[str, int, int]:
        return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size

    def train_test(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
        """(x, y, x_test, y_test) from the data file, read once per run (several steps use it)."""
        if self._data is None:
            self._data = self._read_data()
        return self._data

    def _read_data(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
        if self.config.data is None:
            return None, None, None, None
        from .model_io import load_xy, read_arrays

        if self.config.data.suffix != ".npz":
            x, _ = load_xy(self.config.data)
            return x, None, x[-self.config.test_samples:], None
        data = read_arrays(self.config.data, ("x", "y", "x_test", "y_test"))
        x, y = data["x"].astype(np.float32), data.get("y")
        if "x_test" in data:
            xt, yt = data["x_test"].astype(np.float32), data.get("y_test")
        else:
            split = int(len(x) * 0.8)
            x, xt = x[:split], x[split:]
            y, yt = (y[:split], y[split:]) if y is not None else (None, None)
        n = self.config.test_samples
        return x, y, xt[:n], (yt[:n] if yt is not None else None)


_RECORD_FIELDS = {"step": str, "status": str, "seconds": (int, float), "inputs": str, "outputs": dict, "detail": str}


def read_records(path: Path) -> Dict[str, StepRecord]:
    """flow.json's one reader: what each step last did, every field type-checked; anything else is
    damage, and deleting the file (every step runs again) is the fix."""
    fix = "delete it to run every step again"
    raw = read_json(path, fix)
    steps = raw.get("steps") if isinstance(raw, dict) else None
    if not isinstance(steps, list):
        raise ConfigError(f"{path} is damaged (not a flow record with a list of steps); {fix}")
    records: Dict[str, StepRecord] = {}
    for entry in steps:
        if not isinstance(entry, dict) or set(entry) - set(_RECORD_FIELDS) or not {"step", "status"} <= set(entry):
            raise ConfigError(f"{path} is damaged (a step entry {str(entry)[:60]!r} is not a step record); {fix}")
        for key, kind in _RECORD_FIELDS.items():
            if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], kind)):
                raise ConfigError(f"{path} is damaged (step {str(entry.get('step'))[:30]!r}: {key} "
                                  f"{str(entry[key])[:30]!r} has the wrong type); {fix}")
        if not _STEP_NAME.match(entry["step"]) or not all(isinstance(v, str) for v in entry.get("outputs", {}).values()):
            raise ConfigError(f"{path} is damaged (unknown step {entry['step'][:30]!r} or outputs); {fix}")
        records[entry["step"]] = StepRecord(**entry)
    return records


# ---- the steps ------------------------------------------------------------------------------------


def step_quantize(project: FlowProject, progress: Progress) -> FlowProject:
    from .model_io import save_model
    from .stages.quantize import quantize

    x, y, _, _ = project.train_test()
    qmodel = quantize(project.load(project.config.model), project.config.quantize, x, y)
    project.loaded(save_model(qmodel, project.quantized_model, force=True), qmodel)
    return project


def step_convert(project: FlowProject, progress: Progress) -> FlowProject:
    from .stages.convert import convert

    x = project.calibration if project.calibration is not None else project.train_test()[0]
    design = convert(project.load(project.quantized_model), project.config.convert, calibration=x, force=True,
                     jobs=project.jobs, progress=progress)
    if project.config.convert.fit:
        chosen = ", ".join(f"{l['name']} {l['setting'].get('strategy', '?')}/RF {l['setting'].get('reuse_factor', '?')}"
                           for l in design.meta.layers if l.get("setting", {}).get("source") == "fit")
        project.notes["convert"] = f"fit chose ({design.meta.io_type}): {chosen}"
        progress(Update(f"  {project.notes['convert']}", step="convert"))
    fidelity = design.meta.fidelity or {}
    if fidelity:
        progress(Update(f"  convert check: bit-exact {fidelity['bit_exact']:.2%}, argmax {fidelity['argmax_agreement']:.2%}",
                        step="convert"))
    return project


def step_csim(project: FlowProject, progress: Progress) -> FlowProject:
    from .design import Design
    from .engines import emulator_else_csim
    from .stages.csim import csim

    _, _, xt, yt = project.train_test()
    model = project.load(project.quantized_model)
    if xt is None:
        from .keras_compat import random_model_inputs

        xt, _ = random_model_inputs(model, project.config.test_samples)
    design = Design(project.hls_project, jobs=project.jobs)
    report = emulator_else_csim(lambda engine: csim(design, xt, model, yt, engine=engine, progress=progress).report,
                                project.engine, design.name)
    assert report is not None
    write_atomic(project.layout.csim_report, json.dumps(report.to_dict(), indent=2) + "\n")
    progress(Update("  " + report.format().replace("\n", "\n  "), step="csim"))
    if project.config.require_exact and not report.passed:
        raise NotExactError(f"csim is not bit-exact ({report.bit_exact:.2%} of {report.n_samples} samples)")
    return project


def step_estimate(project: FlowProject, progress: Progress) -> FlowProject:
    from .analysis.estimate import estimate
    from .design import Design

    design = Design(project.hls_project)
    est = estimate(design, margin=project.config.convert.margin)
    project.estimate = est
    design.meta.estimate = est.to_dict()
    design.meta.write(design.root)
    progress(Update(f"  estimate: {est.verdict} on the {project.config.convert.board}",
                    step="estimate"))
    return project


def step_build(project: FlowProject, progress: Progress) -> FlowProject:
    from .design import Design
    from .stages.build import build

    build(Design(project.hls_project), project.config.build_steps, progress=progress, flow=project.config.build_flow)
    return project


def step_bundle(project: FlowProject, progress: Progress) -> FlowProject:
    from .design import Design
    from .stages.build import outputs
    from .stages.bundle import make_bundle

    design = Design(project.hls_project)
    paths = outputs(design)
    _, _, xt, yt = project.train_test()
    make_bundle(design, paths["bit"], paths["hwh"], project.config.bitstreams,
                model=project.load(project.quantized_model), x=xt, labels=yt, force=True)
    return project


def step_deploy(project: FlowProject, progress: Progress) -> FlowProject:
    from .stages.deploy import Remote, deploy

    result = deploy(project.bundle, Remote(**dict(project.config.deploy or {})), progress=progress,
                    project=project.hls_project)
    progress(Update(result.format(), step="deploy"))
    return project


# ---- what each step reads and writes (for skipping unchanged steps) --------------------------------


def _file_digest(path: Path) -> str:
    if path.name == META_FILE and path.is_file():  # the design it records, not the results added to it
        return ProjectMeta.read(path.parent).design_sha256()
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix not in (".so", ".o", ".log")):
            digest.update(str(f.relative_to(path)).encode())
            digest.update(_file_digest(f).encode())
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _bitstream(project: FlowProject) -> List[Path]:
    """The .bit and .hwh the build step leaves (where hls4ml's Vivado project puts them)."""
    if not (project.hls_project / META_FILE).is_file():
        return []
    from .design import Design
    from .stages.build import outputs

    paths = outputs(Design(project.hls_project))
    return [paths["bit"], paths["hwh"]]


def input_digest(project: FlowProject, step: "Step | str") -> str:
    """sha256 over a step's settings and the files it reads."""
    step = project.step(step) if isinstance(step, str) else step
    digest = hashlib.sha256(json.dumps({"settings": repr(step.settings(project))}, sort_keys=True).encode())
    for path in step.reads(project) if step.reads is not None else ():
        digest.update(f"{path}:{_file_digest(Path(path))}".encode())
    return digest.hexdigest()


def _outputs_intact(last: StepRecord, outs: List[Path]) -> bool:
    """A step's outputs are what it last wrote (a project that lost its weights is converted again)."""
    return all(last.outputs.get(str(p)) in (None, _file_digest(p)) for p in outs)


# ---- the step table: the one list of steps, what each does, reads and writes ----------------------

StepFunction = Callable[[FlowProject, Progress], FlowProject]
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def _no_files(project: FlowProject) -> List[Path]:
    return []


def _no_settings(project: FlowProject) -> Any:
    return None


def _always(project: FlowProject) -> "bool | str":
    return True


@dataclass(frozen=True)
class Step:
    """One step of the pipeline (FINN's builder steps), with what it reads and writes so the runner can
    skip it when nothing it depends on changed. Adding a step is one row of :data:`STEP_TABLE` (or, for
    one run, a ``Step`` or plain callable in ``run_flow(..., steps=[...])``)."""

    name: str
    run: StepFunction
    """``run(project, progress) -> project``: does the work (files under ``project``'s paths)."""
    reads: Optional[Callable[[FlowProject], Sequence[Path]]] = None
    """The files the step reads; None: not known, so the step runs every time it is selected."""
    writes: Callable[[FlowProject], Sequence[Path]] = _no_files
    """The files it writes: a skip needs them still there, as the step left them."""
    configured: Callable[[FlowProject], "bool | str"] = _always
    """True when the project file configures the step; else False or the reason it is left out."""
    settings: Callable[[FlowProject], Any] = _no_settings
    """The settings its result depends on (hashed, by ``repr``, with the files it reads)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _STEP_NAME.match(self.name):
            raise ConfigError(f"step name {self.name!r} must be a plain name (letters, digits, _ and -)")
        if not callable(self.run):
            raise ConfigError(f"step {self.name!r}: run must be callable(project, progress), got {self.run!r}")


def _quantize_configured(project: FlowProject) -> "bool | str":
    return project.config.quantize is not None or "no `quantize:` section: the model is used as it is"


def _deploy_configured(project: FlowProject) -> "bool | str":
    return bool(project.config.deploy) or "no `deploy:` section"


def _data(project: FlowProject) -> List[Path]:
    return [project.config.data] if project.config.data else []


def _record(project: FlowProject) -> Path:
    return project.layout.project.meta_file  # hashed as the design it records (see _file_digest)


def _hls_sources(project: FlowProject) -> List[Path]:
    return [project.layout.project.firmware, _record(project)]


STEP_TABLE: Tuple[Step, ...] = (
    Step("quantize", step_quantize, configured=_quantize_configured, settings=lambda p: p.config.quantize,
         reads=lambda p: [p.config.model, *_data(p)], writes=lambda p: [p.quantized_model]),
    Step("convert", step_convert, settings=lambda p: p.config.convert,
         reads=lambda p: [p.quantized_model, *_data(p)], writes=lambda p: [_record(p), p.layout.project.firmware]),
    Step("csim", step_csim, settings=lambda p: p.config.test_samples,
         reads=lambda p: [p.quantized_model, *_data(p), *_hls_sources(p)],
         writes=lambda p: [p.layout.csim_report]),
    Step("estimate", step_estimate, settings=lambda p: p.config.convert.margin,
         reads=lambda p: [_record(p)], writes=lambda p: [_record(p)]),
    Step("build", step_build, settings=lambda p: (p.config.build_steps, p.config.build_flow),
         reads=_hls_sources, writes=lambda p: [_record(p)]),
    Step("bundle", step_bundle, settings=lambda p: str(p.config.bitstreams),
         reads=lambda p: [_record(p), *_bitstream(p), p.quantized_model, *_data(p)],
         writes=lambda p: [p.layout.bundle_manifest]),
    Step("deploy", step_deploy, configured=_deploy_configured, settings=lambda p: p.config.deploy,
         reads=lambda p: [p.layout.bundle_manifest]),
)
"""The pipeline, in order: every consumer (the runner, ``--from/--to``, the CLI's commands, the sweep,
flow.json's reader) reads it."""
STEPS = tuple(step.name for step in STEP_TABLE)
"""The step names in order."""


def as_step(step: "Step | str | StepFunction") -> Step:
    """A step as the runner takes it: a :class:`Step`, the name of one in :data:`STEP_TABLE`, or a plain
    callable ``f(project, progress) -> project`` (its ``__name__`` without ``step_`` names it; it reads
    nothing the runner knows of, so it runs every time it is selected)."""
    if isinstance(step, Step):
        return step
    if isinstance(step, str):
        for known in STEP_TABLE:
            if known.name == step:
                return known
        raise ConfigError(f"unknown step {step!r}; the steps are {', '.join(STEPS)}")
    if callable(step):
        name = getattr(step, "__name__", type(step).__name__)
        return Step(name[len("step_"):] if name.startswith("step_") else name, step)
    raise ConfigError(f"a step is a Step, a step name or a callable(project, progress), got {step!r}")


def step_list(steps: Optional[Sequence["Step | str | StepFunction"]] = None) -> Tuple[Step, ...]:
    """``steps`` (default: :data:`STEP_TABLE`) as Steps, each name once."""
    table = STEP_TABLE if steps is None else tuple(as_step(s) for s in steps)
    names = [s.name for s in table]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice or not table:
        raise ConfigError(f"steps {twice} are given twice: each step runs once" if twice else "no steps to run")
    return table


# ---- the runner -----------------------------------------------------------------------------------


def select_steps(start: Optional[str] = None, stop: Optional[str] = None, subset: Optional[str] = None,
                 steps: Optional[Sequence[Any]] = None) -> List[str]:
    """The steps from ``start`` to ``stop`` (names in ``steps``, default :data:`STEPS`), or those of a named
    ``subset``."""
    names = [s.name for s in step_list(steps)]
    if subset is not None:
        if subset not in SUBSETS:
            raise ConfigError(f"unknown subset {subset!r}; the subsets are {', '.join(SUBSETS)}")
        if start or stop:
            raise ConfigError("give either a subset of steps or --from/--to, not both")
        start, stop = SUBSETS[subset]
    for value in (start, stop):
        if value is not None and value not in names:
            raise ConfigError(f"unknown step {value!r}; the steps are {', '.join(names)}")
    stop = stop or (DEFAULT_STOP if DEFAULT_STOP in names else names[-1])
    first = names.index(start) if start else 0
    last = names.index(stop)
    if first > last:
        raise ConfigError(f"--from {start} comes after --to {stop}")
    return names[first:last + 1]


def run_flow(config: FlowConfig, start: Optional[str] = None, stop: Optional[str] = None, force: bool = False,
             progress: Optional[Progress] = None, jobs: Optional[int] = None, subset: Optional[str] = None,
             steps: Optional[Sequence[Any]] = None, engine: Optional[str] = None) -> FlowProject:
    """Run the steps from ``start`` to ``stop``; a step whose inputs are unchanged since it last ran
    (and whose outputs exist) is skipped unless ``force``. Records are saved after every step. ``jobs``:
    cores the flow has to itself (g++ processes for csim builds). ``steps``: the pipeline of this run
    (default :data:`STEP_TABLE`): Steps, their names, or callables ``f(project, progress) -> project``,
    e.g. ``[*STEP_TABLE[:3], my_check, *STEP_TABLE[3:]]``. ``engine``: the csim step's (see
    :attr:`FlowProject.engine`)."""
    progress = progress or default_progress(log)
    project = FlowProject.open(config, jobs=jobs, steps=steps, engine=engine)
    selected = [project.step(name) for name in select_steps(start, stop, subset, project.step_table)]
    project.work_dir.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(selected, 1):
        project = run_step(project, step, progress, force, (i, len(selected)))
    return project


def run_step(project: FlowProject, step: "Step | str", progress: Optional[Progress] = None, force: bool = False,
             position: Tuple[int, int] = (1, 1)) -> FlowProject:
    """One step through the runner: left out when not configured, skipped when unchanged (unless
    ``force``), else run and recorded in flow.json."""
    progress = progress or default_progress(log)
    step = project.step(step) if isinstance(step, str) else step
    i, n, name = position[0], position[1], step.name
    configured = step.configured(project)
    if configured is not True:
        reason = configured if isinstance(configured, str) and configured else "not set up in the project file"
        project.records[name] = StepRecord(name, "not configured", detail=reason)
        progress(Update(f"{name}: not configured ({reason})", "skipped", i, n, name))
        project.save()
        return project
    digest = input_digest(project, step)
    outs = [Path(p) for p in step.writes(project)]
    last = project.records.get(name)
    if not force and step.reads is not None and last is not None and last.status in ("ran", "skipped") \
            and last.inputs == digest and all(p.exists() for p in outs) and _outputs_intact(last, outs):
        project.records[name] = dataclasses.replace(last, status="skipped", seconds=0.0,
                                                    detail="inputs unchanged since it last ran")
        progress(Update(f"{name}: skipped (inputs unchanged)", "skipped", i, n, name))
        project.save()
        return project
    progress(Update(f"{name} …", "start", i, n, name))
    t0 = time.perf_counter()
    try:
        result = step.run(project, progress)
    except BaseException as exc:
        project.records[name] = StepRecord(name, "failed", round(time.perf_counter() - t0, 2), digest,
                                           detail=" ".join(str(exc).split())[:500] or type(exc).__name__)
        project.save()
        raise
    project = result if isinstance(result, FlowProject) else project  # a custom step may return nothing
    project.records[name] = StepRecord(name, "ran", round(time.perf_counter() - t0, 2), digest,
                                       {str(p): _file_digest(p) for p in outs}, project.notes.get(name, ""))
    project.save()
    progress(Update(f"{name}: done in {project.records[name].seconds:.1f} s", "done", i, n, name))
    return project


__all__ = ["STEPS", "STEP_TABLE", "SUBSETS", "FlowConfig", "FlowProject", "Step", "StepRecord", "as_step",
           "run_flow", "run_step", "select_steps"]
