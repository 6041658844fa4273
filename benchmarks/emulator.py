"""Emulator vs one csim worker (make bench): the speed-up at 20,000 samples, 10^6 jet samples, and the
batch size from which auto (csim on 64 samples + the emulator) beats csim alone.

Usage: python benchmarks/emulator.py PROJECT [PROJECT ...]   (converted projects, e.g. the fidelity zoo's)
"""
from __future__ import annotations

import sys
import time

import numpy as np

from fpga_accel.design import Design


def _time(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main(projects: list[str]) -> None:
    for root in projects:
        d = Design(root)
        d.compile()
        rng = np.random.default_rng(0)
        x = rng.uniform(-3, 3, (20_000,) + d.input_shape).astype(np.float32)
        d.predict(x[:10], engine="emulator")  # the emulator's set-up once (firmware, weights, tables)
        csim = _time(d.predict, x, None, None, "csim")
        emu = _time(d.predict, x, None, None, "emulator")
        print(f"{d.name} ({d.meta.io_type}): 20,000 samples csim {csim:.2f} s, emulator {emu:.3f} s: {csim / emu:.0f}x")
        for n in (16, 64, 128, 256, 1024):
            c = min(_time(d.predict, x[:n], None, None, "csim") for _ in range(3))
            a = min(_time(d.predict, x[:n], None, None, "auto") for _ in range(3))
            print(f"   n={n}: csim {c * 1e3:.1f} ms, auto {a * 1e3:.1f} ms")
        if len(d.input_shape) == 1 and d.input_shape[0] == 16:
            big = rng.uniform(-3, 3, (1_000_000, 16)).astype(np.float32)
            print(f"   10^6 samples emulator {_time(d.predict, big, None, None, 'emulator'):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
