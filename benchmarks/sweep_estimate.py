"""Sweep speed-up on 1 vs 2 Dask workers (goal >= 1.7x on 2 cores), the emulator vs csim for a sweep's
accuracy (goal >= 3x end to end) and estimator time on a 10-layer model (goal < 1 s)."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import fpga_accel as fa
from fpga_accel.analysis.estimate import estimate
from fpga_accel.data import load_digits_split
from fpga_accel.sweep import SweepSpec, run_sweep


def _inputs(root: Path) -> None:
    from tensorflow import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    t = keras.layers.Dense(16, activation="relu")(inp)
    t = keras.layers.Dense(10)(t)
    keras.Model(inp, t).save(root / "float.h5")
    x, y, x_test, y_test = load_digits_split()
    np.savez(root / "digits.npz", x=x, y=y, x_test=x_test, y_test=y_test)


SWEEP_RUNS = (("1 worker, default", 1, None, "csim"), ("1 worker, 1 core per point", 1, 1, "csim"),
              ("2 workers", 2, None, "csim"), ("2 workers, emulator", 2, None, "emulator"))


def bench_sweep(engines_only: bool = False) -> None:
    """csim (every point compiled): 1 worker (default: its point's g++ build uses both cores), 1 worker on one
    core, 2 workers; then 2 workers with the emulator computing each point's accuracy (no compile).
    ``engines_only``: the last two runs only (csim vs emulator per point: 16 compiles instead of 48)."""
    runs = SWEEP_RUNS[2:] if engines_only else SWEEP_RUNS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _inputs(root)
        times = {}
        for label, workers, jobs, engine in runs:
            # each run its own csim cache: the points' sources are the same in every run (and every earlier
            # run of this script), so a shared cache made a later csim run compile nothing
            os.environ["FPGA_ACCEL_CACHE"] = str(root / f"cache-{len(times)}")
            spec = SweepSpec(name=label.replace(" ", "_").replace(",", ""), model=root / "float.h5",
                             data=root / "digits.npz", output_dir=root / "out", test_samples=200, engine=engine,
                             grid={"weight_bits": [3, 4, 5, 6], "reuse_factor": [1, 2], "activation_bits": [4, 6]})
            t0, cpu0 = time.perf_counter(), _children_cpu()
            run_sweep(spec, workers=workers, csim_jobs=jobs)
            times[label] = time.perf_counter() - t0
            print(f"  {label}: {times[label]:.1f} s, load {os.getloadavg()[0]:.1f}; " + _where(spec.root)
                  + f"; CPU of this process and its children {_children_cpu() - cpu0:.1f} s", flush=True)
        print("sweep of 16 points (quantize, convert, csim build + compare, estimate), incl. cluster start-up")
        two = times["2 workers"]
        for label, _, _, _ in runs[:-2]:
            print(f"  {label:28s} {times[label]:6.1f} s   2 workers {two:6.1f} s   speed-up {times[label] / two:4.2f}x"
                  "  (goal >= 1.7x)")
        emulated = times["2 workers, emulator"]
        print(f"  2 workers, csim per point {two:6.1f} s   emulator per point {emulated:6.1f} s   "
              f"speed-up {two / emulated:4.2f}x  (goal >= 3x)")


def _children_cpu() -> float:
    """CPU seconds of this process and its finished children (Dask workers, g++)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _where(root: Path) -> str:
    """Where a sweep's time went: each step's seconds summed over the points (flow.json), in wall time of the
    worker that ran it; what is left of (workers x the sweep's time) is start-up (cluster, TensorFlow import in
    each worker), idle tails and teardown."""
    steps: dict = {}
    for record in root.rglob("flow.json"):
        for step in json.loads(record.read_text())["steps"]:
            steps[step["step"]] = steps.get(step["step"], 0.0) + float(step.get("seconds") or 0.0)
    return "points' steps summed: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())


def bench_estimator() -> None:
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    inp = keras.Input((32,))
    t = QActivation(quantized_bits(8, 2, alpha=1))(inp)
    for i in range(10):
        t = QDense(32, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
                   name=f"fc{i}")(t)
        t = QActivation(quantized_relu(6, 2), name=f"relu{i}")(t)
    with tempfile.TemporaryDirectory() as tmp:
        design = fa.convert(keras.Model(inp, t), fa.ConvertConfig(name="deep", output_dir=Path(tmp)))
        t0 = time.perf_counter()
        for _ in range(100):
            est = estimate(design)
        elapsed = (time.perf_counter() - t0) / 100
    print(f"estimator on a 10-Dense-layer model ({len(est.layers)} layers): {elapsed * 1e3:.2f} ms  (goal < 1 s)")


if __name__ == "__main__":  # the sweep rows alone: python benchmarks/sweep_estimate.py [--engines-only]
    import sys

    bench_sweep(engines_only="--engines-only" in sys.argv[1:])
