"""Vendor build up to the tool boundary: stand-in vivado_hls/vivado on PATH, real-format reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.analysis.reports import parse_csynth_xml, parse_utilization_rpt, with_percentages
from fpga_accel.boards import get_board
from fpga_accel.stages.build import build, plan
from models import qmlp

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "vivado_reports"


def test_parse_real_csynth_report():
    r = with_percentages(parse_csynth_xml(FIXTURES / "myproject_csynth.xml"), get_board("pynq-z2"))
    assert (r["latency_cycles_worst"], r["interval_min"], r["estimated_clock_ns"]) == (10, 8, 4.049)
    assert r["latency_ns_worst"] == 50.0
    assert (r["dsp"], r["lut"], r["ff"], r["bram_18k"]) == (73, 2532, 7969, 0)
    assert r["dsp_pct"] == 33.18 and r["lut_pct"] == 4.76
    assert r["source"] == "hls_csynth_estimate" and r["tool_version"] == "2020.1"


def test_parse_real_utilization_report():
    r = with_percentages(parse_utilization_rpt(FIXTURES / "vivado_synth.rpt"), get_board("pynq-z2"))
    assert (r["dsp"], r["lut"], r["ff"], r["bram36"]) == (66, 1526, 2428, 0)
    assert r["dsp_pct"] == 30.0 and r["source"] == "vivado_synthesized" and r["tool_version"] == "2020.1"
    with pytest.raises(fa.BuildError, match="no 'Slice LUTs' row"):
        parse_utilization_rpt(FIXTURES / "myproject_csynth.rpt")


@pytest.fixture
def design(tmp_path):
    return fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls"))


def test_dry_run_prints_the_commands(design, capsys):
    from fpga_accel.cli import main

    assert main(["build", str(design.root), "--dry-run", "--steps", "synth,cosim,bitfile"]) == 0
    out = capsys.readouterr().out
    assert ('vivado_hls -f build_prj.tcl "reset=0 csim=0 synth=1 cosim=1 validation=0 export=0 vsynth=0 '
            'fifo_opt=0"') in out
    assert "vivado -mode batch -source design.tcl" in out
    with pytest.raises(fa.ConfigError, match="unknown build steps"):
        plan(design, ["synthesis"])


def test_missing_tools_fail_fast_with_what_to_do(design, tmp_path, monkeypatch, caplog):
    from fpga_accel.cli import main

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = main(["build", str(design.root)])
    assert code == 1
    text = caplog.text
    assert "vivado_hls not on PATH: source Vivado 2020.1's settings64.sh" in text
    assert "vivado not on PATH" in text
    assert "is self-contained" in text and "Traceback" not in text
    assert not (design.root / "build.log").exists()


def test_full_build_writes_report_and_bundle(design, vivado, tmp_path):
    from fpga_accel.stages.bundle import make_bundle

    progress = []
    result = build(design, progress=progress.append)
    report = json.loads((design.root / "fpga_accel.json").read_text())["build"]["report"]
    assert report == result.report
    assert report["hls"]["latency_cycles_worst"] == 10 and report["hls"]["dsp"] == 73
    assert report["implementation"]["lut"] == 1526 and report["implementation"]["dsp_pct"] == 30.0
    assert report["part"] == "xc7z020clg400-1" and report["clock_period_ns"] == 10.0
    assert result.bit.name == "design_1_wrapper.bit" and result.hwh.name == "design_1.hwh"
    bundle = make_bundle(design, result.bit, result.hwh, tmp_path / "bitstreams")
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        ["mlp.bit", "mlp.hwh", "manifest.json", "firmware", "mlp_bridge.cpp", "test_vectors.npz"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["build"] == {"flow": "vivado-hls", "wrapper": "axi", "report": report,
                                 "tool_versions": {"vivado": "2020.1", "vivado_hls": "2020.1"}}
    assert "C/RTL SYNTHESIS COMPLETED" in result.log.read_text()
    assert any("c/rtl synthesis done" in str(p) and p.step == "build" for p in progress)
    runs = [(p.done, p.total) for p in progress if p.event == "count"]  # one step per vendor tool run
    assert runs == [(1, 2), (2, 2)] and {p.what for p in progress if p.event == "count"} == {"build: vendor tool runs"}
    from fpga_accel.runtime import Accelerator

    with Accelerator.open(bundle, backend="simulated") as acc:  # hashes of the built bit/hwh check out
        x = np.zeros((3, 16), np.float32)
        assert np.array_equal(acc.predict(x), design.predict(x))
    with pytest.raises(fa.ConfigError, match="exists and is not empty"):
        make_bundle(design, result.bit, result.hwh, tmp_path / "bitstreams")


def test_failing_tool_stops_and_names_log_lines(design, vivado, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_FAIL", "vivado_hls")
    with pytest.raises(fa.BuildError) as info:
        build(design)
    message = str(info.value)
    assert "vivado_hls failed with exit code 1" in message
    assert "build.log:" in message and "ERROR: [HLS 200-70] Compilation errors found" in message
    assert not (design.root / "report.json").exists()


def test_missing_bitfile_is_an_error(design, vivado, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_NO_BITFILE", "1")
    with pytest.raises(fa.BuildError, match="did not produce .*design_1_wrapper.bit"):
        build(design)


def test_missing_board_files_and_too_new_hls(design, vivado, tmp_path, monkeypatch):
    import shutil

    shutil.rmtree(vivado / "data")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(fa.ToolNotFoundError, match=r"board files for tul.com.tw:pynq-z2:part0:1.0 not installed"):
        build(design)
    monkeypatch.setenv("STANDIN_HLS_VERSION", "2023.2")
    with pytest.raises(fa.ToolNotFoundError, match="vivado_hls 2023.2 is newer than 2020.1"):
        build(design, steps=["synth"])
    monkeypatch.delenv("STANDIN_HLS_VERSION")
    result = build(design, steps=["synth"])  # HLS alone needs no board files
    assert result.bit is None and result.report["hls"]["lut"] == 2532
