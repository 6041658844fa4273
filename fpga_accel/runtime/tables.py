"""Result objects as notebook HTML and pandas tables: one renderer for every result class.

A result class (agreement report, estimate, fit, sweep, self-test, bench) keeps its ``format()`` text for
terminals and logs; in Jupyter it renders through :func:`html_report` (``_repr_html_``), and where it has
rows, ``to_dataframe()`` hands them to pandas via :func:`to_dataframe`. pandas stays optional: the board's
image has none, and a missing pandas is a one-line error naming the list-of-dicts alternative. Lives in
the runtime because the board's self-test and bench results render too (numpy-free, Python 3.8).
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import ToolNotFoundError

MAX_HTML_ROWS = 500
"""Rows shown in a notebook table; the rest are counted, not rendered (to_dataframe has them all)."""


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}" if abs(value) >= 1e4 else f"{value:g}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 1e4 else str(value)
    return str(value)


def html_table(rows: Sequence[Mapping[str, Any]], columns: Optional[Sequence[str]] = None,
               highlight: Optional[int] = None) -> str:
    """An HTML table of ``rows`` (dicts), columns in ``columns`` order (default: the first row's keys).
    ``highlight``: index of a row drawn in bold (a chosen candidate, the first diverging layer)."""
    if not rows:
        return "<p><i>no rows</i></p>"
    cols = list(columns) if columns is not None else list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for i, row in enumerate(rows[:MAX_HTML_ROWS]):
        style = ' style="font-weight:bold"' if i == highlight else ""
        cells = "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in cols)
        body.append(f"<tr{style}>{cells}</tr>")
    more = len(rows) - MAX_HTML_ROWS
    tail = f"<p><i>… {more} more rows (to_dataframe() has them all)</i></p>" if more > 0 else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def html_report(title: str, summary: Iterable[Tuple[str, Any]] = (), rows: Sequence[Mapping[str, Any]] = (),
                columns: Optional[Sequence[str]] = None, verdict: Optional[Tuple[str, bool]] = None,
                notes: Iterable[str] = (), highlight: Optional[int] = None) -> str:
    """One result as HTML: a title, key/value lines, an optional table and a verdict (text, good?).
    Every value is escaped: layer names and messages come from user files."""
    parts = [f"<div class=\"fpga-accel-report\"><h4>{html.escape(title)}</h4>"]
    pairs = [(k, v) for k, v in summary]
    if pairs:
        cells = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th>"
                        f"<td style=\"text-align:left\">{html.escape(_cell(v))}</td></tr>" for k, v in pairs)
        parts.append(f"<table>{cells}</table>")
    if rows:
        parts.append(html_table(rows, columns, highlight))
    for note in notes:
        parts.append(f"<p>{html.escape(note)}</p>")
    if verdict is not None:
        text, good = verdict
        colour = "#1a7f37" if good else "#cf222e"
        parts.append(f"<p><b style=\"color:{colour}\">{html.escape(text)}</b></p>")
    parts.append("</div>")
    return "".join(parts)


def to_dataframe(rows: List[Mapping[str, Any]], columns: Optional[Sequence[str]] = None) -> Any:
    """``rows`` as a pandas DataFrame; pandas is optional, so its absence is an error that says what to do."""
    try:
        import pandas as pd
    except ImportError:
        raise ToolNotFoundError("to_dataframe() needs pandas, which is not installed: `pip install pandas`, or "
                                "use .rows() (the same table as a list of dicts)") from None
    return pd.DataFrame(list(rows), columns=list(columns) if columns is not None else None)


__all__ = ["MAX_HTML_ROWS", "html_report", "html_table", "to_dataframe"]
