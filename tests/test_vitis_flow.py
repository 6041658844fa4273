"""The vitis build flow up to the tool boundary: stand-in vitis-run/v++/vivado on PATH, the generated Tcl
run in tclsh with every tool command recorded, the hls::axis wrapper compiled with g++ and driven by the
simulated DMA, bit-exact with the design."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.layout import ProjectLayout
from fpga_accel.runtime.axis_wrapper import HEADERS, AxisWrapper
from fpga_accel.stages.build import build, check_machine, choose_flow, plan
from fpga_accel.build_flows.toolchain import Version, find_hwh, find_tool, parse_version
from fpga_accel.build_flows.vitis import VitisFlow, VitisLayout
from models import qcnn, qmlp

HERE = Path(__file__).resolve().parent
RECORD_TCL = HERE / "fixtures" / "record_tcl.tcl"


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """A converted io_parallel MLP and io_stream CNN, copied by ``project`` for each test."""
    root = tmp_path_factory.mktemp("vitis_projects")
    fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=root, verify_samples=0))
    fa.convert(qcnn(), fa.ConvertConfig(name="cnn", io_type="io_stream", output_dir=root, verify_samples=0))
    return root


@pytest.fixture
def project(projects, tmp_path):
    def copy(name: str = "mlp") -> fa.Design:
        from fpga_accel.design import Design

        shutil.copytree(projects / name, tmp_path / "hls" / name)
        return Design(tmp_path / "hls" / name)

    return copy


def commands(record: Path) -> list:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


# ---- versions and discovery ------------------------------------------------------------------------

def test_versions_are_parsed_and_compared_as_numbers():
    assert parse_version("Vivado v2023.2 (64-bit)\nSW Build 4029153") == Version(2023, 2)
    assert parse_version("****** vitis-run v2024.1.1 (64-bit)") == Version(2024, 1, 1)
    assert parse_version("Vivado(TM) HLS - High-Level Synthesis v2020.1 (64-bit)") == (2020, 1, 0)
    assert parse_version("command not found") is None
    assert Version(2023, 10) > Version(2023, 2) > Version.of("2020.1")  # "2023.10" < "2023.2" as strings
    assert str(Version(2024, 1, 1)) == "2024.1.1" and str(Version.of("2023.2")) == "2023.2"


def test_tools_are_found_with_their_release(vitis, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_VITIS_VERSION", "2024.2")
    assert find_tool("vitis-run").version == Version(2024, 2)
    assert find_tool("v++").version == Version(2024, 2)
    assert find_tool("vivado").version == Version(2023, 2)
    assert ["vitis-run", "--version"] == commands(vitis)[0][:2]  # two dashes, unlike vivado's -version
    missing = find_tool("no_such_tool_here")
    assert not missing.found and missing.describe() == "no_such_tool_here: not on PATH"


def test_the_flow_follows_the_tools_on_path(vivado, project, monkeypatch):
    design = project()
    assert choose_flow().name == "vivado-hls"  # vivado_hls only
    stand_ins = Path(os.environ["PATH"].split(os.pathsep)[0])
    monkeypatch.setenv("PATH", f"{stand_ins / 'vitis'}{os.pathsep}{os.environ['PATH']}")
    assert choose_flow().name == "vitis"  # vitis-run wins when both are there
    assert choose_flow("vivado-hls").name == "vivado-hls"
    with pytest.raises(fa.ConfigError, match="unknown build flow 'vitis_hls'"):
        choose_flow("vitis_hls")
    assert plan(design, ["synth", "export", "bitfile"]).commands == [
        ["vitis-run", "--mode", "hls", "--tcl", "vitis/build_hls.tcl"],
        ["vivado", "-mode", "batch", "-source", "vitis/design.tcl"]]
    assert plan(design, ["bitfile"], "vivado-hls").commands == [["vivado", "-mode", "batch", "-source", "design.tcl"]]


def test_dry_run_names_the_flow_and_its_options(project, capsys):
    from fpga_accel.cli import main

    design = project()
    assert main(["build", str(design.root), "--flow", "vitis", "--dry-run", "--steps", "synth,cosim"]) == 0
    out = capsys.readouterr().out
    assert "# flow: vitis" in out and "csim=0 synth=1 cosim=1 export=0" in out
    assert "vitis-run --mode hls --tcl vitis/build_hls.tcl" in out and "vivado" not in out.split("\n", 2)[2]
    assert not (design.root / "vitis").exists()  # a dry run writes nothing


# ---- the build with stand-ins -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_vitis_build_bundle_runs_bit_exact_on_the_simulated_dma(vitis, project, tmp_path, name):
    from fpga_accel.runtime import Accelerator
    from fpga_accel.stages.bundle import make_bundle

    design = project(name)
    progress = []
    result = build(design, progress=progress.append)  # flow chosen from PATH: vitis
    root = design.root
    assert commands(vitis)[-2:] == [
        ["vitis-run", "--mode", "hls", "--tcl", "vitis/build_hls.tcl", f"cwd={root}"],
        ["vivado", "-mode", "batch", "-source", "vitis/design.tcl", f"cwd={root}"]]
    record = json.loads((root / "fpga_accel.json").read_text())["build"]
    assert (record["flow"], record["wrapper"]) == ("vitis", "axis") and record["report"] == result.report
    assert record["tool_versions"] == {"vitis-run": "2023.2", "vivado": "2023.2"}
    assert result.report["hls"]["latency_cycles_worst"] == 10 and result.report["implementation"]["lut"] == 1526
    assert result.bit == root / f"{name}_vitis_vivado/project_1.runs/impl_1/design_1_wrapper.bit"
    assert result.hwh == root / f"{name}_vitis_vivado/project_1.gen/sources_1/bd/design_1/hw_handoff/design_1.hwh"
    assert any("c/rtl synthesis done" in str(p) for p in progress)
    assert [(p.what, p.done, p.total) for p in progress if p.event == "count"] == [  # one count per tool run
        ("build: vendor tool runs", 1, 2), ("build: vendor tool runs", 2, 2)]
    # what Vitis HLS synthesised is what csim compiles
    paths = VitisLayout(root, name)
    wrapper = AxisWrapper.for_layout(ProjectLayout(root, name))
    assert paths.wrapper.read_text() == wrapper.source()
    assert wrapper.io_type == ("io_stream" if name == "cnn" else "io_parallel")
    assert "array set opt {csim 1 synth 1 cosim 0 export 1}" in paths.options_tcl.read_text()

    bundle = make_bundle(design, result.bit, result.hwh, tmp_path / "bitstreams")
    assert json.loads((bundle / "manifest.json").read_text())["build"]["flow"] == "vitis"
    x = np.random.default_rng(3).uniform(-2, 2, (37,) + design.input_shape).astype(np.float32)
    with Accelerator.open(bundle, backend="simulated", max_batch=8) as acc:  # 5 DMA transfers, TLAST-ended
        ip = acc._backend.dma.ip
        assert ip.axis  # the vitis wrapper, fed raw words
        assert np.array_equal(acc.predict(x), design.predict(x))


def test_the_simulated_stream_has_tlast_on_the_last_word_only(vitis, project):
    from fpga_accel.runtime.csim_build import build_library
    from fpga_accel.runtime.fixed_point import Codec
    from fpga_accel.runtime.sim_board import AxiStreamIP

    design = project("cnn")
    lib = build_library(design.layout)
    n_in, n_out = int(np.prod(design.input_shape)), int(np.prod(design.output_shape))
    codec = Codec.parse("float32")
    ip = AxiStreamIP(str(lib.library), str(lib.weights_dir), n_in, n_out, codec, codec, axis=True)
    x = np.random.default_rng(0).uniform(-1, 1, (3, n_in)).astype(np.float32)
    ip.push(codec.encode(x[:2].ravel()), last_at_end=False)  # no TLAST yet: no output TLAST either
    ip.push(codec.encode(x[2]), last_at_end=True)
    words, last = zip(*ip.outq)
    assert len(words) == 3 * n_out and [i for i, t in enumerate(last) if t] == [3 * n_out - 1]
    expected = design.predict(x.reshape((3,) + design.input_shape)).ravel()
    assert np.array_equal(codec.decode(np.array(words)), expected)


def test_old_flow_finds_the_hwh_a_newer_vivado_writes_under_gen(vivado, project, monkeypatch):
    monkeypatch.setenv("STANDIN_VIVADO_VERSION", "2022.1")  # vivado_hls stays 2020.1
    design = project()
    result = build(design, flow="vivado-hls")
    assert result.hwh.parts[-6] == "project_1.gen" and result.hwh.is_file()
    record = json.loads((design.root / "fpga_accel.json").read_text())["build"]
    assert (record["flow"], record["wrapper"]) == ("vivado-hls", "axi")


def test_the_simulated_board_takes_the_wrapper_the_build_recorded():
    """Any build flow says which wrapper its bitstream has; a record from before builds said names its flow."""
    from fpga_accel.runtime.sim_board import _wrapper

    assert _wrapper({"flow": "toy", "wrapper": "axis"}) == "axis" and _wrapper({"flow": "vitis", "wrapper": "axi"}) == "axi"
    assert (_wrapper({"flow": "vitis"}), _wrapper({"flow": "vivado-hls"}), _wrapper({})) == ("axis", "axi", "axi")


def test_find_hwh_takes_the_newest_of_srcs_and_gen(tmp_path):
    srcs, gen = (tmp_path / f / "sources_1/bd/design_1/hw_handoff/design_1.hwh"
                 for f in ("project_1.srcs", "project_1.gen"))
    assert find_hwh(tmp_path) == gen  # none yet: the path 2020.2+ writes, for messages
    srcs.parent.mkdir(parents=True)
    srcs.write_text("old")
    assert find_hwh(tmp_path) == srcs
    gen.parent.mkdir(parents=True)
    gen.write_text("new")
    os.utime(srcs, (1, 1))
    assert find_hwh(tmp_path) == gen


def test_failures_name_the_tool_its_exit_code_and_log_lines(vitis, project, monkeypatch):
    design = project()
    monkeypatch.setenv("STANDIN_FAIL", "vitis-run")
    with pytest.raises(fa.BuildError) as info:
        build(design)
    assert "vitis-run failed with exit code 1" in str(info.value)
    assert "build.log:" in str(info.value) and "ERROR: [HLS 214-124] use of undeclared identifier" in str(info.value)
    monkeypatch.delenv("STANDIN_FAIL")
    monkeypatch.setenv("STANDIN_NO_BOARD", "1")  # board.xml found by preflight, yet Vivado lacks it
    with pytest.raises(fa.BuildError, match=r"vivado failed with exit code 1(.|\n)*Board 49-71"):
        build(design)


def test_preflight_says_what_is_missing_or_too_old(vitis, project, monkeypatch, tmp_path):
    design = project()
    monkeypatch.setenv("STANDIN_VITIS_VERSION", "2022.2")
    with pytest.raises(fa.ToolNotFoundError, match="vitis-run 2022.2 is older than 2023.1"):
        build(design)
    monkeypatch.setenv("STANDIN_VITIS_VERSION", "2023.2")
    monkeypatch.setenv("STANDIN_VIVADO_VERSION", "2020.1")
    with pytest.raises(fa.ToolNotFoundError, match="vivado 2020.1 is older than vitis-run 2023.2"):
        build(design)
    shutil.rmtree(vitis.parent / "Xilinx")  # the vivado fixture's board files
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STANDIN_VIVADO_VERSION", "2023.2")
    with pytest.raises(fa.ToolNotFoundError, match=r"board files for tul.com.tw:pynq-z2:part0:1.0 not installed: "
                                                   r"install the PYNQ-Z2 board files(.|\n)*board.repoPaths"):
        build(design)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(fa.ToolNotFoundError) as info:
        build(design, flow="vitis")
    assert "vitis-run not on PATH: source the settings64.sh of Vitis/Vivado 2023.1" in str(info.value)
    assert "or, for --flow vivado-hls" in str(info.value)
    assert not (design.root / "build.log").exists()


def test_doctor_reports_flows_versions_and_board_files(vitis, capsys, tmp_path, monkeypatch):
    from fpga_accel.cli import main

    report = check_machine()
    flows = {check.flow.name: check for check in report.flows}
    assert flows["vitis"].runnable and report.chosen == "vitis" and report.board_files is not None
    assert flows["vivado-hls"].runnable  # vivado_hls 2020.1 is there too; without --flow, vitis is chosen
    assert flows["vitis"].tools["vitis-run"].version == Version(2023, 2)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "flow vitis: can build" in out and "vitis-run 2023.2 at" in out and "board files tul.com.tw" in out
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["build", "--check"]) == 1
    out = capsys.readouterr().out
    assert "flow vitis: cannot build" in out and "to do: vitis-run not on PATH" in out


# ---- the generated Tcl, run in tclsh -------------------------------------------------------------------

def run_tcl(script: Path, tmp_path: Path, **env: str) -> tuple:
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh not installed (.ci/run installs tcl)")
    record = tmp_path / "tcl_commands.txt"
    settings = {"IPDEFS": "xilinx.com:ip:axi_dma:7.0 xilinx.com:ip:processing_system7:5.5 xilinx.com:ip:axi_dma:7.1 "
                          "xilinx.com:hls:mlp_axis:1.0",
                "BOARD_PARTS": "tul.com.tw:pynq-z2:part0:1.0", "HAS_TLAST": "1", "TDATA_BYTES": "4", **env}
    proc = subprocess.run([tclsh, str(RECORD_TCL), str(script)], capture_output=True, text=True,
                          env={**os.environ, **settings, "RECORD": str(record)}, timeout=60)
    lines = [line.split("\x1f") for line in record.read_text().splitlines()]
    return proc, lines


def calls(lines: list, name: str) -> list:
    return [line[1:] for line in lines if line[0] == name]


def test_block_design_tcl_wires_the_pynq_z2(project, tmp_path):
    design = project()
    VitisFlow().prepare(design, ["bitfile"])
    script = VitisLayout(design.root, "mlp").design_tcl
    text = script.read_text()
    assert ".srcs" not in text and ".gen" not in text and ":7.1" not in text and ":5.5" not in text
    proc, lines = run_tcl(script, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    project_call = calls(lines, "create_project")[0]
    assert project_call[:2] == ["project_1", str(design.root / "mlp_vitis_vivado")] and \
        project_call[2:4] == ["-part", "xc7z020clg400-1"]
    assert ["board_part", "tul.com.tw:pynq-z2:part0:1.0", "project_1"] in calls(lines, "set_property")
    cells = {c[-1]: c[c.index("-vlnv") + 1] for c in calls(lines, "create_bd_cell")}
    assert cells == {"processing_system7_0": "xilinx.com:ip:processing_system7:5.5",
                     "axi_dma_0": "xilinx.com:ip:axi_dma:7.1",  # the newest the catalog has
                     "mlp_axis_0": "xilinx.com:hls:mlp_axis:1.0"}
    props = [c[1] for c in calls(lines, "set_property") if c[0] == "-dict"]
    ps, dma = (dict(zip(p.split()[0::2], p.split()[1::2])) for p in props)
    assert ps == {"CONFIG.PCW_USE_S_AXI_HP0": "1", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ": "100"}
    assert dma["CONFIG.c_include_sg"] == "0"
    in_bits, out_bits = AxisWrapper.for_layout(design.layout).tdata_bits
    assert (dma["CONFIG.c_m_axis_mm2s_tdata_width"], dma["CONFIG.c_s_axis_s2mm_tdata_width"]) == (str(in_bits), str(out_bits))
    assert in_bits == out_bits == 8 * 4  # the IP's TDATA_NUM_BYTES the script checked against
    assert ["CONFIG.HAS_TLAST", "mlp_axis_0/in_stream"] in calls(lines, "get_property")
    assert ["CONFIG.HAS_TLAST", "mlp_axis_0/out_stream"] in calls(lines, "get_property")
    assert calls(lines, "connect_bd_intf_net") == [["axi_dma_0/M_AXIS_MM2S", "mlp_axis_0/in_stream"],
                                                   ["mlp_axis_0/out_stream", "axi_dma_0/S_AXIS_S2MM"]]
    clkrst = [c for c in calls(lines, "apply_bd_automation") if "xilinx.com:bd_rule:clkrst" in c][0]
    assert "/processing_system7_0/FCLK_CLK0 (100 MHz)" in clkrst[3] and clkrst[-1] == "mlp_axis_0/ap_clk"
    masters = [c[3] for c in calls(lines, "apply_bd_automation") if "xilinx.com:bd_rule:axi4" in c]
    assert any("/axi_dma_0/M_AXI_MM2S" in m and "S_AXI_HP0" in m for m in masters)
    assert any("/axi_dma_0/M_AXI_S2MM" in m and "S_AXI_HP0" in m for m in masters)
    order = [line[0] for line in lines]
    assert order.index("assign_bd_address") < order.index("validate_bd_design") < order.index("make_wrapper")
    assert calls(lines, "make_wrapper") == [["-files", "design_1.bd", "-import", "-top"]]
    assert ["impl_1", "-to_step", "write_bitstream", "-jobs", "4"] in calls(lines, "launch_runs")
    assert calls(lines, "group_bd_cells") == [["hier_0", "axi_dma_0", "mlp_axis_0"]]  # the manifest's hier_0/axi_dma_0
    assert "design_1_wrapper.bit" in proc.stdout and lines[-1] == ["exit", "0"]


@pytest.mark.parametrize("env, message", [
    ({"BOARD_PARTS": ""}, "board part tul.com.tw:pynq-z2:part0:1.0 not found ([Board 49-71]): install the PYNQ-Z2"),
    ({"HAS_TLAST": "0"}, "mlp_axis/in_stream has no TLAST"),
    ({"TDATA_BYTES": "2"}, "mlp_axis/in_stream carries 2 bytes, the DMA is set to 32 bits"),
    ({"IPDEFS": "xilinx.com:ip:processing_system7:5.5"}, "no IP matching xilinx.com:ip:axi_dma:* in the catalog"),
])
def test_block_design_tcl_stops_with_a_clear_message(project, tmp_path, env, message):
    design = project()
    VitisFlow().prepare(design, ["bitfile"])
    proc, lines = run_tcl(VitisLayout(design.root, "mlp").design_tcl, tmp_path, **env)
    assert proc.returncode == 1 and f"ERROR: [fpga_accel] {message}" in proc.stdout
    assert "launch_runs" not in [line[0] for line in lines]


def test_hls_tcl_synthesises_the_wrapper_for_the_part(project, tmp_path):
    design = project()
    VitisFlow().prepare(design, ["synth", "export"])
    paths = VitisLayout(design.root, "mlp")
    proc, lines = run_tcl(paths.hls_tcl, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert calls(lines, "open_project") == [[str(design.root / "mlp_vitis_prj")]]
    assert calls(lines, "set_top") == [["mlp_axis"]]
    added = calls(lines, "add_files")
    assert added[0] == [str(paths.wrapper), "-cflags", f"-std=c++14 -I{design.root / 'firmware'}"]
    assert added[1][0] == str(design.root / "firmware" / "mlp.cpp")
    assert ["-tb", str(paths.testbench)] == added[2][:2]
    assert calls(lines, "set_part") == [["xc7z020clg400-1"]] and calls(lines, "create_clock") == [["-period", "10.0", "-name", "default"]]
    assert [line[0] for line in lines if line[0].endswith("_design")] == ["csynth_design", "export_design"]
    assert calls(lines, "export_design") == [["-format", "ip_catalog", "-version", "1.0"]]


# ---- the wrapper and its testbench, compiled with g++ -------------------------------------------------

def compile_testbench(design, tmp_path: Path, wrapper_source: str) -> subprocess.CompletedProcess:
    """Wrapper + testbench + design as Vitis csim compiles them, against hls4ml's ap_types and the
    project's hls::axis header; run in a folder with the weights."""
    wrapper = AxisWrapper.for_layout(design.layout)
    build_dir = tmp_path / "tb"
    build_dir.mkdir()
    (build_dir / wrapper.file_name).write_text(wrapper_source)
    (build_dir / "tb.cpp").write_text(wrapper.testbench())
    shutil.copytree(design.layout.firmware / "weights", build_dir / "weights")
    fw = design.layout.firmware
    compiled = subprocess.run(["g++", "-O1", "-std=c++14", "-I", str(fw), "-I", str(fw / "ap_types"), "-I", str(HEADERS),
                               str(build_dir / wrapper.file_name), str(build_dir / "tb.cpp"), str(fw / f"{design.layout.project_name}.cpp"),
                               "-o", str(build_dir / "tb")], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    return subprocess.run([str(build_dir / "tb")], cwd=build_dir, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_vitis_csim_testbench_passes_on_the_wrapper(project, tmp_path, name):
    design = project(name)
    run = compile_testbench(design, tmp_path, AxisWrapper.for_layout(design.layout).source())
    assert run.returncode == 0 and "TLAST on the last word only" in run.stdout


def test_vitis_csim_testbench_catches_a_wrong_tlast(project, tmp_path):
    design = project()
    source = AxisWrapper.for_layout(design.layout).source()
    broken = source.replace("word.last = is_last && i == 4;", "word.last = i == 4;")  # TLAST on every sample
    assert broken != source
    run = compile_testbench(design, tmp_path, broken)
    assert run.returncode == 1 and "ERROR: sample 0 word 4: TLAST 1, expected 0" in run.stdout


def test_a_top_prototype_it_cannot_read_is_refused_naming_the_header(project):
    """The wrapper's element types come from the top's prototype in <project>.h; a prototype written another way
    used to fall back to input_t/result_t (a wrapper Vitis fails on, or one streaming the wrong type)."""
    from fpga_accel.errors import ConfigError

    design = project()
    assert (AxisWrapper.for_layout(design.layout).elem_in, AxisWrapper.for_layout(design.layout).elem_out) \
        == ("input_t", "result_t")
    top_h = design.layout.top_h
    top_h.write_text(top_h.read_text().replace("void mlp(", "void mlp_top("))
    with pytest.raises(ConfigError, match=rf"{top_h} does not declare the top function as hls4ml's writer does "
                                          r"\('void mlp\(<input type>"):
        AxisWrapper.for_layout(design.layout)
