"""README "Extending": a step, a board and a build flow are each one registration — shown here with toy
ones, through the tables every consumer reads (runner, --from/--to, project file, block design, estimator,
build planning, auto choice)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import fpga_accel as fa
from fpga_accel.boards import Board, ProcessingSystem, get_board, register_board, unregister_board
from fpga_accel.config import ConvertConfig
from fpga_accel.flow import STEP_TABLE, FlowConfig, Step, run_flow, select_steps
from fpga_accel.stages.build import FLOWS, choose_flow, plan, register_build_flow, unregister_build_flow


# ---- a step -------------------------------------------------------------------------------------------

def _config(tmp_path: Path) -> FlowConfig:
    return FlowConfig(model=tmp_path / "m.h5", convert=ConvertConfig(name="toy", output_dir=tmp_path))


def test_a_toy_step_runs_is_recorded_and_skipped_when_unchanged(tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("v1")
    runs = []

    def count_words(project, progress):
        runs.append(1)
        (project.work_dir / "words.json").write_text(json.dumps(len(source.read_text().split())))
        return project

    step = Step("count", count_words, reads=lambda p: [source], writes=lambda p: [p.work_dir / "words.json"])
    run_flow(_config(tmp_path), steps=[step])
    run_flow(_config(tmp_path), steps=[step])
    assert len(runs) == 1  # the second run found its input unchanged
    record = json.loads((tmp_path / "toy.flow" / "flow.json").read_text())
    assert [(s["step"], s["status"]) for s in record["steps"]] == [("count", "skipped")]
    source.write_text("v1 v2")
    project = run_flow(_config(tmp_path), steps=[step])
    assert len(runs) == 2 and project.records["count"].status == "ran"

    def step_stamp(project, progress):  # a plain callable: reads nothing the runner knows, runs every time
        runs.append(2)

    run_flow(_config(tmp_path), steps=[step, step_stamp])
    run_flow(_config(tmp_path), steps=[step, step_stamp])
    assert runs.count(2) == 2
    assert run_flow(_config(tmp_path), steps=[step]).records["stamp"].status == "ran"  # kept in flow.json


def test_a_step_inserted_into_the_pipeline_is_selected_by_name(tmp_path):
    lint = Step("lint", lambda project, progress: project)
    steps = [*STEP_TABLE[:3], lint, *STEP_TABLE[3:]]
    assert select_steps("csim", "estimate", steps=steps) == ["csim", "lint", "estimate"]
    assert select_steps(subset="host", steps=steps) == ["quantize", "convert", "csim", "lint", "estimate"]
    with pytest.raises(fa.ConfigError, match=r"steps \['lint'\] are given twice"):
        select_steps(steps=[lint, lint])
    with pytest.raises(fa.ConfigError, match="unknown step 'lnt'"):
        select_steps("lnt", steps=steps)
    with pytest.raises(fa.ConfigError, match="plain name"):
        Step("two words", lambda p, q: p)


def test_an_unconfigured_toy_step_says_why(tmp_path):
    step = Step("upload", lambda p, q: 1 / 0, configured=lambda p: "no `upload:` section")
    project = run_flow(_config(tmp_path), steps=[step])
    assert project.records["upload"].status == "not configured"
    assert project.records["upload"].detail == "no `upload:` section"


# ---- a board ------------------------------------------------------------------------------------------

@pytest.fixture
def toy_board():
    board = register_board(Board(
        name="toy-zu", part="xczu3eg-sbva484-1-e", board_part="toy.com:toy-zu:part0:1.0", clock_period=5.0,
        lut=70_560, ff=141_120, dsp=360, bram36=216,
        ps=ProcessingSystem(ip="xilinx.com:ip:zynq_ultra_ps_e", cell="zynq_ultra_ps_e_0",
                            automation_rule="xilinx.com:bd_rule:zynq_ultra_ps_e",
                            config="CONFIG.PSU__USE__S_AXI_GP2 {1}", clock="pl_clk0", master="M_AXI_HPM0_FPD",
                            memory="S_AXI_HP0_FPD"),
        dma_path="dma_group/axi_dma_7", platform={"lut": 3000, "ff": 4000, "dsp": 0, "bram36": 4}))
    yield board
    unregister_board(board.name)


def test_a_toy_board_reaches_settings_block_design_and_estimator(toy_board, tmp_path):
    import sys

    from fpga_accel.analysis.estimate import estimate_layers

    vitis = sys.modules[type(FLOWS["vitis"]).__module__]  # the vitis flow's module, wherever it lives
    VitisLayout, block_design_tcl = vitis.VitisLayout, vitis.block_design_tcl

    assert get_board("TOY-ZU") is toy_board
    assert ConvertConfig(name="d", board="toy-zu").resolved_clock_period == 5.0
    with pytest.raises(fa.ConfigError, match="already registered"):
        register_board(toy_board)
    wrapper = SimpleNamespace(tdata_bits=(32, 32), top="d_axis")
    tcl = block_design_tcl(wrapper, toy_board, VitisLayout(tmp_path, "d"))
    assert "processing_system7" not in tcl and "axi_dma_0" not in tcl
    assert "[latest_ipdef xilinx.com:ip:zynq_ultra_ps_e:*] zynq_ultra_ps_e_0]" in tcl
    assert "Master /zynq_ultra_ps_e_0/M_AXI_HPM0_FPD Slave /axi_dma_7/S_AXI_LITE" in tcl
    assert "group_bd_cells dma_group [get_bd_cells axi_dma_7]" in tcl and "set part xczu3eg-sbva484-1-e" in tcl
    layers = [{"name": "in", "class": "InputLayer", "shape": [4]}]
    toy = estimate_layers(layers, name="d", board=toy_board, io_type="io_parallel", clock_period=5.0)
    z2 = estimate_layers(layers, name="d", board=get_board("pynq-z2"), io_type="io_parallel", clock_period=5.0)
    assert toy.total["lut"] - z2.total["lut"] == 3000 - 2100 and toy.total["bram36"] - z2.total["bram36"] == 2


def test_a_board_hls4ml_does_not_know_converts_and_refuses_only_hls4mls_overlay(toy_board):
    """hls4ml's VivadoAccelerator knows a handful of boards by name; another board converts from its pynq-z2
    template (the wrapper C++ is board-independent) but only a flow with its own block design builds the
    overlay: hls4ml's design.tcl would be the PYNQ-Z2's."""
    assert toy_board.hls4ml_board is None and toy_board.hls4ml_template == "pynq-z2"
    assert get_board("pynq-z2").hls4ml_template == "pynq-z2"
    flow = FLOWS["vivado-hls"]
    design = SimpleNamespace(meta=SimpleNamespace(board="toy-zu"))
    assert flow.commands(design, ["csim", "synth"])[0][0] == "vivado_hls"  # the IP alone: fine
    with pytest.raises(fa.ConfigError, match="board 'toy-zu' is not one of them: use --flow vitis"):
        flow.commands(design, ["synth", "bitfile"])
    z2 = SimpleNamespace(meta=SimpleNamespace(board="pynq-z2"))
    assert flow.commands(z2, ["bitfile"]) == [["vivado", "-mode", "batch", "-source", "design.tcl"]]


def test_a_board_hls4ml_does_not_know_gets_its_own_part_in_the_hls_project(toy_board, tmp_path):
    from models import qmlp

    design = fa.convert(qmlp(n_in=8), ConvertConfig(name="toydesign", output_dir=tmp_path, board="toy-zu",
                                                    verify_samples=0))
    assert design.meta.board == "toy-zu"
    assert 'set part "xczu3eg-sbva484-1-e"' in (design.root / "project.tcl").read_text()
    assert "Part: xczu3eg-sbva484-1-e" in (design.root / "hls4ml_config.yml").read_text()
    assert "xc7z020" not in (design.root / "project.tcl").read_text()


# ---- a build flow -------------------------------------------------------------------------------------

class ToyFlow:
    name = "toy"
    hls_tool = "toy-hls"
    detect = ("toy-hls",)
    summary = "a toy flow: one command"
    install = "put toy-hls on PATH"
    wrapper = "axi"

    def commands(self, design, steps):
        return [["toy-hls", "--steps", ",".join(steps)]]

    def describe_options(self, design, steps):
        return ""

    def version_problems(self, tools):
        return []

    def outputs(self, design):
        return {}

    def prepare(self, design, steps):
        pass


@pytest.fixture
def toy_flow():
    flow = register_build_flow(ToyFlow(), first=True)
    yield flow
    unregister_build_flow(flow.name)


def test_a_toy_build_flow_is_chosen_named_and_planned(toy_flow, tmp_path, monkeypatch):
    assert list(FLOWS)[0] == "toy"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "toy-hls"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert choose_flow() is toy_flow  # registered first: tried first by auto
    design = SimpleNamespace(root=tmp_path)
    assert plan(design, ["synth", "csim"], "toy").describe().endswith(f"(cd {tmp_path} && toy-hls --steps csim,synth)")
    project = tmp_path / "p.yml"
    project.write_text("name: p\nmodel: m.h5\nbuild: {flow: toy}\n")
    assert FlowConfig.from_file(project).build_flow == "toy"
    unregister_build_flow("toy")
    with pytest.raises(fa.ConfigError, match="build flow 'toy' is not 'vitis' or 'vivado-hls'"):
        FlowConfig.from_file(project)
