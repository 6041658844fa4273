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

from ..errors import BuildError, ConfigError
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

    def trace(self, x: np.ndarray, shapes: dict[str, Sequence[int]], slots: int | None = None,
              progress: Progress | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-layer outputs of every traced layer (hls4ml writes trace hooks when a layer has Trace on).

        ``shapes`` must be what the library allocates per layer and ``slots`` the number of layers it
        traces (``csim_build.trace_sizes``): the library writes one entry per traced layer into the
        buffer and trace reads ``prod(shape)`` values behind each pointer. ``progress`` hears the samples
        as counts, as for :meth:`predict`."""
        alloc, collect, free = self._lib.allocate_trace_storage, self._lib.collect_trace_output, self._lib.free_trace_storage
        alloc.argtypes, alloc.restype = [ctypes.c_size_t], None
        collect.argtypes, collect.restype = [ctypes.POINTER(_TraceData)], None
        free.argtypes, free.restype = [], None
        buf = (_TraceData * max(len(shapes), slots or 0, 1))()
        out: dict[str, list[np.ndarray]] = {name: [] for name in shapes}
        y = np.zeros((x.shape[0], self.n_out), dtype=np.float32)
        n, step = x.shape[0], max(1, x.shape[0] // 100)
        alloc(ctypes.sizeof(ctypes.c_float))
        try:
            for i in range(n):
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
                if progress is not None and (i + 1) % step == 0:
                    progress(Update("predicting", "count", i + 1, n))
        finally:
            free()
        return y, {k: np.stack(v) for k, v in out.items() if v}


# ---- process-parallel prediction -------------------------------------------------------------------

_WORKER_LIB: CsimLibrary | None = None
_WORKER_MAIN = "import sys; from fpga_accel.runtime.csim_lib import serve; sys.exit(serve(sys.argv[1:]))"
"""What a worker runs: a fresh interpreter that imports only this module — never the caller's script, so a
script without ``if __name__ == "__main__":`` is not run again in every worker (as spawn's would be)."""


def serve(argv: Sequence[str]) -> int:
    """A worker: load the library, then predict every chunk read from the request pipe and write its
    outputs to the result pipe, until end-of-file (the parent closed it, or died)."""
    global _WORKER_LIB
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops its workers
    _die_with_parent()
    requests_fd, results_fd, path, project_name, n_in, n_out, weights_dir = argv
    _WORKER_LIB = lib = CsimLibrary(path, project_name, int(n_in), int(n_out), weights_dir)
    with open(int(requests_fd), "rb", buffering=0) as requests, open(int(results_fd), "wb", buffering=0) as results:
        while True:
            head = _read_exact(requests, 8)
            if head is None:
                return 0
            rows = int.from_bytes(head, "little")
            data = _read_exact(requests, rows * lib.n_in * 4)
            if data is None:
                return 1
            x = np.frombuffer(data, dtype=np.float32).reshape(rows, lib.n_in)
            results.write(memoryview(lib.predict(x)).cast("B"))


def _read_exact(stream: "object", size: int) -> bytes | None:
    """``size`` bytes from a pipe, or None at end-of-file."""
    parts, left = [], size
    while left:
        part = stream.read(left)  # type: ignore[attr-defined]
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _die_with_parent() -> None:
    """A parent killed by SIGKILL cannot stop its workers: on Linux the kernel does it (PR_SET_PDEATHSIG),
    instead of each worker finishing its chunk and dying on a broken pipe with a traceback."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent was gone before the call
            os._exit(1)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


POOL_MIN_SAMPLES = 1024
"""Batches smaller than this run in this process even when more workers are asked for (``workers=N``).

A pool's call costs a round trip per chunk (pipes, the other process waking up) and pays off only when the
other cores are idle. Measured (benchmarks/crossover.py, 2 cores shared with other jobs, best of 5-9):
2 workers vs one on 8-64 samples 1.06-2.1x slower (jet MLP, io_stream CNN) and on one-layer designs (2 µs
per sample) 1.4-2x slower at every size up to 4,000; faster only with a core to spare: the CNN at 128
samples 0.56x, the jet MLP at 2,000 samples 0.51x (`make bench`, idle machine: 4,000 samples 0.52-0.60x).
Below 1,024 samples a pool saves at most half of a call of ~50 ms (the jet MLP) and can cost several times
that on a busy machine. Re-measured 2026-12-07 at load 10-11 (best of 3): 2 workers 0.94-1.18x of one worker
at 2,000 samples, 0.87-0.97x at 20,000, on all four crossover designs — the minimum and the default stand."""


def default_workers(n_samples: int) -> int:
    """One process unless the caller asks for more (``workers=N``, ``--workers N``).

    A pool is not worth it by default: it is faster than one worker only when another core is idle (2
    workers: 0.51x of one worker's time on 2,000 jet samples then; 0.94-1.36x at 512-4,000 samples while
    other jobs ran, 1.2-1.4x for one-layer designs — benchmarks/crossover.py), and its start-up (~0.25 s,
    once per Design) equals ~5,000 jet samples of csim. Batches from :data:`engines.AUTO_MIN_SAMPLES` on
    use the emulator by default, ~20-70x faster than one worker at 20,000 samples, so a default pool
    would only serve designs the emulator does not cover. One process is never slower than one worker."""
    return 1


def pool_allowed() -> bool:
    """False inside one of our workers, or in a process still importing its parent's script (a spawned
    child of someone else's pool re-running an unguarded script): a pool started there would nest."""
    import multiprocessing

    return _WORKER_LIB is None and not getattr(multiprocessing.current_process(), "_inheriting", False)


class _Worker:
    """One worker process and its two pipes (requests in, results out)."""

    def __init__(self, args: Sequence[str]) -> None:
        import subprocess
        import tempfile

        req_r, self._req_w = os.pipe()
        self._res_r, res_w = os.pipe()
        self.errors = tempfile.TemporaryFile()
        package_root = str(Path(__file__).resolve().parents[2])  # the fpga_accel this process runs
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _WORKER_MAIN, str(req_r), str(res_w), *args],
                                         pass_fds=(req_r, res_w), stdin=subprocess.DEVNULL, stderr=self.errors,
                                         env=env)
        finally:
            os.close(req_r)
            os.close(res_w)
        self.requests = open(self._req_w, "wb", buffering=0)
        self.results = open(self._res_r, "rb", buffering=0)

    def send(self, chunk: np.ndarray) -> None:
        try:
            self.requests.write(len(chunk).to_bytes(8, "little") + np.ascontiguousarray(chunk, np.float32).tobytes())
        except BrokenPipeError:
            raise self._died() from None

    def receive(self, rows: int, n_out: int) -> np.ndarray:
        data = _read_exact(self.results, rows * n_out * 4)
        if data is None:
            raise self._died()
        return np.frombuffer(data, dtype=np.float32).reshape(rows, n_out)

    def _died(self) -> BuildError:
        self.proc.wait()
        self.errors.seek(0)
        tail = " ".join(self.errors.read().decode(errors="replace").strip().splitlines()[-3:])
        return BuildError(f"a csim worker process exited (status {self.proc.returncode}) before returning its "
                          f"chunk: {tail or 'no message'}")

    def stop(self, terminate: bool) -> None:
        for stream in (self.requests, self.results):
            try:
                stream.close()  # end-of-file: the worker returns
            except OSError:
                pass
        if terminate and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a worker stuck in C: it must not outlive us
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


class WorkerPool:
    """Worker processes that each load their own copy of one csim library, kept for reuse.

    Starting a worker (a new interpreter + numpy import + dlopen) costs ~0.2 s, as much as predicting
    thousands of samples, so a Design keeps its pool between calls. Workers are fresh interpreters that
    import only this module (not multiprocessing's spawn, which re-imports the caller's script in each
    one). Order is preserved; results equal one worker's.
    """

    def __init__(self, path: str | Path, project_name: str, n_in: int, n_out: int, weights_dir: str | Path,
                 workers: int) -> None:
        if not pool_allowed():
            raise RuntimeError("a csim worker pool cannot start inside a worker")
        self.workers, self.n_in, self.n_out = workers, n_in, n_out
        args = [str(path), project_name, str(n_in), str(n_out), str(weights_dir)]
        self._workers: list[_Worker] | None = []
        try:
            for _ in range(workers):
                self._workers.append(_Worker(args))
        except BaseException:
            self.close(terminate=True)
            raise
        atexit.register(self.close)

    def predict(self, x: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        if self._workers is None:
            raise RuntimeError("worker pool is closed")
        n = x.shape[0]
        # few large chunks (a round trip per chunk), but enough for progress and load balance
        n_chunks = min(n, max(self.workers, min(self.workers * 8, n // 1000)))
        bounds = np.linspace(0, n, n_chunks + 1).astype(int)
        chunks = [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        workers = self._workers
        results = []
        try:
            # chunk k goes to worker k % W; a worker gets its next chunk once its last result is read, so
            # neither side ever blocks writing while the other is writing too
            for k, chunk in enumerate(chunks[:len(workers)]):
                workers[k].send(chunk)
            done = 0
            for k, chunk in enumerate(chunks):
                worker = workers[k % len(workers)]
                results.append(worker.receive(len(chunk), self.n_out))
                if k + len(workers) < len(chunks):
                    worker.send(chunks[k + len(workers)])
                done += len(chunk)
                if progress is not None:
                    progress(Update("predicting", "count", done, n))
        except BaseException:
            self.close(terminate=True)  # Ctrl-C or a failure: no orphan workers, no half-used pool
            raise
        return np.concatenate(results) if results else np.zeros((0, self.n_out), dtype=np.float32)

    def close(self, terminate: bool = False) -> None:
        workers, self._workers = self._workers, None
        if workers is None:
            return
        for worker in workers:
            worker.stop(terminate)
        atexit.unregister(self.close)

    @property
    def closed(self) -> bool:
        return self._workers is None
