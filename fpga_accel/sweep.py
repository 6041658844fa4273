"""Design-space sweeps on Dask: every grid point is quantize (+QAT) → convert → csim agreement → estimate.

Each point works in its own directory and writes ``result.json`` last, atomically, so results are never
clobbered, a rerun skips finished points, and a point whose worker died is simply run again elsewhere
(Dask reschedules it; ``retries`` covers exceptions). Runs on an embedded ``LocalCluster`` by default, or
on any Dask cluster (``scheduler="tcp://host:8786"``), e.g. nodes with Vivado licences.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from .config import ConvertConfig, QuantizeConfig, read_yaml
from .engines import check_engine
from .errors import ConfigError, FpgaAccelError
from .layout import ProjectMeta, SweepLayout, read_json, write_atomic
from .runtime.progress import Progress, Update, log_progress
from .runtime.csim_lib import available_cores

log = logging.getLogger(__name__)

QUANTIZE_KEYS = {f.name for f in dataclasses.fields(QuantizeConfig)} - {"layers"}
CONVERT_KEYS = {f.name for f in dataclasses.fields(ConvertConfig)} - {"name", "output_dir", "verify_samples", "strict"}
MAX_POINTS = 10_000
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class SweepSpec:
    name: str
    model: Path
    """Float Keras model (.h5/.keras) every point quantizes."""
    data: Path
    """.npz with x, y (training/calibration) and optionally x_test, y_test (else the last 20 % of x, y)."""
    grid: Dict[str, List[Any]]
    fixed: Dict[str, Any] = field(default_factory=dict)
    output_dir: Path = Path("sweeps")
    test_samples: int = 300
    engine: str = "emulator"
    """How each point's hardware accuracy is computed: "emulator" (no g++ compile; csim for a design the
    emulator does not cover), "csim" (compile every point), or "auto" (csim on the first samples, checked).
    A point built later is verified by csim then; results.csv's ``engine`` column says which computed it."""

    @classmethod
    def load(cls, path: "str | Path") -> "SweepSpec":
        path = Path(path)
        data = read_yaml(path, "sweep file")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
        base = path.parent
        for key in ("model", "data"):
            if key not in data:
                raise ConfigError(f"{path}: `{key}:` is required")
        for key in ("model", "data", "output_dir"):
            value = data.get(key, "sweeps")
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: {key} must be a path, got {value!r}")
            data[key] = (base / Path(value).expanduser()).resolve()
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _PLAIN_NAME.match(self.name) or self.name in (".", ".."):
            raise ConfigError(f"name {self.name!r} must be a plain folder name (letters, digits, ., _, -), "
                              "the sweep's folder under output_dir")
        self.model, self.data, self.output_dir = Path(self.model), Path(self.data), Path(self.output_dir)
        if not isinstance(self.grid, dict) or not self.grid:
            raise ConfigError(f"grid must map each swept key to a non-empty list of values, got {self.grid!r}")
        bad = [k for k, v in self.grid.items() if not isinstance(v, list) or not v]
        if bad:
            raise ConfigError(f"grid: give each swept key a non-empty list of values ({bad[0]!r} has "
                              f"{self.grid[bad[0]]!r})")
        if not isinstance(self.fixed, dict):
            raise ConfigError(f"fixed must map keys to one value each, got {self.fixed!r}")
        unknown = (set(self.grid) | set(self.fixed)) - QUANTIZE_KEYS - CONVERT_KEYS
        if unknown:
            raise ConfigError(f"unknown sweep keys {sorted(map(str, unknown))}; known: {sorted(QUANTIZE_KEYS | CONVERT_KEYS)}")
        check_engine(self.engine)
        if isinstance(self.test_samples, bool) or not isinstance(self.test_samples, int) or self.test_samples < 1:
            raise ConfigError(f"test_samples must be a whole number >= 1, got {self.test_samples!r}")
        for path in (self.model, self.data):
            if path.is_dir():
                raise ConfigError(f"{path} is a folder, not a file")
            if not path.is_file():
                raise ConfigError(f"{path} does not exist")
        if not self.root.resolve().is_relative_to(self.output_dir.resolve()):
            raise ConfigError(f"name {self.name!r} would put the sweep outside {self.output_dir}")
        points = 1
        for values in self.grid.values():
            points *= len(values)
        if points > MAX_POINTS:
            raise ConfigError(f"grid has {points} points; a sweep runs at most {MAX_POINTS}")
        for params in self.points():  # every point's settings are valid before any worker starts
            QuantizeConfig(**{k: v for k, v in params.items() if k in QUANTIZE_KEYS})
            ConvertConfig(name="design", **{k: v for k, v in params.items() if k in CONVERT_KEYS})

    @property
    def root(self) -> Path:
        return self.output_dir / self.name

    def points(self) -> List[Dict[str, Any]]:
        keys = sorted(self.grid)
        return [dict(self.fixed, **dict(zip(keys, values))) for values in itertools.product(*(self.grid[k] for k in keys))]


def inputs_identity(spec: "SweepSpec") -> str:
    """What besides the parameters makes a point's result: the model and data bytes, the test size and
    the tool versions — a rerun after any of them changed is new work, not "already done"."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in (spec.model, spec.data):
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    digest.update(f"{spec.test_samples}|{version('fpga-accel')}|{version('hls4ml')}".encode())
    return digest.hexdigest()


def point_id(params: Mapping[str, Any], identity: str = "") -> str:
    text = json.dumps(params, sort_keys=True, default=str) + identity
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _size_thread_pools(cores: int) -> None:
    """A sweep worker has ``cores`` to itself: TensorFlow's thread pools follow (before its first op), and
    so does BLAS, which the emulator's products use (two workers each running a BLAS pool of every core on
    a 2-core machine made the emulator's small products several times slower: benchmarks/emulator.py)."""
    import tensorflow as tf

    try:
        from threadpoolctl import threadpool_limits  # scikit-learn's dependency, so always here

        threadpool_limits(cores, user_api="blas")
    except ImportError:  # pragma: no cover - only without scikit-learn
        log.debug("threadpoolctl missing: BLAS keeps its own thread count")

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an op in this worker: its pools are fixed
        log.debug("TensorFlow thread pools already initialised in this worker")


def run_point(spec: SweepSpec, params: Dict[str, Any], point_dir: str, csim_jobs: int = 1) -> Dict[str, Any]:
    """One design point, in a worker process, through the flow's runner (quantize → convert → csim →
    estimate). Idempotent: a point with its result is not run again, and the flow skips steps whose
    inputs did not change when a crashed point is retried."""
    from .flow import FlowConfig, run_flow

    out = Path(point_dir)
    done = SweepLayout.point_result(out)
    if done.is_file():
        return read_json(done, "delete that point's folder to run it again")
    out.mkdir(parents=True, exist_ok=True)
    _size_thread_pools(csim_jobs)
    write_atomic(SweepLayout.point_params(out), json.dumps(params, indent=2, sort_keys=True) + "\n")
    t0 = time.perf_counter()
    config = FlowConfig(
        model=spec.model, data=spec.data, test_samples=spec.test_samples, require_exact=False,
        quantize=QuantizeConfig(**{k: v for k, v in params.items() if k in QUANTIZE_KEYS}),
        convert=ConvertConfig(name="design", output_dir=out, verify_samples=0,
                              **{k: v for k, v in params.items() if k in CONVERT_KEYS}))
    try:
        project = run_flow(config, stop="estimate", progress=log_progress(log, logging.DEBUG), jobs=csim_jobs,
                           engine=spec.engine)
    except FpgaAccelError as exc:  # the point's own settings fail (e.g. a model computing NaN): a result too
        result = {"id": out.name, "params": params, "failed": " ".join(str(exc).split())[:300],
                  "seconds": round(time.perf_counter() - t0, 2), "worker_pid": os.getpid()}
        write_atomic(done, json.dumps(result, indent=2, sort_keys=True) + "\n")
        return result
    report = read_json(project.layout.csim_report, "run the point again")
    for key in ("reference_accuracy", "csim_accuracy", "bit_exact", "argmax_agreement"):
        value = report.get(key)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ConfigError(f"point {out.name}: csim report {key} {value!r} is not a fraction")
    meta = ProjectMeta.read(project.hls_project)
    est = meta.estimate
    result = {
        "id": out.name, "params": params, "board": meta.board,
        "qkeras_accuracy": report["reference_accuracy"], "csim_accuracy": report["csim_accuracy"],
        "bit_exact": report["bit_exact"], "argmax_agreement": report["argmax_agreement"],
        "est_dsp": est["total"]["dsp"], "est_lut": est["total"]["lut"], "est_ff": est["total"]["ff"],
        "est_bram36": est["total"]["bram36"], "est_latency_ns": est["latency_ns"], "fits": est["fits"],
        "engine": report.get("engine"), "seconds": round(time.perf_counter() - t0, 2), "worker_pid": os.getpid(),
    }
    write_atomic(done, json.dumps(result, indent=2, sort_keys=True) + "\n")  # the point is finished exactly when this file appears
    return result


@dataclass
class SweepResult:
    root: Path
    rows: List[Dict[str, Any]]
    ran: int
    skipped: int
    table: Path
    plot: Optional[Path]

    COLUMNS = ("failed", "qkeras_accuracy", "csim_accuracy", "bit_exact", "argmax_agreement", "est_dsp", "est_lut",
               "est_ff", "est_bram36", "est_latency_ns", "board", "fits", "engine", "seconds")

    def table_rows(self) -> List[Dict[str, Any]]:
        """One flat dict per point: its id, its parameters, then its results (the columns of results.csv)."""
        keys = sorted({k for row in self.rows for k in row["params"]})
        return [{"id": row.get("id"), **{k: row["params"].get(k) for k in keys},
                 **{c: row.get(c) for c in self.COLUMNS}} for row in self.rows]

    def to_dataframe(self) -> Any:
        """``table_rows()`` as a pandas DataFrame (pandas optional)."""
        from .runtime.tables import to_dataframe

        return to_dataframe(self.table_rows())

    def format(self) -> str:
        done = [r for r in self.rows if not r.get("failed")]
        best = max(done, key=lambda r: r.get("csim_accuracy") or 0.0, default=None)
        lines = [f"sweep {self.root}: {len(self.rows)} points ({self.ran} ran, {self.skipped} already done, "
                 f"{len(self.rows) - len(done)} failed)", f"table {self.table}"]
        if self.plot is not None:
            lines.append(f"Pareto plot {self.plot}")
        if best is not None:
            lines.append(f"best csim accuracy {best['csim_accuracy']:.2%}: {best['params']}")
        return "\n".join(lines)

    __str__ = format

    def _repr_html_(self) -> str:
        from .runtime.tables import html_report

        return html_report(f"sweep {self.root.name}", [("points", len(self.rows)), ("ran", self.ran),
                                                       ("already done", self.skipped), ("table", str(self.table))],
                           self.table_rows())


def run_sweep(spec: SweepSpec, scheduler: Optional[str] = None, workers: int = 2,
              progress: Optional[Progress] = None,
              retries: int = 2, csim_jobs: Optional[int] = None) -> SweepResult:
    """Run the points not finished yet; ``csim_jobs``: g++ processes per point (default: the cores a local
    worker has to itself, 1 on a remote cluster)."""
    from distributed import Client, LocalCluster, as_completed

    for value, what in ((workers, "workers"), (retries + 1, "retries + 1"), (csim_jobs or 1, "csim_jobs")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}")  # 0 workers: waits forever
    root = spec.root
    paths = SweepLayout(root)
    root.mkdir(parents=True, exist_ok=True)
    points = spec.points()
    identity = inputs_identity(spec)
    dirs = [paths.point(point_id(p, identity)) for p in points]
    todo = [(p, d) for p, d in zip(points, dirs) if not SweepLayout.point_result(d).is_file()]
    log.info("sweep %s: %d points, %d to run, %d already done", spec.name, len(points), len(todo),
             len(points) - len(todo))
    if todo:
        cluster = None
        if csim_jobs is None:
            csim_jobs = 1 if scheduler else max(1, available_cores() // max(1, workers))
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            futures = [client.submit(run_point, spec, p, str(d), csim_jobs, key=f"point-{d.name}", pure=False,
                                     retries=retries)
                       for p, d in todo]
            for n, future in enumerate(as_completed(futures), 1):
                if progress is not None:
                    progress(Update("sweep points", "count", n, len(todo), result=future.result()))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    rows = [read_json(SweepLayout.point_result(d), "delete that point's folder to run it again") for d in dirs]
    table = write_table(rows, paths.results_csv)
    plot = pareto_plot(rows, paths.pareto_png)
    return SweepResult(root, rows, len(todo), len(points) - len(todo), table, plot)


def write_table(rows: List[Dict[str, Any]], path: Path) -> Path:
    """results.csv, written whole or not at all (a failed point has its reason in ``failed``)."""
    import io

    keys = sorted({k for row in rows for k in row["params"]})
    cols = ["id", *keys, *SweepResult.COLUMNS]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(cols)
    for row in rows:
        writer.writerow([row["params"].get(c, row.get(c)) if c in keys else row.get(c) for c in cols])
    return write_atomic(path, text.getvalue())


def pareto_front(rows: List[Dict[str, Any]], cost: str) -> List[Dict[str, Any]]:
    """Points no other point beats on both accuracy (higher) and ``cost`` (lower); failed points are none."""
    rows = [r for r in rows if not r.get("failed")]
    front = [r for r in rows if not any(o["csim_accuracy"] >= r["csim_accuracy"] and o[cost] <= r[cost]
                                        and (o["csim_accuracy"], o[cost]) != (r["csim_accuracy"], r[cost])
                                        for o in rows)]
    return sorted(front, key=lambda r: r[cost])


def pareto_plot(rows: List[Dict[str, Any]], path: Path) -> Optional[Path]:
    """pareto.png of a sweep (None, with a warning, when matplotlib is not installed)."""
    try:
        fig = pareto_figure(rows)
    except ImportError:
        log.warning("matplotlib not installed: no Pareto plot")
        return None
    fig.savefig(path, dpi=100)
    return path


def pareto_figure(rows: List[Dict[str, Any]]) -> Any:
    """Accuracy against estimated DSP and LUT, fitting points marked for the board(s) the points target.

    The object-oriented Figure: no pyplot state, no backend switch (a notebook keeps its inline backend)."""
    from matplotlib.figure import Figure

    boards = sorted({str(r["board"]) for r in rows if r.get("board")})  # points may target different boards
    fits_label = f"fits {' / '.join(boards)}" if boards else "fits its board"
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, cost, label in ((axes[0], "est_dsp", "estimated DSP48E1"), (axes[1], "est_lut", "estimated LUT")):
        for fits, marker in ((True, "o"), (False, "x")):
            sel = [r for r in rows if not r.get("failed") and r["fits"] == fits]
            ax.scatter([r[cost] for r in sel], [r["csim_accuracy"] for r in sel], marker=marker,
                       label=fits_label if fits else "does not fit")
        front = pareto_front(rows, cost)
        ax.plot([r[cost] for r in front], [r["csim_accuracy"] for r in front], "k--", lw=1, label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("csim accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
