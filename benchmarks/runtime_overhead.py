"""Runtime per-call overhead: Accelerator.predict (csim backend) over the raw csim library call, and the
board runtime's own code per single-sample call (pynq backend on a DMA stand-in whose "design" is a copy).

Goal (board-runtime issue): <= 5 % at batch 256. Also times the simulated board (pynq driver code on a
software DMA), which is a test vehicle, not a fast path.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import fpga_accel as fa
from fpga_accel.runtime import Accelerator
from fpga_accel.stages.bundle import make_bundle
from models import qmlp


def _median_time(fn, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_runtime_overhead() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = qmlp()
        design = fa.convert(model, fa.ConvertConfig(name="mlp", output_dir=root / "hls"))
        design.compile()
        (root / "stand_in.bit").write_bytes(b"\0" * 64)
        (root / "stand_in.hwh").write_text("<MODULES/>")
        bundle = make_bundle(design, root / "stand_in.bit", root / "stand_in.hwh", root / "bitstreams", model=model)
        x = np.random.default_rng(0).uniform(-3, 3, (256, 16)).astype(np.float32)
        print("runtime overhead at batch 256 (16-64-32-32-5 MLP)")
        with Accelerator.open(bundle, backend="csim") as acc:
            lib = acc._backend.library
            raw = _median_time(lambda: lib.predict(x))
            api = _median_time(lambda: acc.predict(x))
            print(f"  raw csim library call         {raw * 1e3:7.3f} ms")
            print(f"  Accelerator.predict (csim)    {api * 1e3:7.3f} ms   overhead {100 * (api - raw) / raw:+5.1f} %"
                  "  (goal <= 5 %)")
        with Accelerator.open(bundle, backend="simulated") as acc:
            sim = _median_time(lambda: acc.predict(x), repeats=10)
            print(f"  simulated board (pynq driver) {sim * 1e3:7.3f} ms   (software DMA; a test vehicle)")
        bench_per_call(bundle)


def bench_per_call(bundle: Path) -> None:
    """Single-sample per-call overhead of the board runtime's own code (goal <= 50 us), with the default
    float32 AXI words and with ap_fixed<16,6> words (the codec's bit-exact conversion)."""
    import json
    import shutil

    fixed = bundle.parent / f"{bundle.name}_fixed"
    shutil.copytree(bundle, fixed)
    manifest = json.loads((fixed / "manifest.json").read_text())
    manifest.update(axi_input_type="ap_fixed<16,6>", axi_output_type="ap_fixed<16,6>")
    (fixed / "manifest.json").write_text(json.dumps(manifest))
    print("board runtime per single-sample call, CPU time (pynq backend, DMA stand-in that copies; goal <= 50 us)")
    for label, path in (("float32 AXI words", bundle), ("ap_fixed<16,6> AXI words", fixed)):
        r = per_call_overhead(path)
        print(f"  {label:26s} {r['call'] * 1e6:6.1f} CPU us per call (runtime's own {(r['call'] - r['dma']) * 1e6:5.1f} us,"
              f" DMA stand-in {r['dma'] * 1e6:4.1f} us), {r['blocks_per_call']:+.2f} memory blocks kept per call")


class _CopyChannel:
    """A DMA channel with pynq's interface that finishes at once: the send copies each sample's first
    n_out words into the pending receive buffer (the design's computation replaced by a copy)."""

    def __init__(self, dma: "_CopyDMA") -> None:
        self._dma, self.idle, self.error, self.transferred = dma, True, False, 0

    def transfer(self, array, start=0, nbytes=0):
        dma = self._dma
        if self is dma.recvchannel:
            dma.pending, self.transferred = array, nbytes
            return
        n = nbytes // (4 * dma.n_in)
        dma.pending[: n * dma.n_out].reshape(n, dma.n_out)[...] = array[: n * dma.n_in].reshape(n, dma.n_in)[:, :dma.n_out]
        self.transferred = nbytes

    def wait(self):
        pass


class _CopyDMA:
    def __init__(self, n_in: int, n_out: int) -> None:
        self.n_in, self.n_out, self.pending, self.buffer_max_size = n_in, n_out, None, (1 << 26) - 1
        self.sendchannel, self.recvchannel = _CopyChannel(self), _CopyChannel(self)


class CopyPynq:
    """Stands in for the pynq module: an overlay whose only IP is the copying DMA above."""

    def __init__(self, n_in: int, n_out: int, dma_path: str) -> None:
        self.dma, self.dma_path = _CopyDMA(n_in, n_out), dma_path

    def allocate(self, shape, dtype=np.uint32, **_):
        return np.zeros(shape, dtype=dtype)

    def Overlay(self, bitfile, download=True, **_):  # noqa: N802 (pynq's name)
        from types import SimpleNamespace

        hier, name = self.dma_path.split("/")
        overlay = SimpleNamespace(ip_dict={self.dma_path: {"type": "xilinx.com:ip:axi_dma:7.1"}})
        setattr(overlay, hier, SimpleNamespace(**{name: self.dma}))
        return overlay


def per_call_overhead(bundle: Path, calls: int = 20000) -> dict:
    """Seconds per single-sample ``Accelerator.predict`` on the pynq backend with a copying DMA (the
    runtime's own code), the DMA stand-in's share, and Python objects left over per call."""
    import gc
    import sys

    from fpga_accel.runtime.manifest import Bundle

    m = Bundle.open(bundle).manifest
    n_in, n_out = int(np.prod(m.input_shape)), int(np.prod(m.output_shape))
    fake = CopyPynq(n_in, n_out, m.dma)
    x = np.random.default_rng(0).uniform(-1, 1, (1,) + tuple(m.input_shape)).astype(np.float32)
    with Accelerator.open(bundle, backend="pynq", pynq=fake) as acc:
        backend = acc._backend

        def dma_only():
            backend.dma.recvchannel.transfer(backend.outbuf, 0, 4 * n_out)
            backend.dma.sendchannel.transfer(backend.inbuf, 0, 4 * n_in)

        for _ in range(1000):
            acc.predict(x)
        t_call = min(_loop(acc.predict, x, calls) for _ in range(5))
        t_dma = min(_loop(lambda _x: dma_only(), x, calls) for _ in range(5))
        gc.collect()
        before = sys.getallocatedblocks()
        for _ in range(1000):
            acc.predict(x)
        gc.collect()
        leaked = (sys.getallocatedblocks() - before) / 1000
    return {"call": t_call, "dma": t_dma, "blocks_per_call": leaked}


def _loop(fn, x, calls: int) -> float:
    """CPU seconds per call of this process (``process_time``): on a shared machine the wall clock also
    counts the time other jobs held the core, which the board's single Python process would not see."""
    t0 = time.process_time()
    for _ in range(calls):
        fn(x)
    return (time.process_time() - t0) / calls


if __name__ == "__main__":
    import sys

    r = per_call_overhead(Path(sys.argv[1]))
    print(f"single-sample predict, pynq backend on a copying DMA: {r['call'] * 1e6:.1f} CPU us per call "
          f"(DMA stand-in {r['dma'] * 1e6:.1f} us; runtime's own code {(r['call'] - r['dma']) * 1e6:.1f} us; "
          f"goal <= 50 us); {r['blocks_per_call']:+.2f} memory blocks kept per call")
