"""The Design: an hls4ml project written by convert, compiled and run in C simulation.

The object every step after convert hands around (csim, estimate, build, bundle): compile (cached),
predict, trace, and compare against the Keras model. Light at import: TensorFlow is only imported by
``compare``, which needs the reference model anyway.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .activations import ACTIVATION_LAYER_CLASSES, KERAS_ACTIVATION_LAYERS
from .engines import emulator_else_csim, resolve_engine, run_engine, settle_auto
from .errors import ConfigError, FpgaAccelDeprecationWarning, InputError
from .keras_compat import input_shape, keras_module
from .layout import ProjectLayout, ProjectMeta
from .model_io import LogitsLocation, activation_name, logits_layer, logits_model
from .runtime.csim_build import CsimBuild, build_library, trace_sizes
from .runtime.csim_lib import POOL_MIN_SAMPLES, CsimLibrary, WorkerPool, default_workers, pool_allowed
from .runtime.emulator import Emulator
from .runtime.progress import Progress, notebook_progress
from .runtime.streams import pack_inputs, split_stream
from .runtime.tables import html_report, to_dataframe
from .runtime.fixed_point import Codec, FixedType
from .runtime.validate import argmax_agreement, check_input, exact_rows, softmax, softmax_rows, softmax_tolerance

log = logging.getLogger(__name__)

NOTEBOOK_BAR_SAMPLES = 512
"""Batches from this size show a progress bar in a notebook unasked (a loop of small calls draws none)."""
LAYER_SAMPLES = 200
"""Samples traced to compare the layers: the first ones of a bit-exact batch, else the first that diverged."""
_KERAS_ACTIVATION_LAYERS = KERAS_ACTIVATION_LAYERS  # the one table: fpga_accel.activations
_ACTIVATION_NODES = ACTIVATION_LAYER_CLASSES
_INPUT_NODES = frozenset({"Input", "InputLayer"})
_RESHAPE_NODES = frozenset({"Reshape", "Flatten", "Repack"})


@dataclass
class AgreementReport:
    """How closely csim reproduces the reference model on a batch."""

    n_samples: int
    bit_exact: float
    """Fraction of samples whose every output equals the reference bit for bit."""
    element_exact: float
    argmax_agreement: float
    max_abs_diff: float
    compared: str = "outputs"
    """'outputs', or 'logits' when the model ends in softmax (its tables are approximate by design)."""
    output_bit_exact: float | None = None
    output_max_abs_diff: float | None = None
    output_tolerance: float | None = None
    """With compared 'logits': the largest softmax-output error table rounding explains
    (``validate.softmax_tolerance``); more fails the report, naming the softmax layer, even when every logit
    is exact (a softmax normalised over the wrong values)."""
    first_divergent_layer: str | None = None
    layer_exact: dict[str, float] = field(default_factory=dict)
    reference_accuracy: float | None = None
    csim_accuracy: float | None = None
    engine: str | None = None
    """Which engine computed the design's outputs, in words: "csim", "emulator", "emulator, equal to csim on
    the first 64 samples" (auto), "csim (the emulator differed: ...)"."""

    @property
    def passed(self) -> bool:
        return self.bit_exact == 1.0 and self.softmax_within_tolerance

    @property
    def softmax_within_tolerance(self) -> bool:
        """No softmax outputs were compared, or they are within the tables' tolerance."""
        return self.output_tolerance is None or self.output_max_abs_diff is None \
            or self.output_max_abs_diff <= self.output_tolerance

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AgreementReport":
        """Read back what ``to_dict`` wrote (e.g. the flow's csim_report.json)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"passed": self.passed}

    def format(self) -> str:
        lines = [f"samples compared        {self.n_samples}" + (f" (by {self.engine})" if self.engine else ""),
                 f"bit-exact ({self.compared:7s})   {self.bit_exact:.2%} of samples "
                 f"({self.element_exact:.2%} of values)",
                 f"max |csim - QKeras|     {self.max_abs_diff:.3g}",
                 f"argmax agreement        {self.argmax_agreement:.2%}"]
        if self.output_bit_exact is not None:
            lines.append(f"softmax outputs         {self.output_bit_exact:.2%} bit-exact, "
                         f"max abs error {self.output_max_abs_diff:.3g}{self._tolerance_text()}")
        if self.reference_accuracy is not None:
            lines.append(f"accuracy QKeras / csim  {self.reference_accuracy:.2%} / {self.csim_accuracy:.2%}")
        if self.first_divergent_layer:
            lines.append(f"first diverging layer   {self.first_divergent_layer} "
                         f"({self.layer_exact[self.first_divergent_layer]:.2%} of samples exact)")
        return "\n".join(lines)

    __str__ = format

    def _tolerance_text(self) -> str:
        if self.output_tolerance is None:
            return ""
        verdict = "within" if self.softmax_within_tolerance else "MORE than"
        return f" ({verdict} the tables' tolerance {self.output_tolerance:.3g})"

    def rows(self) -> list[dict[str, Any]]:
        """Per compared layer (graph order): the share of samples csim matches bit for bit (traced on up to
        ``LAYER_SAMPLES``: the first ones when the design is bit-exact, else the ones that diverged)."""
        return [{"layer": name, "bit_exact": frac, "first_diverging": name == self.first_divergent_layer}
                for name, frac in self.layer_exact.items()]

    def to_dataframe(self) -> Any:
        """``rows()`` as a pandas DataFrame (pandas optional)."""
        return to_dataframe(self.rows(), ["layer", "bit_exact", "first_diverging"])

    def plot(self) -> Any:
        """A matplotlib Figure: per compared layer the share of samples csim matches bit for bit, the first
        diverging layer in red (matplotlib imported here; no backend is chosen)."""
        from .analysis.agreement_plot import plot_agreement

        return plot_agreement(self)

    def _repr_html_(self) -> str:
        summary = [("samples compared", self.n_samples),
                   (f"bit-exact ({self.compared})", f"{self.bit_exact:.2%} of samples ({self.element_exact:.2%} of values)"),
                   ("max |csim - reference|", f"{self.max_abs_diff:.3g}"),
                   ("argmax agreement", f"{self.argmax_agreement:.2%}")]
        if self.output_bit_exact is not None:
            summary.append(("softmax outputs", f"{self.output_bit_exact:.2%} bit-exact, max abs error "
                                               f"{self.output_max_abs_diff:.3g}{self._tolerance_text()}"))
        if self.reference_accuracy is not None:
            summary.append(("accuracy reference / csim", f"{self.reference_accuracy:.2%} / {self.csim_accuracy:.2%}"))
        if self.first_divergent_layer:
            summary.append(("first diverging layer", self.first_divergent_layer))
        rows = self.rows()
        first = next((i for i, r in enumerate(rows) if r["first_diverging"]), None)
        verdict = ("bit-exact" if self.passed else f"not bit-exact ({self.bit_exact:.2%} of samples)", self.passed)
        return html_report("csim agreement", summary, rows, verdict=verdict, highlight=first)


class Design:
    """An hls4ml project written by ``convert``: compile and run it in C simulation."""

    def __init__(self, root: str | Path, jobs: int | None = None) -> None:
        """``jobs``: g++ processes for compiling (default 3; a sweep worker passes its own cores)."""
        if not isinstance(root, (str, os.PathLike)):
            raise ConfigError(f"a design is a project folder (hls_projects/NAME), got {root!r}")
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
            raise ConfigError(f"jobs must be a whole number >= 1 (g++ processes), got {jobs!r}")
        self.root = Path(root)
        self.jobs = jobs
        self.meta = ProjectMeta.read(self.root)
        self.layout = ProjectLayout(self.root, self.meta.project_name)
        self._lib: CsimLibrary | None = None
        self._build: CsimBuild | None = None
        self._pool: WorkerPool | None = None
        self._emulator: Emulator | None = None
        self._hls_model: Any = None

    def __repr__(self) -> str:
        return f"Design({str(self.root)!r}, io_type={self.meta.io_type!r}, board={self.meta.board!r})"

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta.input_shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.meta.output_shape)

    @property
    def host_softmax(self) -> bool:
        return self.meta.softmax == "host"

    def compile(self, force: bool = False) -> CsimBuild:
        """Build (or fetch from the cache) the csim library and load it."""
        build = build_library(self.layout, force=force, jobs=self.jobs)
        if self._build is None or build.library != self._build.library:
            self.close()
            self._lib = None
        self._build = build
        return build

    def close(self) -> None:
        """Stop the worker processes of parallel predict (also done at interpreter exit)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> "Design":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _library(self) -> CsimLibrary:
        if self._build is None or not self._build.library.is_file():
            self.compile()
        assert self._build is not None
        if self._lib is None:
            self._trace_shapes()  # the record's per-layer table against the library, before anything runs
            n_in, n_out = int(np.prod(self.input_shape)), int(np.prod(self.output_shape))
            self._lib = CsimLibrary(self._build.library, self.meta.project_name, n_in, n_out, self._build.weights_dir)
        return self._lib

    def emulator(self) -> Emulator:
        """The design computed in numpy from its firmware (raises NotEmulated for layers it does not cover)."""
        if self._emulator is None:
            self._emulator = Emulator.open(self.root, self.meta.project_name, self.meta.io_type)
        return self._emulator

    def predict(self, x: Any, workers: int | None = None, progress: Progress | None = None,
                engine: str | None = None) -> np.ndarray:
        """Design outputs for a batch, float32 of shape (n,) + output_shape (softmax applied if on host).

        ``engine``: "csim" (the compiled C++), "emulator" (numpy, bit for bit the same; refuses designs it
        does not cover), "auto" (the emulator once it matched csim on the call's first samples, else csim,
        with a warning); None picks auto for large batches (``engines.AUTO_MIN_SAMPLES``), else csim — and csim
        whenever ``workers`` is given (a pool asks for csim).
        ``workers`` > 1 splits a csim batch of ``csim_lib.POOL_MIN_SAMPLES`` or more across processes (smaller
        ones stay in this one: a pool is slower there); None is one process.
        """
        return self._predict(x, workers, progress, engine)

    def _predict(self, x: Any, workers: int | None = None, progress: Progress | None = None,
                 engine: str | None = None, used: Callable[[str], None] | None = None) -> Any:
        multi_in, multi_out = len(self.meta.inputs) > 1, len(self.meta.outputs) > 1
        arr = pack_inputs(x, self.meta.inputs) if multi_in else check_input(x, self.input_shape)
        engine = "csim" if engine is None and workers is not None else resolve_engine(engine, arr.shape[0])
        if progress is None and arr.shape[0] >= NOTEBOOK_BAR_SAMPLES:
            progress = notebook_progress(log)
        y, _ = run_engine(engine, self.emulator, lambda a: (self._csim_predict(a, workers, progress), None), arr,
                          False, self.name, used, progress)
        if multi_out:  # several outputs: a list, as Keras returns them (runtime/streams.py)
            return [softmax(o) if self.host_softmax else o for o in split_stream(y, self.meta.outputs)]
        y = y.reshape((arr.shape[0],) + self.output_shape)
        return softmax(y) if self.host_softmax else y

    def _csim_predict(self, arr: np.ndarray, workers: int | None, progress: Progress | None) -> np.ndarray:
        lib = self._library()
        workers = default_workers(arr.shape[0]) if workers is None else _workers(workers)
        if workers > 1 and not pool_allowed():
            log.warning("predict(workers=%d) called while this process is starting as a worker (a script without "
                        "`if __name__ == \"__main__\":`?): running in this process instead of starting a pool", workers)
            workers = 1
        if workers > 1 and arr.shape[0] < max(POOL_MIN_SAMPLES, 2 * workers):
            log.info("%d samples: predicting in this process (a pool of %d workers starts from %d samples: on "
                     "smaller batches it is measured slower than one)", arr.shape[0], workers, POOL_MIN_SAMPLES)
        elif workers > 1:
            if self._pool is None or self._pool.closed or self._pool.workers != workers:
                self.close()
                self._pool = WorkerPool(lib.path, self.meta.project_name, lib.n_in, lib.n_out, lib.weights_dir, workers)
            return self._pool.predict(arr, progress)
        return lib.predict(arr, progress)

    def trace(self, x: Any, engine: str | None = None, progress: Progress | None = None) -> "Trace":
        """hls4ml's convention: ``y, layers = design.trace(x)`` — the outputs (as :meth:`predict` gives
        them) and every traced layer's output, keyed by hls4ml layer name (``engine`` and ``progress`` as
        for predict: the samples counted, a bar in a notebook unasked for large batches).

        The dict this returned before still answers ``trace(x)["fc1"]``, ``.items()``, ``.get()``... for one
        release, with a DeprecationWarning (``len()`` and plain iteration are the pair's now)."""
        arr = check_input(x, self.input_shape)
        if progress is None and arr.shape[0] >= NOTEBOOK_BAR_SAMPLES:
            progress = notebook_progress(log)
        y, layers = self._trace(arr, engine, progress)
        return Trace(softmax(y) if self.host_softmax else y, layers)

    def _trace(self, arr: np.ndarray, engine: str | None,
               progress: Progress | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(outputs before any host softmax, traced layers shaped as the record says) of a checked batch."""
        engine = resolve_engine(engine, arr.shape[0])
        shapes = {layer["name"]: layer["shape"] for layer in self.meta.layers if layer.get("traced")}
        y, traces = run_engine(engine, self.emulator, lambda a: self._csim_trace(a, progress), arr, True, self.name,
                               progress=progress)
        assert traces is not None
        layers = {k: v.reshape((arr.shape[0],) + tuple(shapes[k])) for k, v in traces.items() if k in shapes}
        return np.asarray(y).reshape((arr.shape[0],) + self.output_shape), layers

    def _csim_trace(self, a: np.ndarray, progress: Progress | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._library().trace(a, self._trace_shapes(), slots=len(trace_sizes(self.layout)), progress=progress)

    def _trace_layers(self, xs: np.ndarray, engine: str | None = None) -> dict[str, np.ndarray]:
        return self._trace(xs, engine)[1]

    def _trace_shapes(self) -> dict[str, list[int]]:
        """The record's traced layers and their shapes, checked against the library before any of its
        trace buffers is read: an edited record (a wrong shape, traced flags changed) would make trace
        read past them."""
        compiled = trace_sizes(self.layout)
        shapes = {layer["name"]: layer["shape"] for layer in self.meta.layers if layer.get("traced")}
        if set(shapes) != set(compiled):
            raise ConfigError(f"{self.meta_file}: its traced layers {sorted(shapes)} are not the ones the compiled "
                              f"design traces {sorted(compiled)}: the record is edited or stale; re-convert the "
                              "project (`fpga-accel convert --force`)")
        for name, shape in shapes.items():
            if int(np.prod(shape)) != compiled[name]:
                raise ConfigError(f"{self.meta_file}: layer {name!r} has shape {shape} ({int(np.prod(shape))} "
                                  f"values) but the compiled design traces {compiled[name]}: the record is edited "
                                  "or stale; re-convert the project (`fpga-accel convert --force`)")
        return shapes

    @property
    def meta_file(self) -> Path:
        return self.layout.meta_file

    @property
    def hls_model(self) -> Any:
        """hls4ml's ``ModelGraph`` of this design, for hls4ml's own tools (``hls4ml.utils.plot_model``,
        profiling): rebuilt on first use from the project's reference model and hls4ml_config.yml, checked
        against fpga_accel.json (layers and result types), then kept. Needs the host stack (hls4ml)."""
        if self._hls_model is None:
            from .hls.rebuild import rebuild_hls_model

            self._hls_model = rebuild_hls_model(self)
        return self._hls_model

    def types(self) -> Any:
        """Every layer's HLS types and the rule that chose each (a ``TypesTable``: print it, show it in a
        notebook, or ``to_dataframe()``)."""
        from .analysis.types_table import types_table

        return types_table(self.name, self.meta.layers, str(self.meta_file))

    def compare(self, model: Any, x: Any, y_true: Any = None, workers: int | None = None,
                engine: str | None = None, progress: Progress | None = None,
                layers: bool = True) -> AgreementReport:
        """Agreement of csim with ``model`` (the QKeras reference) on ``x``; points at the first layer
        that diverges when it is not bit-exact. ``progress`` hears the design's samples (as predict's).
        ``layers``: compare every traced layer of a bit-exact design too (``report.layer_exact``, its plot;
        a trace run and a Keras run of up to ``LAYER_SAMPLES`` samples more); a design that is not bit-exact
        has its layers compared either way.

        A model ending in softmax is judged on its logits (the design's softmax tables are approximate by
        design), wherever they live: a standalone softmax layer's input, or the pre-activation output of a
        layer with ``activation="softmax"``.
        """
        return self.predict_compare(model, x, y_true, workers, engine, progress, layers)[1]

    def predict_compare(self, model: Any, x: Any, y_true: Any = None, workers: int | None = None,
                        engine: str | None = None, progress: Progress | None = None,
                        layers: bool = True) -> tuple[Any, AgreementReport]:
        """``(predict(x), compare(model, x, y_true))`` from one run of the design over ``x``: the outputs
        compare computes are the ones predict returns (``fpga-accel csim --reference`` needs both)."""
        if self.meta.inputs:
            return self._compare_ports(model, x, engine)
        arr = check_input(x, self.input_shape)
        self._check_reference(model)
        xs = arr.reshape((arr.shape[0],) + self.input_shape)
        n = len(xs)
        ref = np.asarray(model.predict(xs, verbose=0, batch_size=1024), dtype=np.float32)
        engine = "csim" if engine is None and workers is not None else resolve_engine(engine, n)
        engines: list[str] = []
        settled = engine == "auto"
        if settled:  # one check for the outputs, the logits and the diagnosis' traces alike
            engine = settle_auto(self.emulator, self._csim_trace, arr, self.name, engines.append)

        def run(compute: Callable[[str | None], Any]) -> Any:
            """``compute(engine)``; where auto settled on the emulator, csim for values it does not cover."""
            return emulator_else_csim(compute, engine, self.name) if settled else compute(engine)

        ours = run(lambda e: self._predict(xs, workers=workers, progress=progress, engine=e, used=engines.append))
        if ref.size != ours.size:
            raise ConfigError(f"the reference model outputs {ref.shape[1:]} per sample, the design "
                              f"{ours.shape[1:]}: compare the design with the model it was converted from")
        out_exact, out_diff, out_tolerance = None, None, None
        argmax_ref, argmax_ours = ref, ours
        compared = "outputs"
        ref_cmp, ours_cmp = ref.reshape(n, -1), ours.reshape(n, -1)
        where = logits_layer(model)
        if where is not None:
            ours_logits = run(lambda e: self._design_logits(xs, e))
            if ours_logits is None:
                log.warning("the design's logits are not observable (nothing traced before its softmax): "
                            "comparing softmax outputs, which its tables only approximate")
            else:
                ref_logits = _keras_logits(model, where, xs)
                if ref_logits.shape != ours_logits.shape:
                    raise ConfigError(f"logits of {where.layer}: the reference model has {ref_logits.shape[1]} "
                                      f"per sample, the design {ours_logits.shape[1]}")
                out_exact = float(exact_rows(ref, ours).mean())
                out_diff = float(np.max(np.abs(ref - ours)))
                out_tolerance = self._softmax_tolerance(ref.shape[1:], where)
                compared = "logits"
                ref_cmp, ours_cmp = ref_logits, ours_logits
                argmax_ref, argmax_ours = (softmax_rows(v, ref.shape[1:], where.axis) for v in (ref, ours))
        elif self.host_softmax:
            log.warning("the design runs softmax on the host but the reference model does not end in "
                        "softmax: comparing the design's softmax outputs with the model's outputs")
        exact = exact_rows(ref_cmp, ours_cmp)
        report = AgreementReport(
            n_samples=n, bit_exact=float(exact.mean()),
            element_exact=float(np.mean(ref_cmp == ours_cmp)),
            argmax_agreement=argmax_agreement(argmax_ref, argmax_ours),
            max_abs_diff=float(np.max(np.abs(ref_cmp - ours_cmp))),
            compared=compared, output_bit_exact=out_exact, output_max_abs_diff=out_diff,
            output_tolerance=out_tolerance, engine=engines[0] if engines else None)
        if y_true is not None:
            try:
                y_true = np.asarray(y_true)
            except (ValueError, TypeError):
                raise InputError("labels are not a rectangular array: give one label (or one-hot row) per sample") from None
            if y_true.dtype.kind not in "iufb":
                raise InputError(f"labels have dtype {y_true.dtype}; expected class indices or one-hot rows")
            labels = y_true.argmax(1) if y_true.ndim == 2 else y_true
            if labels.shape != (n,):
                raise InputError(f"labels have shape {y_true.shape}, expected ({n},) or ({n}, classes)")
            report.reference_accuracy = float(np.mean(ref.reshape(n, -1).argmax(1) == labels))
            report.csim_accuracy = float(np.mean(ours.reshape(n, -1).argmax(1) == labels))
        if not exact.all():
            self._compare_layers(model, xs[~exact][:LAYER_SAMPLES], report, run, locate=True)
        elif not report.softmax_within_tolerance and where is not None:  # exact logits, softmax off
            report.first_divergent_layer = where.layer
            within = np.max(np.abs(ref - ours).reshape(n, -1), axis=1) <= float(out_tolerance or 0.0)
            report.layer_exact = {where.layer: float(within.mean())}
        elif layers:  # bit-exact: every traced layer measured too, so the report (its plot) shows it per layer
            self._compare_layers(model, xs[:LAYER_SAMPLES], report, run, locate=False)
        return ours, report

    def _softmax_tolerance(self, shape: tuple[int, ...], where: LogitsLocation) -> float | None:
        """``validate.softmax_tolerance`` for this design's final softmax (rows of ``shape[axis]`` values, its
        result type's fraction bits); None when the design does not say its result type."""
        last = self.meta.layers[-1] if self.meta.layers else {}
        try:
            frac = FixedType.parse(str(last.get("precision"))).frac
        except (ConfigError, ValueError, TypeError):
            return None
        return softmax_tolerance(int(shape[where.axis]), frac)

    def _compare_ports(self, model: Any, x: Any, engine: str | None) -> tuple[Any, AgreementReport]:
        """compare for a multi-input/output design: every output value, one sample exact when all of its
        outputs are (no logits, no layer diagnosis: its trace is not wired for several ports)."""
        from .keras_compat import port_shapes

        if port_shapes(model) != (self.meta.inputs, self.meta.outputs):
            raise ConfigError(f"the reference model's inputs and outputs {port_shapes(model)} are not the design's "
                              f"{(self.meta.inputs, self.meta.outputs)}: compare the design with the model it was "
                              "converted from")
        multi_in = len(self.meta.inputs) > 1
        arr = pack_inputs(x, self.meta.inputs) if multi_in else check_input(x, self.input_shape)
        xs = split_stream(arr, self.meta.inputs)
        n = len(arr)
        ref = model.predict(xs if multi_in else xs[0], verbose=0, batch_size=1024)
        ref_flat = np.concatenate([np.asarray(r, dtype=np.float32).reshape(n, -1)
                                   for r in (ref if isinstance(ref, list) else [ref])], axis=1)
        ours = self.predict(xs if multi_in else xs[0], engine="csim" if engine is None else engine)
        ours_flat = np.concatenate([o.reshape(n, -1) for o in (ours if isinstance(ours, list) else [ours])], axis=1)
        exact = exact_rows(ref_flat, ours_flat)
        first = self.meta.outputs[0]
        size = int(np.prod(first["shape"]))
        return ours, AgreementReport(n_samples=n, bit_exact=float(exact.mean()),
                                     element_exact=float(np.mean(ref_flat == ours_flat)),
                                     argmax_agreement=argmax_agreement(ref_flat[:, :size], ours_flat[:, :size]),
                                     max_abs_diff=float(np.max(np.abs(ref_flat - ours_flat))))

    def _check_reference(self, model: Any) -> None:
        """The reference must be a model of the same interface, or nothing below is meaningful."""
        if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
            raise ConfigError("the reference must be a single-input, single-output Keras model")
        shape = input_shape(model)
        if len(shape) != len(self.input_shape) \
                or any(m is not None and m != d for m, d in zip(shape, self.input_shape)):
            raise ConfigError(f"the reference model takes inputs of shape {shape}, the design {self.input_shape}: "
                              "compare the design with the model it was converted from")

    def _design_logits(self, xs: np.ndarray, engine: str | None = None) -> np.ndarray | None:
        """The design's pre-softmax values, (n, k); None when the design does not expose them."""
        n = len(xs)
        if self.host_softmax:  # the design itself outputs logits
            flat = check_input(xs, self.input_shape)
            logits = self.emulator().predict(flat) if engine == "emulator" else self._library().predict(flat)
            return logits.reshape(n, -1)
        node = self._logits_node()
        if node is None:
            return None
        if node.get("class") in _INPUT_NODES:  # a softmax-only design: its logits are its input, cast
            try:
                codec = Codec.parse(self.meta.input_precision)
            except (ConfigError, KeyError):
                return None
            flat = xs.reshape(n, -1).astype(np.float32)
            return flat if codec.kind == "float32" else codec.decode(codec.encode(flat))
        traced = self._trace_layers(xs, engine).get(node["name"])
        return None if traced is None else traced.reshape(n, -1)

    def _logits_node(self) -> dict[str, Any] | None:
        """The graph node feeding the design's final softmax: the nearest traced node before it, through
        untraced nodes that only reshape; None if another kind of node is in the way."""
        layers = self.meta.layers
        last = layers[-1] if layers else {}
        if last.get("class") != "Softmax":
            raise ConfigError(f"the reference model ends in softmax but design {self.name} does not (its last "
                              f"layer is {last.get('name')!r}, {last.get('class')}): compare it with the model it "
                              "was converted from")
        for entry in reversed(layers[:-1]):
            if entry.get("class") in _INPUT_NODES or entry.get("traced"):
                return entry
            if entry.get("class") not in _RESHAPE_NODES:
                return None
        return None

    def _layer_pairs(self, model: Any) -> list[tuple[str, str]]:
        """(Keras layer, traced csim node computing the same tensor), in graph order (:func:`layer_pairs`)."""
        return layer_pairs(self.meta.layers, model)

    def _compare_layers(self, model: Any, xs: np.ndarray, report: AgreementReport,
                        run: Callable[[Callable[[str | None], Any]], Any], locate: bool) -> None:
        """``report.layer_exact``: per traced layer, the share of ``xs`` csim matches bit for bit; with
        ``locate`` (``xs`` the samples that diverged), also the first diverging layer."""
        pairs = self._layer_pairs(model)
        if not pairs:
            return
        from .hls.exact_types import table_verdicts
        from .quantizer_types import output_quantizer

        traces = run(lambda e: self._trace_layers(xs, e))
        ref = _keras_outputs(model, xs, [name for name, _ in pairs])
        keras_layers = {layer.name: layer for layer in model.layers}
        # a table the exact-table rule sized returns the following quantizer's values, not Keras' float ones:
        # it differs from its Keras layer by design, and the quantizer after it is compared instead
        quantizing_tables = {node for node, why in table_verdicts(self.meta.layers).items() if why is None}
        for name, node in pairs:
            ours = traces.get(node)
            if ours is None or ref[name].size != ours.size:  # same per-sample size: channels-last on both sides
                log.debug("not comparing %s with csim node %s: sizes differ", name, node)
                continue
            frac = float(exact_rows(ref[name], ours).mean())
            report.layer_exact[name] = frac
            if locate and frac < 1.0 and report.first_divergent_layer is None and node not in quantizing_tables \
                    and (output_quantizer(keras_layers[name]) is not None
                         or not _within_float32_rounding(ref[name], ours)):
                report.first_divergent_layer = name
        if locate and report.first_divergent_layer is None:  # only float32-level differences: the first of them
            tables = {name for name, node in pairs if node in quantizing_tables}
            report.first_divergent_layer = next((name for name, frac in report.layer_exact.items()
                                                 if frac < 1.0 and name not in tables), None)


FLOAT32_SUM_TOLERANCE = 2.0 ** -16
"""Relative to a sample's largest value: what Keras' float32 sums may differ from the design's exact ones."""


def layer_pairs(layers: list[dict[str, Any]], model: Any) -> list[tuple[str, str]]:
    """(Keras layer, traced node computing the same tensor) of a design's layer records, in graph order.

    hls4ml splits a layer's non-linear ``activation`` into a node of its own after it, so a Keras
    ``QConv2D(..., activation="relu")`` (output after relu) is compared with that node, not with the
    layer's own node (before relu). Nodes without a Keras counterpart, and Keras layers hls4ml
    dropped or left untraced (Flatten, Dropout), are skipped.
    """
    keras_layers = {layer.name: layer for layer in model.layers}
    pairs = []
    for i, entry in enumerate(layers):
        layer = keras_layers.get(entry["name"])
        if layer is None or type(layer).__name__ == "InputLayer":
            continue
        target = entry
        if type(layer).__name__ not in _KERAS_ACTIVATION_LAYERS and activation_name(layer) is not None:
            split = layers[i + 1] if i + 1 < len(layers) else None
            if split is not None and split.get("class") in _ACTIVATION_NODES \
                    and split["name"] not in keras_layers \
                    and split.get("inputs", [entry["name"]]) == [entry["name"]]:
                target = split
            # else hls4ml kept the activation inside the node: its output is after the activation
        if target.get("traced"):
            pairs.append((layer.name, target["name"]))
    return pairs


def _within_float32_rounding(ref: np.ndarray, ours: np.ndarray) -> bool:
    """A layer without an output quantizer (a sum, a batch norm) whose csim values differ from Keras' only
    by the last bits of Keras' own float32 arithmetic has not diverged: the first *quantized* values that
    differ name the layer (a real type error is at least one step of a quantizer's grid)."""
    n = len(ref)
    r, o = ref.reshape(n, -1).astype(np.float64), ours.reshape(n, -1).astype(np.float64)
    scale = np.maximum(1.0, np.max(np.abs(r), axis=1, keepdims=True))
    return bool(np.all(np.abs(r - o) <= FLOAT32_SUM_TOLERANCE * scale))


MAX_WORKERS = 64


class Trace(tuple):
    """``(y, layers)`` of :meth:`Design.trace`, as hls4ml's ``trace`` returns; the layer dict's own
    methods still work on it for one release (deprecated: unpack it, or use ``.layers``)."""

    def __new__(cls, y: np.ndarray, layers: dict[str, np.ndarray]) -> "Trace":
        return super().__new__(cls, (y, layers))

    @property
    def y(self) -> np.ndarray:
        return self[0]

    @property
    def layers(self) -> dict[str, np.ndarray]:
        return self[1]

    @staticmethod
    def _deprecated(what: str) -> None:
        import warnings

        warnings.warn(f"Design.trace(x){what} is deprecated: trace returns hls4ml's (y, layers) now; use "
                      f"`y, layers = design.trace(x)` and layers{what}", FpgaAccelDeprecationWarning,
                      stacklevel=3)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            self._deprecated(f"[{key!r}]")
            return self[1][key]
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._deprecated(" `in`")
            return key in self[1]
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._deprecated(".get()")
        return self[1].get(key, default)

    def keys(self) -> Any:
        self._deprecated(".keys()")
        return self[1].keys()

    def values(self) -> Any:
        self._deprecated(".values()")
        return self[1].values()

    def items(self) -> Any:
        self._deprecated(".items()")
        return self[1].items()


def _workers(value: Any) -> int:
    """``workers`` of the public API, checked as ``--workers`` is (a whole number >= 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"workers must be a whole number from 1 to {MAX_WORKERS}, got {value!r}")
    return int(value)


def _keras_logits(model: Any, where: LogitsLocation, xs: np.ndarray) -> np.ndarray:
    """The reference model's pre-softmax values, (n, k)."""
    n = len(xs)
    if where.from_input:
        return xs.reshape(n, -1).astype(np.float32)
    logits = logits_model(model).predict(xs, verbose=0, batch_size=1024)
    return np.asarray(logits, dtype=np.float32).reshape(n, -1)


def _keras_outputs(model: Any, xs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    keras = keras_module()
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe.predict(xs, verbose=0, batch_size=1024)
    outs = outs if isinstance(outs, list) else [outs]
    return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outs)}
