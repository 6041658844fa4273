"""``profile(design, x)``: per layer, the values a design holds and computes against the type that holds them.

hls4ml's ``profiling.numerical`` draws weight and activation distributions against each layer's type; this
is the same view for a design of this toolkit, whose types are derived by ``exact_types`` and recorded in
fpga_accel.json. Values come from the project itself, not from the Keras model: weights as written in
``firmware/weights/*.txt`` and activations as :meth:`Design.trace` computes them on ``x`` (csim or the
emulator, bit for bit the design's own) — so what is drawn is what the hardware holds.

The values are the design's own, after each cast, so a type's limits show as piles: ``saturated`` is the
share of values at the type's min or max (an unsigned type's zero is its floor, not a clip), ``underflowed``
the share of non-zero values smaller in magnitude than one step. Known limit: values after the cast are on
the type's grid, so on a design's own values ``underflowed`` is 0 by construction — what rounded to zero
would need the reference (pre-cast) values, which this does not yet take. Read-only; matplotlib is imported
on first use and no backend is chosen here (the caller's, e.g. a notebook's inline one, is kept).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .agreement_plot import plot_agreement

log = logging.getLogger(__name__)

__all__ = ["ValueProfile", "profile", "profile_data", "plot_agreement"]

_WEIGHT_FUNCTIONS = ("dense", "conv", "batchnorm", "normalize", "pointwise", "depthwise", "separable")


@dataclass
class ValueProfile:
    """One distribution: a layer's weights or its outputs, the type that holds them and how they sit in it."""

    layer: str
    kind: str
    """"weights" or "activations"."""
    precision: str
    low: float
    high: float
    step: float
    values: np.ndarray
    saturated: float
    """Share of values at the type's min or max."""
    underflowed: float
    """Share of non-zero values smaller in magnitude than one step: 0 on values already cast to the type (see
    the module docstring); meaningful for values given before the cast."""

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "kind": self.kind, "precision": self.precision, "low": self.low,
                "high": self.high, "step": self.step, "saturated": self.saturated, "underflowed": self.underflowed,
                "n_values": int(self.values.size)}


def _value_profile(layer: str, kind: str, precision: str, values: np.ndarray) -> ValueProfile | None:
    from .weight_stats import UnknownType, hls_type

    try:
        t = hls_type(precision)
    except UnknownType:
        log.info("not profiling %s %s: type %r is not a fixed-point type", layer, kind, precision)
        return None
    low, high = t.value_range()
    v = np.asarray(values, dtype=np.float64).ravel()
    n = max(v.size, 1)
    at_bounds = (v >= high) | (v <= low) if t.signed else v >= high  # unsigned: zero is the floor, not a clip
    saturated = float(np.count_nonzero(at_bounds) / n)
    nonzero = v[v != 0]
    underflowed = float(np.count_nonzero(np.abs(nonzero) < t.lsb) / n)
    return ValueProfile(layer, kind, precision, low, high, float(t.lsb), v, saturated, underflowed)


def _weight_files(design: Any) -> tuple[dict[str, str], Any]:
    """layer name -> its weight variable (``w3``...), from the firmware's layer calls."""
    from ..runtime.firmware import read_firmware

    fw = read_firmware(design.root, design.meta.project_name, design.meta.io_type)
    found: dict[str, str] = {}
    for call in fw.calls:
        if any(call.function.startswith(f) for f in _WEIGHT_FUNCTIONS):
            names = [a for a in call.args if a.startswith(("w", "s")) and
                     (design.layout.weights / f"{a}.txt").is_file()]
            if names:
                found[call.layer] = names[0]
    return found, fw


def _as_design(design_or_project: Any) -> Any:
    from ..design import Design

    if isinstance(design_or_project, Design):
        return design_or_project
    if isinstance(design_or_project, (str, Path)):
        return Design(design_or_project)
    raise ConfigError(f"profile takes a Design or a project folder (hls_projects/NAME), got "
                      f"{type(design_or_project).__name__}: convert a Keras model first (fa.convert) — the types "
                      "drawn are the design's derived ones")


def profile_data(design_or_project: Any, x: Any, engine: str | None = None) -> list[ValueProfile]:
    """Every profiled distribution of a design on ``x``, in graph order (weights before a layer's outputs)."""
    design = _as_design(design_or_project)
    _, traced = design.trace(x, engine=engine)
    weights, fw = _weight_files(design)
    out: list[ValueProfile] = []
    for layer in design.meta.layers:
        name = layer["name"]
        types = layer.get("types") or {}
        if name in weights and "weight_t" in types:
            p = _value_profile(name, "weights", types["weight_t"]["precision"], fw.weights(weights[name]))
            if p is not None:
                out.append(p)
        if name in traced:
            p = _value_profile(name, "activations", str(layer.get("precision")), traced[name])
            if p is not None:
                out.append(p)
    if not out:
        raise ConfigError(f"design {design.name} has no traced layer or weights with a fixed-point type to profile: "
                          "re-convert the project (`fpga-accel convert --force`)")
    return out


def _draw(ax: Any, p: ValueProfile) -> None:
    v = p.values
    span = max(p.high - p.low, p.step)
    lo, hi = min(float(v.min(initial=p.low)), p.low) - 0.05 * span, max(float(v.max(initial=p.high)), p.high) + 0.05 * span
    bins = min(200, max(10, int(round(span / p.step)) + 1)) if p.step > 0 else 50
    ax.hist(v, bins=bins, range=(lo, hi), color="C0" if p.kind == "weights" else "C1", alpha=0.8)
    ax.axvspan(p.low, p.high, color="0.85", zorder=0, label=f"{p.precision}")
    ax.axvline(p.low, color="k", lw=0.8, gid="type-min")
    ax.axvline(p.high, color="k", lw=0.8, gid="type-max")
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.set_title(f"{p.layer} {p.kind}: {p.precision}", fontsize=8, loc="left")
    ax.text(0.99, 0.95, f"sat {p.saturated:.1%}  under {p.underflowed:.1%}  step {p.step:.3g}",
            transform=ax.transAxes, ha="right", va="top", fontsize=7,
            color="C3" if p.saturated or p.underflowed else "0.3", gid="fractions")
    ax.tick_params(labelsize=7)


def profile(design_or_project: Any, x: Any, engine: str | None = None) -> Any:
    """One matplotlib Figure for a design: one axes per profiled distribution (a layer's weights, a layer's
    outputs on ``x``), each with its type's range shaded and bounded (``axvline`` at min and max), the step
    and the saturated/underflowed shares written on it. ``fig.profiles`` holds the :class:`ValueProfile` s."""
    import matplotlib.figure

    profiles = profile_data(design_or_project, x, engine)
    fig = matplotlib.figure.Figure(figsize=(6.4, 0.95 * len(profiles) + 0.6), layout="constrained")
    axes = fig.subplots(len(profiles), 1, squeeze=False)[:, 0]
    for ax, p in zip(axes, profiles):
        _draw(ax, p)
    fig.suptitle(f"{_as_design(design_or_project).name}: values against their types", fontsize=9)
    fig.profiles = profiles  # type: ignore[attr-defined]
    return fig
