"""``profile(design_or_model, x)``: per layer, the values a design holds and computes against the type that holds them.

hls4ml's ``profiling.numerical`` draws weight and activation distributions against each layer's type; this
is the same view for a design of this toolkit, whose types are derived by ``exact_types`` and recorded in
fpga_accel.json.

- **A converted design** (``Design`` or its folder): values come from the project itself — weights as written
  in ``firmware/weights/*.txt``, the input as the design's input type holds ``x``, every traced layer's
  outputs as :meth:`Design.trace` computes them (csim or the emulator, bit for bit the design's own) — so
  what is drawn is what the hardware holds.
- **A Keras/QKeras model**: the types are the ones converting it would derive, from one conversion in memory
  (``stages.convert.probe_layers``, as ``fit`` uses: nothing written, nothing compiled — done by
  ``fpga_accel.profiling.profile``, ``fa.profile``, since analysis never runs a stage);
  the values are the model's own — its float kernels (before the kernel quantizer) and its layers' outputs
  on ``x`` — so what is drawn is what the design's types will have to hold.

``saturated`` is the share of values at or beyond the type's min or max (an unsigned type's zero is its
floor, not a clip). ``underflowed`` is the share of values that are non-zero **before the cast to the
type** and smaller in magnitude than one step (they lose every bit): measured on values known before the
cast — the input ``x``; a linear or ReLU activation's input (the layer before it); a sum whose type the
exact-type rules made hold it exactly (nothing rounds: 0); a model's float kernels and outputs; a design's
weights by the float kernels of the reference model convert keeps in the project, where its written weights
are shown to be those kernels cast to the weight type. Where the values before the cast are not known (a
folded or scaled kernel, a project without its model, a layer of a rule that rounds) it is ``None`` ("n/a"
on the figure), never a 0 read off values already on the type's grid. Read-only;
matplotlib is imported on first use and no backend is chosen here (the caller's, e.g. a notebook's inline
one, is kept).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..hls.values import to_numpy
from .agreement_plot import plot_agreement

log = logging.getLogger(__name__)

__all__ = ["ValueProfile", "is_model", "profile", "profile_data", "plot_agreement"]

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
    underflowed: float | None
    """Share of values non-zero before the cast and smaller in magnitude than one step; None where the
    values before the cast are not known (see the module docstring)."""

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "kind": self.kind, "precision": self.precision, "low": self.low,
                "high": self.high, "step": self.step, "saturated": self.saturated, "underflowed": self.underflowed,
                "n_values": int(self.values.size)}


def _value_profile(layer: str, kind: str, precision: str, values: np.ndarray,
                   before_cast: np.ndarray | None = None) -> ValueProfile | None:
    """``values`` against ``precision``; ``before_cast`` (the same values before the cast to it, when known)
    is what ``underflowed`` is counted on."""
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
    underflowed = None
    if before_cast is not None:
        pre = np.asarray(before_cast, dtype=np.float64).ravel()
        pre = pre[pre != 0]
        underflowed = float(np.count_nonzero(np.abs(pre) < t.lsb) / max(np.asarray(before_cast).size, 1))
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


def is_model(obj: Any) -> bool:
    """A Keras model (duck-typed: no Keras import here)."""
    return hasattr(obj, "layers") and hasattr(obj, "predict") and hasattr(obj, "inputs")


def _as_design(design_or_project: Any) -> Any:
    from ..design import Design

    if isinstance(design_or_project, Design):
        return design_or_project
    if isinstance(design_or_project, (str, Path)):
        return Design(design_or_project)
    raise ConfigError(f"profile takes a Design, a project folder (hls_projects/NAME) or a Keras/QKeras model, got "
                      f"{type(design_or_project).__name__}")


_ELEMENTWISE = {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0.0)}
"""Activation nodes whose value before the cast is a plain function of their input's values."""


def _source(layers: list[dict[str, Any]], i: int) -> str | None:
    """The node feeding layer ``i`` (its one recorded input, else the one before it)."""
    inputs = layers[i].get("inputs")
    if isinstance(inputs, list):
        return inputs[0] if len(inputs) == 1 else None
    return layers[i - 1]["name"] if i > 0 else None


def _exact(entry: dict[str, Any]) -> bool:
    """The result type was derived to hold the layer's value exactly (an ``exact_types`` sum or map)."""
    rule = ((entry.get("types") or {}).get("result_t") or {}).get("rule", "")
    return isinstance(rule, str) and rule.startswith("exact")


def _before_cast(layers: list[dict[str, Any]], values: dict[str, np.ndarray],
                 known: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per node, its values before the cast to its result type, where they can be had: ``known`` ones (the
    input; a model's float outputs), a linear/ReLU activation's function of its input's values, a sum of an
    exact rule (the cast changes nothing)."""
    out = dict(known)
    for i, entry in enumerate(layers):
        name = entry["name"]
        if name in out or name not in values:
            continue
        source = _source(layers, i)
        fn = _ELEMENTWISE.get(str(entry.get("activation"))) if entry.get("class") in ("Activation", "ReLU") else None
        if fn is not None and source in values and values[source].size == values[name].size:
            out[name] = fn(np.asarray(values[source], dtype=np.float64)).reshape(values[name].shape)
        elif _exact(entry):
            out[name] = values[name]
    return out


def _profiles(layers: list[dict[str, Any]], weights: dict[str, tuple[np.ndarray, np.ndarray | None]],
              values: dict[str, np.ndarray], before: dict[str, np.ndarray]) -> list[ValueProfile]:
    out: list[ValueProfile] = []
    for entry in layers:
        name = entry["name"]
        types = entry.get("types") or {}
        if name in weights and "weight_t" in types:
            w, w_before = weights[name]
            p = _value_profile(name, "weights", types["weight_t"]["precision"], w, w_before)
            if p is not None:
                out.append(p)
        if name in values:
            p = _value_profile(name, "activations", str(entry.get("precision")), values[name], before.get(name))
            if p is not None:
                out.append(p)
    return out


def _input_node(layers: list[dict[str, Any]]) -> dict[str, Any] | None:
    inputs = [e for e in layers if e.get("class") in ("Input", "InputLayer")]
    return inputs[0] if len(inputs) == 1 else None


def _design_profiles(design: Any, x: Any, engine: str | None) -> list[ValueProfile]:
    from .weight_stats import UnknownType, hls_type

    _, traced = design.trace(x, engine=engine)
    values = {k: np.asarray(v) for k, v in traced.items()}
    layers = design.meta.layers
    known: dict[str, np.ndarray] = {}
    first = _input_node(layers)
    if first is not None and isinstance(x, np.ndarray) and first["name"] not in values:
        try:
            t = hls_type(str(first.get("precision")))
        except UnknownType:
            t = None
        if t is not None:  # what the design's input type holds of x (the wrapper's cast), and x before it
            known[first["name"]] = np.asarray(x, dtype=np.float64)
            values[first["name"]] = t.quantize(known[first["name"]])
    files, fw = _weight_files(design)
    written = {name: fw.weights(var) for name, var in files.items()}
    kernels = _reference_kernels(design, layers, written) if written else {}
    weights = {name: (w, kernels.get(name)) for name, w in written.items()}
    return _profiles(layers, weights, values, _before_cast(layers, values, known))


def _float_kernels(model: Any, layers: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per recorded layer, its Keras layer's float kernel (before any kernel quantizer), float64."""
    keras_layers = {layer.name: layer for layer in model.layers}
    out: dict[str, np.ndarray] = {}
    for entry in layers:
        layer = keras_layers.get(entry["name"])
        kernel = getattr(layer, "kernel", None) if layer is not None else None
        if kernel is not None:
            out[entry["name"]] = to_numpy(kernel, np.float64)
    return out


def _written_from(kernel: np.ndarray, written: np.ndarray, precision: str) -> bool:
    """``written`` (the project's weight file) is ``kernel`` cast to ``precision``, up to order: the same
    count, and sorted, each within one step of the kernel's value clipped to the type's range (any monotone
    rounding — the quantizer's, then the type's — stays within that). A kernel hls4ml changed before writing
    it (a folded batch norm, a scaled quantizer) fails this and is not used."""
    from .weight_stats import UnknownType, hls_type

    if kernel.size != written.size:
        return False
    try:
        t = hls_type(precision)
    except UnknownType:
        return False
    low, high = t.value_range()
    k = np.clip(np.sort(kernel.ravel()), low, high)
    return bool(np.all(np.abs(np.sort(written.ravel()) - k) <= t.lsb * (1 + 1e-9)))


def _reference_kernels(design: Any, layers: list[dict[str, Any]],
                       written: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The float kernels behind the project's written weights, from the reference model convert keeps in
    the project: what a layer's weights were before the quantizer and the cast to its weight type, so their
    underflow is counted there, as for a Keras model. Only kernels the written weights are shown to come
    from (:func:`_written_from`); none when the file holds no readable kernels. Read with h5py
    (``model_io.h5_kernels``): no Keras import, and a model with custom layers is read the same."""
    from ..model_io import h5_kernels

    path = design.layout.keras_model
    if not path.is_file():
        log.info("%s: no reference model in the project: weight underflow not known", design.name)
        return {}
    kernels = h5_kernels(path)  # the arrays alone: no Keras import, no layer deserialized
    if not kernels:
        log.info("%s: weight underflow not known: no kernels readable in %s", design.name, path.name)
        return {}
    types = {e["name"]: ((e.get("types") or {}).get("weight_t") or {}).get("precision") for e in layers}
    out = {}
    for name, kernel in kernels.items():
        if name in written and types.get(name) and _written_from(kernel, written[name], str(types[name])):
            out[name] = kernel
        elif name in written:
            log.info("%s: the weights written for %s are not its kernel cast to its type: underflow n/a",
                     design.name, name)
    return out


def _model_profiles(model: Any, x: Any, layers: list[dict[str, Any]]) -> list[ValueProfile]:
    """A Keras/QKeras model against ``layers``, the records of converting it: the model's own values."""
    from ..design import _keras_outputs, layer_pairs
    from ..keras_compat import input_shape
    from ..runtime.validate import check_input

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError("profile of a Keras model takes a single-input, single-output model: convert a "
                          "multi-port model first (fa.convert) and profile the design")
    xs = check_input(x, input_shape(model))
    pairs = layer_pairs(layers, model)
    outputs = _keras_outputs(model, xs, [k for k, _ in pairs]) if pairs else {}
    values = {node: np.asarray(outputs[k], dtype=np.float64) for k, node in pairs}
    first = _input_node(layers)
    if first is not None:
        values[first["name"]] = np.asarray(xs, dtype=np.float64)
    known = dict(values)  # the model's values are before the design's casts ...
    for i, entry in enumerate(layers):  # ... but a quantized activation's are after QKeras' own: its input
        name, source = entry["name"], _source(layers, i)
        fn = _ELEMENTWISE.get(str(entry.get("activation"))) if entry.get("class") in ("Activation", "ReLU") else None
        if fn is not None and name in values and source in values and values[source].size == values[name].size:
            known[name] = fn(values[source]).reshape(values[name].shape)
    weights = {name: (w, w) for name, w in _float_kernels(model, layers).items()}  # before the kernel quantizer
    return _profiles(layers, weights, values, known)


def profile_data(design_or_model: Any, x: Any, engine: str | None = None, *,
                 layers: list[dict[str, Any]] | None = None) -> list[ValueProfile]:
    """Every profiled distribution of a design or a Keras/QKeras model on ``x``, in graph order (a layer's
    weights before its outputs). For a model, ``layers`` are the per-layer records of converting it (what
    ``fpga_accel.profiling.profile`` — ``fa.profile`` — gets from one in-memory conversion; analysis never
    converts); ``engine`` is for a design."""
    if is_model(design_or_model):
        if engine is not None:
            raise ConfigError("engine is for a converted design: a Keras model's activations are its own")
        if layers is None:
            raise ConfigError("a Keras model's types are the ones converting it derives: profile it with "
                              "fa.profile(model, x), which converts it in memory, or pass its layer records")
        out = _model_profiles(design_or_model, x, layers)
        name = getattr(design_or_model, "name", "model")
    else:
        if layers is not None:
            raise ConfigError("layers are for profiling a Keras model: a converted design has its types already")
        design = _as_design(design_or_model)
        out, name = _design_profiles(design, x, engine), design.name
    if not out:
        raise ConfigError(f"{name} has no traced layer or weights with a fixed-point type to profile"
                          + ("" if is_model(design_or_model) else
                             ": re-convert the project (`fpga-accel convert --force`)"))
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
    under = "n/a" if p.underflowed is None else f"{p.underflowed:.1%}"
    ax.text(0.99, 0.95, f"sat {p.saturated:.1%}  under {under}  step {p.step:.3g}",
            transform=ax.transAxes, ha="right", va="top", fontsize=7,
            color="C3" if p.saturated or p.underflowed else "0.3", gid="fractions")
    ax.tick_params(labelsize=7)


def profile(design_or_model: Any, x: Any, engine: str | None = None, *,
            layers: list[dict[str, Any]] | None = None) -> Any:
    """One matplotlib Figure for a design or a Keras/QKeras model (with ``layers``, see
    :func:`profile_data`): one axes per profiled distribution (a layer's weights, a layer's outputs on
    ``x``), each with its type's range shaded and bounded (``axvline`` at min and max), the step and the
    saturated/underflowed shares written on it. ``fig.profiles`` holds the :class:`ValueProfile` s."""
    import matplotlib.figure

    profiles = profile_data(design_or_model, x, engine, layers=layers)
    fig = matplotlib.figure.Figure(figsize=(6.4, 0.95 * len(profiles) + 0.6), layout="constrained")
    axes = fig.subplots(len(profiles), 1, squeeze=False)[:, 0]
    for ax, p in zip(axes, profiles):
        _draw(ax, p)
    name = getattr(design_or_model, "name", None) if is_model(design_or_model) else _as_design(design_or_model).name
    what = "the types converting it would derive" if is_model(design_or_model) else "their types"
    fig.suptitle(f"{name}: values against {what}", fontsize=9)
    fig.profiles = profiles  # type: ignore[attr-defined]
    return fig
