"""Fit before you build: resource and latency estimates for a converted design, in well under a second.

Read-only: works from the project's fpga_accel.json (sizes, operand types, reuse factors recorded by the
convert stage), so it needs neither hls4ml nor Vivado. What it predicts is **Vivado post-synthesis
utilisation** (what decides whether a design fits); ``figure="csynth"`` predicts Vivado HLS's C-synthesis
estimate instead, which runs ~1.7x (LUT) and ~3.3x (FF) higher on the calibration design.

How good it is: constants marked CALIBRATED were fitted to the one real xc7z020 design in the shared
fixtures (a 16→5 Dense, 16-bit operands, io_stream, RF 1); the estimator reproduces it exactly by
construction and has **no independent validation yet**. Constants marked GUESS are engineering
estimates, not measurements. Treat fits/does-not-fit near the margin as "build to find out".
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..boards import Board, get_board

# CALIBRATED on shared/fixtures/vivado_reports (80 DSP-mapped 16x16 products, 16-bit accumulators).
DSP_PER_WIDE_MULT = {"synth": 66 / 80, "csynth": 73 / 80}
LUT_PER_MULT_BIT = {"synth": 1526 / (80 * 16), "csynth": 2532 / (80 * 16)}
FF_PER_MULT_BIT = {"synth": 2428 / (80 * 16), "csynth": 7969 / (80 * 16)}
# GUESS (no calibration data yet): a product maps to a DSP48E1 when both operands exceed 10 bits; a
# LUT-built product by a constant weight (Vivado folds constants into shift-and-add) costs ~0.1*a*w LUTs
# plus ~0.25*(a+w) LUTs and FFs of adder tree and pipeline: ~7 LUTs for a 6x6-bit product.
DSP_MIN_WIDTH = 10
LUT_PER_PRODUCT_BIT = 0.1
TREE_PER_OPERAND_BIT = 0.25
# GUESS: AXI DMA (256-beat bursts), interconnect and reset logic of hls4ml's PYNQ-Z2 block design.
PLATFORM = {"lut": 2100, "ff": 3000, "dsp": 0, "bram36": 2}
BRAM18_BITS = 18432


def precision_bits(text: Optional[str]) -> int:
    """Width of an HLS precision string ('fixed<16,6,...>', 'ufixed<6,2>', 'int<8>'); 16 if unknown."""
    m = re.search(r"(?:fixed|int)<\s*(\d+)", text or "")
    return int(m.group(1)) if m else 16


@dataclass
class LayerEstimate:
    name: str
    kind: str
    reuse_factor: int = 1
    multiplications: int = 0
    multipliers: int = 0
    mapped_to: str = "-"
    dsp: float = 0.0
    lut: float = 0.0
    ff: float = 0.0
    bram36: float = 0.0
    latency_cycles: int = 0
    interval: int = 1


@dataclass
class Estimate:
    name: str
    board: str
    figure: str
    io_type: str
    clock_period_ns: float
    layers: List[LayerEstimate]
    margin: float
    total: Dict[str, float] = field(default_factory=dict)
    used_pct: Dict[str, float] = field(default_factory=dict)
    latency_cycles: int = 0
    interval: int = 1
    fits: bool = True
    dominant_layer: str = ""
    dominant_resource: str = ""

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self) | {"latency_ns": self.latency_ns}

    def format(self) -> str:
        predicted = ("Vivado post-synthesis utilisation" if self.figure == "synth"
                     else "Vivado HLS csynth estimate")
        head = f"{'layer':16s} {'kind':11s} {'RF':>4s} {'mults':>6s} {'map':>4s} {'DSP':>6s} {'LUT':>8s} " \
               f"{'FF':>8s} {'BRAM36':>7s} {'cycles':>7s} {'II':>6s}"
        lines = [f"estimate for {self.name} on {self.board} ({self.io_type}, {self.clock_period_ns:g} ns): "
                 f"predicts {predicted}", head, "-" * len(head)]
        for l in self.layers:
            lines.append(f"{l.name[:16]:16s} {l.kind[:11]:11s} {l.reuse_factor:4d} {l.multiplications:6d} "
                         f"{l.mapped_to:>4s} {l.dsp:6.0f} {l.lut:8.0f} {l.ff:8.0f} {l.bram36:7.1f} "
                         f"{l.latency_cycles:7d} {l.interval:6d}")
        lines.append("-" * len(head))
        t = self.total
        lines.append(f"{'total':16s} {'':11s} {'':4s} {'':6s} {'':4s} {t['dsp']:6.0f} {t['lut']:8.0f} {t['ff']:8.0f} "
                     f"{t['bram36']:7.1f} {self.latency_cycles:7d} {self.interval:6d}")
        pct = ", ".join(f"{k.upper()} {v:.1f}%" for k, v in self.used_pct.items())
        lines.append(f"board use: {pct}  (margin {self.margin:.0%} of each resource)")
        lines.append(f"latency {self.latency_cycles} cycles = {self.latency_ns:g} ns, interval {self.interval} cycles")
        verdict = "FITS" if self.fits else "DOES NOT FIT"
        lines.append(f"{verdict}: largest use is {self.dominant_resource.upper()}, dominated by layer "
                     f"{self.dominant_layer}")
        return "\n".join(lines)


def _spatial(layer: Mapping[str, Any]) -> int:
    shape = layer.get("shape") or [1]
    return int(math.prod(shape[:-1])) if len(shape) > 1 else 1


def estimate_layer(layer: Mapping[str, Any], io_type: str, figure: str = "synth",
                   reuse_factor: Optional[int] = None) -> LayerEstimate:
    kind = layer["class"]
    rf = int(reuse_factor or layer.get("reuse_factor") or 1)
    est = LayerEstimate(layer["name"], kind, rf)
    a = precision_bits(layer.get("input_precision"))
    out_bits = precision_bits(layer.get("precision"))
    if kind in ("Dense", "Conv1D", "Conv2D") and "rf_n_in" in layer:
        n_in, n_out = layer["rf_n_in"], layer["rf_n_out"]
        w = precision_bits(layer.get("weight_precision"))
        acc = precision_bits(layer.get("accum_precision"))
        nonzero = layer.get("n_nonzero_weights", n_in * n_out) / max(1, layer.get("n_weights", n_in * n_out))
        products = int(round(n_in * n_out * nonzero))
        est.multiplications = products * (1 if kind == "Dense" else _spatial(layer))
        est.multipliers = math.ceil(products / rf)
        wide = min(a, w) > DSP_MIN_WIDTH
        est.mapped_to = "DSP" if wide else "LUT"
        est.dsp = est.multipliers * DSP_PER_WIDE_MULT[figure] if wide else 0.0
        if wide:
            est.lut = est.multipliers * acc * LUT_PER_MULT_BIT[figure]
            est.ff = est.multipliers * acc * FF_PER_MULT_BIT[figure]
        else:
            est.lut = est.multipliers * (LUT_PER_PRODUCT_BIT * a * w + TREE_PER_OPERAND_BIT * (a + w))
            est.ff = est.multipliers * TREE_PER_OPERAND_BIT * (a + w)
        tree = math.ceil(math.log2(max(2, n_in)))
        if kind == "Dense":
            if io_type == "io_stream":  # CALIBRATED: the fixture's io_stream Dense has II 8, latency 10
                est.interval = max(rf, math.ceil(n_in / 2))
                est.latency_cycles = est.interval + tree - 2
            else:  # GUESS: pipelined multiply, adder tree, RF passes
                est.interval, est.latency_cycles = rf, rf + tree + 1
        else:  # GUESS: one output position per RF cycles (io_stream: per input pixel, line buffer)
            positions = (layer.get("in_height", 1) * layer.get("in_width", 1)) if io_type == "io_stream" \
                else _spatial(layer)
            est.interval = positions * rf
            est.latency_cycles = est.interval + tree + 2
            if io_type == "io_stream":  # GUESS: line buffer of (k-1) rows in SRLs, or BRAM when large
                bits = (layer.get("filt_height", 1) - 1) * layer.get("in_width", 1) * layer.get("n_chan", 1) * a
                est.bram36 = math.ceil(bits / (2 * BRAM18_BITS)) if bits > BRAM18_BITS else 0.0
                est.lut += 0 if est.bram36 else bits / 32
        if layer.get("strategy") == "resource" and layer.get("n_weights", 0) * w > 2048:  # GUESS
            est.bram36 = max(est.bram36, math.ceil(layer["n_weights"] * w / (2 * BRAM18_BITS)),
                             math.ceil(est.multipliers * w / 72))
    elif kind == "Softmax":  # exp and inverse tables in BRAM; GUESS for the logic
        n = int(math.prod(layer.get("shape") or [1]))
        est.bram36 = 2 * math.ceil(4096 * 18 / (2 * BRAM18_BITS))
        est.lut, est.ff = 40.0 * n, 60.0 * n
        est.latency_cycles, est.interval = 6 + math.ceil(math.log2(max(2, n))), 1
    elif kind in ("Input", "Reshape", "Transpose"):
        return est
    else:  # activations, pooling, BN: light per-element logic; GUESS
        n = int(math.prod(layer.get("shape") or [1]))
        per_cycle = n if io_type == "io_parallel" else max(1, n // max(1, _spatial(layer)))
        est.lut, est.ff = per_cycle * out_bits * 1.0, per_cycle * out_bits * 1.0
        if kind == "BatchNormalization":
            est.dsp = per_cycle * DSP_PER_WIDE_MULT[figure]
        est.interval = 1 if io_type == "io_parallel" else max(1, _spatial(layer))
        est.latency_cycles = est.interval + 1
    return est


def estimate_layers(layers: Sequence[Mapping[str, Any]], *, name: str, board: Board, io_type: str,
                    clock_period: float, figure: str = "synth", margin: float = 0.8,
                    reuse_factors: Optional[Mapping[str, int]] = None) -> Estimate:
    reuse_factors = reuse_factors or {}
    per_layer = [estimate_layer(l, io_type, figure, reuse_factors.get(l["name"])) for l in layers]
    inputs = next((l for l in layers if l["class"] == "Input"), None)
    n_in = int(math.prod(inputs["shape"])) if inputs else 1
    n_out = int(math.prod(layers[-1]["shape"])) if layers else 1
    wrapper = LayerEstimate("axi_wrapper", "AXI stream", 1, lut=(n_in + n_out) * 2.0 + PLATFORM["lut"],
                            ff=(n_in + n_out) * 4.0 + PLATFORM["ff"], bram36=PLATFORM["bram36"],
                            latency_cycles=n_in + n_out, interval=max(n_in, n_out))
    per_layer.append(wrapper)  # one word per cycle in and out: II >= max(N_IN, N_OUT)
    total = {k: round(sum(getattr(l, k) for l in per_layer), 1) for k in ("dsp", "lut", "ff", "bram36")}
    capacity = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram36": board.bram36}
    used = {k: round(100.0 * total[k] / capacity[k], 1) for k in capacity}
    resource = max(used, key=lambda k: used[k])
    dominant = max(per_layer[:-1] or per_layer, key=lambda l: getattr(l, resource))
    return Estimate(name=name, board=board.name, figure=figure, io_type=io_type, clock_period_ns=clock_period,
                    layers=per_layer, margin=margin, total=total, used_pct=used,
                    latency_cycles=sum(l.latency_cycles for l in per_layer),
                    interval=max(l.interval for l in per_layer),
                    fits=all(total[k] <= margin * capacity[k] for k in capacity),
                    dominant_layer=dominant.name, dominant_resource=resource)


def estimate(design: Any, board: Optional[str] = None, figure: str = "synth", margin: float = 0.8) -> Estimate:
    """Estimate a converted design (a ``Design`` or anything with its ``meta`` dict)."""
    meta = design.meta.to_dict() if hasattr(design, "meta") else design  # a Design, or its fpga_accel.json
    return estimate_layers(meta["layers"], name=meta["name"], board=get_board(board or meta["board"]),
                           io_type=meta["io_type"], clock_period=meta["clock_period"], figure=figure, margin=margin)


def choose_reuse_factors(layers: Sequence[Mapping[str, Any]], *, board: Board, io_type: str, clock_period: float,
                         margin: float = 0.8, name: str = "design") -> tuple[Dict[str, int], Estimate]:
    """The smallest reuse factor per layer (among hls4ml's valid values) whose estimate fits the board.

    Greedy: while the design does not fit, step up the reuse factor of the layer using most of the
    binding resource. Raises ValueError when even the largest reuse factors do not fit.
    """
    options = {l["name"]: l["valid_reuse_factors"] for l in layers if l.get("valid_reuse_factors")}
    chosen = {n: v[0] for n, v in options.items()}
    while True:
        est = estimate_layers(layers, name=name, board=board, io_type=io_type, clock_period=clock_period,
                              margin=margin, reuse_factors=chosen)
        if est.fits:
            return chosen, est
        capacity = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram36": board.bram36}
        over = [k for k in capacity if est.total[k] > margin * capacity[k]]
        resource = max(over, key=lambda k: est.total[k] / capacity[k])
        candidates = [l for l in est.layers if l.name in options and chosen[l.name] != options[l.name][-1]]
        if not candidates:
            raise ValueError(f"does not fit {board.name} even at the largest reuse factors: "
                             f"{resource.upper()} at {est.used_pct[resource]:.0f}%")
        worst = max(candidates, key=lambda l: getattr(l, resource))
        values = options[worst.name]
        chosen[worst.name] = values[values.index(chosen[worst.name]) + 1]
