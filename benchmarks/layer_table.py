"""Write README's layer table (every Keras class hls4ml 1.3 parses, with its status in fpga_accel) from
``fpga_accel.layer_support.TABLE``: generated, so it cannot drift from what convert does.

    python benchmarks/layer_table.py            # rewrite the block between the markers
    python benchmarks/layer_table.py --check    # exit 1 if README is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpga_accel.layer_support import KERAS3_GROUPS, TABLE  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- layers:start -->", "<!-- layers:end -->"


def table() -> str:
    lines = ["| Keras class | status | rule / reason | refused or judged when |", "|---|---|---|---|"]
    rows = [(f"`{cls}`", TABLE[cls]) for cls in sorted(TABLE)] + [(label, entry) for label, (_, entry) in
                                                                  KERAS3_GROUPS.items()]
    for name, entry in rows:
        when = "; ".join(f"{c.when} ({c.status.value})" for c in entry.conditions) or "–"
        lines.append(f"| {name} | {entry.status.value} | {entry.note.replace('|', '/')} | {when} |")
    return "\n".join(lines)


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = README.read_text()
    new = render(text)
    if args.check:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
