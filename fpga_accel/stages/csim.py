"""C simulation of a written project: compile (cached), predict, trace, and compare against QKeras.

Also the ``Design`` object the other stages hand around. Light at import: TensorFlow is only imported
by ``compare``, which needs the reference model anyway.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..layout import ProjectLayout, read_meta
from ..model_io import ends_in_softmax
from ..runtime.csim_build import CsimBuild, build_library
from ..runtime.csim_lib import CsimLibrary, Progress, WorkerPool, default_workers
from ..runtime.validate import argmax_agreement, check_input, exact_rows, softmax

log = logging.getLogger(__name__)


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
    first_divergent_layer: str | None = None
    layer_exact: dict[str, float] = field(default_factory=dict)
    reference_accuracy: float | None = None
    csim_accuracy: float | None = None

    @property
    def passed(self) -> bool:
        return self.bit_exact == 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"passed": self.passed}

    def format(self) -> str:
        lines = [f"samples compared        {self.n_samples}",
                 f"bit-exact ({self.compared:7s})   {self.bit_exact:.2%} of samples "
                 f"({self.element_exact:.2%} of values)",
                 f"max |csim - QKeras|     {self.max_abs_diff:.3g}",
                 f"argmax agreement        {self.argmax_agreement:.2%}"]
        if self.output_bit_exact is not None:
            lines.append(f"softmax outputs         {self.output_bit_exact:.2%} bit-exact, "
                         f"max abs error {self.output_max_abs_diff:.3g}")
        if self.reference_accuracy is not None:
            lines.append(f"accuracy QKeras / csim  {self.reference_accuracy:.2%} / {self.csim_accuracy:.2%}")
        if self.first_divergent_layer:
            lines.append(f"first diverging layer   {self.first_divergent_layer} "
                         f"({self.layer_exact[self.first_divergent_layer]:.2%} of samples exact)")
        return "\n".join(lines)


class Design:
    """An hls4ml project written by ``convert``: compile and run it in C simulation."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        self.layout = ProjectLayout(self.root, self.meta["project_name"])
        self._lib: CsimLibrary | None = None
        self._build: CsimBuild | None = None
        self._pool: WorkerPool | None = None

    def __repr__(self) -> str:
        return f"Design({str(self.root)!r}, io_type={self.meta['io_type']!r}, board={self.meta['board']!r})"

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["input_shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["output_shape"])

    @property
    def host_softmax(self) -> bool:
        return self.meta.get("softmax") == "host"

    def compile(self, force: bool = False) -> CsimBuild:
        """Build (or fetch from the cache) the csim library and load it."""
        build = build_library(self.layout, force=force)
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
            n_in, n_out = int(np.prod(self.input_shape)), int(np.prod(self.output_shape))
            self._lib = CsimLibrary(self._build.library, self.meta["project_name"], n_in, n_out)
        return self._lib

    def predict(self, x: Any, workers: int | None = None, progress: Progress | None = None) -> np.ndarray:
        """Design outputs for a batch, float32 of shape (n,) + output_shape (softmax applied if on host).

        ``workers`` > 1 splits the batch across processes; None picks by batch size.
        """
        arr = check_input(x, self.input_shape)
        lib = self._library()
        workers = default_workers(arr.shape[0]) if workers is None else max(1, int(workers))
        if workers > 1 and arr.shape[0] >= 2 * workers:
            if self._pool is None or self._pool.closed or self._pool.workers != workers:
                self.close()
                self._pool = WorkerPool(lib.path, self.meta["project_name"], lib.n_in, lib.n_out, workers)
            y = self._pool.predict(arr, progress)
        else:
            y = lib.predict(arr, progress)
        y = y.reshape((arr.shape[0],) + self.output_shape)
        return softmax(y) if self.host_softmax else y

    def trace(self, x: Any) -> dict[str, np.ndarray]:
        """Every traced layer's csim output for a batch, keyed by hls4ml layer name."""
        arr = check_input(x, self.input_shape)
        shapes = {layer["name"]: layer["shape"] for layer in self.meta["layers"] if layer.get("traced")}
        _, traces = self._library().trace(arr, shapes)
        return traces

    def compare(self, model: Any, x: Any, y_true: Any = None, workers: int | None = None) -> AgreementReport:
        """Agreement of csim with ``model`` (the QKeras reference) on ``x``; points at the first layer
        that diverges when it is not bit-exact."""
        arr = check_input(x, self.input_shape)
        xs = arr.reshape((arr.shape[0],) + self.input_shape)
        ref = np.asarray(model.predict(xs, verbose=0, batch_size=1024), dtype=np.float32)
        ours = self.predict(xs, workers=workers)
        softmax_output = ends_in_softmax(model)
        out_exact, out_diff = None, None
        compared = "outputs"
        ref_cmp, ours_cmp = ref, ours
        if softmax_output:
            out_exact = float(exact_rows(ref, ours).mean())
            out_diff = float(np.max(np.abs(ref - ours)))
            compared = "logits"
            ref_cmp = _keras_outputs(model, xs, [model.layers[-2].name])[model.layers[-2].name]
            ours_cmp = self._logits(xs, ours)
        exact = exact_rows(ref_cmp, ours_cmp)
        report = AgreementReport(
            n_samples=len(xs), bit_exact=float(exact.mean()),
            element_exact=float(np.mean(ref_cmp == ours_cmp)),
            argmax_agreement=argmax_agreement(ref, ours),
            max_abs_diff=float(np.max(np.abs(ref_cmp - ours_cmp))),
            compared=compared, output_bit_exact=out_exact, output_max_abs_diff=out_diff)
        if y_true is not None:
            y_true = np.asarray(y_true)
            labels = y_true.argmax(1) if y_true.ndim == 2 else y_true
            report.reference_accuracy = float(np.mean(ref.reshape(len(xs), -1).argmax(1) == labels))
            report.csim_accuracy = float(np.mean(ours.reshape(len(xs), -1).argmax(1) == labels))
        if not exact.all():
            self._locate_divergence(model, xs[~exact][:200], report)
        return report

    def _logits(self, xs: np.ndarray, ours: np.ndarray) -> np.ndarray:
        if self.host_softmax:  # the design itself outputs logits
            lib = self._library()
            return lib.predict(check_input(xs, self.input_shape)).reshape(ours.shape)
        traced = [layer for layer in self.meta["layers"] if layer.get("traced")]
        return self.trace(xs)[traced[-2]["name"]].reshape(ours.shape)

    def _locate_divergence(self, model: Any, xs: np.ndarray, report: AgreementReport) -> None:
        traces = self.trace(xs)
        keras_names = {layer.name for layer in model.layers}
        order = [layer["name"] for layer in self.meta["layers"] if layer["name"] in traces and layer["name"] in keras_names]
        ref = _keras_outputs(model, xs, order)
        for name in order:
            if ref[name].size != traces[name].size:
                continue
            frac = float(exact_rows(ref[name], traces[name]).mean())
            report.layer_exact[name] = frac
            if frac < 1.0 and report.first_divergent_layer is None:
                report.first_divergent_layer = name


def _keras_outputs(model: Any, xs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    from tensorflow import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe.predict(xs, verbose=0, batch_size=1024)
    outs = outs if isinstance(outs, list) else [outs]
    return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outs)}
