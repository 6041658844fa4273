"""The notebooks execute clean (nbclient): the host quickstart, the board notebook off-board, fit-and-profile."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import fpga_accel as fa
from fpga_accel.data import load_digits_split
from conftest import finished_bars, stand_in_bitstream
from fpga_accel.stages.bundle import make_bundle

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _run(path: Path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _text(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _execute(path: Path) -> str:
    return _text(_run(path))


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


def test_fit_and_profile_notebook(workdir):
    nb = _run(workdir / "notebooks" / "03_fit_and_profile.ipynb")
    text = _text(nb)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    html = [out["data"]["text/html"] for out in outputs if "text/html" in out.get("data", {})]
    assert any("types of profiled" in h and "exact sum: product = input + weight bits" in h for h in html)
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # the profile figure and the agreement plot, shown inline (no backend switched)
    assert "fc1    weights     fixed<6,1,TRN,WRAP,0>" in text
    assert "bit-exact (outputs)   100.00% of samples" in text
    assert "chosen (*): fits pynq-z2" in text
    assert "fit: converting in memory: 100%" in finished_bars(nb)  # a bar in the notebook, unasked: a widget
    assert "fit: converting in memory 1/1" not in text  # with ipywidgets, else text; and no log line
    assert "estimate for profiled on pynq-z2" in text
    assert "synth    dsp" in text and "csynth   lut" in text and " 2532" in text and " 1526" in text
    assert (workdir / "hls_projects" / "profiled" / "fpga_accel.json").is_file()
