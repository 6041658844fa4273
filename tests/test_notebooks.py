"""The notebooks execute clean (nbclient): the host quickstart, the board notebook off-board, fit-and-profile."""
from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import fpga_accel as fa
from fpga_accel.analysis.weight_stats import hls_type
from fpga_accel.data import load_digits_split
from conftest import finished_bars, stand_in_bitstream
from fpga_accel.stages.bundle import make_bundle

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


ROOT = NOTEBOOKS.parent
WARNING_FILTERS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["filterwarnings"]
"""The suite's warning filters (pyproject.toml): pytest applies them to the tests, not to a notebook's kernel."""
APPLY_FILTERS = f"""
import builtins, importlib, warnings
for _spec in {WARNING_FILTERS!r}:  # pytest's order: a later filter wins
    _action, _message, _category, _module, _line = (_spec.split(":", 4) + [""] * 4)[:5]
    _where, _, _name = _category.strip().rpartition(".")
    _category = getattr(importlib.import_module(_where) if _where else builtins, _name or "Warning")
    warnings.filterwarnings(_action.strip(), _message.strip(), _category, _module.strip(), int(_line or 0))
"""
"""Run first in the kernel of every notebook executed here (the notebook files are not changed): fpga_accel's
deprecations are errors there as in the suite, hls4ml's and fpga_accel's DeprecationWarnings are shown."""
DEPRECATION = re.compile(r"^.*\b\w*DeprecationWarning: .*$", re.MULTILINE)


def _deprecations(nb) -> list[str]:
    """The deprecation warnings a notebook's cells showed (on stderr, where the kernel writes warnings)."""
    return [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stderr"
            for line in DEPRECATION.findall(out.get("text", ""))]


def _run(path: Path, *checks: str, deprecations_allowed: bool = False):
    """Execute the notebook, with the suite's warning filters applied first and ``checks`` appended as cells
    run in its kernel after its own (they read the notebook's objects: its figures as drawn). A deprecation
    warning of fpga_accel or hls4ml the notebook triggers fails the run, as it fails a test."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [nbformat.v4.new_code_cell(APPLY_FILTERS), *nb.cells,
                *(nbformat.v4.new_code_cell(check) for check in checks)]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    if not deprecations_allowed:
        assert _deprecations(nb) == [], f"{path.name} triggers deprecated API"
    return nb


def _text(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _execute(path: Path, *checks: str) -> str:
    return _text(_run(path, *checks))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    return root


@pytest.fixture(scope="module")
def quickstart(workdir):
    """The quickstart notebook's printed text, run once: the board notebook needs the project it writes,
    whatever order the tests run in (or when only the board test is selected)."""
    return _execute(workdir / "notebooks" / "01_quickstart.ipynb",
                    "print('FIGURE', len(fig.get_axes()), len(a.collections[0].get_offsets()), b.images[0].get_array().sum())")


FIGURES = """
import json
def _axes(figure):
    return [{"title": ax.get_title(loc="left"), "bounds": sorted(float(line.get_xdata()[0]) for line in ax.get_lines()
                                                                 if line.get_gid() in ("type-min", "type-max"))}
            for ax in figure.get_axes()]
print("FIGURES " + json.dumps({"profile": _axes(fig), "profiled": [[p.layer, p.kind] for p in fig.profiles],
                               "agreement": [t.get_text() for t in agreement.get_axes()[0].get_yticklabels()],
                               "widths": [bar.get_width() for bar in agreement.get_axes()[0].patches],
                               "compared": report.layer_exact, "bit_exact": report.bit_exact}))
"""
"""Appended to notebook 03: what its profile and agreement figures hold, as drawn."""


def test_quickstart_notebook(workdir, quickstart):
    assert "bit-exact (logits )   100.00% of samples" in quickstart
    assert "FIGURE 2 2000 359" in quickstart  # csim vs QKeras logits (200 samples x 10) and the confusion of all 359
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
    nb = _run(workdir / "notebooks" / "03_fit_and_profile.ipynb", FIGURES)
    text = _text(nb)
    drawn = json.loads(text.split("FIGURES ", 1)[1].splitlines()[0])
    record = json.loads((workdir / "hls_projects" / "profiled" / "fpga_accel.json").read_text())
    expected = []  # per layer of the design's record: its weights' type, then its outputs' type
    for layer in record["layers"]:
        if "weight_t" in layer.get("types", {}):
            expected.append((layer["name"], "weights", layer["types"]["weight_t"]["precision"]))
        if layer.get("traced") or layer["class"] == "Input":
            expected.append((layer["name"], "activations", layer["precision"]))
    assert [tuple(p) for p in drawn["profiled"]] == [(name, kind) for name, kind, _ in expected]
    assert len(drawn["profile"]) == len(expected) >= 5  # one axes per distribution: x, fc1 (w, out), relu1, out (w, out)
    for axes, (name, kind, precision) in zip(drawn["profile"], expected):
        assert axes["title"] == f"{name} {kind}: {precision}"
        assert axes["bounds"] == list(hls_type(precision).value_range())  # the type's range, drawn at its bounds
    # bit-exact: one bar per traced layer (as where a layer diverges), each its share of samples exact: 100 %
    assert drawn["bit_exact"] == 1.0 and list(drawn["compared"].values()) == [1.0] * len(drawn["compared"])
    assert drawn["agreement"] == list(drawn["compared"]) == ["fc1", "relu1", "out"]  # x_q is the input's cast
    assert drawn["widths"] == [1.0] * len(drawn["agreement"])
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


def test_a_notebook_using_deprecated_api_fails(tmp_path):
    """The kernel gets the suite's filters: fpga_accel's own deprecation stops the notebook (an error, as
    outside pytest.warns in a test), one of hls4ml's is shown and found."""
    path = tmp_path / "old.ipynb"
    own = "import warnings\nfrom fpga_accel.errors import FpgaAccelDeprecationWarning\n" \
          "warnings.warn('old spelling', FpgaAccelDeprecationWarning)\nprint('went on')"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(own)]), path)
    with pytest.raises(CellExecutionError) as stopped:
        _run(path)
    assert (stopped.value.ename, stopped.value.evalue) == ("FpgaAccelDeprecationWarning", "old spelling")
    upstream = "import warnings\nwarnings.warn_explicit('old hls4ml api', DeprecationWarning, 'hls4ml/x.py', 7, " \
               "module='hls4ml.x')\nwarnings.warn_explicit('not ours', DeprecationWarning, 'numpy/x.py', 7, " \
               "module='numpy.x')"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(upstream)]), path)
    assert _deprecations(_run(path, deprecations_allowed=True)) == ["hls4ml/x.py:7: DeprecationWarning: old hls4ml api"]
    with pytest.raises(AssertionError, match="old.ipynb triggers deprecated API"):
        _run(path)
