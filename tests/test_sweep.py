"""Design-space sweeps on Dask: local cluster, a real scheduler + workers, reruns, a killed worker."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.data import load_digits_split
from conftest import free_port
from fpga_accel.sweep import SweepSpec, run_sweep

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from tensorflow import keras

    root = tmp_path_factory.mktemp("sweep_inputs")
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,), name="pixels")
    t = keras.layers.Dense(8, activation="relu", name="fc1")(inp)
    t = keras.layers.Dense(10, name="logits")(t)
    model = keras.Model(inp, t)
    model.save(root / "float.h5")
    x, y, x_test, y_test = load_digits_split()
    np.savez(root / "digits.npz", x=x, y=y, x_test=x_test, y_test=y_test)
    return root


def _spec(inputs, out, **grid):
    return SweepSpec(name="s", model=inputs / "float.h5", data=inputs / "digits.npz", output_dir=out,
                     grid=grid or {"weight_bits": [4, 6], "reuse_factor": [1, 2]},
                     fixed={"io_type": "io_parallel"}, test_samples=100)


def test_local_cluster_sweep_and_rerun(inputs, tmp_path, capsys):
    from fpga_accel.cli import main

    (tmp_path / "sweep.yml").write_text(
        f"name: s\nmodel: {inputs / 'float.h5'}\ndata: {inputs / 'digits.npz'}\noutput_dir: out\n"
        "grid:\n  weight_bits: [4, 6]\n  reuse_factor: [1, 2]\nfixed:\n  io_type: io_parallel\ntest_samples: 100\n")
    assert main(["sweep", str(tmp_path / "sweep.yml"), "--workers", "2"]) == 0
    assert "4 points (4 run, 0 already done)" in capsys.readouterr().out
    root = tmp_path / "out" / "s"
    with open(root / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {(r["weight_bits"], r["reuse_factor"]) for r in rows} == {
        ("4", "1"), ("4", "2"), ("6", "1"), ("6", "2")}
    assert all(float(r["bit_exact"]) == 1.0 for r in rows)
    assert (root / "pareto.png").stat().st_size > 1000
    assert len(list(root.glob("points/*/design/fpga_accel.json"))) == 4  # each point in its own folder
    assert len({r["id"] for r in rows}) == 4
    rf1 = [r for r in rows if r["reuse_factor"] == "1" and r["weight_bits"] == "6"][0]
    rf2 = [r for r in rows if r["reuse_factor"] == "2" and r["weight_bits"] == "6"][0]
    four = [r for r in rows if r["reuse_factor"] == "1" and r["weight_bits"] == "4"][0]
    # 6-bit products by constants are LUT circuits HLS builds in parallel whatever the reuse factor (issue 13);
    # narrower weights make them smaller
    assert float(rf2["est_lut"]) == float(rf1["est_lut"]) and float(four["est_lut"]) < float(rf1["est_lut"])
    # a rerun finds every point finished and runs nothing
    result = run_sweep(SweepSpec.load(tmp_path / "sweep.yml"))
    assert (result.ran, result.skipped) == (0, 4)


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers = [subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard", "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env) for i in range(2)]
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    yield address, workers
    for proc in [*workers, scheduler]:
        if proc.poll() is None:
            proc.terminate()
    for proc in [*workers, scheduler]:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sweep_on_a_real_scheduler(inputs, tmp_path, dask_cluster):
    address, workers = dask_cluster
    result = run_sweep(_spec(inputs, tmp_path), scheduler=address)
    assert len(result.rows) == 4 and result.ran == 4
    assert {r["worker_pid"] for r in result.rows} <= {w.pid for w in workers}


def test_killed_worker_loses_nothing(inputs, tmp_path, dask_cluster):
    address, workers = dask_cluster
    spec = _spec(inputs, tmp_path, weight_bits=[3, 4, 5, 6], reuse_factor=[1, 2])
    killed = []

    def kill_one_mid_point():
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            started = [p for p in spec.root.glob("points/*") if (p / "params.json").exists()
                       and not (p / "result.json").exists()]
            if started:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(started[0].name)
            time.sleep(0.05)

    thread = threading.Thread(target=kill_one_mid_point)
    thread.start()
    result = run_sweep(spec, scheduler=address, retries=2)
    thread.join()
    assert killed, "no point was in progress to kill a worker under"
    assert workers[0].poll() is not None  # the worker really died
    assert len(result.rows) == 8 and len({r["id"] for r in result.rows}) == 8
    assert len(list(spec.root.glob("points/*/result.json"))) == 8
    assert {r["worker_pid"] for r in result.rows} <= {w.pid for w in workers}


def test_a_sweep_on_the_emulator_compiles_nothing_and_gives_csims_numbers(inputs, tmp_path, monkeypatch):
    """engine: emulator (the default): every point's hardware accuracy without a g++ compile, the same
    numbers csim gives for the same points (the two sweeps share nothing but the inputs)."""
    grid = {"weight_bits": [3, 6], "io_type": ["io_parallel", "io_stream"]}
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))
    emulated = run_sweep(SweepSpec(name="emu", model=inputs / "float.h5", data=inputs / "digits.npz",
                                   output_dir=tmp_path / "out", grid=grid, test_samples=200))
    assert not list((tmp_path / "cache").rglob("*.so"))  # nothing compiled
    compiled = run_sweep(SweepSpec(name="csim", model=inputs / "float.h5", data=inputs / "digits.npz",
                                   output_dir=tmp_path / "out", grid=grid, test_samples=200, engine="csim"))
    assert list((tmp_path / "cache").rglob("*.so"))
    by_params = {json_key(r["params"]): r for r in compiled.rows}
    assert len(emulated.rows) == 4 and all(r["engine"] == "emulator" for r in emulated.rows)
    assert all(r["engine"] == "csim" for r in compiled.rows)
    for row in emulated.rows:
        twin = by_params[json_key(row["params"])]
        for key in ("csim_accuracy", "bit_exact", "argmax_agreement", "qkeras_accuracy"):
            assert row[key] == twin[key], (row["params"], key)
    with pytest.raises(fa.ConfigError, match="engine must be one of csim, emulator, auto"):
        SweepSpec(name="x", model=inputs / "float.h5", data=inputs / "digits.npz", grid=grid, engine="gpu")


def json_key(params):
    import json

    return json.dumps(params, sort_keys=True)
