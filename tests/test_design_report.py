"""`fpga-accel report`: estimate beside the recorded build reports, the estimate's error on this design."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import fpga_accel as fa
from fpga_accel.analysis.design_report import design_report
from fpga_accel.analysis.estimate import estimate
from fpga_accel.analysis.reports import parse_csynth_xml, parse_utilization_rpt
from fpga_accel.cli import main
from models import qmlp

REPORTS = Path(__file__).parent / "fixtures" / "vivado_reports"


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return fa.convert(qmlp(), fa.ConvertConfig(name="reported", output_dir=tmp_path_factory.mktemp("report"),
                                               verify_samples=0))


def test_a_design_not_built_shows_the_estimate_and_says_how_to_get_reports(design, capsys):
    report = design_report(design)
    assert not report.built and all(r.measured is None and r.error is None for r in report.figures)
    synth = estimate(design)
    vivado = {r.figure: r for r in report.figures if r.source == "Vivado (overlay)"}
    assert vivado["lut"].estimate == synth.total["lut"] and vivado["lut"].low == synth.low["lut"]
    assert report.verdict == synth.verdict
    assert main(["report", str(design.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"reported on the pynq-z2: estimate {synth.verdict}")
    assert "no synthesis report recorded yet: `fpga-accel build`" in out


def test_measured_figures_stand_beside_the_estimate_with_its_error(design, tmp_path, capsys):
    hls, vivado = parse_csynth_xml(REPORTS / "myproject_csynth.xml"), parse_utilization_rpt(REPORTS / "vivado_synth.rpt")
    built = fa.Design(design.root)
    built.meta.build = {"flow": "vivado-hls", "tool_versions": {"vivado_hls": "2020.1"},
                        "report": {"hls": hls, "implementation": vivado}}
    built.meta.write(built.root)
    try:
        report = design_report(fa.Design(design.root))
        rows = {(r.source, r.figure): r for r in report.figures}
        csynth = estimate(built, figure="csynth")
        ff = rows[("HLS C-synthesis (IP)", "ff")]
        assert (ff.estimate, ff.measured) == (csynth.ip_total["ff"], hls["ff"])
        assert ff.error == pytest.approx((csynth.ip_total["ff"] - hls["ff"]) / hls["ff"])
        assert rows[("HLS C-synthesis (IP)", "latency cycles")].measured == hls["latency_cycles_worst"]
        lut = rows[("Vivado (overlay)", "lut")]
        assert lut.measured == vivado["lut"] and lut.in_band == (lut.low <= vivado["lut"] <= lut.high)
        assert report.built and "measured" in report._repr_html_() and len(report.rows()) == 9
        assert main(["report", str(design.root), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["built"] and printed["tool_versions"] == {"vivado_hls": "2020.1"}
        assert [r["measured"] for r in printed["rows"]] == [r.measured for r in report.figures]
        assert main(["report", str(design.root)]) == 0
        text = capsys.readouterr().out
        assert f"{ff.error:+.0%}" in text and "no synthesis report" not in text
    finally:
        built.meta.build = None
        built.meta.write(built.root)


def test_report_of_a_folder_that_is_not_a_project_is_one_line(tmp_path, caplog):
    assert main(["report", str(tmp_path)]) == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"{tmp_path} is not an fpga_accel HLS project (fpga_accel.json missing); create one with `fpga-accel convert`"]
