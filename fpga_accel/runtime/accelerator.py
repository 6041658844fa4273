"""One API on the board and off it: ``Accelerator.open(path).predict(x)``.

On a PYNQ-Z2 with the bundle's bitstream it drives the FPGA (pynq backend); anywhere else it falls back
to C simulation of the same design (csim backend) and gives the same numbers. numpy (+ pynq) only.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ..errors import BoardError, ConfigError
from .progress import Progress
from .tables import html_report
from .manifest import Bundle
from .streams import pack_inputs, split_stream
from .validate import check_input, random_inputs, softmax

log = logging.getLogger(__name__)

BACKENDS = ("auto", "pynq", "csim", "simulated")


def pynq_available() -> bool:
    """pynq imports and sees a device (off-board, pynq imports but lists no devices)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynq  # noqa: F401

            return bool(pynq.Device.devices)
    except Exception:  # ImportError, or pynq failing to probe the platform
        return False


@dataclass
class BenchResult:
    backend: str
    batch: int
    calls: int
    inferences_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float

    def format(self) -> str:
        return (f"backend {self.backend}, batch {self.batch}, {self.calls} calls: {self.inferences_per_s:,.0f} "
                f"inferences/s, latency p50 {self.latency_p50_ms:.3f} ms, p99 {self.latency_p99_ms:.3f} ms")

    __str__ = format

    def summary(self) -> List[Tuple[str, Any]]:
        return [("backend", self.backend), ("batch", self.batch), ("calls", self.calls),
                ("inferences/s", f"{self.inferences_per_s:,.0f}"),
                ("latency p50 / p99", f"{self.latency_p50_ms:.3f} ms / {self.latency_p99_ms:.3f} ms")]

    def _repr_html_(self) -> str:
        return html_report("bench", self.summary())


def _count(value: Any, what: str) -> int:
    """A count argument of the public API, checked as the CLI checks its flags (whole, >= 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}")
    return int(value)


class Accelerator:
    """A design ready to run; create with ``Accelerator.open``, use as a context manager or ``close()``."""

    def __init__(self, bundle: Bundle, backend: Any) -> None:
        self.bundle = bundle
        self._backend = backend
        self.last_call_seconds: Optional[float] = None
        """Wall time of the last predict() (checks, transfers/simulation, decoding)."""

    @classmethod
    def open(cls, path: Union[str, Path], backend: str = "auto", max_batch: int = 1024, timeout: float = 5.0,
             pynq: Any = None, download: bool = True) -> "Accelerator":
        """``path``: a bundle (bitstreams/NAME) or an HLS project (hls_projects/NAME).

        backend: 'auto' (pynq on a board with the bitstream, else csim), 'pynq', 'csim', or 'simulated'
        (the pynq backend's code on a software board backed by csim, for testing drivers).
        ``download=False`` (pynq's ``Overlay(..., download=False)``): attach to the bitstream already loaded
        on the board instead of loading it again.
        """
        max_batch = _count(max_batch, "max_batch")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        bundle = Bundle.open(path)
        if backend == "auto":
            backend = "pynq" if bundle.has_bitstream and pynq_available() else "csim"
            log.info("backend auto → %s (%s)", backend, "PYNQ device and bitstream found" if backend == "pynq"
                     else "no PYNQ device" if bundle.has_bitstream else "no bitstream in bundle")
        if backend == "csim":
            from .csim_backend import CsimBackend

            impl: Any = CsimBackend(bundle)
        else:
            from .pynq_backend import PynqBackend

            if backend == "simulated":
                from .sim_board import SimulatedPynq

                pynq = pynq or SimulatedPynq(bundle)
            elif not pynq_available() and pynq is None:
                raise BoardError("backend 'pynq' needs a PYNQ board: pynq is not installed or sees no device; "
                                 "use backend='csim' (or 'auto') off-board")
            impl = PynqBackend(bundle, pynq=pynq, max_batch=max_batch, timeout=timeout, download=bool(download))
            impl.name = backend
        return cls(bundle, impl)

    @property
    def backend(self) -> str:
        return str(self._backend.name)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.bundle.manifest.input_shape)

    @property
    def output_shape(self) -> tuple:
        return tuple(self.bundle.manifest.output_shape)

    @property
    def inputs(self) -> List[Tuple[str, tuple]]:
        """(name, shape) per input in the order ``predict`` takes them; one entry for a single-input design."""
        m = self.bundle.manifest
        return [(t["name"], tuple(t["shape"])) for t in m.inputs] if len(m.inputs) > 1 \
            else [("input", self.input_shape)]

    @property
    def outputs(self) -> List[Tuple[str, tuple]]:
        """(name, shape) per output in the order ``predict`` returns them."""
        m = self.bundle.manifest
        return [(t["name"], tuple(t["shape"])) for t in m.outputs] if len(m.outputs) > 1 \
            else [("output", self.output_shape)]

    def predict(self, x: Any, progress: Optional[Progress] = None) -> Any:
        """Outputs for a batch: float32, shape (n,) + output_shape. Input checked before any transfer.

        As Keras: a design of several inputs takes a list ``[x1, x2, ...]`` in ``inputs`` order, one of
        several outputs returns a list ``[y1, y2, ...]`` in ``outputs`` order (the stream order, see
        runtime/streams.py); one input (output) is one array."""
        t0 = time.perf_counter()
        m = self.bundle.manifest
        arr = pack_inputs(x, m.inputs) if len(m.inputs) > 1 else check_input(x, self.input_shape)
        y = self._backend.predict(arr, progress)
        if len(m.outputs) > 1:
            out: Any = split_stream(y, m.outputs)
            out = [softmax(o) for o in out] if m.softmax == "host" else out
        else:
            out = y.reshape((arr.shape[0],) + self.output_shape)
            out = softmax(out) if m.softmax == "host" else out
        self.last_call_seconds = time.perf_counter() - t0
        log.debug("%s: %d samples in %.3f ms", self.backend, arr.shape[0], 1e3 * self.last_call_seconds)
        return out

    def bench(self, batch: int = 256, calls: int = 20, x: Optional[np.ndarray] = None) -> BenchResult:
        """Throughput and per-call latency on random inputs (or ``x``)."""
        batch, calls = _count(batch, "batch"), _count(calls, "calls")
        if x is None:  # timing only: the values do not matter
            x = [random_inputs(batch, shape) for _, shape in self.inputs] if len(self.inputs) > 1 \
                else random_inputs(batch, self.input_shape)
        first = [xi[:1] for xi in x] if isinstance(x, (list, tuple)) else x[:1]
        n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
        self.predict(first)  # warm-up: library load, csim weight loading, caches
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            self.predict(x)
            times.append(time.perf_counter() - t0)
        t = np.array(times)
        return BenchResult(self.backend, n, calls, n * calls / t.sum(),
                           float(np.percentile(t, 50) * 1e3), float(np.percentile(t, 99) * 1e3))

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "Accelerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
