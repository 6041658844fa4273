"""Call a compiled csim library through ctypes: predict, trace, and process-parallel predict.

The library is hls4ml's bridge around the AXI-stream wrapper (``<project>_float``), so csim sees exactly
what the DMA feeds the FPGA: float32 samples cast to the design's input type. io_stream conv csim keeps
``static`` line buffers, so one loaded library is never called from two threads: parallelism is by
processes, each loading its own copy.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .progress import Progress, Update

log = logging.getLogger(__name__)



class _TraceData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


def bind_weights(lib: ctypes.CDLL, weights_dir: str | Path) -> None:
    """Point the library at the design's weight files before its first call loads them."""
    lib.fpga_accel_set_weights_dir.argtypes = [ctypes.c_char_p]
    lib.fpga_accel_set_weights_dir(os.fsencode(str(weights_dir)))


def check_stream_sizes(lib: ctypes.CDLL, n_in: int, n_out: int) -> None:
    """The compiled design's own values per sample against its record's shapes: a mismatch would read
    samples at the wrong stride, or past the buffer."""
    compiled = (int(lib.fpga_accel_axi_n_in()), int(lib.fpga_accel_axi_n_out()))
    if compiled != (n_in, n_out):
        raise ConfigError(f"the compiled design takes {compiled[0]} values and returns {compiled[1]} per sample, "
                          f"but its record says {n_in} and {n_out}: the project or manifest is edited or stale; "
                          "re-convert (or re-bundle) it")


class CsimLibrary:
    """One loaded csim library; not thread-safe (see module docstring)."""

    def __init__(self, path: str | Path, project_name: str, n_in: int, n_out: int, weights_dir: str | Path) -> None:
        self.path = Path(path)
        self.n_in = n_in
        self.n_out = n_out
        self.weights_dir = Path(weights_dir)
        self._lib = ctypes.CDLL(str(self.path))
        check_stream_sizes(self._lib, n_in, n_out)
        bind_weights(self._lib, weights_dir)
        self._top = getattr(self._lib, f"{project_name}_float")
        self._top.restype = None
        self._top.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def predict(self, x: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """Run samples one by one; ``x`` is float32 (n, n_in), C-contiguous (the caller validates)."""
        n = x.shape[0]
        y = np.zeros((n, self.n_out), dtype=np.float32)
        xp, yp = x.ctypes.data, y.ctypes.data
        xs, ys = 4 * self.n_in, 4 * self.n_out
        top = self._top
        step = max(1, n // 100)
        for i in range(n):
            top(xp + i * xs, yp + i * ys)
            if progress is not None and (i + 1) % step == 0:
                progress(Update("predicting", "count", i + 1, n))
        return y

    def trace(self, x: np.ndarray, shapes: dict[str, Sequence[int]],
              slots: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-layer outputs of every traced layer (hls4ml writes trace hooks when a layer has Trace on).

        ``shapes`` must be what the library allocates per layer and ``slots`` the number of layers it
        traces (``csim_build.trace_sizes``): the library writes one entry per traced layer into the
        buffer and trace reads ``prod(shape)`` values behind each pointer."""
        alloc, collect, free = self._lib.allocate_trace_storage, self._lib.collect_trace_output, self._lib.free_trace_storage
        alloc.argtypes, alloc.restype = [ctypes.c_size_t], None
        collect.argtypes, collect.restype = [ctypes.POINTER(_TraceData)], None
        free.argtypes, free.restype = [], None
        buf = (_TraceData * max(len(shapes), slots or 0, 1))()
        out: dict[str, list[np.ndarray]] = {name: [] for name in shapes}
        y = np.zeros((x.shape[0], self.n_out), dtype=np.float32)
        alloc(ctypes.sizeof(ctypes.c_float))
        try:
            for i in range(x.shape[0]):
                self._top(x[i].ctypes.data, y[i].ctypes.data)
                collect(buf)
                for item in buf:
                    if not item.name:
                        continue
                    name = item.name.decode()
                    if name in out:
                        size = int(np.prod(shapes[name]))
                        arr = np.ctypeslib.as_array(ctypes.cast(item.data, ctypes.POINTER(ctypes.c_float)), (size,))
                        out[name].append(arr.reshape(shapes[name]).copy())
        finally:
            free()
        return y, {k: np.stack(v) for k, v in out.items() if v}


# ---- process-parallel prediction -------------------------------------------------------------------

_WORKER_LIB: CsimLibrary | None = None


def _worker_init(path: str, project_name: str, n_in: int, n_out: int, weights_dir: str) -> None:
    global _WORKER_LIB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the pool
    _die_with_parent()
    _WORKER_LIB = CsimLibrary(path, project_name, n_in, n_out, weights_dir)


def _die_with_parent() -> None:
    """A parent killed by SIGKILL cannot stop its workers: on Linux the kernel does it (PR_SET_PDEATHSIG),
    instead of each worker finishing its chunk and dying on a broken pipe with a traceback."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent was gone before the call
            os._exit(1)


def _worker_predict(chunk: np.ndarray) -> np.ndarray:
    assert _WORKER_LIB is not None
    return _WORKER_LIB.predict(np.ascontiguousarray(chunk))


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(n_samples: int) -> int:
    """One process unless the caller asks for more (``workers=N``, ``--workers N``).

    A pool is not worth it by default: on 2 cores it is slower than one worker at 20,000 samples (start-up,
    IPC), and its spawned workers re-import the caller's script — a script without
    ``if __name__ == "__main__":`` would run again in every worker. One process never does either."""
    return 1


def pool_allowed() -> bool:
    """False inside one of our workers, or in a process still importing its parent's script (a spawned
    child re-running an unguarded script): a pool started there would nest, fail and respawn forever."""
    import multiprocessing

    return _WORKER_LIB is None and not getattr(multiprocessing.current_process(), "_inheriting", False)


class WorkerPool:
    """Worker processes that each load their own copy of one csim library, kept for reuse.

    Starting a worker (spawn + numpy import + dlopen) costs ~0.2 s, as much as predicting thousands of
    samples, so a Design keeps its pool between calls. Order is preserved; results equal one worker's.
    """

    def __init__(self, path: str | Path, project_name: str, n_in: int, n_out: int, weights_dir: str | Path,
                 workers: int) -> None:
        import multiprocessing

        self.workers, self.n_out = workers, n_out
        # spawn: the parent may hold TensorFlow threads, which fork would copy in a broken state.
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(workers, initializer=_worker_init, initargs=(str(path), project_name, n_in, n_out,
                                                                                   str(weights_dir)))
        atexit.register(self.close)

    def predict(self, x: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        if self._pool is None:
            raise RuntimeError("worker pool is closed")
        n = x.shape[0]
        # few large chunks (IPC per chunk is ~1 ms), but enough for progress and load balance
        n_chunks = min(n, max(self.workers, min(self.workers * 8, n // 1000)))
        bounds = np.linspace(0, n, n_chunks + 1).astype(int)
        chunks = [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        results = []
        try:
            done = 0
            for part in self._pool.imap(_worker_predict, chunks):
                results.append(part)
                done += part.shape[0]
                if progress is not None:
                    progress(Update("predicting", "count", done, n))
        except BaseException:
            self.close(terminate=True)  # Ctrl-C or a failure: no orphan workers, no half-used pool
            raise
        return np.concatenate(results) if results else np.zeros((0, self.n_out), dtype=np.float32)

    def close(self, terminate: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if terminate:
            pool.terminate()
        else:
            pool.close()
        pool.join()
        atexit.unregister(self.close)

    @property
    def closed(self) -> bool:
        return self._pool is None
