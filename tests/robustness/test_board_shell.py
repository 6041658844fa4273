"""Nothing crosses a shell as text: a deploy's values (remote folder, board Python) reach the board as
arguments quoted once, by one function (``stages.deploy.remote_command``), and every wait on the board is
bounded.

Deploys go to a real OpenSSH server on 127.0.0.1 (the ``sshd`` fixture); each hostile folder name would
create a canary file if any shell read it as code. CLI cases run ``fpga-accel`` as a separate process.
"""
from __future__ import annotations

import getpass
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import fpga_accel as fa
from conftest import BOARD_PYTHON, stand_in_bitstream
from robustness_helpers import run_cli

HOSTILE_DIRS = {
    "space": "my dir",
    "single-quote": "it's",
    "double-quotes": 'say "hi"',
    "command-substitution": "fa$(touch {canary})",
    "backticks": "fa`touch {canary}`",
    "semicolons": "a;touch {canary};b",
    "and-and": "x && touch {canary}",
    "variable-and-glob": "$HOME*",
    "trap-quote": "x' EXIT; touch {canary}; trap '",
    "unicode": "dössier ✓",
}


@pytest.fixture(scope="module")
def bundle(robust_project, tmp_path_factory):
    _, design = robust_project
    root = tmp_path_factory.mktemp("board_shell")
    return fa.make_bundle(design, *stand_in_bitstream(root), root / "bitstreams")


def home_leftovers() -> list[str]:
    return sorted(p.name for p in Path.home().glob(".fpga_accel-incoming-*"))


def deploy_args(sshd, bundle, remote_dir, python) -> list:
    return ["deploy", bundle, "--host", "127.0.0.1", "--user", getpass.getuser(), "--port", sshd["port"],
            "--identity", sshd["dir"] / "user", "--ssh-option", f"UserKnownHostsFile={sshd['dir'] / 'known_hosts'}",
            "--python", python, "--remote-dir", remote_dir]


@pytest.mark.parametrize("case", sorted(HOSTILE_DIRS))
def test_hostile_remote_dirs_are_folder_names_on_the_board(bundle, sshd, tmp_path, case):
    """The deploy goes as far as the board's Python allows (all the way with the board venv): the folder
    is made with exactly that name, no command in it runs, no temporary folder is left."""
    canary = tmp_path / "CANARY"
    board = tmp_path / "board"
    name = HOSTILE_DIRS[case].format(canary=canary)
    remote_dir = f"{board}/{name}"
    before = home_leftovers()
    proc = run_cli(deploy_args(sshd, bundle, remote_dir, BOARD_PYTHON or "/nonexistent/python3"), timeout=600)
    assert "Traceback" not in proc.stderr
    assert not canary.exists()
    assert not list(board.rglob(".incoming-*")) and home_leftovers() == before
    if BOARD_PYTHON:
        assert proc.returncode == 0, proc.stderr[-3000:]
        deployed = Path(remote_dir) / "bundles" / "mlp" / "manifest.json"
        assert json.loads(deployed.read_text())["name"] == "mlp"
        assert "PASS" in proc.stdout
    else:
        assert proc.returncode == 1
        assert "install the runtime wheel failed" in proc.stderr.splitlines()[-1]


@pytest.mark.skipif(not BOARD_PYTHON, reason="needs the numpy board venv (FPGA_ACCEL_BOARD_PYTHON, set by .ci/run)")
def test_a_board_python_path_with_spaces_and_quotes_runs(bundle, sshd, tmp_path):
    """The board's Python reaches the board as one argument too: a path with a space and a quote works."""
    odd = tmp_path / "board python's dir"
    odd.mkdir()
    (odd / "python3").symlink_to(BOARD_PYTHON)
    proc = run_cli(deploy_args(sshd, bundle, str(tmp_path / "board"), str(odd / "python3")), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "board" / "bundles" / "mlp" / "manifest.json").is_file()


REFUSED = {
    "newline": (["--remote-dir", "fa\ntouch CANARY"], "control character"),
    "carriage-return": (["--remote-dir", "fa\rx"], "control character"),
    "tab": (["--remote-dir", "fa\tx"], "control character"),
    "leading-dash": (["--remote-dir=-rf"], "starts with '-'"),
    "home": (["--remote-dir", "~"], "home or root folder"),
    "root": (["--remote-dir", "//"], "home or root folder"),
    "host-option": (["--host=-oProxyCommand=touch CANARY"], "starts with '-'"),
    "host-space": (["--host", "127.0.0.1 touch CANARY"], "white space"),
    "user-option": (["--user=-oProxyCommand=touch CANARY"], "starts with '-'"),
    "user-at": (["--user", "a@evil"], "contains '@'"),
    "python-newline": (["--python", "python3\ntouch CANARY"], "control character"),
    "python-option": (["--python=-c"], "starts with '-'"),
    "port": (["--port", "70000"], "TCP port"),
    "timeout": (["--timeout", "0"], "timeout"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_values_that_cannot_be_one_argument_are_refused_before_ssh(bundle, tmp_path, case):
    flags, message = REFUSED[case]
    args = ["deploy", bundle, "--host", "127.0.0.1", "--port", "1", *flags]
    proc = subprocess.run([sys.executable, "-m", "fpga_accel.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)  # in tmp_path: where a CANARY would land
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("fpga-accel:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.parametrize("value", ["fa\x00x", "a\nb", "-x", "\x7f"])
def test_the_library_refuses_them_too(value):
    from fpga_accel.stages.deploy import Remote

    with pytest.raises(fa.ConfigError, match="control character|starts with '-'"):
        Remote(host="127.0.0.1", remote_dir=value)


@pytest.mark.parametrize("text", ["plain", "my dir", "it's", 'a "b"', "$(touch {c})", "`touch {c}`", "a;touch {c}",
                                  "x\ny", "-n", "*", "\\", "", "ünïcödé", "'\"'\"'"])
def test_one_quoting_function_round_trips_through_a_shell(tmp_path, text):
    """What ``remote_command`` quotes, a POSIX shell reads back as exactly the same argument."""
    from fpga_accel.stages.deploy import remote_command, shell_script

    text = text.format(c=tmp_path / "CANARY")
    out = subprocess.run(["sh", "-c", remote_command("printf", "%s", text)], capture_output=True, text=True,
                         check=True).stdout
    assert out == text
    out = subprocess.run(["sh", "-c", shell_script('printf "%s|%s" "$1" "$2"', text, "two")],
                         capture_output=True, text=True, check=True).stdout
    assert out == f"{text}|two"
    assert not (tmp_path / "CANARY").exists()


def test_every_ssh_and_scp_is_bounded(bundle, tmp_path):
    proc = run_cli(["deploy", bundle, "--host", "pynq", "--connect-timeout", "7", "--dry-run",
                    "--remote-dir", "my dir"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = [line for line in proc.stdout.splitlines() if line.startswith(("ssh ", "scp "))]
    assert len(commands) == 5
    for command in commands:
        assert "ConnectTimeout=7" in command and "ServerAliveInterval=15" in command
        assert "ServerAliveCountMax=4" in command and " -- " in command


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_a_board_that_never_answers_times_out_connecting(bundle, silent_server, tmp_path):
    proc = run_cli(["deploy", bundle, "--host", "127.0.0.1", "--port", silent_server.port,
                    "--connect-timeout", "2", "--remote-dir", str(tmp_path / "board")], timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "create a temporary folder failed" in last and "timed out" in last.lower()
    assert silent_server.held  # it did connect: the handshake is what timed out


def test_a_step_that_never_finishes_is_stopped_by_the_step_timeout(bundle, silent_server, tmp_path):
    proc = run_cli(["deploy", bundle, "--host", "127.0.0.1", "--port", silent_server.port,
                    "--connect-timeout", "600", "--timeout", "3", "--remote-dir", str(tmp_path / "board")],
                   timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "create a temporary folder timed out after 3 s" in last


def test_remote_dir_from_a_project_file_is_one_argument_too(bundle, tmp_path):
    """``deploy: {remote_dir: ...}`` builds the same Remote: the same quoting, the same refusals."""
    from fpga_accel.stages.deploy import Remote, deploy

    remote = Remote(**{"host": "pynq", "remote_dir": "fa$(touch x)"})
    text = deploy(bundle, remote, dry_run=True)
    assert "fa$(touch x)" in text  # as data inside one quoted argument
    with pytest.raises(fa.ConfigError, match="control character"):
        Remote(**{"host": "pynq", "remote_dir": "fa\nx"})


@pytest.mark.parametrize("option", [
    "ProxyCommand=touch {canary}",
    "proxycommand touch {canary}",
    "ProxyCommand = sh -c 'touch {canary}'",
    "KnownHostsCommand=/bin/touch {canary}",
    "LocalCommand=touch {canary}",
    "PermitLocalCommand=yes",
    "RemoteCommand=touch {canary}",
])
def test_ssh_options_that_run_commands_are_refused(bundle, tmp_path, option):
    """A project file's ``deploy: {ssh_options: [...]}`` is data: no option may make ssh run a command."""
    canary = tmp_path / "CANARY"
    proc = run_cli(["deploy", bundle, "--host", "127.0.0.1", "--port", "1", "--remote-dir", tmp_path / "board",
                    "--ssh-option", option.format(canary=canary)], timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "are refused" in last and "command" in last
    assert not canary.exists()
