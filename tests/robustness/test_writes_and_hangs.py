"""Every write is atomic (models included), checked before the long work, and a full disk or a folder that
cannot be written is one line that loses nothing; two outputs naming one file are refused; nothing hangs
(the README's snippet in an unguarded script); a csim compile killed outright leaves nothing for good;
no model that computes NaN is accepted as quantized."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.runtime.csim_build import BUILD_PREFIX, remove_stale_builds
from models import float_mlp
from robustness_helpers import interrupt_at, leftovers, run_cli, tree

ROOT = Path(__file__).resolve().parents[2]


def _refused(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Segmentation" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1], proc.stderr[-3000:]


def _disk_full_at(limit: int):
    """preexec_fn: files this process writes stop growing at ``limit`` bytes (EFBIG), as on a full disk."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _cli_limited(args: list, limit: int, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpga_accel.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, preexec_fn=_disk_full_at(limit))


@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("float") / "float.h5"
    float_mlp().save(path)
    return path


# ---- atomic writes under a full disk -------------------------------------------------------------

def test_quantize_force_onto_a_full_disk_keeps_the_old_model(float_model, tmp_path):
    """model.save wrote in place: old.h5 was truncated to 16 KB, then HDF5 crashed the process (SIGSEGV)."""
    old = tmp_path / "old.h5"
    old.write_bytes(float_model.read_bytes())
    before = tree(tmp_path)
    proc = _cli_limited(["quantize", float_model, "-o", old, "--force"], limit=16 * 1024)
    _refused(proc, "File too large")
    assert tree(tmp_path) == before and leftovers(tmp_path, "old") == []


def test_quantize_with_room_writes_a_model_that_loads(float_model, tmp_path):
    out = tmp_path / "q.h5"
    proc = run_cli(["quantize", float_model, "-o", out])
    assert proc.returncode == 0, proc.stderr[-3000:]
    from fpga_accel.model_io import load_model

    assert len(load_model(out).layers) > 2 and [p.name for p in tmp_path.iterdir()] == ["q.h5"]


def test_save_model_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    from fpga_accel import model_io

    old = tmp_path / "m.h5"
    old.write_bytes(b"the previous model")

    def failing(model):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_io, "_h5_bytes", failing)
    with pytest.raises(fa.ConfigError, match="No space left on device .it was left as it was."):
        model_io.save_model(object(), old, force=True)
    assert old.read_bytes() == b"the previous model" and leftovers(tmp_path, "m") == []


def test_csim_output_onto_a_full_disk_keeps_the_old_output(robust_project, tmp_path):
    root, design = robust_project
    design.compile()  # cached: the limited run writes only its output
    np.save(tmp_path / "big.npy", np.random.default_rng(0).uniform(-1, 1, (10_000, 16)).astype(np.float32))
    (tmp_path / "y.npy").write_bytes(b"the previous result")
    before = tree(tmp_path)
    proc = _cli_limited(["csim", design.root, "--input", tmp_path / "big.npy", "--output", tmp_path / "y.npy",
                         "--force"], limit=64 * 1024)
    _refused(proc, f"cannot write {tmp_path / 'y.npy'}: the disk is full or a file size limit was reached")
    assert tree(tmp_path) == before and leftovers(tmp_path, "y.npy") == []


def test_convert_force_onto_a_full_disk_keeps_the_old_project(robust_project, tmp_path):
    root, design = robust_project
    out = tmp_path / "hls"
    import shutil

    shutil.copytree(design.root, out / "mlp")
    before = tree(out)
    proc = _cli_limited(["convert", root / "q.h5", "--name", "mlp", "--output-dir", out, "--force",
                         "--verify-samples", "0"], limit=16 * 1024)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "File too large" in proc.stderr
    assert tree(out) == before


# ---- outputs checked before the work -------------------------------------------------------------

@pytest.mark.parametrize("report", ["r.json", "./r.json", "sub/../r.json"])
def test_two_outputs_naming_one_file_are_refused(robust_project, tmp_path, report):
    """csim --output r.json --report r.json: the report overwrote the predictions, exit 0."""
    root, design = robust_project
    (tmp_path / "sub").mkdir()
    proc = subprocess.run([sys.executable, "-m", "fpga_accel.cli", "csim", str(design.root), "--input",
                           str(root / "x.npy"), "--reference", str(root / "q.h5"), "--output", "r.json",
                           "--report", report], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=os.environ)
    _refused(proc, "name the same file")
    assert not (tmp_path / "r.json").exists()


def test_home_that_is_a_file_is_one_line_before_the_compile(robust_project, tmp_path):
    root, design = robust_project
    (tmp_path / "home").write_text("not a folder")
    proc = run_cli(["csim", design.root, "--input", root / "x.npy"],
                   env={"HOME": str(tmp_path / "home"), "FPGA_ACCEL_CACHE": ""})
    _refused(proc, "is a file, not a folder")


def test_cache_below_a_file_is_one_line(robust_project, tmp_path):
    root, design = robust_project
    (tmp_path / "blocker").write_text("x")
    proc = run_cli(["csim", design.root, "--input", root / "x.npy"],
                   env={"FPGA_ACCEL_CACHE": str(tmp_path / "blocker" / "cache")})
    _refused(proc, "is a file, not a folder")


def test_convert_output_dir_that_is_a_file_is_refused_before_loading(robust_project, tmp_path):
    root, _ = robust_project
    (tmp_path / "out").write_text("a file")
    proc = run_cli(["convert", root / "q.h5", "--name", "mlp", "--output-dir", tmp_path / "out"])
    _refused(proc, "it is a file")
    assert (tmp_path / "out").read_text() == "a file"


def test_bundle_output_dir_that_is_a_file_is_refused(robust_project, tmp_path):
    _, design = robust_project
    (tmp_path / "bits").write_text("a file")
    (tmp_path / "a.bit").write_bytes(b"bit")
    (tmp_path / "a.hwh").write_text("<hwh/>")
    proc = run_cli(["bundle", design.root, "--bit", tmp_path / "a.bit", "--hwh", tmp_path / "a.hwh",
                    "--output-dir", tmp_path / "bits"])
    _refused(proc, "it is a file")


@pytest.mark.parametrize("target, message", [("file/q.h5", "is a file, not a folder"), ("folder", "it is a folder")])
def test_quantize_output_that_cannot_be_a_file_is_refused_before_the_work(float_model, tmp_path, target, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    before = tree(tmp_path)
    proc = run_cli(["quantize", float_model, "-o", tmp_path / target, "--force"])
    _refused(proc, message)
    assert tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: permissions cannot be tested as root")
def test_read_only_output_folder_is_refused_before_the_work(float_model, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = run_cli(["quantize", float_model, "-o", folder / "q.h5"])
        _refused(proc, "no permission to write")
    finally:
        folder.chmod(0o755)


def test_writability_check_names_the_folder(tmp_path, monkeypatch):
    """The check itself (the test above needs a user that is not root)."""
    from fpga_accel.layout import check_writable

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(fa.ConfigError, match=f"no permission to write in {tmp_path}"):
        check_writable(tmp_path / "new" / "q.h5")


# ---- no hang: the README's snippet in a script -------------------------------------------------------

SNIPPET = """
import numpy as np
import fpga_accel as fa
with open({marker!r}, "a") as f:
    f.write("ran\\n")
y = fa.Design({project!r}).predict(np.zeros((20000, 16), np.float32){workers})
with open({marker!r}, "a") as f:
    f.write(f"done {{y.shape}}\\n")
"""


@pytest.mark.parametrize("workers", ["", ", workers=2"], ids=["default", "workers=2"])
def test_readme_snippet_in_an_unguarded_script_finishes(robust_project, tmp_path, workers):
    """Without `if __name__ == "__main__":` the default pool's workers re-imported the script, failed to start
    a nested pool, and the pool respawned them forever (~190 processes/min). Now the default is one process
    and asked-for workers are fresh interpreters that import only the csim worker."""
    _, design = robust_project
    design.compile()
    marker = tmp_path / "ran.txt"
    script = tmp_path / "snippet.py"
    script.write_text(SNIPPET.format(marker=str(marker), project=str(design.root), workers=workers))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the script's side effects run exactly once: no worker imports the caller's script
    assert marker.read_text().splitlines() == ["ran", "done (20000, 5)"]


def test_pool_is_never_started_while_a_process_imports_its_parents_script(monkeypatch):
    import multiprocessing

    from fpga_accel.runtime import csim_lib

    assert csim_lib.pool_allowed()
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    assert not csim_lib.pool_allowed()


def test_a_guarded_script_asking_for_workers_gets_a_pool_with_the_same_results(robust_project, tmp_path):
    _, design = robust_project
    x = np.random.default_rng(3).uniform(-1, 1, (4000, 16)).astype(np.float32)
    with fa.Design(design.root) as d:
        assert np.array_equal(d.predict(x, workers=2), d.predict(x))
        assert d._pool is not None and d._pool.workers == 2


# ---- SIGKILL during a csim compile -----------------------------------------------------------------

def test_build_folder_of_a_killed_compile_is_removed_by_the_next_run(robust_project, tmp_path):
    """README: "cleaned up by the next run" — .build-* folders of a compile killed by SIGKILL stayed for good."""
    root, design = robust_project
    cache = tmp_path / "cache"
    args = ["csim", design.root, "--input", root / "x.npy"]
    proc = interrupt_at(tmp_path, "fpga_accel.runtime.csim_build:_run", "before", signal.SIGKILL, args,
                        env={"FPGA_ACCEL_CACHE": str(cache)})
    assert proc.returncode == -signal.SIGKILL
    assert len(list((cache / "csim").glob(BUILD_PREFIX + "*"))) == 1
    again = run_cli(args, env={"FPGA_ACCEL_CACHE": str(cache)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert list((cache / "csim").glob(BUILD_PREFIX + "*")) == []


def test_build_folder_of_a_running_compile_is_left_alone(tmp_path):
    import fcntl

    live, dead, fresh = (tmp_path / f"{BUILD_PREFIX}{n}" for n in ("live", "dead", "fresh"))
    for folder in (live, dead, fresh):
        folder.mkdir()
    (dead / ".owner").write_text("")
    with open(live / ".owner", "w") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX)
        # taken by another open file description: what another process's lock looks like
        assert remove_stale_builds(tmp_path) == [dead]
    assert live.exists() and fresh.exists() and not dead.exists()  # fresh: made an instant ago, owner not yet written


# ---- no model that computes NaN is accepted as quantized ---------------------------------------------

def test_input_integer_beyond_float32_is_refused(float_model, tmp_path):
    """quantize --input-integer 300 gave quantized_bits(8, 128) and a model that outputs NaN, exit 0."""
    proc = run_cli(["quantize", float_model, "-o", tmp_path / "q.h5", "--input-integer", "300"])
    _refused(proc, "input_integer must be between -63 and 63")
    assert not (tmp_path / "q.h5").exists()


def test_huge_calibration_value_is_refused_naming_the_sample(float_model, tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (50, 64)).astype(np.float32)
    x[7, 3] = 3e38
    np.save(tmp_path / "x.npy", x)
    proc = run_cli(["quantize", float_model, "-o", tmp_path / "q.h5", "--data", tmp_path / "x.npy"])
    _refused(proc, "calibration data reaches 3e+38 (sample 7)")
    assert not (tmp_path / "q.h5").exists()


def test_quantized_model_computing_nan_is_refused(monkeypatch):
    """The last line of defence: whatever made the quantizers overflow, a model whose outputs are not
    finite on the calibration data is not returned."""
    from fpga_accel.stages import quantize as stage

    x = np.random.default_rng(0).uniform(-1, 1, (20, 16)).astype(np.float32)

    class NanModel:
        def predict(self, probe, verbose=0, batch_size=256):
            y = np.zeros((len(probe), 5), np.float32)
            y[2] = np.nan
            return y

    with pytest.raises(fa.ConfigError, match="computes NaN or inf for 1 of 20 calibration samples .first: sample 2"):
        stage.check_finite(NanModel(), x)


def test_a_sweep_point_that_fails_is_recorded_failed_not_reported_as_a_design(tmp_path, monkeypatch):
    from fpga_accel import flow, sweep

    (tmp_path / "m.h5").write_bytes(b"m")
    (tmp_path / "d.npz").write_bytes(b"d")
    spec = sweep.SweepSpec(name="s", model=tmp_path / "m.h5", data=tmp_path / "d.npz",
                           grid={"input_integer": [2]}, output_dir=tmp_path)

    def nan_model(*args, **kwargs):
        raise fa.ConfigError("the quantized model computes NaN or inf for 50 of 50 calibration samples")

    monkeypatch.setattr(flow, "run_flow", nan_model)
    monkeypatch.setattr(sweep, "_size_thread_pools", lambda cores: None)
    result = sweep.run_point(spec, {"input_integer": 2}, str(tmp_path / "p1"))
    assert "computes NaN" in result["failed"]
    assert json.loads((tmp_path / "p1" / "result.json").read_text()) == result
    good = {"id": "p2", "params": {"input_integer": 1}, "csim_accuracy": 0.9, "est_dsp": 3, "est_lut": 100,
            "fits": True}
    assert sweep.pareto_front([result, good], "est_dsp") == [good]
    table = sweep.write_table([result, good], tmp_path / "t.csv").read_text()
    assert "computes NaN" in table.splitlines()[1]
