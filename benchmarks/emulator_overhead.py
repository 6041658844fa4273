"""The emulator's cost per call on tiny batches (1, 4, 16 samples): ``Design.predict(engine="emulator")`` and
``Emulator.predict`` alone, CPU time of this process per call (best of 5 rounds of 200 calls: on a shared
machine wall time mostly measures the other jobs).

Usage: python benchmarks/emulator_overhead.py PROJECT ...   (converted projects; nothing is compiled)

To compare two versions, run the script with each tree on PYTHONPATH, alternating.

Measured 2026-12-07, 2 cores shared with 5 other helpers' jobs (load 8-11), the previous version (lead) →
this one (per-type cast plans, alias resolution and no-op checks once, softmax tables pre-cast to accum_t
and its tree's casts skipped where accum_t holds every partial sum), two alternating runs each, µs per
``Design.predict`` call on 1 / 4 / 16 samples:
  jet tagger 16-64-32-32-5 + softmax (io_parallel): 199-203 / 190-210 / 196-230 → 125-137 / 133-138 / 142-156
  qconv2d_bn (io_stream CNN):                          89-100 / 96-104 / 117-132 → 77-96 / 83-106 / 100-119
  qdense_bits4_alpha1 (one Dense):                     52-63 / 51-64 / 50-61   → 46-58 / 44-59 / 42-55
  qact_only_tanh (one table activation):               68-72 / 64-75 / 59-76   → 67-77 / 65-75 / 70-71 (unchanged)
At load 1.2 the same day (one run each, lead then this version), the same µs on 1 / 4 / 16 samples:
  jet 197 / 193 / 198 → 131 / 131 / 140; qconv2d_bn 100 / 100 / 120 → 73 / 77 / 98; one Dense 59 / 56 / 57 →
  44 / 50 / 48; table activation 71 / 70 / 70 → 67 / 69 / 71; Emulator.predict on 1 sample 177 → 112 (jet),
  82 → 64 (CNN), 41 → 31 (Dense), 55 → 54 (tanh).
Emulator.predict alone on 1 sample (load 8-11): jet 167-194 → 105-116 µs, CNN 78-88 → 68-81 µs; the rest of a
Design.predict call (input check, engine choice, reshape) is 15-30 µs. (Measured with this script's code
before it was moved here.) csim costs 40-60 µs per jet sample: on 1-2 samples csim is still the faster
engine, which is why the default below AUTO_MIN_SAMPLES is csim.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from fpga_accel.design import Design  # noqa: E402

SIZES = (1, 4, 16)
CALLS = 200


def per_call(fn: Callable[[], object], rounds: int = 5) -> float:
    """CPU seconds per call of ``fn``, best of ``rounds`` rounds of :data:`CALLS` calls."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(CALLS):
            fn()
        best = min(best, (time.process_time() - t0) / CALLS)
    return best


def bench_project(root: str) -> None:
    d = Design(root)
    x = np.random.default_rng(0).uniform(-3, 3, (max(SIZES),) + d.input_shape).astype(np.float32)
    d.predict(x, engine="emulator")  # the emulator is built once per Design: not part of a call
    emu = d.emulator()
    row = "  ".join(f"n={n}: {per_call(lambda: d.predict(x[:n], engine='emulator')) * 1e6:4.0f} µs" for n in SIZES)
    alone = per_call(lambda: emu.predict(x[:1])) * 1e6
    print(f"{d.name:36s} Design.predict {row}   Emulator.predict n=1: {alone:4.0f} µs  "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    for project in sys.argv[1:]:
        bench_project(project)
