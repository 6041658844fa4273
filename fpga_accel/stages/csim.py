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

    def summary(self) -> list[tuple[str, Any]]:
        shape = [np.shape(o) for o in self.outputs] if isinstance(self.outputs, list) else np.shape(self.outputs)
        library = "from the build cache" if self.cached else f"compiled in {self.compile_seconds:.1f} s"
        return [("outputs", shape), ("csim library", library)]

    def format(self) -> str:
        lines = [f"{key:24s}{value}" for key, value in self.summary()]
        return "\n".join(lines + ([self.report.format()] if self.report is not None else []))

    __str__ = format

    def _repr_html_(self) -> str:
        head = html_report("csim", self.summary())
        return head + self.report._repr_html_() if self.report is not None else head


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
        return CsimResult(design.predict(x, workers=workers, progress=progress, engine=engine), cached, seconds)
    y, report = design.predict_compare(reference, x, labels, workers=workers, engine=engine, progress=progress)
    return CsimResult(y, cached, seconds, report)


__all__ = ["CsimResult", "csim"]
