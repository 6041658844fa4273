"""The library is as safe as the CLI: the public API checks its arguments as the CLI checks its flags,
and says what is wrong (the compiler, not the design; a folder, not a missing file; float32's range,
not NaN)."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.config import QuantizeConfig
from fpga_accel.flow import FlowConfig, run_flow
from fpga_accel.model_io import load_array, load_xy
from fpga_accel.runtime import Accelerator
from fpga_accel.runtime.validate import check_input
from robustness_helpers import run_cli


@pytest.fixture
def design(robust_project):
    return fa.Design(robust_project[1].root)


# ---- inputs ------------------------------------------------------------------------------------------

def test_a_ragged_list_is_an_input_error(design):
    with pytest.raises(fa.InputError, match="not a rectangular array of numbers"):
        design.predict([[0.0] * 16, [0.0] * 15])


def test_finite_float64_beyond_float32_is_named_as_such(design):
    """1e39 is finite: it was reported as "NaN or inf" (after the cast to float32 made it inf)."""
    x = np.zeros((3, 16))
    x[2, 5] = 1e39
    with pytest.raises(fa.InputError, match="outside float32's range .* 1 sample.s., first at index 2"):
        design.predict(x)


def test_integers_too_big_for_any_numeric_dtype_are_not_numeric():
    with pytest.raises(fa.InputError, match="not numeric"):
        check_input([[2**70, 1]], (2,))
    assert check_input(np.full((1, 2), 2**63, np.uint64), (2,))[0, 0] == np.float32(2**63)


def test_nan_is_still_called_nan():
    with pytest.raises(fa.InputError, match="NaN or inf in 1 sample"):
        check_input(np.array([[np.nan, 1.0]]), (2,))


def test_float32_max_itself_is_accepted():
    top = float(np.finfo(np.float32).max)
    assert check_input(np.array([[top, -top]]), (2,)).dtype == np.float32


@pytest.mark.parametrize("workers", [0, -2, True, "2", 2.5, 10_000])
def test_predict_workers_are_checked_as_the_cli_checks_them(design, workers):
    with pytest.raises(fa.ConfigError, match="workers must be a whole number from 1 to"):
        design.predict(np.zeros((4, 16), np.float32), workers=workers)


# ---- Accelerator -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"calls": 0}, "calls must be a whole number >= 1, got 0"),
    ({"calls": -5}, "calls must be a whole number >= 1"),
    ({"batch": 0}, "batch must be a whole number >= 1, got 0"),
    ({"batch": 2.5}, "batch must be a whole number >= 1"),
    ({"calls": True}, "calls must be a whole number >= 1"),
])
def test_bench_counts_are_checked(robust_project, kwargs, message):
    """Accelerator.bench(calls=0) divided by zero (a traceback) where `bench --calls 0` is refused."""
    with Accelerator.open(robust_project[1].root, backend="csim") as acc:
        with pytest.raises(fa.ConfigError, match=message):
            acc.bench(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_batch": 0}, "max_batch must be a whole number >= 1"),
    ({"timeout": -1}, "timeout must be a positive number of seconds"),
    ({"timeout": float("nan")}, "timeout must be a positive number of seconds"),
])
def test_open_arguments_are_checked(robust_project, kwargs, message):
    with pytest.raises(fa.ConfigError, match=message):
        Accelerator.open(robust_project[1].root, backend="csim", **kwargs)


# ---- settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", ["fixed<1024,10>", "ap_fixed<65,1>", "fixed<128,64>"])
def test_input_precision_wider_than_float32_can_fill_is_refused(precision):
    with pytest.raises(fa.ConfigError, match="at most 64 bits are useful"):
        fa.ConvertConfig(name="m", input_precision=precision)


def test_input_precision_cli_is_one_line(robust_project, tmp_path):
    proc = run_cli(["convert", robust_project[0] / "q.h5", "--name", "m", "--output-dir", tmp_path,
                    "--input-precision", "fixed<1024,10>"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is 1024 bits wide" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("key, value", [("input_integer", 300), ("input_integer", 64), ("weight_integer", -64),
                                        ("activation_integer", 200), ("bias_integer", 100)])
def test_integer_bits_beyond_float32_are_refused(key, value):
    with pytest.raises(fa.ConfigError, match=f"{key} must be between -63 and 63"):
        QuantizeConfig(**{key: value})


def test_integer_bits_at_the_bound_are_accepted():
    assert QuantizeConfig(input_integer=63, weight_integer=-63).input_integer == 63


def test_quantize_refuses_calibration_data_beyond_float32_in_the_library():
    from fpga_accel.stages.quantize import input_integer_bits

    x = np.ones((4, 3), np.float32)
    assert input_integer_bits(x) == 1
    x[2, 1] = 3e38
    with pytest.raises(fa.InputError, match=r"reaches 3e\+38 \(sample 2\).*needs 128 integer bits"):
        input_integer_bits(x)


# ---- files -----------------------------------------------------------------------------------------

def test_data_naming_a_folder_says_it_is_a_folder(tmp_path):
    """`data:` naming a folder was reported as "does not exist"."""
    (tmp_path / "data.npz").mkdir()
    for load in (load_array, load_xy):
        with pytest.raises(fa.InputError, match="is a folder: name the .npy or .npz file in it"):
            load(tmp_path / "data.npz")


def test_quantize_data_naming_a_folder_is_one_line(robust_project, tmp_path):
    (tmp_path / "data").mkdir()
    proc = run_cli(["quantize", robust_project[0] / "q.h5", "-o", tmp_path / "o.h5", "--data", tmp_path / "data"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is a folder" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o.h5").exists()


# ---- the compiler and the project's path -------------------------------------------------------------

def _fake_compiler(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cxx"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("body, message", [
    ("exit 1", "fails `"),
    ("exit 0", "fails `"),
    ('[ "$1" = --version ] && echo "fake 1.0" && exit 0\nexit 0', "exited 0 but wrote no"),
])
def test_a_broken_cxx_is_blamed_not_the_design(robust_project, tmp_path, monkeypatch, body, message):
    """A CXX that does not compile made the new library fail its first call: "the design or its weights
    are broken"."""
    monkeypatch.setenv("CXX", _fake_compiler(tmp_path, body))
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(fa.ToolNotFoundError, match=message) as info:
        fa.Design(robust_project[1].root).compile()
    assert "(CXX)" in str(info.value) and "design" not in str(info.value)


def test_a_compiler_that_hangs_is_stopped_and_named(robust_project, tmp_path, monkeypatch):
    """Every external wait is bounded: a compiler that never finishes is stopped after $FPGA_ACCEL_CXX_TIMEOUT
    seconds (its whole process group), with a message naming the limit, not left to hang the CI gate."""
    monkeypatch.setenv("CXX", _fake_compiler(tmp_path, '[ "$1" = --version ] && echo "fake 1.0" && exit 0\nsleep 60'))
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FPGA_ACCEL_CXX_TIMEOUT", "2")
    # waited out, the stand-in would exit 0 without an object file: a different message
    with pytest.raises(fa.BuildError, match=r"ran longer than 2 s .*FPGA_ACCEL_CXX_TIMEOUT"):
        fa.Design(robust_project[1].root).compile()


@pytest.mark.parametrize("name", ['with "quote', "with \\backslash", "non-utf8-\udcff", "it's $(here)"],
                         ids=["quote", "backslash", "non-utf8", "shell"])
def test_a_project_path_with_odd_characters_compiles_and_runs(robust_project, tmp_path, monkeypatch, name):
    """A quote or a byte that is not UTF-8 in the project's path broke the compile in axi_stream_sim.cpp."""
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))  # compiled here, not a cache hit
    folder = tmp_path / name
    shutil.copytree(robust_project[1].root, folder / "mlp")
    x = np.load(robust_project[0] / "x.npy")
    with fa.Design(folder / "mlp") as copy:
        assert np.array_equal(copy.predict(x), robust_project[1].predict(x))


# ---- the flow -------------------------------------------------------------------------------------------

def test_a_flow_whose_project_lost_its_weights_converts_it_again(robust_project, tmp_path):
    """The convert step was skipped (its inputs were unchanged) and csim failed with "re-convert the
    project", which the flow never did: a step whose outputs changed since it ran runs again."""
    root, _ = robust_project
    (tmp_path / "p.yml").write_text(f"name: lost\nmodel: {root / 'q.h5'}\noutput_dir: out\nverify_samples: 0\n"
                                    "test_samples: 20\n")
    config = FlowConfig.from_file(tmp_path / "p.yml")
    first = run_flow(config, stop="csim")
    assert first.records["convert"].status == "ran"
    again = run_flow(config, stop="csim")
    assert again.records["convert"].status == "skipped"
    weights = sorted((tmp_path / "out" / "lost" / "firmware" / "weights").glob("w*.txt"))[0]
    weights.unlink()
    healed = run_flow(config, stop="csim")
    assert healed.records["convert"].status == "ran" and healed.records["csim"].status == "ran"
    assert weights.is_file()


def test_a_worker_that_cannot_start_is_an_error_not_a_hang(tmp_path):
    """A worker that dies (here: its library is missing) fails the call with its reason; the pool used to
    respawn dying workers forever."""
    from fpga_accel.runtime.csim_lib import WorkerPool

    pool = WorkerPool(tmp_path / "missing.so", "mlp", 16, 5, tmp_path, workers=2)
    try:
        with pytest.raises(fa.BuildError, match="a csim worker process exited .status 1. before returning its chunk"):
            pool.predict(np.zeros((10, 16), np.float32))
        assert pool.closed
    finally:
        pool.close()


def test_a_worker_that_dies_before_a_large_chunk_is_an_error_too(tmp_path):
    from fpga_accel.runtime.csim_lib import WorkerPool

    pool = WorkerPool(tmp_path / "missing.so", "mlp", 16, 5, tmp_path, workers=2)
    try:
        for worker in pool._workers:
            worker.proc.wait(timeout=60)  # both gone before anything is sent
        with pytest.raises(fa.BuildError, match="a csim worker process exited"):
            pool.predict(np.zeros((40_000, 16), np.float32))
    finally:
        pool.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"root": None}, "a design is a project folder"),
    ({"root": 5}, "a design is a project folder"),
    ({"jobs": 0}, "jobs must be a whole number >= 1"),
    ({"jobs": "3"}, "jobs must be a whole number >= 1"),
])
def test_design_arguments_are_checked(robust_project, kwargs, message):
    with pytest.raises(fa.ConfigError, match=message):
        fa.Design(**{"root": robust_project[1].root, **kwargs})


def test_compare_refuses_ragged_labels(robust_project):
    from fpga_accel.model_io import load_model

    root, design = robust_project
    x = np.load(root / "x.npy")
    with pytest.raises(fa.InputError, match="labels are not a rectangular array"):
        fa.Design(design.root).compare(load_model(root / "q.h5"), x, [[1, 0], [1]] * 4)


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"workers": True}, {"retries": -2}, {"csim_jobs": -1}])
def test_run_sweep_refuses_counts_that_would_wait_forever(tmp_path, kwargs):
    """workers=0 made a cluster with no worker, and the sweep waited for it forever."""
    from fpga_accel.sweep import SweepSpec, run_sweep

    (tmp_path / "m.h5").write_bytes(b"m")
    (tmp_path / "d.npz").write_bytes(b"d")
    spec = SweepSpec(name="s", model=tmp_path / "m.h5", data=tmp_path / "d.npz", grid={"weight_bits": [4]},
                     output_dir=tmp_path / "out")
    with pytest.raises(fa.ConfigError, match="must be a whole number >= 1"):
        run_sweep(spec, **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"test_fraction": 2}, "test_fraction must be a number between 0 and 1"),
    ({"test_fraction": 0}, "test_fraction must be a number between 0 and 1"),
    ({"seed": -1}, "seed must be a whole number >= 0"),
    ({"seed": "a"}, "seed must be a whole number >= 0"),
])
def test_digits_split_arguments_are_checked(kwargs, message):
    from fpga_accel.data import load_digits_split

    with pytest.raises(fa.ConfigError, match=message):
        load_digits_split(**kwargs)


@pytest.mark.parametrize("args, error, message", [
    ({"config": "fast"}, fa.ConfigError, "config must be a QuantizeConfig or a mapping"),
    ({"config": {"weight_bits": 99}}, fa.ConfigError, "weight_bits must be between 2 and 24"),
    ({"x": [[0.0] * 64, [0.0]]}, fa.InputError, "data is not a rectangular array"),
    ({"x": np.zeros((4, 64), np.float32), "y": np.zeros(3)}, fa.InputError, "4 samples but 3 labels"),
])
def test_quantize_library_arguments_are_checked(args, error, message):
    from models import float_mlp

    with pytest.raises(error, match=message):
        fa.quantize(float_mlp(), **args)
