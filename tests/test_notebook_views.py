"""Every result class renders in a notebook (_repr_html_), prints as its format() text (__str__), and
hands its rows to pandas (to_dataframe) — or says how to get pandas when it is missing."""
from __future__ import annotations

import html
import sys
import types
from pathlib import Path

import pytest

from fpga_accel.analysis.estimate import estimate_layers
from fpga_accel.boards import get_board
from fpga_accel.design import AgreementReport
from fpga_accel.errors import ConfigError, ToolNotFoundError
from fpga_accel.fit_search import auto_reuse_factors
from fpga_accel.runtime.accelerator import BenchResult
from fpga_accel.runtime.selftest import SelfTestResult
from fpga_accel.runtime.tables import MAX_HTML_ROWS, html_table
from fpga_accel.stages.build import check_machine
from fpga_accel.sweep import SweepResult

LAYER = {"name": "fc<1>", "class": "Dense", "shape": [16], "n_in": 16, "n_out": 16, "rf_n_in": 16, "rf_n_out": 16,
         "reuse_factor": 1, "input_precision": "fixed<16,6>", "precision": "fixed<16,6>",
         "weight_precision": "fixed<16,6>", "accum_precision": "fixed<16,6>", "n_weights": 256,
         "n_nonzero_weights": 256, "strategy": "latency", "valid_reuse_factors": [1, 2, 4, 8, 16, 32, 64, 128, 256]}
RECORDS = [{"name": "in", "class": "Input", "shape": [16]}, LAYER]
KW = dict(board=get_board("pynq-z2"), io_type="io_parallel", clock_period=10)


class FakePandas(types.ModuleType):
    """Records what to_dataframe hands to pandas.DataFrame (pandas is not installed in the test venvs)."""

    def __init__(self) -> None:
        super().__init__("pandas")
        self.calls = []

    def DataFrame(self, rows, columns=None):  # noqa: N802 (pandas' name)
        self.calls.append((rows, columns))
        return ("frame", rows, columns)


@pytest.fixture
def fake_pandas(monkeypatch):
    module = FakePandas()
    monkeypatch.setitem(sys.modules, "pandas", module)
    return module


def _report(exact=True):
    report = AgreementReport(n_samples=10, bit_exact=1.0 if exact else 0.7, element_exact=0.95,
                             argmax_agreement=1.0, max_abs_diff=0.0 if exact else 0.25, compared="logits",
                             output_bit_exact=0.9, output_max_abs_diff=0.002)
    if not exact:
        report.layer_exact = {"fc1": 1.0, "relu<1>": 0.7, "out": 0.7}
        report.first_divergent_layer = "relu<1>"
    return report


def _sweep(tmp_path: Path) -> SweepResult:
    rows = [{"id": "a", "params": {"weight_bits": 4}, "csim_accuracy": 0.9, "est_dsp": 1.0, "fits": True},
            {"id": "b", "params": {"weight_bits": 6, "io_type": "io_stream"}, "failed": "NaN outputs"}]
    return SweepResult(tmp_path, rows, ran=1, skipped=1, table=tmp_path / "results.csv", plot=None)


def test_agreement_report_renders_its_verdict_and_marks_the_first_diverging_layer():
    good, bad = _report(), _report(exact=False)
    assert str(good) == good.format() and "bit-exact (logits )" in str(good)
    page = bad._repr_html_()
    assert "not bit-exact (70.00% of samples)" in page and "#cf222e" in page
    assert '<tr style="font-weight:bold"><td>relu&lt;1&gt;</td>' in page  # the first diverging row, escaped
    assert "<1>" not in page  # names come from user files: never raw HTML
    assert "bit-exact</b>" in good._repr_html_() and "#1a7f37" in good._repr_html_()
    assert bad.rows() == [{"layer": "fc1", "bit_exact": 1.0, "first_diverging": False},
                          {"layer": "relu<1>", "bit_exact": 0.7, "first_diverging": True},
                          {"layer": "out", "bit_exact": 0.7, "first_diverging": False}]


def test_estimate_and_fit_render_their_tables_and_frames(fake_pandas):
    est = estimate_layers(RECORDS, name="big", **KW)
    assert str(est) == est.format()
    page = est._repr_html_()
    assert "estimate for big" in page and "fc&lt;1&gt;" in page and est.verdict in page
    assert page.count("<tr>") - 1 >= len(est.layers)  # a header row and one per layer row (plus the summary)
    frame = est.to_dataframe()
    rows, columns = fake_pandas.calls[-1]
    assert frame[0] == "frame" and [r["name"] for r in rows] == [l.name for l in est.layers]
    assert rows[1]["dsp"] == est.layers[1].dsp and columns[:2] == ["name", "kind"]
    fit = auto_reuse_factors(RECORDS, **KW)
    assert str(fit) == fit.format()
    fit_rows = fit.rows()
    assert len(fit_rows) == len(fit.candidates) and sum(r["chosen"] for r in fit_rows) == 1
    chosen = next(r for r in fit_rows if r["chosen"])
    assert chosen["layers"] == fit.chosen.summary() and chosen["fits"]
    assert html.escape(fit.message) in fit._repr_html_()
    fit.to_dataframe()
    assert fake_pandas.calls[-1][0] == fit_rows


def test_to_dataframe_without_pandas_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ToolNotFoundError, match=r"needs pandas.*pip install pandas.*\.rows\(\)"):
        _report(exact=False).to_dataframe()


def test_board_results_sweep_and_doctor_render(tmp_path, fake_pandas):
    bench = BenchResult("csim", 256, 10, 12345.6, 0.5, 0.75)
    test = SelfTestResult("simulated", 32, 1.0, 1.0, 0.0, bench)
    assert str(bench) == bench.format() and str(test) == test.format()
    assert "12,346" in bench._repr_html_() and "0.500 ms / 0.750 ms" in bench._repr_html_()
    page = test._repr_html_()
    assert "self-test on backend simulated" in page and ">PASS</b>" in page and "12,346" in page
    failed = SelfTestResult("pynq", 32, 0.5, 0.5, 1.0, bench)
    assert ">FAIL</b>" in failed._repr_html_()
    sweep = _sweep(tmp_path)
    rows = sweep.table_rows()
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["io_type"] is None and rows[1]["failed"] == "NaN outputs"
    assert "2 points (1 ran, 1 already done, 1 failed)" in str(sweep) and "{'weight_bits': 4}" in str(sweep)
    assert "NaN outputs" in sweep._repr_html_()
    sweep.to_dataframe()
    assert fake_pandas.calls[-1][0] == rows
    doctor = check_machine()
    assert str(doctor) == doctor.format()
    assert all(f"<td>{c.flow.name}</td>" in doctor._repr_html_() for c in doctor.flows)


def test_csim_and_build_results_render(fake_pandas):
    import numpy as np

    from fpga_accel.stages.build import BuildResult
    from fpga_accel.stages.csim import CsimResult

    result = CsimResult(np.zeros((3, 5), np.float32), False, 2.5, _report(exact=False), "csim")
    assert str(result) == result.format()
    assert result.format().splitlines()[0] == "csim (csim): 3 samples -> outputs of shape (5,), C library compiled (2.5 s)"
    assert _report(exact=False).format() in result.format()
    page = result._repr_html_()
    assert "compiled (2.5 s)" in page and page.endswith(_report(exact=False)._repr_html_())  # the report's table too
    assert "none (the emulator computed it)" in CsimResult(np.zeros((1, 5)), True, 0.0, None, "emulator").format()
    report = {"board": "pynq-z2", "part": "xc7z020clg400-1", "clock_period_ns": 10.0,
              "hls": {"lut": 2532, "ff": 7969, "dsp": 73, "bram_18k": 0, "latency_cycles_worst": 10},
              "implementation": {"lut": 1526, "ff": 2428, "dsp": 66, "bram36": 0}}
    build = BuildResult(report, Path("hls/mlp/build.log"), tool_versions={"vivado": "2020.1"})
    assert [(r["figure"], r["lut"], r["dsp"]) for r in build.rows()] == [("hls", 2532, 73), ("implementation", 1526, 66)]
    assert str(build) == build.format() and "implementation     lut 1526  ff 2428  dsp 66  bram36 0" in build.format()
    page = build._repr_html_()
    assert "<td>implementation</td><td>1526</td><td>2428</td><td>66</td>" in page and "vivado 2020.1" in page
    build.to_dataframe()
    assert fake_pandas.calls[-1] == (build.rows(), list(BuildResult.COLUMNS))


def test_long_tables_are_cut_in_html_and_say_so():
    rows = [{"i": i} for i in range(MAX_HTML_ROWS + 7)]
    page = html_table(rows)
    assert page.count("<tr>") == MAX_HTML_ROWS + 1 and "7 more rows" in page


def test_pareto_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from fpga_accel.sweep import pareto_plot

    before = matplotlib.get_backend()
    rows = [{"csim_accuracy": a, "est_dsp": d, "est_lut": 10 * d, "fits": d < 3} for a, d in ((0.9, 1), (0.95, 4))]
    path = pareto_plot(rows, tmp_path / "pareto.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and matplotlib.get_backend() == before


def test_pareto_legend_names_the_board_the_points_were_estimated_for():
    from fpga_accel.sweep import pareto_figure

    rows = [{"csim_accuracy": a, "est_dsp": d, "est_lut": 10 * d, "fits": d < 3, "board": "zedboard"}
            for a, d in ((0.9, 1), (0.95, 4))]
    labels = [t.get_text() for t in pareto_figure(rows).axes[0].get_legend().get_texts()]
    assert labels[:2] == ["fits zedboard", "does not fit"]
    old_rows = [{k: v for k, v in r.items() if k != "board"} for r in rows]  # results.json from before the field
    assert [t.get_text() for t in pareto_figure(old_rows).axes[1].get_legend().get_texts()][0] == "fits its board"


def test_types_name_the_rule_that_chose_each_type(build):
    from models import qmlp_bn

    design = build(qmlp_bn(qbn=False), name="typed")
    table = design.types()
    fc1, bn, relu = table.for_layer("fc1"), table.for_layer("bn"), table.for_layer("relu1")
    record = {l["name"]: l for l in design.meta.layers}
    assert fc1["result_t"]["precision"] == record["fc1"]["precision"]  # the table is the record's types
    assert fc1["accum_t"]["rule"].startswith("exact sum") and fc1["weight_t"]["rule"] == "the kernel quantizer's type"
    assert bn["result_t"]["rule"].startswith("exact affine map") and bn["scale_t"]["rule"].startswith("affine map probed")
    assert relu["result_t"]["rule"].startswith("quantized activation: its grid")
    assert table.for_layer("x")["result_t"]["rule"].startswith("design input")
    assert "exact sum" in str(table) and "fc1" in table._repr_html_()
    with pytest.raises(ConfigError, match="has no layer 'nope'"):
        table.for_layer("nope")


def test_types_of_an_old_or_damaged_record():
    from fpga_accel.analysis.types_table import NOT_RECORDED, types_table

    old = types_table("old", [{"name": "fc1", "class": "Dense", "precision": "fixed<16,6>"}])
    assert old.rows() == [{"layer": "fc1", "class": "Dense", "type": "result_t", "precision": "fixed<16,6>",
                           "rule": NOT_RECORDED}]
    with pytest.raises(ConfigError, match="layer 'fc1' types is not a table of precision and rule"):
        types_table("bad", [{"name": "fc1", "types": {"result_t": "fixed<8,2>"}}])
