"""Both notebooks execute clean (nbclient): the host quickstart, then the board notebook off-board."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import fpga_accel as fa
from fpga_accel.data import load_digits_split
from conftest import stand_in_bitstream
from fpga_accel.stages.bundle import make_bundle

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    return root


@pytest.fixture(scope="module")
def quickstart(workdir):
    """The quickstart notebook's printed text, run once: the board notebook needs the project it writes,
    whatever order the tests run in (or when only the board test is selected)."""
    return _execute(workdir / "notebooks" / "01_quickstart.ipynb")


def test_quickstart_notebook(workdir, quickstart):
    assert "bit-exact (logits )   100.00% of samples" in quickstart
    assert (workdir / "hls_projects" / "quickstart" / "fpga_accel.json").is_file()


def test_board_notebook_falls_back_to_csim(workdir, quickstart):
    project = workdir / "hls_projects" / "quickstart"
    _, _, x_test, y_test = load_digits_split()
    make_bundle(fa.Design(project), *stand_in_bitstream(workdir), workdir / "bitstreams", x=x_test[:32],
                labels=y_test[:32])
    text = _execute(workdir / "notebooks" / "02_pynq_z2.ipynb")
    assert "no PYNQ board here: falling back to csim" in text
    assert "argmax agreement 100.00%" in text
    assert "accuracy on 32 samples" in text and "inferences/s" in text
    assert np.load(workdir / "bitstreams" / "quickstart" / "test_vectors.npz")["labels"].shape == (32,)
