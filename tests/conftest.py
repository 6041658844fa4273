"""Shared fixtures: a per-session csim cache, small QKeras models with random weights, a converter."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A fresh csim cache for the test session: tests see real builds, and reuse within the session.
os.environ["FPGA_ACCEL_CACHE"] = tempfile.mkdtemp(prefix="fpga_accel_cache_")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fpga_accel.keras_compat import use_tensorflow_backend  # noqa: E402

use_tensorflow_backend()  # before any test module imports Keras 3

STAND_INS = Path(__file__).resolve().parent / "stand_in_tools"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
BOARD_PYTHON = os.environ.get("FPGA_ACCEL_BOARD_PYTHON")
"""The numpy + pynq board venv .ci/run makes: deploy tests run the board side with it."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for servers the tests start (sshd, dask scheduler)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stand_in_bitstream(folder):
    """(.bit, .hwh) stand-ins: no Vivado here. The simulated board never reads them; the manifest
    records their hashes, so the runtime's integrity checks are exercised for real."""
    bit, hwh = folder / "stand_in.bit", folder / "stand_in.hwh"
    bit.write_bytes(b"\x00\x09\x0f\xf0" * 256)
    hwh.write_text("<MODULES/>\n")
    return bit, hwh


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def build(tmp_path):
    """Convert a model into tmp_path and compile its csim: build(model, name, **ConvertConfig kwargs)."""
    import fpga_accel as fa

    def _build(model, name="design", calibration=None, **kwargs):
        config = fa.ConvertConfig(name=name, output_dir=tmp_path / "hls_projects", **kwargs)
        design = fa.convert(model, config, calibration=calibration)
        design.compile()
        return design

    return _build


@pytest.fixture
def vivado(tmp_path, monkeypatch):
    """Stand-in tools first on PATH and a Vivado install with the PYNQ-Z2 board files."""
    install = tmp_path / "Xilinx" / "Vivado" / "2020.1"
    board = install / "data" / "boards" / "board_files" / "pynq-z2" / "A.0"
    board.mkdir(parents=True)
    (board / "board.xml").write_text('<board schema_version="2.1" vendor="tul.com.tw" name="pynq-z2" '
                                     'display_name="PYNQ-Z2"/>\n')
    monkeypatch.setenv("XILINX_VIVADO", str(install))
    monkeypatch.setenv("PATH", f"{STAND_INS}{os.pathsep}{os.environ['PATH']}")
    for var in ("STANDIN_FAIL", "STANDIN_NO_BITFILE", "STANDIN_HLS_VERSION", "STANDIN_VIVADO_VERSION",
                "STANDIN_VITIS_VERSION", "STANDIN_NO_BOARD", "STANDIN_RECORD", "XILINX_BOARD_REPO_PATHS"):
        monkeypatch.delenv(var, raising=False)
    return install


@pytest.fixture
def vitis(vivado, tmp_path, monkeypatch):
    """The vivado fixture plus stand-in vitis-run and v++ first on PATH, Vivado reporting 2023.2, every
    stand-in's command line recorded in the returned file."""
    monkeypatch.setenv("PATH", f"{STAND_INS / 'vitis'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_VIVADO_VERSION", "2023.2")
    record = tmp_path / "commands.jsonl"
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    return record


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real sshd on a high port with a temporary host key and authorized key."""
    if not os.path.exists(SSHD):
        pytest.skip("openssh-server not installed (.ci/run installs it)")
    d = tmp_path_factory.mktemp("sshd")
    for key in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copyfile(d / "user.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host'}", f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no",
        "StrictModes no", "PermitRootLogin prohibit-password", f"PidFile {d / 'sshd.pid'}",
        "Subsystem sftp internal-sftp", ""]))
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("sshd did not start: " + proc.stderr.read())
    host_pub = (d / "host.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    yield {"port": port, "dir": d}
    proc.terminate()
    proc.wait(timeout=10)


def board_remote(sshd, tmp_path, python=None, known_hosts=None):
    """A Remote for the test sshd whose board folder is tmp_path/board."""
    import getpass

    from fpga_accel.stages.deploy import Remote

    return Remote(host="127.0.0.1", user=getpass.getuser(), port=sshd["port"], identity=sshd["dir"] / "user",
                  ssh_options=(f"UserKnownHostsFile={known_hosts or sshd['dir'] / 'known_hosts'}",
                               "StrictHostKeyChecking=yes"),
                  python=python or BOARD_PYTHON, remote_dir=str(tmp_path / "board"))


@pytest.fixture(scope="session")
def robust_project(tmp_path_factory):
    """(folder, Design) of a converted QKeras MLP, its input x.npy and model q.h5, for tests that only read
    it or work on a copy."""
    import fpga_accel as fa
    from models import qmlp

    root = tmp_path_factory.mktemp("robust")
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=root / "hls", verify_samples=0))
    np.save(root / "x.npy", np.random.default_rng(0).uniform(-1, 1, (8, 16)).astype(np.float32))
    qmlp().save(root / "q.h5")
    return root, design


def finished_bars(nb) -> list[str]:
    """The progress bars an executed notebook drew to the end, as "<what>: 100%": tqdm.auto's widgets (their
    last state, which nbclient stores in the notebook's metadata) or, without ipywidgets, tqdm's text bars in
    the cells' stderr."""
    import re

    states = (nb.metadata.get("widgets") or {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    found = [str(m["state"].get("value", "")).replace("\u2007", " ") for m in states.values()
             if m.get("model_name") == "HTMLModel"]
    found = [text for text in found if text.endswith("100%")]
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found += [m.group(1) for m in re.finditer(r"([^\r\n]*?: *100%)\|", out.get("text", ""))]
    return found

