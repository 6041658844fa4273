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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .config import ConvertConfig, QuantizeConfig, load_project_file, quantize_config_from
from .errors import ConfigError, NotExactError
from .layout import META_FILE, ProjectMeta, write_atomic
from .runtime.progress import Progress, Update, log_progress

log = logging.getLogger(__name__)

STEPS = ("quantize", "convert", "csim", "estimate", "build", "bundle", "deploy")
SUBSETS = {"host": ("quantize", "estimate"), "board": ("build", "deploy")}
"""Named ranges of steps: what runs without vendor tools, and what needs them (and a board)."""
DEFAULT_STOP = "bundle"
"""deploy reaches a board: it runs only when asked for (``--to deploy``) and configured."""
FLOW_KEYS = ("data", "test_samples", "build", "deploy")
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
    build_steps: Tuple[str, ...] = ("csim", "synth", "export", "bitfile")
    build_flow: Optional[str] = None
    """``vitis`` or ``vivado-hls``; None picks by the tools on PATH (see ``stages.build.FLOWS``)."""
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
        data = dict(settings)
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        path = source
        model = data.pop("model", None)
        if not model:
            raise ConfigError(f"{path}: no `model:` (the float or QKeras model the flow starts from)")
        if "name" not in data:
            raise ConfigError(f"{path}: no project `name:`")
        quantize = data.pop("quantize", None)
        flow = {k: data.pop(k) for k in FLOW_KEYS if k in data}
        custom_objects = data.pop("custom_objects", None)
        build = dict(flow.get("build") or {})
        unknown = set(build) - {"steps", "bitstreams", "flow"}
        if unknown:
            raise ConfigError(f"{path}: unknown build keys {sorted(unknown)}; known: ['bitstreams', 'flow', 'steps']")
        if build.get("flow") not in (None, "vitis", "vivado-hls"):
            raise ConfigError(f"{path}: build flow {build['flow']!r} is not 'vitis' or 'vivado-hls'")
        return cls(
            model=_relative(base, model), convert=ConvertConfig(**data),
            quantize=quantize_config_from(quantize) if quantize is not None else None,
            data=_relative(base, flow["data"]) if flow.get("data") else None,
            test_samples=int(flow.get("test_samples", 500)),
            build_steps=tuple(str(build.get("steps", "csim,synth,export,bitfile")).split(",")),
            build_flow=build.get("flow"),
            bitstreams=Path(build.get("bitstreams", "bitstreams")), deploy=flow.get("deploy"),
            custom_objects=custom_objects)

    @property
    def name(self) -> str:
        return self.convert.name


def _relative(base: Path, value: Any) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else base / path


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

    @property
    def work_dir(self) -> Path:
        return self.config.convert.output_dir / f"{self.config.name}.flow"

    @property
    def record_file(self) -> Path:
        return self.work_dir / "flow.json"

    @property
    def quantized_model(self) -> Path:
        return self.work_dir / "quantized.h5" if self.config.quantize is not None else self.config.model

    @property
    def hls_project(self) -> Path:
        return self.config.convert.project_dir

    @property
    def bundle(self) -> Path:
        return self.config.bitstreams / self.config.name

    @classmethod
    def open(cls, config: FlowConfig, jobs: Optional[int] = None) -> "FlowProject":
        project = cls(config, jobs=jobs)
        if project.record_file.is_file():
            try:
                raw = json.loads(project.record_file.read_text())
                project.records = {r["step"]: StepRecord(**r) for r in raw.get("steps", [])}
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{project.record_file} is damaged ({exc}); delete it to run every step again") from None
        return project

    def save(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        steps = [dataclasses.asdict(self.records[s]) for s in STEPS if s in self.records]
        write_atomic(self.record_file, json.dumps({"format": 1, "name": self.config.name, "steps": steps}, indent=2) + "\n")

    # ---- data the steps share ------------------------------------------------------------------

    def load(self, path: Path) -> Any:
        from .model_io import load_model

        return load_model(path, self.config.custom_objects)

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


# ---- the steps ------------------------------------------------------------------------------------


def step_quantize(project: FlowProject, progress: Progress) -> FlowProject:
    from .model_io import save_model
    from .stages.quantize import quantize

    x, y, _, _ = project.train_test()
    qmodel = quantize(project.load(project.config.model), project.config.quantize, x, y)
    save_model(qmodel, project.quantized_model, force=True)
    return project


def step_convert(project: FlowProject, progress: Progress) -> FlowProject:
    from .stages.convert import convert

    x, _, _, _ = project.train_test()
    design = convert(project.load(project.quantized_model), project.config.convert, calibration=x, force=True,
                     jobs=project.jobs)
    fidelity = design.meta.fidelity or {}
    if fidelity:
        progress(Update(f"  convert check: bit-exact {fidelity['bit_exact']:.2%}, argmax {fidelity['argmax_agreement']:.2%}",
                        step="convert"))
    return project


def step_csim(project: FlowProject, progress: Progress) -> FlowProject:
    from .design import Design
    from .stages.csim import csim

    _, _, xt, yt = project.train_test()
    model = project.load(project.quantized_model)
    if xt is None:
        from .keras_compat import input_shape

        xt = np.random.default_rng(0).uniform(-1, 1, (project.config.test_samples,) + input_shape(model)).astype(np.float32)
    report = csim(Design(project.hls_project, jobs=project.jobs), xt, model, yt).report
    assert report is not None
    (project.work_dir / "csim_report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    progress(Update("  " + report.format().replace("\n", "\n  "), step="csim"))
    if project.config.require_exact and not report.passed:
        raise NotExactError(f"csim is not bit-exact ({report.bit_exact:.2%} of {report.n_samples} samples)")
    return project


def step_estimate(project: FlowProject, progress: Progress) -> FlowProject:
    from .analysis.estimate import estimate
    from .design import Design

    design = Design(project.hls_project)
    est = estimate(design, margin=project.config.convert.margin)
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

    progress(Update(deploy(project.bundle, Remote(**dict(project.config.deploy or {})), progress=progress), step="deploy"))
    return project


STEP_FUNCTIONS: Dict[str, Callable[[FlowProject, Progress], FlowProject]] = {
    "quantize": step_quantize, "convert": step_convert, "csim": step_csim, "estimate": step_estimate,
    "build": step_build, "bundle": step_bundle, "deploy": step_deploy,
}


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


def _io(project: FlowProject, step: str) -> Tuple[Dict[str, Any], List[Path], List[Path]]:
    """(settings, input files, output files) of a step."""
    c = project.config
    data = [c.data] if c.data else []
    record = project.hls_project / META_FILE  # hashed as the design it records (see _file_digest)
    hls_sources = [project.hls_project / "firmware", record]
    table: Dict[str, Tuple[Any, List[Path], List[Path]]] = {
        "quantize": (c.quantize, [c.model, *data], [project.quantized_model]),
        "convert": (c.convert, [project.quantized_model, *data], [record]),
        "csim": (c.test_samples, [project.quantized_model, *data, *hls_sources],
                 [project.work_dir / "csim_report.json"]),
        "estimate": (c.convert.margin, [record], [record]),
        "build": ((c.build_steps, c.build_flow), hls_sources, [record]),
        "bundle": (str(c.bitstreams), [record, *_bitstream(project), project.quantized_model, *data],
                   [project.bundle / "manifest.json"]),
        "deploy": (c.deploy, [project.bundle / "manifest.json"], []),
    }
    settings, inputs, outs = table[step]
    return {"settings": repr(settings)}, inputs, outs


def _bitstream(project: FlowProject) -> List[Path]:
    """The .bit and .hwh the build step leaves (where hls4ml's Vivado project puts them)."""
    if not (project.hls_project / META_FILE).is_file():
        return []
    from .design import Design
    from .stages.build import outputs

    paths = outputs(Design(project.hls_project))
    return [paths["bit"], paths["hwh"]]


def input_digest(project: FlowProject, step: str) -> str:
    settings, inputs, _ = _io(project, step)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in inputs:
        digest.update(f"{path}:{_file_digest(path)}".encode())
    return digest.hexdigest()


def _not_configured(project: FlowProject, step: str) -> Optional[str]:
    if step == "quantize" and project.config.quantize is None:
        return "no `quantize:` section: the model is used as it is"
    if step == "deploy" and not project.config.deploy:
        return "no `deploy:` section"
    return None


# ---- the runner -----------------------------------------------------------------------------------


def select_steps(start: Optional[str] = None, stop: Optional[str] = None, subset: Optional[str] = None) -> List[str]:
    """The steps from ``start`` to ``stop`` (names in STEPS), or those of a named ``subset``."""
    if subset is not None:
        if subset not in SUBSETS:
            raise ConfigError(f"unknown subset {subset!r}; the subsets are {', '.join(SUBSETS)}")
        if start or stop:
            raise ConfigError("give either a subset of steps or --from/--to, not both")
        start, stop = SUBSETS[subset]
    for value in (start, stop):
        if value is not None and value not in STEPS:
            raise ConfigError(f"unknown step {value!r}; the steps are {', '.join(STEPS)}")
    first = STEPS.index(start) if start else 0
    last = STEPS.index(stop or DEFAULT_STOP)
    if first > last:
        raise ConfigError(f"--from {start} comes after --to {stop or DEFAULT_STOP}")
    return list(STEPS[first:last + 1])


def run_flow(config: FlowConfig, start: Optional[str] = None, stop: Optional[str] = None, force: bool = False,
             progress: Optional[Progress] = None, jobs: Optional[int] = None, subset: Optional[str] = None) -> FlowProject:
    """Run the steps from ``start`` to ``stop``; a step whose inputs are unchanged since it last ran
    (and whose outputs exist) is skipped unless ``force``. Records are saved after every step. ``jobs``:
    cores the flow has to itself (g++ processes for csim builds)."""
    progress = progress or log_progress(log)
    project = FlowProject.open(config, jobs=jobs)
    steps = select_steps(start, stop, subset)
    project.work_dir.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(steps, 1):
        reason = _not_configured(project, step)
        if reason:
            project.records[step] = StepRecord(step, "not configured", detail=reason)
            progress(Update(f"{step}: not configured ({reason})", "skipped", i, len(steps), step))
            project.save()
            continue
        digest = input_digest(project, step)
        _, _, outs = _io(project, step)
        last = project.records.get(step)
        if not force and last is not None and last.status in ("ran", "skipped") and last.inputs == digest \
                and all(p.exists() for p in outs):
            project.records[step] = dataclasses.replace(last, status="skipped", seconds=0.0,
                                                        detail="inputs unchanged since it last ran")
            progress(Update(f"{step}: skipped (inputs unchanged)", "skipped", i, len(steps), step))
            project.save()
            continue
        progress(Update(f"{step} …", "start", i, len(steps), step))
        t0 = time.perf_counter()
        try:
            project = STEP_FUNCTIONS[step](project, progress)
        except BaseException as exc:
            project.records[step] = StepRecord(step, "failed", round(time.perf_counter() - t0, 2), digest,
                                               detail=" ".join(str(exc).split())[:500] or type(exc).__name__)
            project.save()
            raise
        project.records[step] = StepRecord(step, "ran", round(time.perf_counter() - t0, 2), digest,
                                           {str(p): _file_digest(p) for p in outs})
        project.save()
        progress(Update(f"{step}: done in {project.records[step].seconds:.1f} s", "done", i, len(steps), step))
    return project


__all__ = ["FlowConfig", "FlowProject", "STEPS", "SUBSETS", "StepRecord", "run_flow", "select_steps"]
