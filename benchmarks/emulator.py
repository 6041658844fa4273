"""Emulator vs one csim worker on one core: the speed-up at 20,000 samples, 10^6 jet samples, the emulator's
set-up, and the batch size from which auto (csim on the first 64 samples + the emulator) beats csim alone.

Usage: python benchmarks/emulator.py [PROJECT ...]   (converted projects; none: the jet tagger and four CNNs
of the fidelity zoo are converted into a temporary directory — five compiles)

BLAS runs on one thread (OPENBLAS_NUM_THREADS=1 etc., set before numpy is imported): csim is one thread,
and on a shared machine a second BLAS thread made the emulator's small products 3-10x slower, not faster.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fpga_accel.design import Design  # noqa: E402
from fpga_accel.runtime.emulator import Emulator  # noqa: E402

ZOO_PROJECTS = (("jet_tagger", "io_parallel"), ("qconv2d_strided_same", "io_parallel"), ("qconv2d_bn", "io_stream"),
                ("qconv1d_maxpool", "io_parallel"), ("qconv1d_same_avgpool", "io_stream"))
SIZES = (1, 4, 8, 16, 64, 65, 96, 128, 256, 1024)


def _best(fn, *args, repeat: int = 3, clock=time.perf_counter) -> float:
    """Best of ``repeat`` runs by ``clock`` (wall time unless told)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn(*args)
        best = min(best, clock() - t0)
    return best


def _best_cpu(fn, *args, repeat: int = 3) -> float:
    """CPU seconds of this process (best of ``repeat``): what the call costs on one core whatever else runs
    (csim and the emulator with BLAS on one thread both compute on one thread; on the shared machine their
    wall times mostly measure the other jobs — 3-12x the CPU time at load ~11)."""
    return _best(fn, *args, repeat=repeat, clock=time.process_time)


def zoo_projects(out: Path, projects: tuple = ZOO_PROJECTS) -> list[Path]:
    """Convert the zoo models the README's table names (the fidelity zoo's seed 0)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import fpga_accel as fa
    from fidelity_zoo import ZOO

    roots = []
    for zid, io_type in projects:
        model = ZOO[zid].model(0)
        x = ZOO[zid].inputs(model, 0, n=200)
        config = fa.ConvertConfig(name=f"{zid}_{io_type}", output_dir=out, io_type=io_type, verify_samples=0)
        roots.append(fa.convert(model, config, calibration=x).root)
    return roots


def bench_project(root: Path) -> dict:
    d = Design(root)
    d.compile()
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (20_000,) + d.input_shape).astype(np.float32)
    t0 = time.perf_counter()
    Emulator.open(d.root, d.meta.project_name, d.meta.io_type)
    setup = time.perf_counter() - t0
    d.predict(x[:10], engine="emulator")  # the Design keeps its emulator: set-up once
    d.predict(x[:10], engine="csim")  # load the library
    assert np.array_equal(d.predict(x, engine="emulator"), d.predict(x, engine="csim")), d.name
    csim = _best(d.predict, x, None, None, "csim", repeat=2)
    emu = _best(d.predict, x, None, None, "emulator")
    csim_cpu = _best_cpu(d.predict, x, None, None, "csim", repeat=2)
    emu_cpu = _best_cpu(d.predict, x, None, None, "emulator")
    print(f"{d.name} ({d.meta.io_type}): 20,000 samples csim {csim:.2f} s, emulator {emu * 1e3:.1f} ms: "
          f"{csim / emu:.0f}x wall; CPU time csim {csim_cpu:.2f} s, emulator {emu_cpu * 1e3:.1f} ms: "
          f"{csim_cpu / emu_cpu:.0f}x   (emulator set-up {setup * 1e3:.0f} ms, once per Design; load "
          f"{os.getloadavg()[0]:.1f})")
    cross = emu_cross = None
    for n in SIZES:  # CPU time (wall time on the shared machine mostly measured the other jobs)
        c = _best_cpu(d.predict, x[:n], None, None, "csim", repeat=5)
        e = _best_cpu(d.predict, x[:n], None, None, "emulator", repeat=5)
        a = _best_cpu(d.predict, x[:n], None, None, "auto", repeat=5)
        if cross is None and a < c:
            cross = n
        if emu_cross is None and e < c:
            emu_cross = n
        print(f"   n={n:5d}: CPU ms per call: csim {c * 1e3:7.3f}  emulator {e * 1e3:7.3f}  auto {a * 1e3:7.3f}")
    print(f"   emulator below csim from n={emu_cross}, auto below csim from n={cross} (of {SIZES})")
    result = {"csim": csim, "emulator": emu, "auto_wins_from": cross, "emulator_wins_from": emu_cross}
    if tuple(d.input_shape) == (16,):
        big = rng.uniform(-3, 3, (1_000_000, 16)).astype(np.float32)
        t0 = time.process_time()
        result["million"] = _best(d.predict, big, None, None, "emulator", repeat=1)
        print(f"   10^6 samples emulator {result['million']:.2f} s wall, {time.process_time() - t0:.2f} s CPU "
              "(goal <= 10 s)")
    return result


def main(projects: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(p) for p in projects] or zoo_projects(Path(tmp))
        for root in roots:
            bench_project(root)


if __name__ == "__main__":
    main(sys.argv[1:])
