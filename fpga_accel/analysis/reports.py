"""Read Vivado HLS / Vivado reports into plain dicts (read-only analysis; never changes a design).

Two sources that differ ~2x on LUT/FF (see shared fixtures): the HLS C-synthesis *estimate*
(``<top>_csynth.xml``) and Vivado's *post-synthesis/implementation* utilisation (``report_utilization``).
Every figure says which one it is.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, Optional

from ..boards import Board
from ..errors import BuildError


def _num(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None  # e.g. "undef" latency of a design with unbounded loops


def parse_csynth_xml(path: Path) -> Dict[str, Any]:
    """Vivado HLS ``csynth.xml``: latency (cycles, ns), interval, clock, estimated resources."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise BuildError(f"cannot read HLS report {path}: {exc}") from exc
    perf = root.find("PerformanceEstimates")
    res = root.find("AreaEstimates/Resources")
    if perf is None or res is None:
        raise BuildError(f"{path} is not a Vivado HLS csynth report (no PerformanceEstimates/AreaEstimates)")
    lat = perf.find("SummaryOfOverallLatency")
    target = _num(root.findtext("UserAssignments/TargetClockPeriod"))
    best = _num(lat.findtext("Best-caseLatency")) if lat is not None else None
    worst = _num(lat.findtext("Worst-caseLatency")) if lat is not None else None
    out: Dict[str, Any] = {
        "source": "hls_csynth_estimate",
        "tool_version": root.findtext("ReportVersion/Version"),
        "part": root.findtext("UserAssignments/Part"),
        "target_clock_ns": target,
        "estimated_clock_ns": _num(perf.findtext("SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_cycles_best": best,
        "latency_cycles_worst": worst,
        "interval_min": _num(lat.findtext("Interval-min")) if lat is not None else None,
        "interval_max": _num(lat.findtext("Interval-max")) if lat is not None else None,
        "lut": _num(res.findtext("LUT")),
        "ff": _num(res.findtext("FF")),
        "dsp": _num(res.findtext("DSP48E")),
        "bram_18k": _num(res.findtext("BRAM_18K")),
    }
    if target and worst is not None:
        out["latency_ns_worst"] = worst * target
    return out


_ROW = re.compile(r"^\|\s*(?P<name>[^|]+?)\s*\|\s*(?P<used>[\d.]+)\s*\|\s*(?P<fixed>[\d.]*)\s*\|")


def parse_utilization_rpt(path: Path) -> Dict[str, Any]:
    """Vivado ``report_utilization`` (flat) text: LUT, FF, DSP, BRAM tiles (36 Kb)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise BuildError(f"cannot read utilisation report {path}: {exc}") from exc
    rows: Dict[str, float] = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m.group("name") not in rows:
            rows[m.group("name").rstrip("*").strip()] = float(m.group("used"))
    state = re.search(r"\|\s*Design State\s*:\s*(.+)", text)
    version = re.search(r"Tool Version\s*:\s*Vivado v\.(\S+)", text)
    needed = {"lut": ("Slice LUTs", "CLB LUTs"), "ff": ("Slice Registers", "CLB Registers"), "dsp": ("DSPs",),
              "bram36": ("Block RAM Tile",)}
    out: Dict[str, Any] = {"source": f"vivado_{(state.group(1).strip().lower() if state else 'unknown')}",
                           "tool_version": version.group(1) if version else None}
    for key, names in needed.items():
        value = next((rows[n] for n in names if n in rows), None)
        if value is None:
            raise BuildError(f"{path}: no '{names[0]}' row; is it a report_utilization (flat) report?")
        out[key] = value
    return out


def with_percentages(figures: Dict[str, Any], board: Board) -> Dict[str, Any]:
    """Add % of the board's LUT/FF/DSP/BRAM36 to a parsed report."""
    capacity = {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36}
    out = dict(figures)
    if "bram_18k" in out and out.get("bram_18k") is not None:
        out["bram36"] = out["bram_18k"] / 2
    for key, cap in capacity.items():
        if out.get(key) is not None:
            out[f"{key}_pct"] = round(100.0 * out[key] / cap, 2)
    return out
