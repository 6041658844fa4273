"""The calibration set: published hls4ml synthesis reports with the configuration that produced them.

Why: the estimator's constants must be fitted on, and its error measured against, real Vivado HLS /
Vivado numbers rather than one design. Each ``designs/*.json`` file is one design (schema in README.md
next to this file); :func:`load_designs` reads and validates them all, so a malformed file fails loudly
with its name instead of skewing a benchmark. Read-only, numpy-free, no hls4ml needed.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

__all__ = ["CalibrationError", "Provenance", "Figure", "CalibrationDesign", "DESIGNS_DIR", "load_design",
           "load_designs", "estimator_layers", "SCOPE_RULE"]

DESIGNS_DIR = Path(__file__).parent / "designs"
# Decided before looking at any design's error, from what the estimator's rules describe (issue 23): a design
# whose file carries ``out_of_scope`` (the reason) is excluded from the fit and the bands. Checked on the
# committed firmware at the cited commit (benchmarks/estimate_accuracy_scope.py, run over local snapshots).
SCOPE_RULE = ("the model describes hls4ml 0.5 and later as released: a design is out of scope when its "
              "nnet_utils are of hls4ml older than 0.5 (the 'large' kernels dense_large / conv_2d_large), or when "
              "a synthesised nnet_utils header matches no commit of fastmachinelearning/hls4ml (ignoring line "
              "ends, whitespace, comments, prints and #include lines): modified by the author or from a fork; or when "
              "the author edited what hls4ml wrote into the project so that the hardware changes (an HLS directive "
              "added to build_prj.tcl, such as config_op binding every product to DSPs or to LUTs; the top function's "
              "DATAFLOW pragma removed)")
RESOURCES = ("lut", "ff", "dsp")
CONV_CLASSES = ("Conv1D", "Conv2D", "Conv2DBatchnorm")
GLOBAL_POOL_CLASSES = ("GlobalPooling1D", "GlobalPooling2D")


class CalibrationError(ValueError):
    """A calibration file is missing a field or holds an inconsistent number (the message names the file)."""


@dataclass(frozen=True)
class Provenance:
    repository: str
    commit: str
    paths: Dict[str, str]
    tool: str
    tool_version: str
    part: str
    clock_ns: float
    synth_tool_version: Optional[str] = None
    synth_part: Optional[str] = None
    origin: str = ""

    @property
    def group(self) -> str:
        """The independent source this design belongs to, for leave-one-source-out cross-validation:
        ``provenance.source`` when the file names one (a tutorial's design re-synthesised in another user's
        repository belongs to the tutorial), else the repository's owner (one author, one source)."""
        return (self.origin or self.repository.split("/")[0]).lower()


@dataclass(frozen=True)
class Figure:
    """One report's totals. ``bram18`` for C-synthesis (BRAM_18K), ``bram36`` tiles for Vivado."""

    lut: int
    ff: int
    dsp: int
    bram18: Optional[float] = None
    bram36: Optional[float] = None
    latency_min: Optional[int] = None
    latency_max: Optional[int] = None
    interval_min: Optional[int] = None
    interval_max: Optional[int] = None
    scope: str = ""
    instances: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def wrapped(self) -> bool:
        """Whether the report is of the IP with hls4ml's AXI wrapper around it (``myproject_axi``), as its
        ``scope`` says, rather than of the hls4ml top alone: the estimate it is compared with must then
        carry the wrapper too (:func:`fpga_accel.analysis.estimate.axi_wrapper_cost`)."""
        text = self.scope.lower()
        return "wrapper" in text and "no axi wrapper" not in text

    @property
    def bram36_equiv(self) -> float:
        """BRAM in 36 Kb tiles, whichever unit the report used."""
        return float(self.bram36) if self.bram36 is not None else float(self.bram18 or 0) / 2.0


@dataclass(frozen=True)
class CalibrationDesign:
    id: str
    kind: str
    partial: bool
    notes: List[str]
    provenance: Provenance
    io_type: str
    strategy: Optional[str]
    reuse_factors: List[int]
    weight_bits: List[int]
    input_precision: str
    layers: List[Dict[str, Any]]
    csynth: Figure
    synth: Optional[Figure] = None
    source: str = ""
    nnet_utils: str = ""
    out_of_scope: str = ""

    @property
    def in_scope(self) -> bool:
        """Whether the estimator's model describes this design (see :data:`SCOPE_RULE`): designs outside it
        are kept in the set as data but never fitted on nor used for the error bands."""
        return not self.out_of_scope

    @property
    def figures(self) -> Dict[str, Figure]:
        return {"csynth": self.csynth, **({"synth": self.synth} if self.synth else {})}


def _req(d: Mapping[str, Any], key: str, where: str, kinds: Any) -> Any:
    if key not in d or d[key] is None:
        raise CalibrationError(f"{where}: missing '{key}'")
    if isinstance(d[key], bool) or not isinstance(d[key], kinds):
        raise CalibrationError(f"{where}: '{key}' should be {kinds}, got {d[key]!r}")
    return d[key]


def _figure(d: Mapping[str, Any], where: str, csynth: bool) -> Figure:
    for k in RESOURCES:
        if _req(d, k, where, (int, float)) < 0:
            raise CalibrationError(f"{where}: '{k}' is negative")
    if csynth:
        if "bram36" in d:
            raise CalibrationError(f"{where}: C-synthesis reports BRAM_18K; use 'bram18', not 'bram36'")
        bram18 = _req(d, "bram18", where, (int, float))
        lo, hi = _req(d, "latency_min", where, int), _req(d, "latency_max", where, int)
        if not 0 <= lo <= hi:
            raise CalibrationError(f"{where}: latency_min {lo} > latency_max {hi} or negative")
        ilo, ihi = d.get("interval_min"), d.get("interval_max")
        if ilo is not None and ihi is not None and not 0 <= ilo <= ihi:
            raise CalibrationError(f"{where}: interval_min {ilo} > interval_max {ihi}")
        return Figure(lut=d["lut"], ff=d["ff"], dsp=d["dsp"], bram18=bram18, latency_min=lo, latency_max=hi,
                      interval_min=ilo, interval_max=ihi, instances=list(d.get("instances", [])))
    bram36 = _req(d, "bram36", where, (int, float))
    if d.get("ramb18") is not None and d.get("ramb36") is not None and \
            not math.isclose(d["ramb36"] + d["ramb18"] / 2.0, bram36, abs_tol=0.5):
        raise CalibrationError(f"{where}: RAMB36 {d['ramb36']} + RAMB18 {d['ramb18']}/2 != Block RAM Tile {bram36}")
    return Figure(lut=d["lut"], ff=d["ff"], dsp=d["dsp"], bram36=bram36, scope=_req(d, "scope", where, str))


def _layer(d: Mapping[str, Any], where: str) -> Dict[str, Any]:
    cls = _req(d, "class", where, str)
    _req(d, "name", where, str)
    if cls == "Dense" or cls in CONV_CLASSES:
        for k in ("n_in", "n_out", "reuse_factor"):
            if _req(d, k, where, int) <= 0:
                raise CalibrationError(f"{where}: '{k}' must be positive")
        _req(d, "weight_precision", where, str)
        w = d.get("weights") or {}
        if "n_weights" in w and w["n_weights"] != d["n_in"] * d["n_out"]:
            raise CalibrationError(f"{where}: weights.n_weights {w['n_weights']} != n_in*n_out {d['n_in'] * d['n_out']}")
        if "n_nonzero" in w and not 0 <= w["n_nonzero"] <= w["n_weights"]:
            raise CalibrationError(f"{where}: weights.n_nonzero out of range")
    return dict(d)


def load_design(path: Path) -> CalibrationDesign:
    """Read and validate one design file; raises :class:`CalibrationError` naming the file."""
    name = Path(path).name
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{name}: not valid JSON ({exc})") from exc
    if _req(raw, "id", name, str) != Path(path).stem:
        raise CalibrationError(f"{name}: id '{raw['id']}' does not match the file name")
    p = _req(raw, "provenance", name, dict)
    paths = _req(p, "paths", f"{name} provenance", dict)
    _req(paths, "csynth", f"{name} provenance.paths", str)
    if not re.fullmatch(r"[0-9a-f]{40}", p.get("commit") or "") and not raw.get("partial"):
        raise CalibrationError(f"{name}: provenance.commit must be a 40-hex commit unless the design is 'partial'")
    clock = _req(p, "clock_ns", f"{name} provenance", (int, float))
    if clock <= 0:
        raise CalibrationError(f"{name}: clock_ns must be positive")
    prov = Provenance(repository=_req(p, "repository", f"{name} provenance", str), commit=_req(p, "commit", f"{name} provenance", str),
                      paths=dict(paths), tool=_req(p, "tool", f"{name} provenance", str),
                      tool_version=_req(p, "tool_version", f"{name} provenance", str),
                      part=_req(p, "part", f"{name} provenance", str), clock_ns=float(clock),
                      synth_tool_version=p.get("synth_tool_version"), synth_part=p.get("synth_part"),
                      origin=str(p.get("source") or ""))
    d = _req(raw, "design", name, dict)
    io = _req(d, "io_type", f"{name} design", str)
    if io not in ("io_parallel", "io_stream"):
        raise CalibrationError(f"{name}: io_type '{io}' is neither io_parallel nor io_stream")
    layers = [_layer(l, f"{name} layer {i}") for i, l in enumerate(_req(d, "layers", f"{name} design", list))]
    if not layers:
        raise CalibrationError(f"{name}: no layers")
    rep = _req(raw, "reported", name, dict)
    synth = rep.get("synth")
    if synth is not None and "synth" not in paths:
        raise CalibrationError(f"{name}: a Vivado figure needs provenance.paths.synth")
    return CalibrationDesign(
        id=raw["id"], kind=_req(raw, "kind", name, str), partial=bool(raw.get("partial", False)),
        notes=list(raw.get("notes", [])), provenance=prov, io_type=io, strategy=d.get("strategy"),
        reuse_factors=list(d.get("reuse_factors", [])), weight_bits=list(d.get("weight_bits", [])),
        input_precision=_req(d, "input_precision", f"{name} design", str), layers=layers,
        csynth=_figure(_req(rep, "csynth", name, dict), f"{name} reported.csynth", csynth=True),
        synth=_figure(synth, f"{name} reported.synth", csynth=False) if synth is not None else None,
        source=str(path), nnet_utils=str(raw.get("nnet_utils") or ""),
        out_of_scope=str(raw.get("out_of_scope") or ""))


def load_designs(directory: Optional[Path] = None) -> List[CalibrationDesign]:
    """Every design of the set, sorted by id."""
    files = sorted(Path(directory or DESIGNS_DIR).glob("*.json"))
    return [load_design(f) for f in files]


def _spatial_out(layer: Mapping[str, Any]) -> Optional[List[int]]:
    if "out_height" in layer or "out_width" in layer:
        spatial = [layer[k] for k in ("out_height", "out_width") if k in layer]
        return spatial + [layer.get("n_filt", layer.get("n_chan", layer.get("n_out", 1)))]
    return None


def _in_shape(layer: Mapping[str, Any]) -> Optional[List[int]]:
    if "in_width" in layer:
        return [layer[k] for k in ("in_height", "in_width") if k in layer] + \
            [layer.get("n_chan", layer.get("n_filt", 1))]
    return None


def _nonzero(layer: Mapping[str, Any], n_weights: int) -> int:
    """Non-zero weights: counted in the committed weights; else hls4ml's n_zeros; else the pruning target."""
    w = layer.get("weights") or {}
    if "n_nonzero" in w:
        return int(w["n_nonzero"])
    if "n_zeros" in layer:
        return n_weights - int(layer["n_zeros"])
    if "pruned_fraction_target" in w:
        return int(round(n_weights * (1 - float(w["pruned_fraction_target"]))))
    return n_weights


def estimator_layers(design: CalibrationDesign) -> List[Dict[str, Any]]:
    """The design as the per-layer records ``fpga_accel.analysis.estimate`` reads from fpga_accel.json.

    Layer classes pass through unchanged (so a class the estimator does not know shows up as such);
    non-zero weights come from the committed weights when known, else from hls4ml's n_zeros, else from
    the pruning target; powers of two from the weights (0 when unknown, the same default as old projects).
    The stored weight counts (``weights.n_nonzero``, ``n_pow2``, ``n_csd_digits``) are those of
    :func:`fpga_accel.analysis.weight_stats.weight_stats` on the committed weight files — the ruler convert
    and the project parser use — and become the estimator's ``n_nonzero_weights``, ``n_pow2_weights`` and
    ``n_csd_digits``.
    Output shapes are the layer's own sizes, else the next layer's input sizes (what the FIFO holds).
    """
    layers = design.layers
    first = layers[0]
    in_shape = _in_shape(first) or [first.get("n_in", 1)]
    records: List[Dict[str, Any]] = [{"name": "input", "class": "Input", "shape": in_shape,
                                      "precision": design.input_precision}]
    prev_shape = in_shape
    for i, layer in enumerate(layers):
        cls = layer["class"]
        nxt = _in_shape(layers[i + 1]) if i + 1 < len(layers) else None
        if cls == "Dense":
            shape = [layer["n_out"]]
        elif cls in GLOBAL_POOL_CLASSES and layer.get("n_filt"):  # one value per channel (n_in: the steps read)
            shape = [layer["n_filt"]]
        else:
            shape = _spatial_out(layer) or nxt
            if shape is None or (layer.get("n_in") and math.prod(shape) != layer["n_in"]
                                 and cls not in CONV_CLASSES and math.prod(prev_shape) == layer["n_in"]):
                n = layer.get("n_in")
                shape = prev_shape if n is None or n == math.prod(prev_shape) else [n]
        rec: Dict[str, Any] = {"name": layer["name"], "class": cls, "shape": shape,
                               "reuse_factor": layer.get("reuse_factor", 1),
                               "input_precision": layer.get("input_precision"),
                               "precision": layer.get("result_precision") or layer.get("input_precision")}
        for k in ("in_height", "in_width", "n_chan", "filt_height", "filt_width", "pool_height", "pool_width",
                  "activation", "config", "weight_precision"):
            if layer.get(k) is not None:
                rec[k] = layer[k]
        if cls == "Dense" or cls in CONV_CLASSES:
            n_weights = layer["n_in"] * layer["n_out"]
            w = layer.get("weights") or {}
            rec.update(n_in=layer["n_in"], n_out=layer["n_out"], rf_n_in=layer["n_in"], rf_n_out=layer["n_out"],
                       accum_precision=layer.get("accum_precision"), n_weights=n_weights,
                       n_nonzero_weights=_nonzero(layer, n_weights), strategy=layer.get("strategy", "latency"))
            if "n_pow2" in w:
                rec["n_pow2_weights"] = int(w["n_pow2"])
            if "n_csd_digits" in w:
                rec["n_csd_digits"] = int(w["n_csd_digits"])
            if cls == "Conv1D":
                rec.setdefault("filt_height", 1)
        records.append(rec)
        prev_shape = shape or prev_shape
    return records
