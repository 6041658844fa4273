"""Shared fixtures: a per-session csim cache, small QKeras models with random weights, a converter."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A fresh csim cache for the test session: tests see real builds, and reuse within the session.
os.environ["FPGA_ACCEL_CACHE"] = tempfile.mkdtemp(prefix="fpga_accel_cache_")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fpga_accel.keras_compat import use_tensorflow_backend  # noqa: E402

use_tensorflow_backend()  # before any test module imports Keras 3

STAND_INS = Path(__file__).resolve().parent / "stand_in_tools"


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
    for var in ("STANDIN_FAIL", "STANDIN_NO_BITFILE", "STANDIN_HLS_VERSION"):
        monkeypatch.delenv(var, raising=False)
    return install
