"""How far is `fpga-accel estimate` from real synthesis? Measured on the calibration set.

For every design in fpga_accel/analysis/calibration/designs, run the estimator on the design's layers and
compare with each published figure (Vivado HLS C-synthesis; Vivado post-synthesis where published).
The platform/AXI wrapper row is left out: the reports are of the hls4ml IP alone.

`fit(designs)` is the hook for fitted constants: today it returns the estimator's current constants, so
leave-one-design-out cross-validation (``--loo``) equals the plain comparison; once the estimator is
fitted, each held-out design is estimated with constants fitted on the others.

    python benchmarks/estimate_accuracy.py            # tables to stdout
    python benchmarks/estimate_accuracy.py --markdown benchmarks/estimate_accuracy.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpga_accel.analysis import estimate as est_mod  # noqa: E402
from fpga_accel.analysis.calibration import CalibrationDesign, Figure, estimator_layers, load_designs  # noqa: E402
from fpga_accel.boards import get_board  # noqa: E402

METRICS = ("lut", "ff", "dsp", "bram36", "latency")
Constants = Dict[str, Any]


def fit(designs: Sequence[CalibrationDesign]) -> Constants:
    """Constants for the estimator, fitted on ``designs``. Today: the estimator's current constants."""
    return {}


def estimate_design(design: CalibrationDesign, figure: str, constants: Optional[Constants] = None) -> Dict[str, float]:
    """The estimator's totals for the hls4ml IP (no platform row) in the units of the reports."""
    layers = estimator_layers(design)
    e = est_mod.estimate_layers(layers, name=design.id, board=get_board("pynq-z2"), io_type=design.io_type,
                                clock_period=design.provenance.clock_ns, figure=figure)
    ip = [l for l in e.layers if l.name != "axi_wrapper"]
    return {"lut": sum(l.lut for l in ip), "ff": sum(l.ff for l in ip), "dsp": sum(l.dsp for l in ip),
            "bram36": sum(l.bram36 for l in ip), "latency": float(sum(l.latency_cycles for l in ip))}


def reported(fig: Figure) -> Dict[str, Optional[float]]:
    return {"lut": fig.lut, "ff": fig.ff, "dsp": fig.dsp, "bram36": fig.bram36_equiv,
            "latency": float(fig.latency_max) if fig.latency_max is not None else None}


def compare(designs: Sequence[CalibrationDesign], loo: bool = False,
            fitter: Callable[[Sequence[CalibrationDesign]], Constants] = fit) -> List[Dict[str, Any]]:
    """One row per (design, figure): estimate, published value and ratio for each metric."""
    rows = []
    for i, d in enumerate(designs):
        constants = fitter([x for j, x in enumerate(designs) if j != i]) if loo else fitter(designs)
        for figure, fig in d.figures.items():
            e, r = estimate_design(d, figure, constants), reported(fig)
            rows.append({"id": d.id, "figure": figure, "part": d.provenance.part, "estimate": e, "reported": r})
    return rows


def _ratio(e: float, r: Optional[float]) -> Optional[float]:
    if r is None:
        return None
    if r == 0:
        return 1.0 if e == 0 else None  # 0 published: only an exact 0 is right; no finite ratio otherwise
    return e / r


def summary(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per figure and metric: median and worst absolute relative error, and the estimate/reported range."""
    out: Dict[str, Dict[str, Any]] = {}
    for figure in ("csynth", "synth"):
        for m in METRICS:
            ratios = [_ratio(r["estimate"][m], r["reported"][m]) for r in rows if r["figure"] == figure]
            nonzero_miss = sum(1 for r in rows if r["figure"] == figure and r["reported"][m] == 0 and r["estimate"][m] != 0)
            ratios = [x for x in ratios if x is not None]
            if not ratios:
                continue
            errs = [abs(x - 1) for x in ratios]
            out[f"{figure}/{m}"] = {"n": len(ratios), "median_err": statistics.median(errs), "worst_err": max(errs),
                                    "min_ratio": min(ratios), "max_ratio": max(ratios), "zero_published_missed": nonzero_miss}
    return out


def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else (f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}")


def design_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "| design | figure | " + " | ".join(f"{m} est / pub (×)" for m in METRICS) + " |"
    lines = [head, "|" + "---|" * (2 + len(METRICS))]
    for r in rows:
        cells = []
        for m in METRICS:
            e, p = r["estimate"][m], r["reported"][m]
            ratio = _ratio(e, p)
            cells.append(f"{_fmt(e)} / {_fmt(p)} ({'-' if ratio is None else f'{ratio:.2f}'})")
        lines.append(f"| {r['id']} | {r['figure']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(s: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| figure | metric | n | median abs. error | worst abs. error | estimate ÷ published |", "|---|---|---|---|---|---|"]
    for key, v in s.items():
        figure, m = key.split("/")
        extra = f" (+{v['zero_published_missed']} with 0 published, non-zero estimated)" if v["zero_published_missed"] else ""
        lines.append(f"| {figure} | {m} | {v['n']} | {v['median_err']:.0%} | {v['worst_err']:.0%} | "
                     f"{v['min_ratio']:.2f}× – {v['max_ratio']:.2f}×{extra} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loo", action="store_true", help="leave-one-design-out: fit() on the other designs")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    designs = load_designs()
    rows = compare(designs, loo=args.loo)
    s = summary(rows)
    text = (f"{len(designs)} designs, {len(rows)} comparisons ({'leave-one-out' if args.loo else 'all designs'}; "
            f"fit() returns the current constants)\n\n" + summary_table(s) + "\n\n" + design_table(rows) + "\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(
            "# Estimator accuracy on the calibration set (baseline)\n\n"
            "Produced by `python benchmarks/estimate_accuracy.py --markdown benchmarks/estimate_accuracy.md` with the "
            "estimator as of this commit (constants calibrated on one design). Estimates exclude the platform/AXI "
            "wrapper row; BRAM in 36 Kb tiles (C-synthesis BRAM_18K ÷ 2); latency is the report's maximum, in "
            "cycles (C-synthesis only). Ratio = estimate ÷ published.\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
