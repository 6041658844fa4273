"""Vendor build: Vivado HLS (csim, synth, cosim, export) then Vivado (block design → bitstream), then the
reports (``build`` in fpga_accel.json) and the deployment bundle (bitstreams/NAME/).

Tools run through subprocess with argument lists, the project as working directory and their exit codes
checked (hls4ml's own build() uses os.system and ignores them: "bitfile never produced"). Output streams
to hls_projects/NAME/build.log; the first failing step stops the build naming the log lines that matter.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..analysis.reports import parse_csynth_xml, parse_utilization_rpt, with_percentages
from ..boards import get_board
from ..errors import BuildError, ConfigError, ToolNotFoundError
from ..design import Design
from ..runtime.progress import Progress, Update, log_progress

log = logging.getLogger(__name__)

STEPS = ("csim", "synth", "cosim", "export", "bitfile")
HLS_STEPS = ("csim", "synth", "cosim", "export")
DEFAULT_STEPS = ("csim", "synth", "export", "bitfile")
MAX_HLS_VERSION = (2020, 1)
"""hls4ml's accelerator flow needs Vivado HLS <= 2020.1 (Vitis HLS makes TLAST unreliable)."""
FLAT_UTILIZATION = "vivado_utilization.rpt"
SELF_CONTAINED = ("The project folder {root} is self-contained: copy it to any machine with Vivado 2020.1 "
                  "and run `fpga-accel build {root}` there (or use csim meanwhile).")


@dataclass
class BuildPlan:
    design: Design
    steps: List[str]
    commands: List[List[str]] = field(default_factory=list)

    def describe(self) -> str:
        return "\n".join(f"(cd {self.design.root} && {' '.join(_quote(a) for a in cmd)})" for cmd in self.commands)


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def plan(design: Design, steps: Sequence[str] = DEFAULT_STEPS) -> BuildPlan:
    bad = [s for s in steps if s not in STEPS]
    if bad or not steps:
        raise ConfigError(f"unknown build steps {bad}; choose from {', '.join(STEPS)}")
    ordered = [s for s in STEPS if s in steps]
    result = BuildPlan(design, ordered)
    hls = [s for s in ordered if s in HLS_STEPS]
    if hls:
        flags = {s: int(s in hls) for s in ("csim", "synth", "cosim")}
        opts = (f"reset=0 csim={flags['csim']} synth={flags['synth']} cosim={flags['cosim']} validation=0 "
                f"export={int('export' in hls)} vsynth=0 fifo_opt=0")
        result.commands.append(["vivado_hls", "-f", "build_prj.tcl", opts])
    if "bitfile" in ordered:
        result.commands.append(["vivado", "-mode", "batch", "-source", "design.tcl"])
    return result


# ---- preflight ------------------------------------------------------------------------------------

def tool_version(tool: str) -> Optional[str]:
    try:
        out = subprocess.run([tool, "-version"], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"v(\d{4}\.\d+)", out.stdout + out.stderr)
    return m.group(1) if m else None


def find_board_files(board_part: str) -> Optional[Path]:
    """board.xml of ``vendor:name:...`` in Vivado's board repositories, or None."""
    vendor, name = board_part.split(":")[:2]
    roots = []
    if os.environ.get("XILINX_VIVADO"):
        roots.append(Path(os.environ["XILINX_VIVADO"]) / "data" / "boards")
    vivado = shutil.which("vivado")
    if vivado:
        roots.append(Path(vivado).resolve().parents[1] / "data" / "boards")
    roots.append(Path.home() / ".Xilinx")
    for root in roots:
        for found in sorted(glob.glob(str(root / "**" / name / "**" / "board.xml"), recursive=True)):
            text = Path(found).read_text(errors="replace")
            if f'vendor="{vendor}"' in text and f'name="{name}"' in text:
                return Path(found)
    return None


def preflight(build_plan: BuildPlan) -> Dict[str, str]:
    """Everything missing, said at once, before any tool starts. Returns tool versions."""
    tools = sorted({cmd[0] for cmd in build_plan.commands})
    problems, versions = [], {}
    for tool in tools:
        if shutil.which(tool) is None:
            hint = ("source Vivado 2020.1's settings64.sh (hls4ml's accelerator flow needs Vivado HLS <= 2020.1; "
                    "Vitis HLS is not supported)" if tool == "vivado_hls" else "source Vivado's settings64.sh")
            if tool == "vivado_hls" and shutil.which("vitis_hls"):
                hint += "; found vitis_hls, which makes the wrapper's TLAST unreliable"
            problems.append(f"{tool} not on PATH: {hint}")
            continue
        version = tool_version(tool)
        versions[tool] = version or "unknown"
        if tool == "vivado_hls" and version and tuple(map(int, version.split("."))) > MAX_HLS_VERSION:
            problems.append(f"vivado_hls {version} is newer than 2020.1, the last release hls4ml's accelerator "
                            "flow supports")
    board = get_board(build_plan.design.meta.board)
    if "bitfile" in build_plan.steps and shutil.which("vivado"):
        if find_board_files(board.board_part) is None:
            problems.append(f"board files for {board.board_part} not installed: copy the PYNQ-Z2 board files "
                            "(board.xml) into <Vivado>/data/boards/board_files/pynq-z2/ or a board repository")
    if problems:
        raise ToolNotFoundError("cannot build:\n  - " + "\n  - ".join(problems) + "\n"
                                + SELF_CONTAINED.format(root=build_plan.design.root))
    return versions


# ---- running --------------------------------------------------------------------------------------

_MARKERS = re.compile(r"\*+\s*(C SIMULATION|C/RTL SYNTHESIS|C/RTL SIMULATION|EXPORT IP|VIVADO SYNTHESIS)"
                      r" COMPLETED IN (\S+)|launch_runs|write_bitstream")


def run_tool(cmd: List[str], cwd: Path, log_path: Path, progress: Progress) -> None:
    with open(log_path, "a") as log_file:
        log_file.write(f"\n$ {' '.join(cmd)}\n")
        log_file.flush()
        start_line = len(log_path.read_text(errors="replace").splitlines())
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            m = _MARKERS.search(line)
            if m and m.group(1):
                progress(Update(f"  {m.group(1).lower()} done ({m.group(2)})", step="build"))
        code = proc.wait()
    if code != 0:
        raise BuildError(f"{cmd[0]} failed with exit code {code}; see {log_path}\n" + _error_lines(log_path, start_line))


def _error_lines(log_path: Path, start: int, limit: int = 15) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    hits = [f"  {log_path.name}:{n}: {line}" for n, line in enumerate(lines, 1)
            if n >= start and re.search(r"\b(ERROR|CRITICAL WARNING|Error)\b", line)]
    return "\n".join(hits[:limit]) if hits else "  (no ERROR lines; read the end of the log)"


@dataclass
class BuildResult:
    report: Dict[str, object]
    log: Path
    bit: Optional[Path] = None
    """design_1_wrapper.bit and design_1.hwh when the bitfile step ran (the bundle step collects them)."""
    hwh: Optional[Path] = None
    tool_versions: Dict[str, str] = field(default_factory=dict)


def outputs(design: Design) -> Dict[str, Path]:
    """Where Vivado HLS and hls4ml's design.tcl leave what the build collects."""
    p, root = design.meta.project_name, design.root
    accel = root / f"{p}_vivado_accelerator"
    return {
        "csynth": root / f"{p}_prj" / "solution1" / "syn" / "report" / f"{p}_axi_csynth.xml",
        "ip": root / f"{p}_prj" / "solution1" / "impl" / "ip",
        "bit": accel / "project_1.runs" / "impl_1" / "design_1_wrapper.bit",
        "hwh": accel / "project_1.srcs" / "sources_1" / "bd" / "design_1" / "hw_handoff" / "design_1.hwh",
        "utilization": root / FLAT_UTILIZATION,
    }


def _ensure_flat_utilization(design: Design) -> None:
    """design.tcl writes a hierarchical util.rpt; ask Vivado for the flat one the parser reads too."""
    tcl = design.layout.design_tcl
    text = tcl.read_text()
    line = f"report_utilization -file {FLAT_UTILIZATION}"
    if line not in text:
        tcl.write_text(text.rstrip("\n") + f"\n{line}\n")


def build(design: Design, steps: Sequence[str] = DEFAULT_STEPS,
          progress: Optional[Progress] = None) -> BuildResult:
    """Run the vendor tools on the project; the reports and tool versions are recorded under ``build`` in
    its fpga_accel.json (and so in every bundle made from it)."""
    progress = progress or log_progress(log)
    build_plan = plan(design, steps)
    versions = preflight(build_plan)
    if "bitfile" in build_plan.steps:
        _ensure_flat_utilization(design)
    log_path = design.root / "build.log"
    paths = outputs(design)
    for cmd in build_plan.commands:
        if cmd[0] == "vivado" and not paths["ip"].is_dir():
            raise BuildError(f"no exported IP in {paths['ip']}: run the 'export' step first")
        what = ", ".join(s for s in build_plan.steps if (s == "bitfile") == (cmd[0] == "vivado"))
        progress(Update(f"running {cmd[0]} ({what}) — output in {log_path}", step="build"))
        run_tool(cmd, design.root, log_path, progress)
    report = collect_report(design)
    design.meta.build = {"report": report, "tool_versions": versions}
    design.meta.write(design.root)
    result = BuildResult(report, log_path, tool_versions=versions)
    if "bitfile" in build_plan.steps:
        missing = [str(paths[k]) for k in ("bit", "hwh") if not paths[k].is_file()]
        if missing:
            raise BuildError(f"vivado finished but did not produce {', '.join(missing)}; see {log_path}\n"
                             + _error_lines(log_path, 1))
        result.bit, result.hwh = paths["bit"], paths["hwh"]
    return result


def collect_report(design: Design) -> Dict[str, object]:
    board = get_board(design.meta.board)
    paths = outputs(design)
    report: Dict[str, object] = {"board": board.name, "part": board.part,
                                 "clock_period_ns": design.meta.clock_period}
    if paths["csynth"].is_file():
        report["hls"] = with_percentages(parse_csynth_xml(paths["csynth"]), board)
    if paths["utilization"].is_file():
        report["implementation"] = with_percentages(parse_utilization_rpt(paths["utilization"]), board)
    return report
