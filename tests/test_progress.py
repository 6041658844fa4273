"""The one Progress interface draws bars only where someone watches: a notebook (tqdm.auto) or, for the CLI,
a terminal; piped or logged, a count is one log line when complete. The long steps report counts through it."""
from __future__ import annotations

import importlib.util
import io
import logging
import sys
import types

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.runtime.progress import (ProgressBars, Update, default_progress, in_notebook, log_progress,
                                         notebook_progress)
from models import qmlp
from test_runtime import _run_cli


def _counts(bars, n=3, what="samples"):
    for done in range(1, n + 1):
        bars(Update(what, "count", done, n))


@pytest.fixture
def kernel(monkeypatch):
    """This process as a Jupyter kernel sees it: IPython imported, a shell whose config names IPKernelApp."""
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_piped_no_bar_one_log_line(monkeypatch, caplog):
    err = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", err)
    logger = logging.getLogger("fpga_accel.test_progress")
    with caplog.at_level(logging.INFO, logger=logger.name):
        bars = ProgressBars(logger, terminal=True)
        _counts(bars)
        bars(Update("a line"))
    assert not in_notebook() and err.getvalue() == ""
    assert [r.getMessage().split(" ")[:3] for r in caplog.records] == [["samples", "3/3", "(100%)"], ["a", "line"]]
    assert notebook_progress(logger) is None  # predict and compare stay silent outside a notebook
    assert default_progress(logger).__qualname__ == log_progress(logger).__qualname__


def test_notebook_bar_not_in_logs(kernel, monkeypatch, caplog):
    err = io.StringIO()  # a kernel's stderr is no terminal: the bar is drawn there all the same
    monkeypatch.setattr(sys, "stderr", err)
    logger = logging.getLogger("fpga_accel.test_progress")
    assert in_notebook()
    with caplog.at_level(logging.INFO, logger=logger.name):
        bars = notebook_progress(logger)
        assert isinstance(bars, ProgressBars) and isinstance(default_progress(logger), ProgressBars)
        _counts(bars)
    assert not caplog.records  # the count went to the bar, not into the log
    if importlib.util.find_spec("ipywidgets") is None:  # tqdm.auto's widget needs it: text in the cell then
        assert "samples: 100%|" in err.getvalue() and "3/3" in err.getvalue()


def test_a_real_kernel_draws_the_bar_and_logs_no_count(tmp_path):
    """In a real Jupyter kernel (nbclient, as the notebook tests run them) ProgressBars knows it is in a
    notebook unasked; with ipywidgets (a test extra) the bar is tqdm.auto's widget — the notebook stores its
    last state, 3 of 3 — without it tqdm's text in the cell; either way the count never becomes a log line."""
    import nbformat
    from nbclient import NotebookClient

    from conftest import finished_bars

    cell = ("import logging\n"
            "from fpga_accel.runtime.progress import ProgressBars, Update\n"
            "logging.basicConfig(level=logging.INFO, format='LOG %(message)s')\n"
            "bars = ProgressBars(logging.getLogger('fpga_accel.nb'), terminal=False)\n"
            "for i in range(1, 4):\n"
            "    bars(Update('samples', 'count', i, 3))\n"
            "bars(Update('a step done'))\n"
            "print('notebook', bars.notebook)\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    streams = "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    assert "notebook True" in streams
    assert "LOG a step done" in streams and "LOG samples" not in streams  # lines are logged, counts are not
    assert finished_bars(nb) == ["samples: 100%"]
    widgets = [out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    if importlib.util.find_spec("ipywidgets") is not None:  # this process's environment is the kernel's
        assert len(widgets) == 1 and "%|" not in streams
        states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
        assert [(m["state"]["value"], m["state"]["max"]) for m in states
                if m["model_name"] == "FloatProgressModel"] == [(3.0, 3.0)]
    else:
        assert not widgets and "samples: 100%|" in streams and "3/3" in streams


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return fa.convert(qmlp(), fa.ConvertConfig(name="pg", output_dir=tmp_path_factory.mktemp("progress"),
                                               verify_samples=0))


def test_emulator_and_compare_count_their_samples(design):
    from fpga_accel.engines import EMULATOR_CHUNK

    x = np.random.default_rng(0).uniform(-2, 2, (2 * EMULATOR_CHUNK + 100, 16)).astype(np.float32)
    seen: list[Update] = []
    y = design.predict(x, engine="emulator", progress=seen.append)
    assert [(u.what, u.done, u.total) for u in seen] == [("predicting", EMULATOR_CHUNK, len(x)),
                                                          ("predicting", 2 * EMULATOR_CHUNK, len(x)),
                                                          ("predicting", len(x), len(x))]
    assert np.array_equal(y, design.predict(x, engine="emulator"))  # in chunks: the same bits
    seen.clear()
    report = design.compare(qmlp(), x[:300], engine="emulator", progress=seen.append)
    assert report.passed and [(u.done, u.total) for u in seen] == [(300, 300)]
    seen.clear()
    _, layers = design.trace(x, engine="emulator", progress=seen.append)  # trace counts through it too
    assert [(u.what, u.done) for u in seen] == [("predicting", EMULATOR_CHUNK), ("predicting", 2 * EMULATOR_CHUNK),
                                                ("predicting", len(x))]
    assert np.array_equal(layers["fc1"], design.trace(x, engine="emulator")[1]["fc1"])


def test_csim_trace_counts_its_samples(design):
    x = np.random.default_rng(1).uniform(-2, 2, (250, 16)).astype(np.float32)
    seen: list[Update] = []
    y, layers = design.trace(x, engine="csim", progress=seen.append)
    assert [u.done for u in seen] == list(range(2, 251, 2)) and {u.total for u in seen} == {250}
    assert np.array_equal(y, design.predict(x, engine="csim"))
    assert np.array_equal(layers["relu1"], design.trace(x, engine="emulator")[1]["relu1"])


def test_cli_fit_bar_on_a_terminal_and_not_in_logs(tmp_path):
    qmlp().save(tmp_path / "m.h5")
    args = ["fit", str(tmp_path / "m.h5"), "--io-type", "io_parallel", "--name", "m"]
    code, shown = _run_cli(args + ["-o", str(tmp_path / "a.yml")], tty=True)
    assert code == 0, shown
    assert "fpga-accel: fit: converting in memory: 100%|" in shown and "1/1" in shown, shown
    code, logged = _run_cli(args + ["-o", str(tmp_path / "b.yml")], tty=False)
    assert code == 0, logged
    assert "%|" not in logged and "\r" not in logged, logged
    assert "fpga-accel: fit: converting in memory 1/1 (100%)" in logged
