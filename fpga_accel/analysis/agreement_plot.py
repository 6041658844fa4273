"""The per-layer agreement figure of an ``AgreementReport`` (``report.plot()``): a module of its own so the
report's class can draw without importing the profile, which reads designs (no import cycle)."""
from __future__ import annotations

from typing import Any

__all__ = ["plot_agreement"]


def plot_agreement(report: Any) -> Any:
    """csim vs reference per layer: the share of samples bit-exact, the first diverging layer in red (a bit-exact
    design: every traced layer, at 100 %)."""
    import matplotlib.figure

    rows = report.rows()
    fig = matplotlib.figure.Figure(figsize=(6.4, 0.3 * max(len(rows), 1) + 1.2), layout="constrained")
    ax = fig.subplots()
    if not rows:  # no layer compared (a design that traces none, several ports): the outputs only
        ax.barh(["outputs"], [report.bit_exact], color="C2")
    else:
        names = [r["layer"] for r in rows]
        colors = ["C3" if r["first_diverging"] else "C0" for r in rows]
        bars = ax.barh(names, [r["bit_exact"] for r in rows], color=colors)
        for bar, r in zip(bars, rows):
            bar.set_gid("first-diverging" if r["first_diverging"] else None)
        ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of samples bit-exact (csim vs reference)")
    title = f"bit-exact {report.bit_exact:.1%} of {report.n_samples} samples"
    if report.first_divergent_layer:
        title += f"; first diverging layer: {report.first_divergent_layer}"
    ax.set_title(title, fontsize=9)
    return fig
