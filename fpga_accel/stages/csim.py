"""The csim step: compile a project's C simulation (cached), predict a batch, and judge it against the
Keras model it came from — what ``fpga-accel csim`` and the flow's csim step run."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..design import AgreementReport, Design
from ..engines import resolve_engine
from ..runtime.progress import Progress
from ..runtime.tables import html_report
from ..runtime.validate import check_input

log = logging.getLogger(__name__)


@dataclass
class CsimResult:
    outputs: np.ndarray
    """The design's outputs for the batch, (n,) + output_shape."""
    cached: bool
    """The compiled library came from the build cache."""
    compile_seconds: float
    report: Optional[AgreementReport] = None
    """Agreement with the reference model, when one was given."""
    engine: str = "csim"
    """What computed the outputs as asked: csim, emulator (nothing compiled) or auto."""

    def _library(self) -> str:
        if self.engine == "emulator":
            return "none (the emulator computed it)"
        return f"{'cached' if self.cached else 'compiled'} ({self.compile_seconds:.1f} s)"

    def _samples_and_shape(self) -> tuple:
        """(samples, per-sample output shape); a multi-output design's outputs are a list, one array each."""
        outs = self.outputs if isinstance(self.outputs, list) else [self.outputs]
        shapes = [tuple(np.shape(o)[1:]) for o in outs]
        return len(outs[0]), (shapes[0] if len(shapes) == 1 else ", ".join(map(str, shapes)))

    def format(self) -> str:
        n, shape = self._samples_and_shape()
        lines = [f"csim ({self.engine}): {n} samples -> outputs of shape {shape}, C library {self._library()}"]
        return "\n".join(lines + ([self.report.format()] if self.report is not None else []))

    __str__ = format

    def _repr_html_(self) -> str:
        n, shape = self._samples_and_shape()
        head = html_report(f"csim ({self.engine})", [("samples", n), ("outputs per sample", str(shape)),
                                                     ("C library", self._library())])
        return head + (self.report._repr_html_() if self.report is not None else "")


def csim(design: Design, x: Any, reference: Any = None, labels: Any = None, workers: Optional[int] = None,
         progress: Optional[Progress] = None, engine: Optional[str] = None) -> CsimResult:
    """Compile (or reuse) the design's library, predict ``x``; with ``reference``, compare against it (the
    design runs over ``x`` once: the outputs returned are the ones compared). ``engine="emulator"`` computes
    without compiling (see ``Design.predict``)."""
    arr = check_input(x, design.input_shape)  # before the compiler runs
    engine = "csim" if engine is None and workers is not None else resolve_engine(engine, arr.shape[0])
    t0 = time.perf_counter()
    cached = True
    if engine != "emulator":
        cached = design.compile().cached
        log.info("csim library %s (%.1f s)", "up to date" if cached else "compiled", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if reference is None:
        return CsimResult(design.predict(x, workers=workers, progress=progress, engine=engine), cached, seconds,
                          engine=engine)
    y, report = design.predict_compare(reference, x, labels, workers=workers, engine=engine, progress=progress)
    return CsimResult(y, cached, seconds, report, engine)


__all__ = ["CsimResult", "csim"]
