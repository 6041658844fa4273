"""How far is `fpga-accel estimate` from real synthesis? Measured on the calibration set, leave-one-design-out.

For every design in fpga_accel/analysis/calibration/designs: fit the estimator's constants on the *other*
designs (``fpga_accel.analysis.fit``), estimate the held-out design, and compare with each published figure
(Vivado HLS C-synthesis; Vivado post-synthesis where published). The platform/AXI wrapper row is left out:
the reports are of the hls4ml IP. ``--write-constants`` then fits on every design and stores the constants
with the error bands of these held-out comparisons (what every estimate quotes as its expected range).

    python benchmarks/estimate_accuracy.py                      # leave-one-out tables to stdout
    python benchmarks/estimate_accuracy.py --in-sample          # fitted on all designs (optimistic)
    python benchmarks/estimate_accuracy.py --write-constants --markdown benchmarks/estimate_accuracy.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpga_accel.analysis import fit as fit_mod  # noqa: E402
from fpga_accel.analysis.calibration import CalibrationDesign, load_designs  # noqa: E402

METRICS = ("lut", "ff", "dsp", "bram36", "latency")
Constants = Dict[str, Any]


def fit(designs: Sequence[CalibrationDesign]) -> Constants:
    """Constants for the estimator, fitted on ``designs``."""
    return fit_mod.fit_constants(designs)


def compare(designs: Sequence[CalibrationDesign], loo: bool = True) -> List[Dict[str, Any]]:
    """One row per (design, figure): estimate, published value per metric (held out when ``loo``)."""
    return fit_mod.cross_validate(designs, loo=loo)


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
    ap.add_argument("--in-sample", action="store_true", help="fit on every design, including the one estimated")
    ap.add_argument("--loo", action="store_true", help="leave-one-design-out (the default; kept for old scripts)")
    ap.add_argument("--write-constants", action="store_true",
                    help="fit on all designs and write fpga_accel/analysis/estimator_constants.json with the "
                         "leave-one-out error bands")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    designs = load_designs()
    loo = not args.in_sample
    rows = compare(designs, loo=loo)
    s = summary(rows)
    how = ("leave-one-design-out: each design estimated with constants fitted on the others" if loo
           else "in-sample: constants fitted on every design (optimistic)")
    text = f"{len(designs)} designs, {len(rows)} comparisons ({how})\n\n" + summary_table(s) + "\n\n" + \
        design_table(rows) + "\n"
    if args.write_constants:
        c = fit_mod.write_constants(designs, loo_rows=rows if loo else None)
        text += "\nerror bands written to fpga_accel/analysis/estimator_constants.json (published / estimate):\n" + \
            "\n".join(f"  {k}: {v['low']:.2f}x - {v['high']:.2f}x" for k, v in c["bands"].items()) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(
            "# Estimator accuracy on the calibration set\n\n"
            "Produced by `make estimate-accuracy` (`python benchmarks/estimate_accuracy.py --write-constants "
            "--markdown benchmarks/estimate_accuracy.md`). Estimates exclude the platform/AXI wrapper row; BRAM in "
            "36 Kb tiles (C-synthesis BRAM_18K ÷ 2); latency is the report's maximum, in cycles (C-synthesis only). "
            "Ratio = estimate ÷ published; error = |ratio − 1|.\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
