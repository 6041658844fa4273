"""``fpga-accel report PROJECT``: what was predicted and what was measured for one design, side by side.

Why: the estimate, the vendor build's reports and the convert-time verdict all live in the project's
fpga_accel.json, but a user saw them one command at a time. Here each measured figure stands beside the
estimate of the same thing — the HLS C-synthesis report (the IP alone) beside ``estimate(figure="csynth")``'s
IP total, Vivado's utilisation of the whole overlay beside ``estimate(figure="synth")``'s total with the
platform — with the estimate's error on this design and whether the measured value lies in the band.
A design not built yet shows the estimate alone and says how to get the reports. When a deploy recorded
the board's self-test in the project (``selftest`` in fpga_accel.json), it stands below them: agreement
with QKeras on the bundle's test vectors and the measured inferences/s, on which board and when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..runtime.tables import html_report, to_dataframe

__all__ = ["DesignReport", "ReportRow", "design_report"]

RESOURCES = ("lut", "ff", "dsp", "bram36")


@dataclass
class ReportRow:
    """One figure of one report: the estimate (with its band, when it has one) and what the tool measured."""

    source: str
    """Which report the measured value comes from: "HLS C-synthesis (IP)" or "Vivado (overlay)"."""
    figure: str
    estimate: float
    low: Optional[float] = None
    high: Optional[float] = None
    measured: Optional[float] = None

    @property
    def error(self) -> Optional[float]:
        """(estimate - measured) / measured; None without a measured value (or a measured 0)."""
        if self.measured is None or self.measured == 0:
            return None
        return (self.estimate - self.measured) / self.measured

    @property
    def in_band(self) -> Optional[bool]:
        if self.measured is None or self.low is None or self.high is None:
            return None
        return self.low <= self.measured <= self.high

    def to_dict(self) -> Dict[str, Any]:
        return {"source": self.source, "figure": self.figure, "estimate": self.estimate, "low": self.low,
                "high": self.high, "measured": self.measured, "error": self.error, "in_band": self.in_band}


@dataclass
class DesignReport:
    name: str
    board: str
    verdict: str
    """The estimate's verdict for the board (FITS / DOES NOT FIT / UNCERTAIN)."""
    figures: List[ReportRow] = field(default_factory=list)
    fidelity: Optional[Dict[str, Any]] = None
    """The convert-time csim verdict (fpga_accel.json), if convert checked."""
    tool_versions: Dict[str, str] = field(default_factory=dict)
    selftest: Optional[Dict[str, Any]] = None
    """The board's last self-test as ``deploy`` recorded it (board, bundle, time, passed, result), if any."""
    ceiling: Optional[float] = None
    """Inferences/s the IP alone could sustain by the estimate (clock / initiation interval): beside the
    board's end-to-end figure (DMA and Python included), not an estimate of it."""

    @property
    def built(self) -> bool:
        return any(r.measured is not None for r in self.figures)

    def rows(self) -> List[Dict[str, Any]]:
        """The figures as a list of dicts (the table ``to_dataframe`` and the notebook show)."""
        return [r.to_dict() for r in self.figures]

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "board": self.board, "verdict": self.verdict, "built": self.built,
                "rows": self.rows(), "fidelity": self.fidelity, "tool_versions": self.tool_versions,
                "selftest": self.selftest, "ip_ceiling_inferences_per_s": self.ceiling}

    def _selftest_lines(self) -> List[str]:
        """The self-test in two lines: where and when with its verdict, then what it measured."""
        if not self.selftest:
            return []
        st = self.selftest
        r = st.get("result") if isinstance(st.get("result"), dict) else {}  # read from a file: shapes checked
        bench = r.get("bench") if isinstance(r.get("bench"), dict) else {}
        verdict = "PASS" if st.get("passed") is True else "FAIL"
        return [f"board self-test on {st.get('board', '?')} ({st.get('time', '?')}, backend {r.get('backend', '?')}): "
                f"{verdict}",
                f"bit-exact {_share(r.get('bit_exact'))}, argmax {_share(r.get('argmax_agreement'))} on "
                f"{r.get('n', '?')} test vectors; {_number(bench.get('inferences_per_s'))} inferences/s "
                f"(batch {bench.get('batch', '?')}, latency p50 {_number(bench.get('latency_p50_ms'), '.3g')} ms"
                + (f"; the IP alone by the estimate: {self.ceiling:,.0f}/s" if self.ceiling else "") + ")"]

    def to_dataframe(self) -> Any:
        return to_dataframe(self.rows(), ["source", "figure", "estimate", "low", "high", "measured", "error",
                                                "in_band"])

    def _notes(self) -> List[str]:
        notes = []
        if self.fidelity:
            notes.append(f"csim vs QKeras at convert: {self.fidelity.get('message', '')}")
        if not self.built:
            notes.append("no synthesis report recorded yet: `fpga-accel build` (or the flow's build step) "
                         "records them here")
        if not self.selftest:
            notes.append("no board self-test recorded: `fpga-accel deploy --project` (or the flow's deploy step) "
                         "records it here")
        return notes

    def format(self) -> str:
        lines = [f"{self.name} on the {self.board}: estimate {self.verdict}"]
        source = None
        for r in self.figures:
            if r.source != source:
                source = r.source
                lines.append(f"  {source}")
                lines.append(f"    {'figure':14s} {'estimate':>10s} {'band':>19s} {'measured':>10s} {'error':>8s}")
            band = f"{r.low:,.0f}-{r.high:,.0f}" if r.low is not None and r.high is not None else "-"
            measured = f"{r.measured:,.0f}" if r.measured is not None else "-"
            error = f"{r.error:+.0%}" if r.error is not None else "-"
            mark = "" if r.in_band is None else ("" if r.in_band else "  outside the band")
            lines.append(f"    {r.figure:14s} {r.estimate:>10,.0f} {band:>19s} {measured:>10s} {error:>8s}{mark}")
        lines += [f"  {line}" for line in self._selftest_lines()]
        lines += [f"  {note}" for note in self._notes()]
        if self.tool_versions:
            lines.append("  tools: " + ", ".join(f"{k} {v}" for k, v in sorted(self.tool_versions.items())))
        return "\n".join(lines)

    __str__ = format

    def _repr_html_(self) -> str:
        summary: List[tuple] = [("estimate verdict", self.verdict), ("built", self.built)]
        if self.selftest:
            head, measured = self._selftest_lines()
            summary += [("board self-test", head[len("board self-test on "):]), ("measured on the board", measured)]
        return html_report(f"{self.name}: estimate vs reports ({self.board})",
                           summary=summary,
                           rows=self.rows(),
                           columns=["source", "figure", "estimate", "low", "high", "measured", "error", "in_band"],
                           notes=self._notes())


def _share(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "?"


def _number(value: Any, spec: str = ",.0f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "?"


def _ip_band(est: Any, key: str) -> tuple[Optional[float], Optional[float]]:
    """The band of the IP alone: the estimate's band (which includes the platform) less the platform."""
    if key not in est.low or key not in est.high:
        return None, None
    platform = est.total.get(key, 0.0) - est.ip_total.get(key, 0.0)
    return est.low[key] - platform, est.high[key] - platform


def design_report(design: Any) -> DesignReport:
    """The report of a converted project (a ``Design``): estimates recomputed from the project, measured
    figures from the build recorded in its fpga_accel.json."""
    from .estimate import estimate

    build = design.meta.build or {}
    measured = build.get("report") or {}
    hls, vivado = measured.get("hls") or {}, measured.get("implementation") or {}
    synth = estimate(design)
    csynth = estimate(design, figure="csynth")
    rows: List[ReportRow] = []
    for key in RESOURCES:
        low, high = _ip_band(csynth, key)
        value = hls.get(key)
        if key == "bram36" and value is None and hls.get("bram_18k") is not None:
            value = hls["bram_18k"] / 2  # C-synthesis counts 18k halves
        rows.append(ReportRow("HLS C-synthesis (IP)", key, csynth.ip_total[key], low, high, value))
    lat_low, lat_high = csynth.latency_range
    rows.append(ReportRow("HLS C-synthesis (IP)", "latency cycles", float(csynth.latency_cycles), float(lat_low),
                          float(lat_high), hls.get("latency_cycles_worst")))
    for key in RESOURCES:
        rows.append(ReportRow("Vivado (overlay)", key, synth.total[key], synth.low.get(key), synth.high.get(key),
                              vivado.get(key)))
    return DesignReport(name=design.name, board=synth.board,
                        verdict=synth.verdict, figures=rows, fidelity=design.meta.fidelity,
                        tool_versions=dict(build.get("tool_versions") or {}), selftest=design.meta.selftest,
                        ceiling=1e9 / (max(csynth.interval, 1) * csynth.clock_period_ns) if csynth.clock_period_ns else None)
