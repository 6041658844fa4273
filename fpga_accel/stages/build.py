"""Vendor build: HLS (csim, synth, cosim, export) then Vivado (block design → bitstream), then the
reports (``build`` in fpga_accel.json) and the deployment bundle (bitstreams/NAME/).

Two flows, one registry (:data:`FLOWS`): ``vivado-hls`` drives hls4ml's VivadoAccelerator project with
Vivado HLS <= 2020.1; ``vitis`` (:mod:`.vitis`) synthesises an ``hls::axis`` wrapper with Vitis HLS and
Vivado 2023.1+. Without ``flow`` the tools on PATH choose (:func:`choose_flow`).

Tools run through subprocess with argument lists, the project as working directory and their exit codes
checked (hls4ml's own build() uses os.system and ignores them: "bitfile never produced"). Output streams
to hls_projects/NAME/build.log; the first failing step stops the build naming the log lines that matter.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

from ..analysis.reports import parse_csynth_xml, parse_utilization_rpt, with_percentages
from ..boards import get_board
from ..errors import BuildError, ConfigError, ToolNotFoundError
from ..hls.generated import add_flat_utilization, check_build_options
from ..design import Design
from ..layout import BUILD_TCL, DESIGN_TCL
from ..runtime.progress import Progress, Update, default_progress
from ..runtime.axis_wrapper import AXI
from ..runtime.tables import html_report
from ..build_flows.toolchain import BOARD_FILES_HINT, Tool, Version, build_outputs, find_board_files, find_tool
from ..build_flows.vitis import VitisFlow

log = logging.getLogger(__name__)

STEPS = ("csim", "synth", "cosim", "export", "bitfile")
HLS_STEPS = ("csim", "synth", "cosim", "export")
BUILD_PRJ_OPTIONS = ("reset", "csim", "synth", "cosim", "validation", "export", "vsynth", "fifo_opt")
"""The options of hls4ml's build_prj.tcl, each passed as NAME=0|1 (1: the build steps asked for it)."""
DEFAULT_STEPS = ("csim", "synth", "export", "bitfile")
"""What ``build`` runs unless told (the CLI's ``--steps``, the project file's ``build: {steps: ...}``)."""
MAX_HLS_VERSION = Version(2020, 1)
"""hls4ml's accelerator flow needs Vivado HLS <= 2020.1 (Vitis HLS makes TLAST unreliable)."""
VIVADO_INSTALL = "source Vivado's settings64.sh"
SELF_CONTAINED = ("The project folder {root} is self-contained: copy it to any machine with Vivado 2020.1 "
                  "and run `fpga-accel build {root}` there (or use csim meanwhile).")


class BuildFlow(Protocol):
    """One way from a converted project to reports, IP and bitstream (see :data:`FLOWS`)."""

    name: str
    hls_tool: str
    detect: Sequence[str]
    summary: str
    install: str
    wrapper: str
    """The AXI-stream wrapper the bitstream gets: ``runtime.axis_wrapper.AXI`` (hls4ml's ``<project>_axi``)
    or ``AXIS`` (fpga_accel's ``hls::axis`` one); recorded with the build, the simulated board follows it."""

    def commands(self, design: Design, steps: Sequence[str]) -> List[List[str]]: ...

    def describe_options(self, design: Design, steps: Sequence[str]) -> str: ...

    def version_problems(self, tools: Dict[str, Tool]) -> List[str]: ...

    def outputs(self, design: Design) -> Dict[str, Path]: ...

    def prepare(self, design: Design, steps: Sequence[str]) -> None: ...


class VivadoHlsFlow:
    """``--flow vivado-hls``: hls4ml's own build_prj.tcl (Vivado HLS <= 2020.1) and design.tcl."""

    name = "vivado-hls"
    wrapper = AXI
    hls_tool = "vivado_hls"
    detect = ("vivado_hls",)
    summary = "hls4ml's VivadoAccelerator flow: Vivado HLS + Vivado 2020.1 or older (vivado_hls, vivado)"
    install = ("source Vivado 2020.1's settings64.sh (hls4ml's accelerator flow needs Vivado HLS <= 2020.1; "
               "Vitis HLS is not supported)")

    def commands(self, design: Design, steps: Sequence[str]) -> List[List[str]]:
        result = []
        hls = [s for s in steps if s in HLS_STEPS]
        if hls:
            opts = " ".join(f"{name}={int(name in hls)}" for name in BUILD_PRJ_OPTIONS)
            result.append([self.hls_tool, "-f", BUILD_TCL, opts])
        if "bitfile" in steps:
            board = get_board(design.meta.board)
            if board.hls4ml_board is None:
                raise ConfigError(f"the vivado-hls flow builds the overlay with hls4ml's design.tcl, which hls4ml has "
                                  f"only for its own boards; board {board.name!r} is not one of them: use "
                                  "--flow vitis (its block design comes from the board entry), or build only the IP "
                                  "(--steps csim,synth,export)")
            result.append(["vivado", "-mode", "batch", "-source", DESIGN_TCL])
        return result

    def describe_options(self, design: Design, steps: Sequence[str]) -> str:
        return ""

    def version_problems(self, tools: Dict[str, Tool]) -> List[str]:
        hls = tools.get(self.hls_tool)
        if hls and hls.version and hls.version > MAX_HLS_VERSION:
            return [f"vivado_hls {hls.version} is newer than 2020.1, the last release hls4ml's accelerator "
                    "flow supports; use --flow vitis with Vitis 2023.1+"]
        return []

    def outputs(self, design: Design) -> Dict[str, Path]:
        """Where Vivado HLS and hls4ml's design.tcl leave what the build collects."""
        paths = design.layout
        return build_outputs(paths.hls_solution, f"{paths.project_name}_axi", paths.vivado_accelerator,
                             paths.vivado_runs, paths.flat_utilization)

    def prepare(self, design: Design, steps: Sequence[str]) -> None:
        if any(s in HLS_STEPS for s in steps):
            check_build_options(design.layout, BUILD_PRJ_OPTIONS)
        if "bitfile" in steps:
            add_flat_utilization(design.layout)


FLOWS: Dict[str, BuildFlow] = {}
"""Build flows by name (``--flow``, ``build: {flow: NAME}``), in the order ``auto`` tries them (the first
whose tools are on PATH is chosen when none is named); fill it through :func:`register_build_flow`."""
FALLBACK_FLOW = VivadoHlsFlow.name
"""The flow chosen when no flow's tools are on PATH (its preflight says what to install for each), and
the one a project built before flows were recorded was built with."""


def register_build_flow(flow: BuildFlow, first: bool = False, replace: bool = False) -> BuildFlow:
    """Add a build flow: ``--flow NAME``, the project file's ``build: {flow: NAME}``, ``doctor`` and
    ``auto`` (``first``: tried before the others) then know it. A name already taken is refused unless
    ``replace``."""
    missing = [a for a in ("name", "hls_tool", "detect", "summary", "install", "wrapper", "commands", "outputs",
                           "prepare", "describe_options", "version_problems") if not hasattr(flow, a)]
    if missing:
        raise ConfigError(f"build flow {flow!r} lacks {', '.join(missing)} (see stages.build.BuildFlow)")
    if flow.name in FLOWS and not replace:
        raise ConfigError(f"build flow {flow.name!r} is already registered; pass replace=True to redefine it")
    if first:
        rest = {k: v for k, v in FLOWS.items() if k != flow.name}
        FLOWS.clear()
        FLOWS.update({flow.name: flow, **rest})
    else:
        FLOWS[flow.name] = flow
    return flow


def unregister_build_flow(name: str) -> None:
    """Remove a build flow (tests and notebooks that registered a toy one); the built-in fallback stays."""
    if name != FALLBACK_FLOW:
        FLOWS.pop(name, None)


register_build_flow(VitisFlow())  # newest tools first
register_build_flow(VivadoHlsFlow())


def get_flow(name: str) -> BuildFlow:
    try:
        return FLOWS[name]
    except KeyError:
        raise ConfigError(f"unknown build flow {name!r}; choose from {', '.join(FLOWS)}") from None


def choose_flow(name: Optional[str] = None) -> BuildFlow:
    """``name``, else the first flow (in :data:`FLOWS` order) whose HLS tool is on PATH (vitis-run/v++
    before vivado_hls); with none, the fallback, whose preflight then says what to install for each."""
    if name:
        return get_flow(name)
    for candidate in FLOWS.values():
        if any(shutil.which(tool) for tool in candidate.detect):
            return candidate
    return FLOWS[FALLBACK_FLOW]


@dataclass
class BuildPlan:
    design: Design
    steps: List[str]
    flow: BuildFlow = field(default_factory=VivadoHlsFlow)
    commands: List[List[str]] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"# flow: {self.flow.name} ({self.flow.summary})"]
        options = self.flow.describe_options(self.design, self.steps)
        lines += [options] if options else []
        lines += [f"(cd {self.design.root} && {' '.join(_quote(a) for a in cmd)})" for cmd in self.commands]
        return "\n".join(lines)


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def plan(design: Design, steps: Sequence[str] = DEFAULT_STEPS, flow: Optional[str] = None) -> BuildPlan:
    bad = [s for s in steps if s not in STEPS]
    if bad or not steps:
        raise ConfigError(f"unknown build steps {bad}; choose from {', '.join(STEPS)}")
    ordered = [s for s in STEPS if s in steps]
    chosen = choose_flow(flow)
    return BuildPlan(design, ordered, chosen, chosen.commands(design, ordered))


# ---- preflight ------------------------------------------------------------------------------------

def preflight(build_plan: BuildPlan) -> Dict[str, str]:
    """Everything missing, said at once, before any tool starts. Returns tool versions."""
    flow = build_plan.flow
    tools = {name: find_tool(name) for name in sorted({cmd[0] for cmd in build_plan.commands})}
    problems = []
    for tool in tools.values():
        if not tool.found:
            hint = flow.install if tool.name == flow.hls_tool else VIVADO_INSTALL
            if tool.name == "vivado_hls" and shutil.which("vitis_hls"):
                hint += "; found vitis_hls, which makes the wrapper's TLAST unreliable"
            problems.append(f"{tool.name} not on PATH: {hint}")
    problems += flow.version_problems(tools)
    if not any(shutil.which(t) for f in FLOWS.values() for t in f.detect):
        others = [f for f in FLOWS.values() if f is not flow]
        problems += [f"or, for --flow {f.name} ({f.summary}): {f.install}" for f in others]
    board = get_board(build_plan.design.meta.board)
    if "bitfile" in build_plan.steps and shutil.which("vivado"):
        if find_board_files(board.board_part) is None:
            problems.append(f"board files for {board.board_part} not installed: {BOARD_FILES_HINT}")
    if problems:
        raise ToolNotFoundError("cannot build:\n  - " + "\n  - ".join(problems) + "\n"
                                + SELF_CONTAINED.format(root=build_plan.design.root))
    return {name: str(tool.version or "unknown") for name, tool in tools.items() if tool.found}


# ---- running --------------------------------------------------------------------------------------

_MARKERS = re.compile(r"\*+\s*(C SIMULATION|C/RTL SYNTHESIS|C/RTL SIMULATION|EXPORT IP|VIVADO SYNTHESIS)"
                      r" COMPLETED IN (\S+)|launch_runs|write_bitstream")


TOOL_TIMEOUT_ENV = "FPGA_ACCEL_TOOL_TIMEOUT"
DEFAULT_TOOL_TIMEOUT = 24 * 3600.0
"""Seconds one vendor tool run may take: synthesis and place-and-route of a large design take hours, a
tool waiting on a licence server or a dialog never ends. Generous, finite, and set by
``$FPGA_ACCEL_TOOL_TIMEOUT``."""


def tool_timeout() -> float:
    """The vendor tool timeout in seconds (``$FPGA_ACCEL_TOOL_TIMEOUT``, default 24 h)."""
    text = os.environ.get(TOOL_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TOOL_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(f"${TOOL_TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}")
    return value


def run_tool(cmd: List[str], cwd: Path, log_path: Path, progress: Progress, timeout: Optional[float] = None) -> None:
    """Run a vendor tool in its own process group, its output into ``log_path``; the whole group (Vivado
    starts helpers that keep the output open) is stopped after ``timeout`` seconds (default
    ``tool_timeout()``) and when this process is interrupted."""
    timeout = tool_timeout() if timeout is None else timeout
    timed_out = threading.Event()
    with open(log_path, "a") as log_file:
        log_file.write(f"\n$ {' '.join(cmd)}\n")
        log_file.flush()
        start_line = len(log_path.read_text(errors="replace").splitlines())
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)

        def stop() -> None:
            timed_out.set()
            _kill_group(proc)

        watchdog = threading.Timer(timeout, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log_file.write(line)
                m = _MARKERS.search(line)
                if m and m.group(1):
                    progress(Update(f"  {m.group(1).lower()} done ({m.group(2)})", step="build"))
            code = proc.wait()
        finally:
            watchdog.cancel()
            _kill_group(proc)  # helpers left behind, or an interrupted build: nothing keeps running
    if timed_out.is_set():
        raise BuildError(f"{cmd[0]} timed out after {timeout:g} s and was stopped; see {log_path} (set "
                         f"${TOOL_TIMEOUT_ENV} to allow longer)")
    if code != 0:
        raise BuildError(f"{cmd[0]} failed with exit code {code}; see {log_path}\n" + _error_lines(log_path, start_line))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


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

    COLUMNS = ("figure", "lut", "ff", "dsp", "bram_18k", "bram36", "latency_cycles_worst", "estimated_clock_ns",
               "tool_version")

    def rows(self) -> List[Dict[str, object]]:
        """One row per figure the tools reported: ``hls`` (C synthesis) and ``implementation`` (Vivado)."""
        out: List[Dict[str, object]] = []
        for figure in ("hls", "implementation"):
            r = self.report.get(figure)
            if isinstance(r, dict):
                out.append({"figure": figure, **{c: r.get(c) for c in self.COLUMNS[1:]}})
        return out

    def to_dataframe(self) -> object:
        from ..runtime.tables import to_dataframe

        return to_dataframe(self.rows(), self.COLUMNS)

    def _summary(self) -> List[tuple]:
        return [("board", self.report.get("board")), ("part", self.report.get("part")),
                ("clock period (ns)", self.report.get("clock_period_ns")),
                ("tools", ", ".join(f"{k} {v}" for k, v in sorted(self.tool_versions.items())) or None),
                ("bitstream", str(self.bit) if self.bit else None), ("log", str(self.log))]

    def format(self) -> str:
        lines = [f"{k:18s} {'–' if v is None else v}" for k, v in self._summary()]
        for row in self.rows():
            lines.append(f"{row['figure']:18s} " + "  ".join(f"{c} {row[c]}" for c in self.COLUMNS[1:]
                                                            if row[c] is not None))
        return "\n".join(lines)

    __str__ = format

    def _repr_html_(self) -> str:
        return html_report("vendor build", self._summary(), self.rows(), self.COLUMNS)


def outputs(design: Design, flow: Optional[str] = None) -> Dict[str, Path]:
    """Where the flow (default: the one that built the project, recorded under ``build``) leaves what
    the build collects."""
    name = flow or (design.meta.build or {}).get("flow") or FALLBACK_FLOW
    return get_flow(name).outputs(design)


def build(design: Design, steps: Sequence[str] = DEFAULT_STEPS,
          progress: Optional[Progress] = None, flow: Optional[str] = None) -> BuildResult:
    """Run the vendor tools on the project; the flow, reports and tool versions are recorded under
    ``build`` in its fpga_accel.json (and so in every bundle made from it)."""
    progress = progress or default_progress(log)
    build_plan = plan(design, steps, flow)
    versions = preflight(build_plan)
    build_plan.flow.prepare(design, build_plan.steps)
    log_path = design.layout.build_log
    paths = build_plan.flow.outputs(design)
    for i, cmd in enumerate(build_plan.commands):
        if cmd[0] == "vivado" and not paths["ip"].is_dir():
            raise BuildError(f"no exported IP in {paths['ip']}: run the 'export' step first")
        what = ", ".join(s for s in build_plan.steps if (s == "bitfile") == (cmd[0] == "vivado"))
        progress(Update(f"running {cmd[0]} ({what}) — output in {log_path}", step="build"))
        run_tool(cmd, design.root, log_path, progress)
        progress(Update("build: vendor tool runs", "count", i + 1, len(build_plan.commands), step="build"))
    report = collect_report(design, build_plan.flow.name)
    design.meta.build = {"flow": build_plan.flow.name, "wrapper": build_plan.flow.wrapper, "report": report,
                         "tool_versions": versions}
    design.meta.write(design.root)
    result = BuildResult(report, log_path, tool_versions=versions)
    if "bitfile" in build_plan.steps:
        paths = build_plan.flow.outputs(design)  # the hwh is looked for where this Vivado put it
        missing = [str(paths[k]) for k in ("bit", "hwh") if not paths[k].is_file()]
        if missing:
            raise BuildError(f"vivado finished but did not produce {', '.join(missing)}; see {log_path}\n"
                             + _error_lines(log_path, 1))
        result.bit, result.hwh = paths["bit"], paths["hwh"]
    return result


def collect_report(design: Design, flow: Optional[str] = None) -> Dict[str, object]:
    board = get_board(design.meta.board)
    paths = outputs(design, flow)
    report: Dict[str, object] = {"board": board.name, "part": board.part,
                                 "clock_period_ns": design.meta.clock_period}
    if paths["csynth"].is_file():
        report["hls"] = with_percentages(parse_csynth_xml(paths["csynth"]), board)
    if paths["utilization"].is_file():
        report["implementation"] = with_percentages(parse_utilization_rpt(paths["utilization"]), board)
    return report


# ---- what this machine can build ------------------------------------------------------------------

@dataclass
class FlowCheck:
    flow: BuildFlow
    tools: Dict[str, Tool]
    problems: List[str]

    @property
    def runnable(self) -> bool:
        return not self.problems


@dataclass
class MachineCheck:
    """``fpga-accel doctor``: which flows can run here, with which tools, and what is missing."""

    flows: List[FlowCheck]
    board_part: str
    board_files: Optional[Path]
    chosen: str
    """The flow ``fpga-accel build`` picks without --flow."""

    def format(self) -> str:
        lines = []
        for check in self.flows:
            state = "can build" if check.runnable else "cannot build"
            lines.append(f"flow {check.flow.name}: {state} — {check.flow.summary}")
            lines += [f"    {tool.describe()}" for tool in check.tools.values()]
            lines += [f"    to do: {problem}" for problem in check.problems]
        where = f"found at {self.board_files}" if self.board_files else f"missing: {BOARD_FILES_HINT}"
        lines.append(f"board files {self.board_part}: {where}")
        lines.append(f"`fpga-accel build` without --flow uses: {self.chosen}")
        return "\n".join(lines)

    __str__ = format

    def rows(self) -> List[Dict[str, object]]:
        """One row per build flow: can it run here, its tools and what is missing."""
        return [{"flow": c.flow.name, "can build": c.runnable,
                 "tools": "; ".join(t.describe() for t in c.tools.values()),
                 "to do": "; ".join(c.problems) or "-"} for c in self.flows]

    def _repr_html_(self) -> str:
        where = str(self.board_files) if self.board_files else f"missing: {BOARD_FILES_HINT}"
        return html_report("build flows on this machine", [(f"board files {self.board_part}", where),
                                                           ("`fpga-accel build` uses", self.chosen)], self.rows(),
                           verdict=("some flow can build" if any(c.runnable for c in self.flows)
                                    else "no flow can build here", any(c.runnable for c in self.flows)))


def check_machine(board: str = "pynq-z2") -> MachineCheck:
    """Ask every flow's tools for their release, and look for the board files: nothing is built."""
    board_part = get_board(board).board_part
    board_files = find_board_files(board_part)
    found: Dict[str, Tool] = {}
    checks = []
    for flow in FLOWS.values():
        names = sorted({flow.hls_tool, "vivado", *flow.detect})
        tools = {name: found.setdefault(name, find_tool(name)) for name in names}
        needed = [flow.hls_tool, "vivado"]
        problems = [f"{name} not on PATH: " + (flow.install if name == flow.hls_tool else VIVADO_INSTALL)
                    for name in needed if not tools[name].found]
        problems += flow.version_problems({n: t for n, t in tools.items() if n in needed})
        if board_files is None and tools["vivado"].found:
            problems.append(f"board files for {board_part} not installed (needed for the bitfile step)")
        checks.append(FlowCheck(flow, tools, problems))
    return MachineCheck(checks, board_part, board_files, choose_flow().name)
