"""Time per ``Design.predict`` call against the batch size, for every way a call can be computed: one csim
worker, the csim worker pool (at its default, and at 2 workers), the default call (engine and workers left
to the library), engine="auto" and engine="emulator" — warm (library loaded, emulator built, pool started)
and cold (a new Design: library load, emulator set-up, pool start-up paid by the call).

The defaults are set from these crossovers (engines.AUTO_MIN_SAMPLES, csim_lib.default_workers): no default
may make a call slower than one csim worker.

Usage: python benchmarks/crossover.py [--repeat N] [PROJECT ...]   (converted projects; none: the designs of
CROSSOVER_PROJECTS are converted into a temporary directory — four compiles)

BLAS runs on one thread, as in benchmarks/emulator.py. Every point is the best of ``--repeat`` calls (the
machine is shared: the minimum is the call's cost, the rest is other processes), and all engines of one
batch size are timed in the same round, so their ratio is meaningful even when the absolute times drift.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator import zoo_projects  # noqa: E402

from fpga_accel.design import Design  # noqa: E402

SIZES = (1, 8, 32, 64, 96, 128, 256, 512, 2_000, 20_000)
CROSSOVER_PROJECTS = (("jet_tagger", "io_parallel"), ("qconv2d_bn", "io_stream"),  # the two designs
                      ("qdense_bits4_alpha1", "io_parallel"), ("qact_only_tanh", "io_parallel"))  # the cheapest
"""The designs whose crossovers set the defaults: the jet MLP and the zoo's io_stream CNN, and two one-layer
designs (one Dense, one table activation) whose csim costs only 2-4 µs per sample: the emulator's fixed
cost per call weighs most there, so auto crosses csim latest."""
COLUMNS = ("csim 1 worker", "pool default", "pool 2 workers", "default call", "auto", "emulator")


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cold(root: Path, x: np.ndarray) -> Dict[str, float]:
    """First call of a new Design (the compiled library is in the cache: a load, not a compile)."""
    out = {}
    for name, kwargs in (("csim", {"engine": "csim"}), ("emulator", {"engine": "emulator"}),
                         ("pool 2 workers", {"workers": 2})):
        d = Design(root)
        d.compile()  # a cache hit: finds the library, does not load it
        out[name] = _once(lambda: d.predict(x, **kwargs))
        d.close()
    return out


def bench_project(root: Path, repeat: int) -> Dict[int, Dict[str, float]]:
    d, pool = Design(root), Design(root)
    d.compile()
    pool.compile()
    x = np.random.default_rng(0).uniform(-3, 3, (max(SIZES),) + d.input_shape).astype(np.float32)
    c = cold(root, x[:1])
    print(f"{d.name} ({d.meta.io_type}), cold first call of 1 sample: csim {c['csim'] * 1e3:.0f} ms (library "
          f"load), emulator {c['emulator'] * 1e3:.0f} ms (set-up), pool of 2 {c['pool 2 workers'] * 1e3:.0f} ms "
          f"(1 sample: no pool); pool of 2 start-up on 2,000 samples "
          f"{cold(root, x[:2000])['pool 2 workers'] * 1e3:.0f} ms")
    d.predict(x[:8], engine="emulator")  # warm: the emulator is built, the library loaded, the pool started
    d.predict(x[:8], engine="csim")
    pool.predict(x[:8], workers=2)
    assert np.array_equal(d.predict(x[:2000], engine="emulator"), pool.predict(x[:2000], workers=2)), d.name
    calls = {
        "csim 1 worker": lambda a: d.predict(a, workers=1),
        "pool default": lambda a: d.predict(a, engine="csim"),  # workers=None: default_workers(n)
        "pool 2 workers": lambda a: pool.predict(a, workers=2),
        "default call": lambda a: d.predict(a),
        "auto": lambda a: d.predict(a, engine="auto"),
        "emulator": lambda a: d.predict(a, engine="emulator"),
    }
    table: Dict[int, Dict[str, float]] = {}
    for n in SIZES:
        reps = repeat if n < 20_000 else max(2, repeat - 2)
        table[n] = {name: _best(lambda: fn(x[:n]), reps) for name, fn in calls.items()}
        row = "  ".join(f"{name} {_fmt(t)}" for name, t in table[n].items())
        print(f"   n={n:6d}: {row}", flush=True)
    pool.close()
    d.close()
    return table


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms" if seconds < 10 else f"{seconds:8.2f} s "


def markdown(name: str, table: Dict[int, Dict[str, float]]) -> str:
    """The README's table: ms per call, and each column relative to one csim worker."""
    lines = [f"| {name}: samples | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for n, row in table.items():
        base = row["csim 1 worker"]
        cells = [f"{row[c] * 1e3:.2f} ms" if c == "csim 1 worker" else f"{row[c] * 1e3:.2f} ({row[c] / base:.2f}×)"
                 for c in COLUMNS]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("projects", nargs="*")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(p) for p in args.projects] or zoo_projects(Path(tmp), CROSSOVER_PROJECTS)
        tables = {root.name: bench_project(root, args.repeat) for root in roots}
    for name, table in tables.items():
        print()
        print(markdown(name, table))


if __name__ == "__main__":
    main(sys.argv[1:])
