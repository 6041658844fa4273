"""A simulated PYNQ board: pynq's ``Overlay``/``allocate``/AXI DMA in software, with the DMA's streams
connected to a C simulation of hls4ml's AXI-stream wrapper (``firmware/<project>_axi.cpp``).

The pynq backend runs unchanged on it — buffer handling, chunking, TLAST, word packing — so tests catch
driver bugs without a board. TLAST follows the wrapper: output TLAST only at the end of the sample in
which input TLAST arrived; a receive that never sees it stays busy, so a wrong driver times out here too.
"""
from __future__ import annotations

import ctypes
import itertools
from collections import deque
from types import SimpleNamespace
from typing import Any, Deque, List, Optional, Tuple

import numpy as np

from ..errors import ConfigError
from .axis_wrapper import AXI, AXIS
from .csim_build import build_library
from .csim_lib import bind_weights, check_stream_sizes
from .fixed_point import Codec
from .manifest import Bundle

_ADDRESSES = itertools.count(0x1000_0000, 0x10_0000)


class SimBuffer(np.ndarray):
    """Like pynq's PynqBuffer: an ndarray with a physical address, cache maintenance and freebuffer()."""

    physical_address: int
    freed: bool

    def flush(self) -> None:
        pass

    def invalidate(self) -> None:
        pass

    def freebuffer(self) -> None:
        self.freed = True


def sim_allocate(shape: Any, dtype: Any = np.uint32, **_: Any) -> SimBuffer:
    buf = np.zeros(shape, dtype=dtype).view(SimBuffer)
    buf.physical_address = next(_ADDRESSES)
    buf.freed = False
    return buf


class AxiStreamIP:
    """The design's AXI-stream wrapper in csim: consumes whole samples from its input FIFO.

    ``axis=False``: hls4ml's wrapper (what the vivado-hls flow synthesises), fed the decoded values.
    ``axis=True``: the vitis flow's ``hls::axis`` wrapper, fed the DMA's raw 32-bit words, so its word
    format and TLAST logic are what is simulated."""

    def __init__(self, library_path: str, weights_dir: str, n_in: int, n_out: int, codec_in: Codec,
                 codec_out: Codec, axis: bool = False) -> None:
        self._lib = ctypes.CDLL(library_path)
        bind_weights(self._lib, weights_dir)
        if axis and not hasattr(self._lib, "fpga_accel_axis_run"):
            raise ConfigError("this design's csim has no hls::axis wrapper (its AXI types are not float32), "
                              "yet its bundle says the vitis flow built it: re-convert and rebuild it")
        self.axis = axis
        self._run = self._lib.fpga_accel_axis_run if axis else self._lib.fpga_accel_axi_run
        self._run.restype = ctypes.c_ulong if axis else None
        self._run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p]
        check_stream_sizes(self._lib, n_in, n_out)
        self.n_in, self.n_out, self.codec_in, self.codec_out = n_in, n_out, codec_in, codec_out
        self.inq: Deque[Tuple[Any, bool]] = deque()
        self.outq: Deque[Tuple[Any, bool]] = deque()

    def push(self, words: np.ndarray, last_at_end: bool) -> None:
        for i, w in enumerate(words):
            self.inq.append((w, last_at_end and i == len(words) - 1))
        n_samples = len(self.inq) // self.n_in
        if n_samples == 0:
            return  # a partial sample waits for the rest, as the IP does
        items = [self.inq.popleft() for _ in range(n_samples * self.n_in)]
        if self.axis:
            self._run_axis(items, n_samples)
            return
        data = self.codec_in.decode(np.array([w for w, _ in items])).astype(np.float32)
        last = np.array([t for _, t in items], dtype=np.uint8)
        out = np.zeros(n_samples * self.n_out, dtype=np.float32)
        out_last = np.zeros(n_samples * self.n_out, dtype=np.uint8)
        self._run(data.ctypes.data, last.ctypes.data, n_samples, out.ctypes.data, out_last.ctypes.data)
        for w, t in zip(self.codec_out.encode(out), out_last):
            self.outq.append((w, bool(t)))


    def _run_axis(self, items: List[Tuple[Any, bool]], n_samples: int) -> None:
        words = np.ascontiguousarray(np.array([w for w, _ in items])).view(np.uint32)
        last = np.array([t for _, t in items], dtype=np.uint8)
        out = np.zeros(n_samples * self.n_out, dtype=np.uint32)
        out_last = np.zeros(n_samples * self.n_out, dtype=np.uint8)
        bad = self._run(words.ctypes.data, last.ctypes.data, n_samples, out.ctypes.data, out_last.ctypes.data)
        if bad:
            raise RuntimeError(f"simulated IP: the hls::axis wrapper did not write {self.n_out} words for sample {bad}")
        dtype = self.codec_out.encode(np.zeros(1, np.float32)).dtype  # the words as the DMA buffer holds them
        for w, t in zip(out.view(dtype), out_last):
            self.outq.append((w, bool(t)))


class SimChannel:
    """One direction of an AXI DMA in simple mode, with pynq's channel interface."""

    def __init__(self, dma: "SimDMA", direction: str) -> None:
        self._dma, self.direction = dma, direction
        self.running, self.idle, self.error = True, True, False
        self.transferred = 0
        self._buffer: Optional[SimBuffer] = None
        self._pos = self._end = 0

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def transfer(self, array: SimBuffer, start: int = 0, nbytes: int = 0) -> None:
        if not self.running:
            raise RuntimeError("DMA channel not started")
        if not self.idle:
            raise RuntimeError("DMA channel not idle")
        nbytes = nbytes or array.nbytes - start
        if nbytes > self._dma.buffer_max_size:
            raise ValueError(f"Transfer size is {nbytes} bytes, which exceeds the maximum DMA buffer size "
                             f"{self._dma.buffer_max_size}.")
        if getattr(array, "freed", False):
            raise RuntimeError("transfer from a freed buffer")
        word = array.itemsize
        self.idle, self.transferred = False, 0
        if self.direction == "send":
            self._dma.ip.push(np.array(array[start // word:(start + nbytes) // word]), last_at_end=True)
            self.transferred, self.idle = nbytes, True  # MM2S always ends its transfer with TLAST
        else:
            self._buffer, self._pos, self._end = array, start // word, (start + nbytes) // word
        self._dma.recvchannel.receive()

    def receive(self) -> None:
        """S2MM: move the IP's output words into the buffer until TLAST (transfer done) or it is full.
        Without either the channel stays busy, as the real DMA does."""
        if self.idle or self._buffer is None:
            return
        outq = self._dma.ip.outq
        while outq and self._pos < self._end:
            word, last = outq.popleft()
            self._buffer[self._pos] = word
            self._pos += 1
            self.transferred += self._buffer.itemsize
            if last:
                break
        else:
            if self._pos < self._end:
                return
        self.idle, self._buffer = True, None

    def wait(self) -> None:
        if not self.idle:
            raise RuntimeError("simulated DMA: the stream never completed (a real pynq wait() hangs here)")


class SimDMA:
    def __init__(self, ip: AxiStreamIP, buffer_max_size: int = (1 << 26) - 1) -> None:
        self.ip, self.buffer_max_size = ip, buffer_max_size
        self.sendchannel, self.recvchannel = SimChannel(self, "send"), SimChannel(self, "recv")


def _wrapper(build: dict) -> str:
    """The AXI-stream wrapper a build recorded; a record from before builds recorded it names only its flow
    (the Vitis flow, then the only one with the hls::axis wrapper)."""
    return str(build.get("wrapper") or (AXIS if build.get("flow") == "vitis" else AXI))


class SimulatedPynq:
    """Stands in for the ``pynq`` module: ``Overlay(bitfile)`` gives a software overlay of the bundle."""

    def __init__(self, bundle: Bundle, buffer_max_size: int = (1 << 26) - 1) -> None:
        self.bundle, self.buffer_max_size = bundle, buffer_max_size
        self.allocated: List[SimBuffer] = []

    def allocate(self, shape: Any, dtype: Any = np.uint32, **kwargs: Any) -> SimBuffer:
        buf = sim_allocate(shape, dtype, **kwargs)
        self.allocated.append(buf)
        return buf

    def Overlay(self, bitfile: str, download: bool = True, **_: Any) -> Any:  # noqa: N802 (pynq's name)
        m = self.bundle.manifest
        build = build_library(self.bundle.layout)
        axis = _wrapper(m.build or {}) == AXIS  # the wrapper the bitstream has
        ip = AxiStreamIP(str(build.library), str(build.weights_dir), int(np.prod(m.input_shape)), int(np.prod(m.output_shape)),
                         Codec.parse(m.axi_input_type), Codec.parse(m.axi_output_type), axis=axis)
        dma = SimDMA(ip, self.buffer_max_size)
        ip_name = f"{m.project_name}_axis" if axis else f"{m.project_name}_axi"
        hier, dma_name = m.dma.split("/")
        overlay = SimpleNamespace(bitfile_name=bitfile, downloaded=download, ip_dict={
            m.dma: {"type": "xilinx.com:ip:axi_dma:7.1", "fullpath": m.dma},
            f"{hier}/{ip_name}_0": {"type": f"xilinx.com:hls:{ip_name}:1.0"},
        })
        setattr(overlay, hier, SimpleNamespace(**{dma_name: dma}))
        return overlay
