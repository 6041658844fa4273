"""Runtime per-call overhead: Accelerator.predict (csim backend) over the raw csim library call.

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
