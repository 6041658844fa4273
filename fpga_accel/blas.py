"""BLAS threads while the library computes large batches itself (convert's verdict: the emulator's products).

Why one thread: the emulator's products are many small ones (chunks of ~2 MB), run next to csim, Keras and,
on a shared machine, other jobs. Measured on the 2-core development machine (load 6-10, other helpers'
jobs running): the emulator on 1,000 MLPerf-Tiny ResNet images took 6.3 s with one BLAS thread and 10.6 s
with OpenBLAS' default of one per core. csim is one thread, so the verdict's other half is unaffected.

threadpoolctl (a scikit-learn dependency, so present with the host stack) sets the limit inside this process
and puts the previous one back; without it BLAS keeps its own count (numpy is loaded by then: environment
variables would no longer reach it), and a debug line says so.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

log = logging.getLogger(__name__)

__all__ = ["VERDICT_BLAS_THREADS", "blas_threads"]

VERDICT_BLAS_THREADS = 1
"""BLAS threads during convert's verdict (see the module docstring for the measurement)."""


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """BLAS on at most ``n`` threads inside the block (the previous limits restored after it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only without scikit-learn
        log.debug("threadpoolctl missing: BLAS keeps its own thread count")
        yield
        return
    with threadpool_limits(n, user_api="blas"):
        yield
