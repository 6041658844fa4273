"""Helpers of the robustness suite: run the CLI as a user would (a separate process), stop it at a
known point with a signal, and compare folders byte for byte before and after."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

PAUSE_AT = Path(__file__).with_name("pause_at.py")
EXIT_FOR = {signal.SIGINT: 130, signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGKILL: -signal.SIGKILL}
"""What the process returns: Ctrl-C → 130 ("interrupted"), SIGTERM → 143, SIGKILL → killed."""


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path → sha256); {} when it does not exist."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path, name: str) -> list[str]:
    """Hidden staging, lock, old-copy and partial files a writer of ``name`` may leave in ``folder``."""
    return sorted(p.name for p in Path(folder).glob(f".{name}*"))


def run_cli(args: list, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpga_accel.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def as_from_a_terminal() -> None:
    """For Popen(preexec_fn=...): Ctrl-C reaches the child as it would from a user's shell. A test run
    started in the background of a non-interactive shell (as CI may be) has SIGINT ignored, and an ignored
    SIGINT is inherited — Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_at(tmp_path: Path, target: str, when: str, sig: int, args: list, env: dict | None = None,
                 nth: int = 1, timeout: float = 300,
                 on_pause: Callable[[subprocess.Popen], None] | None = None) -> subprocess.CompletedProcess:
    """Run ``fpga-accel ARGS`` until ``target`` (MODULE:ATTR) is reached, call ``on_pause``, send ``sig``,
    and return the finished process (returncode, stdout, stderr)."""
    flag = tmp_path / f"paused-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, str(PAUSE_AT), str(flag), target, when, str(nth), "--", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=as_from_a_terminal)
    deadline = time.monotonic() + timeout
    while not flag.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"finished (exit {proc.returncode}) before reaching {target}:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never reached {target}")
        time.sleep(0.02)
    if on_pause is not None:
        on_pause(proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_stopped_cleanly(proc: subprocess.CompletedProcess, sig: int) -> None:
    assert proc.returncode == EXIT_FOR[sig], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
