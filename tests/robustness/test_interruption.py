"""Ctrl-C, SIGTERM and SIGKILL at known points of convert, csim, bundle and deploy.

The rule checked everywhere: the process stops with its signal's exit code and no traceback, and every
file that existed before is byte for byte what it was — or, when the step had already finished its
part, correctly replaced by the complete new one. SIGKILL cannot clean up: what it leaves (hidden
staging folders, partial files) is cleaned up by the next run, which then succeeds.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from conftest import BOARD_PYTHON, board_remote, stand_in_bitstream
from models import qmlp
from robustness_helpers import as_from_a_terminal, assert_stopped_cleanly, interrupt_at, leftovers, run_cli, tree

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
SIGNAL_IDS = ["SIGINT", "SIGTERM", "SIGKILL"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """An old project and bundle (seed 0) and a new model (seed 1) to replace them with."""
    root = tmp_path_factory.mktemp("interrupt")
    qmlp(seed=0).save(root / "old.h5")
    qmlp(seed=1).save(root / "new.h5")
    design = fa.convert(qmlp(seed=0), fa.ConvertConfig(name="mlp", output_dir=root / "hls", verify_samples=0))
    bit, hwh = stand_in_bitstream(root)
    fa.make_bundle(design, bit, hwh, root / "bitstreams")
    np.save(root / "x.npy", np.random.default_rng(0).uniform(-2, 2, (64, 16)).astype(np.float32))
    return root


def _copy(work: Path, tmp_path: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(work / name, tmp_path / name)


def _left_as_it_was(proc: subprocess.CompletedProcess, sig: int, folder: Path, name: str, before: dict,
                    rerun: list) -> bool:
    """The stopped step left ``folder/name`` byte for byte as it was and nothing beside it; after SIGKILL
    (which cannot clean up) the next run cleans up and succeeds. True when that rerun happened."""
    assert_stopped_cleanly(proc, sig)
    assert tree(folder / name) == before
    if sig != signal.SIGKILL:
        assert leftovers(folder, name) == []
        return False
    again = run_cli(rerun)
    assert again.returncode == 0, again.stderr[-3000:]
    assert leftovers(folder, name) == []
    return True


# ---- convert --force -------------------------------------------------------------------------------

CONVERT_POINTS = {
    "hls4ml-wrote-the-graph": ("fpga_accel.stages.convert:_hls4ml_convert", "after"),
    "csim-check-running": ("fpga_accel.stages.convert:verify", "before"),
    "about-to-swap-in": ("fpga_accel.layout:replace_dir", "before"),
}


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("point", list(CONVERT_POINTS))
def test_interrupted_convert_leaves_the_old_project(work, tmp_path, point, sig):
    _copy(work, tmp_path, "hls")
    before = tree(tmp_path / "hls" / "mlp")
    args = ["convert", work / "new.h5", "--name", "mlp", "--output-dir", tmp_path / "hls", "--force",
            "--verify-samples", "50"]
    proc = interrupt_at(tmp_path, *CONVERT_POINTS[point], sig, args)
    if _left_as_it_was(proc, sig, tmp_path / "hls", "mlp", before, rerun=args):
        design = fa.Design(tmp_path / "hls" / "mlp")  # replaced by the rerun after SIGKILL
        assert tree(design.root) != before and design.meta.fidelity["passed"]


def test_a_convert_cut_off_between_its_two_renames_is_undone_by_the_next(work, tmp_path):
    """What SIGKILL between 'move the old project aside' and 'move the new one in' would leave: the
    next convert puts the old project back, and without --force refuses to replace it."""
    _copy(work, tmp_path, "hls")
    before = tree(tmp_path / "hls" / "mlp")
    (tmp_path / "hls" / "mlp").rename(tmp_path / "hls" / ".mlp.old-0badc0de")
    proc = run_cli(["convert", work / "new.h5", "--name", "mlp", "--output-dir", tmp_path / "hls"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "exists and is not empty; pass --force" in proc.stderr
    assert tree(tmp_path / "hls" / "mlp") == before
    assert leftovers(tmp_path / "hls", "mlp") == []


# ---- csim --output --------------------------------------------------------------------------------

CSIM_POINTS = {
    "linking": ("fpga_accel.runtime.csim_build:_run", "before"),
    "predicting": ("fpga_accel.runtime.csim_lib:CsimLibrary.predict", "before"),
    "output-written-not-renamed": ("numpy:save", "after"),
}


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("point", list(CSIM_POINTS))
def test_interrupted_csim_leaves_the_old_output_and_no_half_build(work, tmp_path, point, sig):
    cache = tmp_path / "cache"  # its own: the compile really runs
    (tmp_path / "y.npy").write_bytes(b"the previous result")
    args = ["csim", work / "hls" / "mlp", "--input", work / "x.npy", "--output", tmp_path / "y.npy", "--force"]
    proc = interrupt_at(tmp_path, *CSIM_POINTS[point], sig, args, env={"FPGA_ACCEL_CACHE": str(cache)})
    assert_stopped_cleanly(proc, sig)
    assert (tmp_path / "y.npy").read_bytes() == b"the previous result"
    if sig != signal.SIGKILL:
        assert leftovers(tmp_path, "y.npy") == [] and list(cache.glob("csim/.build-*")) == []
        return
    again = run_cli(args, env={"FPGA_ACCEL_CACHE": str(cache)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert np.load(tmp_path / "y.npy").shape == (64, 5)


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_interrupted_parallel_csim_leaves_no_worker_processes(work, tmp_path, sig):
    """Stopped while the worker pool is half way through a batch: every worker goes with the CLI, even
    after SIGKILL (a worker whose parent is gone reads end-of-file on its task queue and exits)."""
    np.save(tmp_path / "big.npy", np.random.default_rng(1).uniform(-2, 2, (20_000, 16)).astype(np.float32))
    (tmp_path / "y.npy").write_bytes(b"the previous result")
    args = ["csim", work / "hls" / "mlp", "--input", tmp_path / "big.npy", "--workers", "2",
            "--output", tmp_path / "y.npy", "--force"]
    workers: set[int] = set()
    proc = interrupt_at(tmp_path, "fpga_accel.cli:_Progress.__call__", "before", sig, args,
                        on_pause=lambda p: workers.update(_children(p.pid)))  # after the first chunk came back
    assert_stopped_cleanly(proc, sig)
    assert len(workers) >= 2
    assert (tmp_path / "y.npy").read_bytes() == b"the previous result"
    deadline = time.monotonic() + 30
    while alive := [p for p in workers if Path(f"/proc/{p}").exists() and
                    Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]:
        assert time.monotonic() < deadline, f"processes left behind: {alive}"
        time.sleep(0.2)


def test_sigterm_during_a_compile_leaves_no_compiler_and_no_build_folder(robust_project, tmp_path):
    """`fpga-accel csim` killed with SIGTERM while g++ runs: the compilers are stopped and the cache has
    no half-built folder."""
    import signal
    import subprocess
    import sys
    import time

    _, design = robust_project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    cache = tmp_path / "cache"
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "fpga_accel.cli", "csim", str(copy), "--input",
                             str(tmp_path / "x.npy")], env={**__import__("os").environ, "FPGA_ACCEL_CACHE": str(cache)},
                            stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # wait for the compilers to start
        if list(cache.glob("csim/.build-*")):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the compile never started")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert "Traceback" not in proc.stderr.read()
    assert list(cache.glob("csim/.build-*")) == []
    left = subprocess.run(["pgrep", "-f", str(copy / "firmware")], capture_output=True, text=True).stdout.split()
    assert left == []


# ---- bundle --force --------------------------------------------------------------------------------

BUNDLE_POINTS = {
    "test-vectors-written": ("numpy:savez", "after"),
    "about-to-swap-in": ("fpga_accel.layout:replace_dir", "before"),
}


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("point", list(BUNDLE_POINTS))
def test_interrupted_bundle_leaves_the_old_bundle(work, tmp_path, point, sig):
    _copy(work, tmp_path, "bitstreams")
    before = tree(tmp_path / "bitstreams" / "mlp")
    bit, hwh = stand_in_bitstream(tmp_path)
    hwh.write_text("<MODULES/><!-- rebuilt -->\n")  # a different bundle from the old one
    args = ["bundle", work / "hls" / "mlp", "--bit", bit, "--hwh", hwh, "--output-dir", tmp_path / "bitstreams",
            "--force"]
    proc = interrupt_at(tmp_path, *BUNDLE_POINTS[point], sig, args)
    if _left_as_it_was(proc, sig, tmp_path / "bitstreams", "mlp", before, rerun=args):
        assert "rebuilt" in (tmp_path / "bitstreams" / "mlp" / "mlp.hwh").read_text()


# ---- deploy, against the real sshd -----------------------------------------------------------------

needs_board = pytest.mark.skipif(not BOARD_PYTHON, reason="needs the board venv (FPGA_ACCEL_BOARD_PYTHON, set by .ci/run)")


@pytest.fixture(scope="module")
def new_bundle(work):
    design = fa.convert(qmlp(seed=1), fa.ConvertConfig(name="mlp", output_dir=work / "hls-new", verify_samples=0))
    bit, hwh = stand_in_bitstream(work / "hls-new")
    return fa.make_bundle(design, bit, hwh, work / "bitstreams-new")


def _deploy_args(remote, bundle: Path) -> list:
    args = ["deploy", bundle, "--host", remote.host, "--user", remote.user, "--port", remote.port,
            "--identity", remote.identity, "--python", remote.python, "--remote-dir", remote.remote_dir]
    for option in remote.ssh_options:
        args += ["--ssh-option", option]
    return args


def _board_settled(board: Path, timeout: float = 120) -> None:
    """The board finishes a swap it has started even when the host is gone: wait for it."""
    deadline = time.monotonic() + timeout
    while list(board.glob(".incoming-*")) or (board / "bundles" / "mlp.previous").exists():
        assert time.monotonic() < deadline, f"the board never settled: {sorted(os.listdir(board))}"
        time.sleep(0.2)


@needs_board
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_deploy_interrupted_while_copying_leaves_the_board_as_it_was(work, new_bundle, sshd, tmp_path, sig):
    from fpga_accel.stages.deploy import deploy

    remote = board_remote(sshd, tmp_path)
    deploy(work / "bitstreams" / "mlp", remote)  # the working bundle on the board
    board = tmp_path / "board"
    before = tree(board / "bundles" / "mlp")
    proc = interrupt_at(tmp_path, "fpga_accel.stages.deploy:_run", "before", sig, _deploy_args(remote, new_bundle),
                        nth=2)  # the copy: the board's temporary folder exists, nothing copied yet
    assert_stopped_cleanly(proc, sig)
    assert tree(board / "bundles" / "mlp") == before
    if sig != signal.SIGKILL:
        assert list(board.glob(".incoming-*")) == []
        return
    again = run_cli(_deploy_args(remote, new_bundle))
    assert again.returncode == 0, again.stderr[-3000:]
    assert tree(board / "bundles" / "mlp") == tree(new_bundle)


@needs_board
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_deploy_interrupted_during_the_board_self_test_finishes_on_the_board(work, new_bundle, sshd, tmp_path, sig):
    """The host is stopped while the board runs the new bundle's self-test: the board carries on and
    ends with exactly the new bundle (it passed) — never without a bundle or with a half-swapped one."""
    from fpga_accel.stages.deploy import deploy

    remote = board_remote(sshd, tmp_path)
    deploy(work / "bitstreams" / "mlp", remote)
    flag = tmp_path / "self-test-started"
    slow_python = tmp_path / "board-python"
    slow_python.write_text(f'#!/bin/sh\ncase "$*" in *selftest*) touch {flag}; sleep 3;; esac\n'
                           f'exec {BOARD_PYTHON} "$@"\n')
    slow_python.chmod(0o755)
    remote = board_remote(sshd, tmp_path, python=str(slow_python))
    proc = subprocess.Popen([sys.executable, "-m", "fpga_accel.cli", *map(str, _deploy_args(remote, new_bundle))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal)
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert_stopped_cleanly(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), sig)
    _board_settled(tmp_path / "board")
    assert tree(tmp_path / "board" / "bundles" / "mlp") == tree(new_bundle)
