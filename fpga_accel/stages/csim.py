"""The csim step: compile a project's C simulation (cached), predict a batch, and judge it against the
Keras model it came from — what ``fpga-accel csim`` and the flow's csim step run."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..design import AgreementReport, Design
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


def csim(design: Design, x: Any, reference: Any = None, labels: Any = None, workers: Optional[int] = None,
         progress: Optional[Progress] = None) -> CsimResult:
    """Compile (or reuse) the design's library, predict ``x``; with ``reference``, compare against it."""
    check_input(x, design.input_shape)  # before the compiler runs
    t0 = time.perf_counter()
    build = design.compile()
    seconds = time.perf_counter() - t0
    log.info("csim library %s (%.1f s)", "up to date" if build.cached else "compiled", seconds)
    y = design.predict(x, workers=workers, progress=progress)
    report = design.compare(reference, x, labels, workers=workers) if reference is not None else None
    return CsimResult(y, build.cached, seconds, report)


__all__ = ["CsimResult", "csim"]
