"""The pynq backend: program the overlay, stream batches through hls4ml's AXI-stream IP with the AXI DMA.

Written against the pynq API (``Overlay``, ``allocate``, DMA channels' ``transfer``/``idle``/``wait``) and
avoiding the bugs of hls4ml's own ``axi_stream_driver.py``: buffers are allocated once and reused (never
replaced), waits have a timeout, transfers stay inside the DMA's length register, buffers are freed on
``close()``. ``pynq`` is any object with pynq's ``Overlay`` and ``allocate``: the real module on a board,
``SimulatedPynq`` in tests.
"""
from __future__ import annotations

import logging
import time
from functools import reduce
from typing import Any, Optional

import numpy as np

from ..errors import BoardError
from .progress import Progress, Update
from .fixed_point import Codec
from .manifest import Bundle

log = logging.getLogger(__name__)

DMA_MAX_BYTES = (1 << 26) - 1
"""The AXI DMA's buffer length register is 26 bits wide in hls4ml's block design."""


def find_dma(overlay: Any, preferred: str) -> Any:
    """The AXI DMA of the overlay: ``preferred`` (hls4ml: hier_0/axi_dma_0), else the only DMA there is."""
    ips = dict(getattr(overlay, "ip_dict", {}))
    candidates = [preferred] if preferred in ips else [
        name for name, desc in ips.items() if "axi_dma" in str(desc.get("type", name) if isinstance(desc, dict) else name)]
    if len(candidates) != 1:
        found = ", ".join(f"{name} ({d.get('type', '?') if isinstance(d, dict) else '?'})" for name, d in ips.items())
        raise BoardError(f"no unique AXI DMA in the overlay (expected {preferred}); found: {found or 'nothing'}")
    try:
        return reduce(getattr, candidates[0].split("/"), overlay)
    except AttributeError as exc:
        raise BoardError(f"overlay lists {candidates[0]} but does not expose it as a driver: {exc}") from exc


class PynqBackend:
    name = "pynq"

    def __init__(self, bundle: Bundle, pynq: Any = None, max_batch: int = 1024, timeout: float = 5.0,
                 download: bool = True) -> None:
        bundle.verify()  # hashes before anything touches the FPGA
        if pynq is None:
            try:
                import pynq  # type: ignore[no-redef]
            except ImportError as exc:
                raise BoardError("the pynq backend needs the pynq package (pip install 'pynq>=2.7,<4') "
                                 "on a PYNQ board; elsewhere use backend='csim'") from exc
        m = bundle.manifest
        self.n_in, self.n_out = int(np.prod(m.input_shape)), int(np.prod(m.output_shape))
        self.codec_in, self.codec_out = Codec.parse(m.axi_input_type), Codec.parse(m.axi_output_type)
        self.timeout = float(timeout)
        try:
            self.overlay = pynq.Overlay(str(bundle.bitfile), download=download)
        except Exception as exc:  # pynq raises RuntimeError("No Devices Found") and friends off-board
            raise BoardError(f"cannot load overlay {bundle.bitfile}: {exc}") from exc
        self.dma = find_dma(self.overlay, m.dma)
        max_bytes = min(int(getattr(self.dma, "buffer_max_size", DMA_MAX_BYTES)), DMA_MAX_BYTES)
        word = 4
        self.chunk = max(1, min(int(max_batch), max_bytes // (word * self.n_in), max_bytes // (word * self.n_out)))
        self._allocate = pynq.allocate
        self.inbuf = pynq.allocate(shape=(self.chunk * self.n_in,), dtype=self.codec_in.word_dtype)
        self.outbuf = pynq.allocate(shape=(self.chunk * self.n_out,), dtype=self.codec_out.word_dtype)
        log.info("pynq backend: DMA %s, buffers for %d samples (%d + %d bytes)", m.dma, self.chunk,
                 self.inbuf.nbytes, self.outbuf.nbytes)

    def predict(self, x: np.ndarray, progress: Optional[Progress] = None) -> np.ndarray:
        """``x`` is validated float32 (n, n_in); batches larger than the buffers go in chunks."""
        if self.inbuf is None:
            raise BoardError("accelerator is closed")
        n = x.shape[0]
        out = np.empty((n, self.n_out), dtype=np.float32)
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        for start in range(0, n, self.chunk):
            k = min(self.chunk, n - start)
            in_bytes, out_bytes = 4 * k * self.n_in, 4 * k * self.n_out
            self.inbuf[: k * self.n_in] = self.codec_in.encode(x[start:start + k].reshape(-1))
            recv.transfer(self.outbuf, 0, out_bytes)  # receive first: the IP may answer at once
            send.transfer(self.inbuf, 0, in_bytes)
            self._wait(send, "send (MM2S)", k)
            self._wait(recv, "receive (S2MM)", k)
            got = int(getattr(recv, "transferred", out_bytes) or out_bytes)
            if got != out_bytes:
                raise BoardError(f"DMA received {got} bytes for {k} samples, expected {out_bytes}: the IP's "
                                 "output size does not match the manifest")
            out[start:start + k] = self.codec_out.decode(self.outbuf[: k * self.n_out]).reshape(k, self.n_out)
            if progress is not None:
                progress(Update("predicting", "count", start + k, n))
        return out

    def _wait(self, channel: Any, what: str, k: int) -> None:
        """Poll ``idle`` with a deadline (pynq's own wait() spins forever on a hung stream)."""
        deadline = time.monotonic() + self.timeout
        while not channel.idle:
            if getattr(channel, "error", False):
                raise BoardError(f"DMA {what} reported an error")
            if time.monotonic() > deadline:
                raise BoardError(
                    f"DMA {what} did not finish within {self.timeout:g} s for {k} samples: the IP never closed "
                    "the stream. Likely cause: no TLAST on the output (input TLAST missing, or a transfer that "
                    "splits a sample), or a bitstream that does not match the manifest's shapes")
            time.sleep(0)
        channel.wait()  # idle now: returns at once, invalidates the receive buffer's cache lines

    def close(self) -> None:
        for buf in (self.inbuf, self.outbuf):
            if buf is not None and hasattr(buf, "freebuffer"):
                buf.freebuffer()
        self.inbuf = self.outbuf = None
