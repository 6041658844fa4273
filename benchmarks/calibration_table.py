"""Write the table of the calibration set (and its hold-out) into the calibration README, from the JSON files.

Why: the table is what a reader checks first ("is a design like mine in the set?"); generated from the
validated files, it cannot drift from them. Run by `make estimate-accuracy`, or alone:

    python benchmarks/calibration_table.py            # rewrite the block between the markers
    python benchmarks/calibration_table.py --check    # exit 1 if the README is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fpga_accel.analysis.calibration import DESIGNS_DIR, CalibrationDesign, load_designs  # noqa: E402

README = DESIGNS_DIR.parent / "README.md"
HOLDOUT_DIR = DESIGNS_DIR.parent / "holdout"
START, END = "<!-- designs:start -->", "<!-- designs:end -->"


def _rf(values: Iterable[int]) -> str:
    v = sorted(set(values))
    if not v:
        return "?"
    return str(v[0]) if len(v) == 1 else (", ".join(map(str, v)) if len(v) <= 2 else f"{v[0]}–{v[-1]}")


def _row(d: CalibrationDesign) -> str:
    figures = ", ".join(d.figures)
    strategies = sorted({str(l.get("strategy") or d.strategy or "latency").lower() for l in d.layers
                         if "reuse_factor" in l}) or [str(d.strategy or "latency").lower()]
    strategy = "mixed" if len(strategies) > 1 else strategies[0]
    rfs = d.reuse_factors or [int(l["reuse_factor"]) for l in d.layers if "reuse_factor" in l]
    bits = ", ".join(map(str, sorted(set(d.weight_bits)))) or "?"
    part = d.provenance.part.split("-")[0]
    return (f"| {d.id}{' (partial)' if d.partial else ''} | {d.kind} | {d.io_type.replace('io_', '')} | {strategy} | "
            f"{_rf(rfs)} | {bits} | {part} | {d.provenance.clock_ns:g} | {d.provenance.group} | {figures} |")


def table() -> str:
    head = ["| id | kind | io | strategy | RF | weight bits | part | clock ns | source | figures |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    designs = load_designs()
    lines: List[str] = [f"**Calibration set: {len(designs)} designs from {len({d.provenance.group for d in designs})} "
                        f"sources** (fitted on; cross-validated leaving one source out)", "", *head,
                        *(_row(d) for d in designs)]
    if HOLDOUT_DIR.is_dir():
        held = load_designs(HOLDOUT_DIR)
        lines += ["", f"**Hold-out: {len(held)} designs** (never fitted on; the estimator's error on designs it has "
                      "not seen, reported separately by `make estimate-accuracy`)", "", *head, *(_row(d) for d in held)]
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the README's table is out of date")
    args = ap.parse_args(argv)
    text = README.read_text()
    if START not in text or END not in text:
        print(f"{README}: markers {START} / {END} missing", file=sys.stderr)
        return 1
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = f"{before}{START}\n{table()}\n{END}{after}"
    if args.check:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
