"""The emulator's time per layer of a converted project: where a large design's emulation goes (the MLPerf-Tiny
ResNet's convolutions on 32x32 images, the zoo's CNNs at 20,000 samples).

Usage: python benchmarks/emulator_layers.py [--samples N] [--repeat R] [--input-range LOW HIGH] PROJECT ...
(a converted project; ``benchmarks/mlperf_convert.py`` and ``benchmarks/emulator.py`` make them)

Each layer is timed inside ``Emulator.predict`` (best of ``--repeat`` calls), in the emulator's own chunks
(``--chunk N``: N samples each instead). BLAS runs on one thread (one core, as one
csim worker).
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import numpy as np  # noqa: E402

from fpga_accel.runtime import emulator as emulation  # noqa: E402
from fpga_accel.runtime.emulator import Emulator  # noqa: E402
from fpga_accel.design import Design  # noqa: E402


def layer_times(root: Path, n: int, repeat: int, low: float, high: float) -> Dict[str, float]:
    """Seconds per layer (summed over the chunks, best of ``repeat`` calls) for ``n`` uniform inputs in
    [low, high): each step of ``Emulator.predict`` wrapped in a timer (works on any version of the emulator,
    for before/after figures)."""
    design = Design(root)
    emu = Emulator.open(root, design.meta.project_name, design.meta.io_type)
    x = np.random.default_rng(0).uniform(low, high, (n,) + design.input_shape).astype(np.float32)
    spent: Dict[str, float] = {}

    def timed(key: str, step: Callable[[dict], None]) -> Callable[[dict], None]:
        def run(env: dict) -> None:
            t0 = time.perf_counter()
            step(env)
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0
        return run

    emu._steps = [(call, timed(f"{call.layer} ({call.function})", step)) for call, step in emu._steps]
    best: Dict[str, float] = {}
    for _ in range(repeat):
        spent.clear()
        emu.predict(x)
        best = {k: min(v, best.get(k, float("inf"))) for k, v in spent.items()}
    return best


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--input-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--chunk", type=int, help="samples per chunk (default: the emulator's own choice)")
    parser.add_argument("projects", nargs="+")
    args = parser.parse_args(argv)
    if args.chunk:
        emulation.CHUNK, emulation.CHUNK_VALUES = args.chunk, 1 << 62
    for project in args.projects:
        times = layer_times(Path(project), args.samples, args.repeat, *args.input_range)
        total = sum(times.values())
        print(f"{Path(project).name}: {args.samples:,} samples, {total:.2f} s in all")
        for layer, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.01 * total:
                print(f"   {seconds * 1e3:9.1f} ms  {seconds / total:5.1%}  {layer}")


if __name__ == "__main__":
    main(sys.argv[1:])
