"""Vendor tools may run for hours, never for ever: one run is stopped — with every process it started —
after ``$FPGA_ACCEL_TOOL_TIMEOUT`` seconds, with a message naming the tool and the setting."""
from __future__ import annotations

import os
import time

import pytest

import fpga_accel as fa
from fpga_accel.stages.build import TOOL_TIMEOUT_ENV, run_tool, tool_timeout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its parent is stopped too
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_tool_that_never_ends_is_stopped_with_its_helpers(tmp_path):
    """The helper keeps the output pipe open after the tool itself is killed (as Vivado's do): the
    whole process group goes."""
    pids = tmp_path / "pids"
    script = f"sleep 600 & echo $! > {pids}; echo started; sleep 600"
    with pytest.raises(fa.BuildError, match=rf"sh timed out after 1 s and was stopped.*{TOOL_TIMEOUT_ENV}"):
        run_tool(["sh", "-c", script], tmp_path, tmp_path / "build.log", lambda update: None, timeout=1)
    helper = int(pids.read_text())
    deadline = time.monotonic() + 10
    while alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(helper)
    assert "started" in (tmp_path / "build.log").read_text()


def test_a_tool_that_finishes_in_time_is_unaffected(tmp_path):
    run_tool(["sh", "-c", "echo done"], tmp_path, tmp_path / "build.log", lambda update: None, timeout=30)
    assert "done" in (tmp_path / "build.log").read_text()


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan"])
def test_the_timeout_setting_must_be_seconds(monkeypatch, value):
    monkeypatch.setenv(TOOL_TIMEOUT_ENV, value)
    with pytest.raises(fa.ConfigError, match=TOOL_TIMEOUT_ENV):
        tool_timeout()


def test_the_default_is_generous_and_finite(monkeypatch):
    monkeypatch.delenv(TOOL_TIMEOUT_ENV, raising=False)
    assert 3600 <= tool_timeout() < float("inf")
    monkeypatch.setenv(TOOL_TIMEOUT_ENV, "7200")
    assert tool_timeout() == 7200
