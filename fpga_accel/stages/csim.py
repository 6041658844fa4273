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

    def format(self) -> str:
        lines = [f"csim ({self.engine}): {len(self.outputs)} samples -> outputs of shape "
                 f"{tuple(self.outputs.shape[1:])}, C library {self._library()}"]
        return "\n".join(lines + ([self.report.format()] if self.report is not None else []))

    __str__ = format

    def _repr_html_(self) -> str:
        from ..runtime.tables import html_report

        head = html_report(f"csim ({self.engine})", [("samples", len(self.outputs)),
                                                     ("outputs per sample", str(tuple(self.outputs.shape[1:]))),
                                                     ("C library", self._library())])
        return head + (self.report._repr_html_() if self.report is not None else "")


def csim(design: Design, x: Any, reference: Any = None, labels: Any = None, workers: Optional[int] = None,
         progress: Optional[Progress] = None, engine: Optional[str] = None) -> CsimResult:
    """Compile (or reuse) the design's library, predict ``x``; with ``reference``, compare against it.
    ``engine="emulator"`` computes without compiling (see ``Design.predict``)."""
    arr = check_input(x, design.input_shape)  # before the compiler runs
    engine = "csim" if engine is None and workers is not None else resolve_engine(engine, arr.shape[0])
    t0 = time.perf_counter()
    cached = True
    if engine != "emulator":
        cached = design.compile().cached
        log.info("csim library %s (%.1f s)", "up to date" if cached else "compiled", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    y = design.predict(x, workers=workers, progress=progress, engine=engine)
    report = design.compare(reference, x, labels, workers=workers, engine=engine,
                            progress=progress) if reference is not None else None
    return CsimResult(y, cached, seconds, report, engine)


__all__ = ["CsimResult", "csim"]
