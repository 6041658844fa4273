"""The vitis build flow: Vitis HLS 2023.1+ (``vitis-run``) and Vivado 2023.1+ for the PYNQ-Z2.

hls4ml's VivadoAccelerator flow needs Vivado HLS <= 2020.1; hls4ml's Vitis backend stops at an IP with
no TLAST and no block design. This flow synthesises the ``hls::axis`` wrapper of
:mod:`fpga_accel.runtime.axis_wrapper` (TLAST on the last word, the words the runtime codec writes) around
the hls4ml design and puts it between an AXI DMA and the Zynq PS in a block design of its own, so the
bundle is the one the 2020.1 flow makes and the same runtime drives it.

Everything it writes lives in ``vitis/`` of the project (the hls4ml files are untouched) and is written
by :meth:`VitisFlow.prepare` at build time; tool outputs land in ``<project>_vitis_prj`` (HLS) and
``<project>_vitis_vivado`` (Vivado). ``vitis-run`` cannot pass arguments to a Tcl script, so the build's
choices go into ``vitis/hls_options.tcl``, which the script sources.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Sequence

from ..boards import Board, get_board
from ..design import Design
from ..layout import ProjectLayout, VitisLayout
from ..runtime.axis_wrapper import AXIS, AxisWrapper
from .toolchain import BOARD_FILES_HINT, Tool, Version, build_outputs

log = logging.getLogger(__name__)

MIN_VERSION = Version(2023, 1)
"""``vitis-run --mode hls`` (and with it the unified Vitis command line) first shipped in 2023.1."""
STREAM_PORTS = ("in_stream", "out_stream")
"""The wrapper's hls::axis arguments, and so the IP's AXI-stream interface names."""
DMA_LENGTH_WIDTH = 26
"""The DMA's buffer length register: 2^26 - 1 bytes per transfer, what the runtime chunks batches by."""


class VitisFlow:
    """``--flow vitis``: vitis-run (HLS: csim, synth, cosim, export) then vivado (bitfile)."""

    name = "vitis"
    wrapper = AXIS
    hls_tool = "vitis-run"
    detect = ("vitis-run", "v++")
    """Tools whose presence on PATH selects this flow when none is named."""
    summary = f"Vitis HLS + Vivado {MIN_VERSION} or newer (vitis-run, vivado)"
    install = (f"source the settings64.sh of Vitis/Vivado {MIN_VERSION} or newer (vitis-run ships with "
               "Vitis, vivado with Vivado)")

    def commands(self, design: Design, steps: Sequence[str]) -> List[List[str]]:
        paths = VitisLayout(design.root, design.meta.project_name)
        result = []
        if any(s != "bitfile" for s in steps):
            result.append([self.hls_tool, "--mode", "hls", "--tcl", _rel(paths.hls_tcl, design.root)])
        if "bitfile" in steps:
            result.append(["vivado", "-mode", "batch", "-source", _rel(paths.design_tcl, design.root)])
        return result

    def describe_options(self, design: Design, steps: Sequence[str]) -> str:
        return f"# {_rel(VitisLayout(design.root, design.meta.project_name).options_tcl, design.root)}: " \
               + " ".join(f"{s}={int(s in steps)}" for s in ("csim", "synth", "cosim", "export"))

    def version_problems(self, tools: Dict[str, Tool]) -> List[str]:
        problems = []
        for tool in tools.values():
            if tool.version is not None and tool.version < MIN_VERSION:
                problems.append(f"{tool.name} {tool.version} is older than {MIN_VERSION}, the first release "
                                "with `vitis-run --mode hls`; use --flow vivado-hls with Vivado HLS 2020.1")
        hls, vivado = tools.get(self.hls_tool), tools.get("vivado")
        if hls and vivado and hls.version and vivado.version and vivado.version < hls.version:
            problems.append(f"vivado {vivado.version} is older than {self.hls_tool} {hls.version}: Vivado "
                            "cannot use IP exported by a newer Vitis HLS; source the same release of both")
        return problems

    def outputs(self, design: Design) -> Dict[str, Path]:
        paths = VitisLayout(design.root, design.meta.project_name)
        return build_outputs(paths.hls_solution, f"{paths.project_name}_axis", paths.vivado_project, paths.vivado_runs,
                             paths.flat_utilization)

    def prepare(self, design: Design, steps: Sequence[str]) -> None:
        """Write the wrapper, its testbench and the Tcl scripts into ``vitis/``; the wrapper is the text
        csim compiles (both come from :class:`AxisWrapper`)."""
        layout = ProjectLayout(design.root, design.meta.project_name)
        paths = VitisLayout(design.root, design.meta.project_name)
        wrapper = AxisWrapper.for_layout(layout)
        board = get_board(design.meta.board)
        paths.folder.mkdir(exist_ok=True)
        paths.wrapper.write_text(wrapper.source())
        paths.testbench.write_text(wrapper.testbench())
        paths.options_tcl.write_text(hls_options(wrapper, board, design.meta.clock_period, steps))
        paths.hls_tcl.write_text(HLS_TCL)
        paths.design_tcl.write_text(block_design_tcl(wrapper, board, paths))
        log.info("vitis flow: wrote %s", paths.folder)


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def hls_options(wrapper: AxisWrapper, board: Board, clock_period: float, steps: Sequence[str]) -> str:
    flags = " ".join(f"{s} {int(s in steps)}" for s in ("csim", "synth", "cosim", "export"))
    return (f"# Written by `fpga-accel build` for this run (vitis-run passes no arguments to build_hls.tcl).\n"
            f"set project_name {wrapper.project_name}\n"
            f"set top {wrapper.top}\n"
            f"set part {board.part}\n"
            f"set clock_period {clock_period}\n"
            f"array set opt {{{flags}}}\n")


HLS_TCL = """\
# Vitis HLS 2023.1+ (`vitis-run --mode hls --tcl vitis/build_hls.tcl`, from the project folder): the
# hls::axis wrapper and the hls4ml design → IP in <project>_vitis_prj/solution1/impl/ip.
# Generated by fpga_accel; the run's choices are in hls_options.tcl.
set here [file dirname [file normalize [info script]]]
set root [file dirname $here]
source [file join $here hls_options.tcl]
set firmware [file join $root firmware]

open_project [file join $root ${project_name}_vitis_prj]
set_top $top
add_files [file join $here ${top}.cpp] -cflags "-std=c++14 -I$firmware"
add_files [file join $firmware ${project_name}.cpp] -cflags "-std=c++14"
add_files -tb [file join $here ${top}_tb.cpp] -cflags "-std=c++14 -I$firmware"
add_files -tb [file join $firmware weights]
open_solution solution1 -flow_target vivado
set_part $part
create_clock -period $clock_period -name default
config_compile -name_max_length 80

if {$opt(csim)} {
    csim_design
}
if {$opt(synth)} {
    csynth_design
}
if {$opt(cosim)} {
    cosim_design
}
if {$opt(export)} {
    export_design -format ip_catalog -version 1.0
}
exit
"""


def block_design_tcl(wrapper: AxisWrapper, board: Board, paths: VitisLayout) -> str:
    """Vivado batch script: the board's project, its processing system + AXI DMA (simple mode) + the IP,
    bitstream. The PS, its ports and where the DMA goes come from the board entry (``boards.Board``)."""
    in_bits, out_bits = wrapper.tdata_bits
    mhz = round(1000.0 / board.clock_period)
    hier, dma = board.dma_path.split("/")
    ps = board.ps
    return _DESIGN_TCL.format(
        part=board.part, board_part=board.board_part, mhz=mhz, in_bits=in_bits, out_bits=out_bits,
        board=board.name, ps_ip=ps.ip, ps=ps.cell, ps_rule=ps.automation_rule, ps_config=ps.config,
        ps_clock=ps.clock, ps_master=ps.master, ps_memory=ps.memory, hier=hier, dma=dma,
        top=wrapper.top, ip_dir=_rel(paths.hls_project, paths.root), project_dir=_rel(paths.vivado_project, paths.root),
        in_port=STREAM_PORTS[0], out_port=STREAM_PORTS[1], length_width=DMA_LENGTH_WIDTH,
        board_hint=BOARD_FILES_HINT.replace("[", "\\[").replace("]", "\\]"))


_DESIGN_TCL = """\
# Vivado (`vivado -mode batch -source vitis/design.tcl`, from the project folder): a {board} block
# design with its PS, an AXI DMA in simple mode and {top}, then the bitstream. Generated by
# fpga_accel. IP versions come from this Vivado's catalog (get_ipdefs), paths from Vivado itself.
set root [file dirname [file dirname [file normalize [info script]]]]
set part {part}
set board_part {board_part}
set top {top}
set fclk_mhz {mhz}
set in_bits {in_bits}
set out_bits {out_bits}
set project_dir [file join $root {project_dir}]

proc fail {{message}} {{
    puts "ERROR: \\[fpga_accel\\] $message"
    exit 1
}}

proc latest_ipdef {{pattern}} {{
    set defs [lsort -dictionary [get_ipdefs -all $pattern]]
    if {{[llength $defs] == 0}} {{
        fail "no IP matching $pattern in the catalog"
    }}
    return [lindex $defs end]
}}

if {{[llength [get_board_parts -quiet $board_part]] == 0}} {{
    fail "board part $board_part not found (\\[Board 49-71\\]): {board_hint}"
}}
create_project project_1 $project_dir -part $part -force
set_property board_part $board_part [current_project]
set_property ip_repo_paths [list [file join $root {ip_dir} solution1 impl ip]] [current_project]
update_ip_catalog

create_bd_design design_1

set ps [create_bd_cell -type ip -vlnv [latest_ipdef {ps_ip}:*] {ps}]
apply_bd_automation -rule {ps_rule} -config {{make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"}} $ps
set_property -dict [list {ps_config}] $ps

set dma [create_bd_cell -type ip -vlnv [latest_ipdef xilinx.com:ip:axi_dma:*] {dma}]
set_property -dict [list CONFIG.c_include_sg {{0}} CONFIG.c_sg_length_width {{{length_width}}} \\
    CONFIG.c_m_axi_mm2s_data_width $in_bits CONFIG.c_m_axis_mm2s_tdata_width $in_bits \\
    CONFIG.c_m_axi_s2mm_data_width $out_bits CONFIG.c_s_axis_s2mm_tdata_width $out_bits \\
    CONFIG.c_mm2s_burst_size {{16}} CONFIG.c_s2mm_burst_size {{16}}] $dma

set ip [create_bd_cell -type ip -vlnv [latest_ipdef *:hls:$top:*] ${{top}}_0]
foreach {{port bits}} [list {in_port} $in_bits {out_port} $out_bits] {{
    set pin [get_bd_intf_pins ${{top}}_0/$port]
    if {{[get_property CONFIG.HAS_TLAST $pin] != 1}} {{
        fail "$top/$port has no TLAST: the DMA's transfers would never complete; was the IP built from the hls::axis wrapper?"
    }}
    if {{[get_property CONFIG.TDATA_NUM_BYTES $pin] * 8 != $bits}} {{
        fail "$top/$port carries [get_property CONFIG.TDATA_NUM_BYTES $pin] bytes, the DMA is set to $bits bits"
    }}
}}
connect_bd_intf_net [get_bd_intf_pins {dma}/M_AXIS_MM2S] [get_bd_intf_pins ${{top}}_0/{in_port}]
connect_bd_intf_net [get_bd_intf_pins ${{top}}_0/{out_port}] [get_bd_intf_pins {dma}/S_AXIS_S2MM]

set fclk "/{ps}/{ps_clock} ($fclk_mhz MHz)"
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master $fclk Clk_slave Auto Clk_xbar Auto \\
    Master /{ps}/{ps_master} Slave /{dma}/S_AXI_LITE ddr_seg Auto intc_ip {{New AXI Interconnect}} master_apm 0] \\
    [get_bd_intf_pins {dma}/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave $fclk Clk_xbar $fclk \\
    Master /{dma}/M_AXI_MM2S Slave /{ps}/{ps_memory} ddr_seg Auto intc_ip {{New AXI Interconnect}} master_apm 0] \\
    [get_bd_intf_pins {ps}/{ps_memory}]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave $fclk Clk_xbar $fclk \\
    Master /{dma}/M_AXI_S2MM Slave /{ps}/{ps_memory} ddr_seg Auto intc_ip Auto master_apm 0] \\
    [get_bd_intf_pins {dma}/M_AXI_S2MM]
apply_bd_automation -rule xilinx.com:bd_rule:clkrst -config [list Clk $fclk Freq $fclk_mhz Ref_Clk0 {{}} Ref_Clk1 {{}} Ref_Clk2 {{}}] \\
    [get_bd_pins ${{top}}_0/ap_clk]
group_bd_cells {hier} [get_bd_cells {dma}] [get_bd_cells ${{top}}_0]

assign_bd_address
validate_bd_design
save_bd_design

make_wrapper -files [get_files design_1.bd] -import -top
set_property top design_1_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] != "100%"}} {{
    fail "implementation did not finish: [get_property STATUS [get_runs impl_1]]"
}}
open_run impl_1
report_utilization -file [file join $root vivado_utilization.rpt]
puts "INFO: \\[fpga_accel\\] bitstream: [get_property DIRECTORY [get_runs impl_1]]/design_1_wrapper.bit"
exit
"""
