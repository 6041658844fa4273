"""Fast csim: content-keyed build cache and process-parallel prediction (never threads)."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.runtime.csim_lib import POOL_MIN_SAMPLES, default_workers
from models import float_inputs, qcnn, qmlp


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(cache))
    return cache


def test_unchanged_design_is_a_cache_hit_and_changed_design_rebuilds(tmp_path, fresh_cache, rng):
    # verify_samples=0: convert's own csim check would compile before the test does
    config = fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0)
    design = fa.convert(qmlp(seed=0), config)
    first = design.compile()
    assert not first.cached and first.library.is_file()
    again = design.compile()
    assert again.cached and again.library == first.library
    # re-convert the same model: same sources, same library, no compiler run
    reconverted = fa.convert(qmlp(seed=0), config, force=True)
    assert reconverted.compile().cached
    x = float_inputs(rng, (16,), n=50)
    y_old = reconverted.predict(x)
    # other weights: a new build, never the stale library
    changed = fa.convert(qmlp(seed=1), config, force=True)
    build = changed.compile()
    assert not build.cached and build.key != first.key
    assert not np.array_equal(changed.predict(x), y_old)
    assert changed.compare(qmlp(seed=1), x).bit_exact == 1.0


def test_concurrent_builds_of_one_design_do_not_corrupt_the_cache(tmp_path, fresh_cache, rng):
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=0))
    script = ("import sys; from fpga_accel.layout import ProjectLayout; "
              "from fpga_accel.runtime.csim_build import build_library; "
              "print(build_library(ProjectLayout.open(sys.argv[1])).library)")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(design.root)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    paths = {p.communicate()[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0, 0]
    assert len(paths) == 1  # both name the one cached library
    library = Path(paths.pop())
    assert library.parent == fresh_cache / "csim" and library.name.startswith("mlp-") and library.suffix == ".so"
    assert design.compile().cached and design.compile().library == library
    assert list(fresh_cache.glob("csim/.build-*")) == []  # temporary build dirs cleaned up
    x = float_inputs(rng, (16,), n=100)
    assert design.compare(qmlp(), x).bit_exact == 1.0


@pytest.mark.parametrize("make, io_type", [(qmlp, "io_parallel"), (qcnn, "io_stream")], ids=["mlp", "cnn-stream"])
def test_parallel_predict_equals_one_worker(build, rng, make, io_type):
    model = make()
    design = build(model, io_type=io_type)
    n = POOL_MIN_SAMPLES + 200
    x = float_inputs(rng, model.input_shape[1:], n=n)
    one = design.predict(x, workers=1)
    seen = []
    two = design.predict(x, workers=2, progress=lambda update: seen.append((update.done, update.total)))
    assert np.array_equal(one, two)  # bit-identical and in order
    assert seen == [(n // 2, n), (n, n)]  # one progress call per chunk; below 2,000 samples one chunk a worker
    assert design.compare(model, x, workers=2).bit_exact == 1.0
    workers = set(multiprocessing.active_children())
    design.close()
    assert not workers & set(multiprocessing.active_children())


def test_interrupt_leaves_no_worker_processes(build, rng):
    design = build(qmlp())
    x = float_inputs(rng, (16,), n=POOL_MIN_SAMPLES)

    def interrupt(update):
        raise KeyboardInterrupt

    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        design.predict(x, workers=2, progress=interrupt)
    assert set(multiprocessing.active_children()) <= before  # the interrupted pool's workers are gone
    assert np.array_equal(design.predict(x, workers=2), design.predict(x, workers=1))  # a new pool works
    design.close()
    assert set(multiprocessing.active_children()) <= before


def test_default_is_one_worker_whatever_the_batch(monkeypatch):
    """A pool only when asked: it is faster than one worker only while another core is idle
    (benchmarks/crossover.py), and large batches use the emulator by default anyway."""
    from fpga_accel.runtime import csim_lib

    for cores in (1, 2, 32):
        monkeypatch.setattr(csim_lib, "available_cores", lambda: cores)
        assert [default_workers(n) for n in (1, 9_999, 10_000, 1_000_000)] == [1, 1, 1, 1], cores


def test_csim_cli_workers_flag(build, rng, tmp_path, monkeypatch):
    from fpga_accel import design as design_module
    from fpga_accel.cli import main

    pools = []

    class RecordedPool(design_module.WorkerPool):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(design_module, "WorkerPool", RecordedPool)
    design = build(qmlp())
    x = float_inputs(rng, (16,), n=POOL_MIN_SAMPLES)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "small.npy", x[:POOL_MIN_SAMPLES - 1])
    assert main(["csim", str(design.root), "--input", str(tmp_path / "small.npy"), "--output",
                 str(tmp_path / "small_y.npy"), "--workers", "2", "--engine", "csim"]) == 0
    assert pools == []  # below the pool's minimum batch: one process, where a pool is measured slower
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "y.npy"), "--workers", "2"]) == 0
    assert [pool.workers for pool in pools] == [2]  # --workers 2: the CLI predicted with two processes
    assert np.array_equal(np.load(tmp_path / "small_y.npy"), np.load(tmp_path / "y.npy")[:POOL_MIN_SAMPLES - 1])
    pools[0].close()
    assert np.array_equal(np.load(tmp_path / "y.npy"), design.predict(x, workers=1))
    # without the flag, the batch stays in this process (the default: a pool only when asked)
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "y1.npy")]) == 0
    assert len(pools) == 1 and np.array_equal(np.load(tmp_path / "y1.npy"), np.load(tmp_path / "y.npy"))
