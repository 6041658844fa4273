"""How far is `fpga-accel estimate` from real synthesis? Measured on the calibration set, leave-one-source-out.

For every independent source of the calibration set (``provenance.group``: a repository's owner, or the
tutorial a design is a variant of), fit the estimator's constants on the *other* sources
(``fpga_accel.analysis.fit``), estimate the held-out source's designs, and compare with each published
figure (Vivado HLS C-synthesis; Vivado post-synthesis where published). The platform/AXI wrapper row is
left out: the reports are of the hls4ml IP. ``--write-constants`` then fits on every design and stores the
constants with the error bands (10–90 % quantiles of these out-of-source ratios) and their measured,
nested coverage. Designs in ``calibration/holdout/`` are never fitted on nor used for bands: they are
estimated with the shipped constants and reported apart ("outside the calibration set").

    python benchmarks/estimate_accuracy.py                      # leave-one-source-out tables to stdout
    python benchmarks/estimate_accuracy.py --in-sample          # fitted on all designs (optimistic)
    python benchmarks/estimate_accuracy.py --write-constants --markdown benchmarks/estimate_accuracy.md
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpga_accel.analysis import estimate as est_mod  # noqa: E402
from fpga_accel.analysis import fit as fit_mod  # noqa: E402
from fpga_accel.analysis.calibration import (DESIGNS_DIR, SCOPE_RULE, CalibrationDesign,  # noqa: E402
                                             estimator_layers, load_designs)

METRICS = ("lut", "ff", "dsp", "bram36", "latency")
HOLDOUT_DIR = DESIGNS_DIR.parent / "holdout"
Constants = Dict[str, Any]


def fit(designs: Sequence[CalibrationDesign]) -> Constants:
    """Constants for the estimator, fitted on ``designs``."""
    return fit_mod.fit_constants(designs)


def compare(designs: Sequence[CalibrationDesign], loo: bool = True) -> List[Dict[str, Any]]:
    """One row per (design, figure): estimate, published value per metric (its source held out when ``loo``)."""
    return fit_mod.cross_validate(designs, loo=loo)


def compare_with(designs: Sequence[CalibrationDesign], constants: Constants) -> List[Dict[str, Any]]:
    """One row per (design, figure) estimated with the given constants (the hold-out designs)."""
    return [{"id": d.id, "source": d.provenance.group, "figure": f, "part": d.provenance.part,
             **est_mod.design_kinds(estimator_layers(d), d.io_type), "estimate": fit_mod.predict(d, f, constants), "reported": fit_mod.published(d, f)}
            for d in designs for f in d.figures]


def load_holdout() -> List[CalibrationDesign]:
    return load_designs(HOLDOUT_DIR) if HOLDOUT_DIR.is_dir() else []


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


def worst_factor(row: Mapping[str, Any], metrics: Sequence[str] = METRICS) -> float:
    """The largest factor (≥ 1) between estimate and published over the row's metrics."""
    worst = 1.0
    for m in metrics:
        ratio = _ratio(row["estimate"][m], row["reported"][m])
        if ratio:
            worst = max(worst, ratio, 1 / ratio)
    return worst


def design_verdict(design: CalibrationDesign, constants: Constants) -> str:
    """The verdict the estimator gives the design on the PYNQ-Z2 (only meaningful for xc7z020 designs)."""
    e = est_mod.estimate_layers(estimator_layers(design), name=design.id, board=est_mod.get_board("pynq-z2"),
                                io_type=design.io_type, clock_period=design.provenance.clock_ns, figure="synth",
                                constants=constants, part=design.provenance.part, tool=f"{design.provenance.tool} {design.provenance.tool_version}")
    return e.verdict


def design_table(rows: Sequence[Mapping[str, Any]], verdicts: Optional[Mapping[str, str]] = None) -> str:
    head = "| design | source | figure | " + " | ".join(f"{m} est / pub (×)" for m in METRICS) + " | worst × |" + \
        (" verdict on pynq-z2 |" if verdicts is not None else "")
    lines = [head, "|" + "---|" * (4 + len(METRICS) + (verdicts is not None))]
    for r in rows:
        cells = []
        for m in METRICS:
            e, p = r["estimate"][m], r["reported"][m]
            ratio = _ratio(e, p)
            cells.append(f"{_fmt(e)} / {_fmt(p)} ({'-' if ratio is None else f'{ratio:.2f}'})")
        line = f"| {r['id']} | {r.get('source', '')} | {r['figure']} | " + " | ".join(cells) + \
            f" | {worst_factor(r):.1f} |"
        if verdicts is not None:
            line += f" {verdicts.get(r['id'], '-')} |"
        lines.append(line)
    return "\n".join(lines)


def _kind_bands(bands: Mapping[str, Mapping[str, Any]], key: str) -> str:
    """' (io_stream: 0.82× – 2.48×; others pooled)' when the figure/metric's band is conditioned on the io type
    or the strategy (the pooled band is for the kinds with too few sources for their own)."""
    kinds = sorted(k for k in bands if k.startswith(key + "/"))
    if not kinds:
        return ""
    def name(k: str) -> str:
        value = k.rsplit("/", 1)[1]
        return f"{value.capitalize()} strategy" if bands[k].get("conditioned") == "strategy" else value

    return " (" + "; ".join(f"{name(k)}: {bands[k]['low']:.2f}× – {bands[k]['high']:.2f}×"
                            for k in kinds) + ("; others pooled)" if len(kinds) < 2 else ")")


def summary_table(s: Mapping[str, Mapping[str, Any]], bands: Optional[Mapping[str, Mapping[str, Any]]] = None) -> str:
    bands = bands or {}
    lines = ["| figure | metric | n | median abs. error | worst abs. error | estimate ÷ published | "
             "band (published ÷ estimate, 10–90 %) | measured coverage (nested) | median band width |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, v in s.items():
        figure, m = key.split("/")
        extra = f" (+{v['zero_published_missed']} with 0 published, non-zero estimated)" if v["zero_published_missed"] else ""
        b = bands.get(key, {})
        band = f"{b['low']:.2f}× – {b['high']:.2f}×" + (" (C-synthesis's)" if b.get("borrowed") else "") + \
            _kind_bands(bands, key) if b else "-"
        cov = f"{b['coverage']:.0%} of {b['coverage_n']}" if "coverage" in b else "-"
        width = f"{b['median_width']:.2f}×" if "median_width" in b else "-"
        lines.append(f"| {figure} | {m} | {v['n']} | {v['median_err']:.0%} | {v['worst_err']:.0%} | "
                     f"{v['min_ratio']:.2f}× – {v['max_ratio']:.2f}×{extra} | {band} | {cov} | {width} |")
    return "\n".join(lines)


def gross_misses(rows: Sequence[Mapping[str, Any]], verdicts: Mapping[str, str]) -> str:
    """The comparisons worse than 3x in some metric, and what the verdict on the PYNQ-Z2 said for them."""
    bad = [r for r in rows if worst_factor(r) > 3]
    if not bad:
        return "no comparison is worse than 3×"
    said = [f"{r['id']} ({r['figure']}, {worst_factor(r):.1f}×: {verdicts.get(r['id'], 'no xc7z020 verdict')})"
            for r in bad]
    loud = sum(1 for r in bad if verdicts.get(r["id"]) in ("FITS",))
    return (f"{len(bad)} comparisons worse than 3× in some metric, {loud} of them with the verdict FITS: "
            + "; ".join(said))


def coverage_cost_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """What 80 % nested coverage would cost: the level, band and width of the narrowest split-conformal band
    that reaches it (not the shipped band; see fit.coverage_cost)."""
    lines = ["| figure | metric | level (q, symmetric) | band (published ÷ estimate) | measured coverage (nested) | "
             "median band width |", "|---|---|---|---|---|---|"]
    for key, c in fit_mod.coverage_cost(rows).items():
        figure, m = key.split("/")
        level = f"{1 - c['level']:.2f}–{c['level']:.2f}" if c["level"] else "none reaches 80 % (0.01–0.99 shown)"
        lines.append(f"| {figure} | {m} | {level} | {c['low']:.2f}× – {c['high']:.2f}× | "
                     f"{c['coverage']:.0%} of {c['n']} | {c['median_width']:.2f}× |")
    return "\n".join(lines)


def holdout_table(s: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| figure | " + " | ".join(f"{m} median (worst)" for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for figure in ("csynth", "synth"):
        cells = [f"{s[k]['median_err']:.0%} ({s[k]['worst_err']:.0%}), n={s[k]['n']}" if k in s else "-"
                 for k in (f"{figure}/{m}" for m in METRICS)]
        if any(c != "-" for c in cells):
            lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def prior_weight_table(scores: Mapping[str, Mapping[float, float]]) -> str:
    """The prior-weight cross-validation: per resource, the mean of the C-synthesis and Vivado LOSO median
    errors for each weight tried, the shipped one (fit.PRIOR_WEIGHT) marked."""
    grid = sorted({w for v in scores.values() for w in v})
    lines = ["## The fit's prior weight, by leave-one-source-out cross-validation", "",
             "Mean of the C-synthesis and Vivado leave-one-source-out median errors per resource (lower is "
             "better; * = the weight `fit.PRIOR_WEIGHT` ships). Chosen on the calibration set only.", "",
             "| resource | " + " | ".join(f"weight {w:g}" for w in grid) + " |", "|---|" + "---|" * len(grid)]
    for r, v in scores.items():
        cells = [f"{v[w]:.1%}" + (" *" if fit_mod.PRIOR_WEIGHT.get(r) == w else "") if w in v else "-" for w in grid]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


README_START, README_END = "<!-- estimate-accuracy:start -->", "<!-- estimate-accuracy:end -->"
_FIGURE_NAMES = (("csynth", "HLS C-synthesis"), ("synth", "Vivado synthesis"))
_METRIC_NAMES = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM", "latency": "latency"}


def readme_block(s: Mapping[str, Mapping[str, Any]], bands: Mapping[str, Mapping[str, Any]],
                 hs: Mapping[str, Mapping[str, Any]], n_holdout: int, n_hrows: int) -> str:
    """The README's accuracy tables (between its estimate-accuracy markers): generated, never edited by hand."""
    lines = ["| figure | metric | n | LOSO median error | band (published ÷ estimate, 10–90 %) | measured coverage | "
             "median band width |", "|---|---|---|---|---|---|---|"]
    for figure, fname in _FIGURE_NAMES:
        for m in METRICS:
            k = f"{figure}/{m}"
            if k not in s:
                continue
            b = bands.get(k, {})
            band = (f"{b['low']:.2f}× – {b['high']:.2f}×" + _kind_bands(bands, k)) if b else "–"
            cov = f"{b['coverage']:.0%}" if "coverage" in b else "–"
            width = f"{b['median_width']:.2f}×" if "median_width" in b else "–"
            lines.append(f"| {fname} | {_METRIC_NAMES[m]} | {s[k]['n']} | {s[k]['median_err']:.0%} | {band} | {cov} | {width} |"
                         .replace("% |", " % |"))
    lines += ["", f"| hold-out ({n_holdout} designs, {n_hrows} comparisons): median (worst) error | "
              + " | ".join(_METRIC_NAMES[m] for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for figure, fname in _FIGURE_NAMES:
        cells = [f"{hs[k]['median_err']:.0%} ({hs[k]['worst_err']:.0%})".replace("%", " %") if k in hs else "–"
                 for k in (f"{figure}/{m}" for m in METRICS)]
        if any(c != "–" for c in cells):
            lines.append(f"| {fname} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    text = path.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    path.write_text(text[:start] + "\n" + block + "\n" + text[end:])


def timing(designs: Sequence[CalibrationDesign], constants: Constants, repeat: int = 20) -> float:
    """Mean wall time of one estimate_layers call over the set, in ms."""
    inputs = [(estimator_layers(d), d) for d in designs]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for layers, d in inputs:
            est_mod.estimate_layers(layers, name=d.id, board=est_mod.get_board("pynq-z2"), io_type=d.io_type,
                                    clock_period=d.provenance.clock_ns, constants=constants, part=d.provenance.part,
                                    tool=f"{d.provenance.tool} {d.provenance.tool_version}")
    return (time.perf_counter() - t0) * 1000 / (repeat * max(1, len(inputs)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in-sample", action="store_true", help="fit on every design, including the one estimated")
    ap.add_argument("--loo", action="store_true", help="leave-one-source-out (the default; kept for old scripts)")
    ap.add_argument("--write-constants", action="store_true",
                    help="fit on all designs and write fpga_accel/analysis/estimator_constants.json with the "
                         "leave-one-source-out error bands and their coverage")
    ap.add_argument("--prior-weight-cv", action="store_true",
                    help="also cross-validate the fit's prior weight (fit.PRIOR_WEIGHT_GRID, ~4x the time) and print "
                         "the leave-one-source-out score of each value per resource")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this Markdown file")
    ap.add_argument("--readme", type=Path, help="rewrite the accuracy tables between this file's "
                                                "estimate-accuracy markers (README.md)")
    args = ap.parse_args(argv)
    everything = load_designs()
    designs = [d for d in everything if d.in_scope]
    outside = [d for d in everything if not d.in_scope]
    loo = not args.in_sample
    rows = compare(designs, loo=loo)
    s = summary(rows)
    n_sources = len(fit_mod.sources(designs))
    how = (f"leave-one-source-out: each design estimated with constants fitted without any design of its source "
           f"({n_sources} sources)" if loo else "in-sample: constants fitted on every design (optimistic)")
    if args.write_constants:
        constants = fit_mod.write_constants(designs, loo_rows=rows if loo else None)
    else:
        constants = est_mod.load_constants()
    bands = constants.get("bands", {})
    z020 = {d.id: design_verdict(d, constants) for d in designs if d.provenance.part.lower().startswith("xc7z020")}
    text = f"{len(designs)} designs from {n_sources} sources, {len(rows)} comparisons ({how})\n\n" + \
        summary_table(s, bands) + "\n\n" + \
        ("What 80 % coverage costs: the narrowest symmetric split-conformal band (order statistics "
         "ceil((n+1)·q) of the other sources' held-out ratios) whose nested coverage reaches 80 %. Not the "
         "shipped band: at these widths published PYNQ-Z2 designs synthesised below 60 % of the part would "
         "no longer be FITS.\n\n" + coverage_cost_table(rows) + "\n\n" if loo else "") + design_table(rows, z020) + "\n\n" + gross_misses(rows, z020) + "\n"
    if outside:
        orows = compare_with(outside, constants)
        text += (f"\n## Out of scope\n\n{len(outside)} designs of the set the model does not describe "
                 f"({SCOPE_RULE}); never fitted on nor used for the bands, estimated with the shipped constants "
                 f"for information:\n\n" + "\n".join(f"- {d.id}: {d.out_of_scope}" for d in outside) + "\n\n" +
                 design_table(orows) + "\n")
    holdout = load_holdout()
    hrows: List[Dict[str, Any]] = []
    if holdout:
        hrows = compare_with(holdout, constants)
        hz020 = {d.id: design_verdict(d, constants) for d in holdout
                 if d.provenance.part.lower().startswith("xc7z020")}
        text += (f"\n## Outside the calibration set\n\n{len(holdout)} designs in calibration/holdout/ "
                 f"({len(hrows)} comparisons), never used for fitting or bands, estimated with the shipped constants. "
                 f"Median (worst) absolute error:\n\n" + holdout_table(summary(hrows)) + "\n\n" +
                 design_table(hrows, hz020) + "\n\n" + gross_misses(hrows, hz020) + "\n")
    if args.readme and loo:
        write_readme(args.readme, readme_block(s, bands, summary(hrows), len(holdout), len(hrows)))
    if args.prior_weight_cv:
        text += "\n" + prior_weight_table(fit_mod.prior_weight_cv(designs)) + "\n"
    ms = timing(designs, constants)
    text += f"\nestimator time: {ms:.2f} ms per design (mean over the calibration set)\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(
            "# Estimator accuracy on the calibration set\n\n"
            "Produced by `make estimate-accuracy` (`python benchmarks/estimate_accuracy.py --write-constants "
            "--markdown benchmarks/estimate_accuracy.md`). Estimates exclude the platform/AXI wrapper row; BRAM in "
            "36 Kb tiles (C-synthesis BRAM_18K ÷ 2); latency is the report's maximum, in cycles (C-synthesis only). "
            "Ratio = estimate ÷ published; error = |ratio − 1|. The band is the 10–90 % quantiles of published ÷ "
            "estimate over the held-out comparisons; its coverage is measured nested (for each source, the band "
            "built from the other sources' held-out ratios, checked on the source's own); width = upper ÷ lower. "
            "The verdict column is the estimator's verdict on the PYNQ-Z2 (xc7z020 designs only, shipped "
            "constants and bands, with the platform row).\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
