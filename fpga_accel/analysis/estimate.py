"""Fit before you build: resource and latency estimates of an hls4ml design, in well under a second.

Read-only and numpy-free: works from per-layer records (sizes, operand types, reuse factor, strategy,
weight statistics) — those a converted project stores in ``fpga_accel.json``, those
:mod:`fpga_accel.hls.foreign_project` parses from any hls4ml project, or those of the calibration set.

The model is analytical and explainable per layer: every layer is broken into *terms* (a count of things
HLS builds, e.g. "LUT-built constant products' adders × input bits", "FIFO channels deeper than 32 words"),
and a resource is the sum of terms times one constant each. What HLS builds, as modelled (see ``TERMS``
and ``LATENCY_TERMS``, each with what it counts and its prior):

- **Constant multiplications (Latency strategy)**: zero weights cost nothing, ±2^k weights are shifts.
  Products with both operands ≥ 10 bits go to DSPs, capped by hls4ml's multiplier limit ceil(weights / RF)
  (then time-shared through input multiplexers) — but only a share of them (:func:`dsp_share`, from the
  weights' signed digits: simple constants become shift-and-add circuits); wider than the DSP48 port
  (25 × 18) they need DSP cascades plus LUT glue. Narrower products are shift-and-add circuits costed by
  their adders (signed digits beyond the first). At reuse factor ≥ 8 HLS spreads a LUT-built kernel over
  several cycles and registers its partial sums (depth and FF grow with log2 RF).
- **Part speed and clock**: HLS cuts a product and its accumulation into as many register stages as the
  clock needs (:func:`pipeline_stages`: the 7-series path delay of the part's speed grade over the clock
  period less the tool's uncertainty), and registers every stage: FF grow with those stages, from none at
  25 ns to ~2.7 extra stages at 5 ns on a -1 part. A -1 7-series part at ≤ 8 ns ('7series-slow') also takes
  more cycles; UltraScale DSP48E2 kernels take 0–2 cycles; softmax is slower on slow parts.
- **Resource strategy**: ceil(weights / RF) real multipliers fed from weight memories (BRAM, one column of
  width bits per multiplier), accumulators and input selection in LUTs; zeros are not skipped.
- **Element-wise layers**: a type that rounds or saturates (AP_RND*, AP_SAT*) costs more LUTs per element.
- **io_stream**: one FIFO per channel between layers; deeper than 32 words they take BRAM, else SRLs.
  Latency is dataflow-overlapped: the slowest layer plus a fill delay per other layer. Convolutions run
  one input pixel per cycle (× the products' II); Vitis HLS line buffers take extra cycles per pixel.
- **io_parallel**: the layers' latencies add up; the interval is the slowest layer's.
- Every hls4ml layer class that convert can produce has a rule; a class without one is a flagged row
  (``Estimate.unknown_layers``), never silently free, and its design is never called FITS.

The constants are fitted on the calibration set (``fpga_accel/analysis/calibration``) by
``fpga_accel.analysis.fit`` and stored in ``estimator_constants.json`` next to this file, with the error
band of each figure: the 10–90 % quantiles of published ÷ estimate under leave-one-**source**-out
cross-validation (of the design's io type, strategy or regime where the fit found that to hold more often:
:func:`band_factors`, :func:`layer_regime`),
and the band's measured coverage (``make estimate-accuracy``).
``figure="csynth"`` predicts Vivado/Vitis HLS's C-synthesis report; ``figure="synth"`` (default) predicts
Vivado post-synthesis utilisation, as the C-synthesis estimate times a per-resource ratio fitted on the
designs that published both (FIFO and table BRAM, DSP-port overflow and DSP48E1 operand registers have
their own ratios). :func:`verdict` is the one function that decides FITS / DOES NOT FIT / UNCERTAIN.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..boards import Board, get_board
from .weight_stats import precision_width, type_problem

__all__ = ["part_family", "pipeline_stages", "clock_uncertainty", "part_dsps", "dsp_overflow", "synth_ratio", "speed_grade", "LayerEstimate", "Estimate", "Constants", "TERMS", "LATENCY_TERMS", "load_constants", "precision_bits",
           "layer_terms", "design_terms", "estimate_layer", "estimate_layers", "estimate", "axi_wrapper_cost",
           "KNOWN_CLASSES", "verdict", "VERDICTS", "band_factors", "design_kinds", "design_regime", "layer_regime", "kind_value",
           "REGIMES", "REGIME_RULE", "dsp_ceiling", "dsp_share", "rounds_or_saturates",
           "slow_line_buffer", "table_blocks"]


CONSTANTS_FILE = Path(__file__).parent / "estimator_constants.json"
RESOURCES = ("lut", "ff", "dsp", "bram18")
METRICS = ("lut", "ff", "dsp", "bram36", "latency")
BRAM18_BITS = 18432
WIDE_BITS = 10      # both operands at least this wide: a constant product is worth a DSP
SLOW_CLOCK_NS = 8.0  # a -1 7-series part is "slow" (extra DSP pipeline stages) at this clock period or shorter
# A 7-series -1 constant product plus its accumulation, unregistered (see pipeline_stages). Chosen by
# leave-one-source-out over 6-30 ns on the calibration set (the hold-out not looked at), by the mean of the
# C-synthesis and Vivado FF medians: flat from 8 ns (C-synthesis 22.3-22.4 %), Vivado 15.9 % at 8, 14.4 % at
# 10-12, 13.2 % at 16-20, 14.2-14.3 % at 24-30; 16 the shorter of the tie.
DSP48E1_PATH_NS = 16.0
SPEED_GRADE_DELAY = {1: 1.0, 2: 0.86, 3: 0.75}  # 7-series path delay by speed grade, relative to -1 (data sheets)
CLOCK_UNCERTAINTY = (("vitis", 0.27), ("", 0.125))  # HLS's default clock uncertainty by tool (first match)
FIFO_SRL_DEPTH = 32  # FIFOs this deep or shallower are SRLs (SVHN: 36-deep in BRAM; zu9: 25-deep in SRL)
FIFO_LUTRAM_BITS = 1024  # FIFOs of at most this many bits per channel: BRAM in C-synthesis, LUTRAM in Vivado

# What each term counts, and the engineering prior its constant is pulled towards when fitting.
TERMS: Dict[str, Tuple[str, float]] = {
    "dsp.const_wide": ("DSPs needed by constant products with both operands >= 10 bits, at most ceil(weights/RF) "
                       "(Dense/Conv weights, BatchNormalization scales)", 0.9),
    "dsp.const_narrow": ("DSPs needed by constant products with an operand < 10 bits (HLS puts few on DSPs)", 0.05),
    "dsp.narrow_shared": ("DSPs of narrow products (an operand < 10 bits) that the multiplier limit ceil(weights/RF) "
                          "time-shares: a shared multiplier takes its weight from a multiplexer, so it is no longer a "
                          "constant product and HLS builds it on a DSP (SVHN 6-bit at RF 256: 2/4/6/4/3 DSPs per layer, "
                          "the limit of each). From RF 8 on (at RF 2 they stay constant products)", 1.0),
    "dsp.const_port": ("DSPs needed by constant products with both operands >= 10 bits and one wider than the DSP48 "
                       "port (25 x 18: a 28 x 12 product needs 2), at most ceil(weights/RF) x that", 0.9),
    "dsp.generic": ("DSPs needed by the Resource strategy's multipliers (weights from memory) wider than 10 bits", 1.0),
    "dsp.param_act": ("DSPs of parametrised activations (LeakyReLU, ELU, PReLU: a product by alpha per element)", 0.5),
    "dsp.softmax": ("softmax elements (one product each, by the inverse of the sum)", 1.0),
    "lut.narrow_mult_bit": ("LUT-built constant products x input bits x weight bits (not zeros, not powers of two)", 0.3),
    "lut.csd_bit": ("LUT-built constant products: their shift-and-add adders (non-zero signed digits beyond the first "
                    "per weight, from n_csd_digits; ~w/3 digits per weight when unknown) x input bits", 1.0),
    "lut.wide_mult_bit": ("DSP-mapped constant products x input bits x weight bits (glue, the few LUT-built ones)", 0.1),
    "lut.add_bit": ("accumulations (one per non-zero product, shifts included) x accumulator bits", 1.0),
    "lut.share_bit": ("products time-shared through a DSP (Latency strategy, RF > 1) x input bits: multiplexers", 1.0),
    "lut.generic_mult_bit": ("Resource-strategy multipliers built in LUTs x input bits x weight bits", 0.5),
    "lut.resource_bit": ("Resource strategy: (multipliers + outputs) x accumulator bits (accumulators, selection)", 2.0),
    "lut.elem_bit": ("element-wise layers: elements per cycle x (input + output bits)", 1.5),
    "lut.pool_bit": ("pooling: elements per cycle x input bits x window size", 3.0),
    "lut.softmax_bit": ("softmax: elements x input bits", 10.0),
    "lut.stream_bit": ("io_stream layer ports: channels x (input + output bits)", 2.0),
    "lut.fifo_srl_bit": ("io_stream FIFOs of <= 32 words, in SRLs: channels x bits", 0.5),
    "lut.fifo": ("io_stream FIFOs in BRAM: channels (read/write pointers, full/empty flags)", 50.0),
    "lut.pipo_bit": ("io_parallel dataflow (Resource layers or convolutions): bits of the arrays between layers", 1.0),
    "lut.layer": ("layers (control logic of each HLS function)", 100.0),
    "lut.kernel": ("Dense/Conv layers (loop control, weight indexing)", 200.0),
    "lut.window_bit": ("io_stream convolutions: the sliding window, kernel x channels x input bits", 0.5),
    "lut.round_sat_bit": ("element-wise layers whose output type rounds (AP_RND*) or saturates (AP_SAT*): elements "
                          "per cycle x input bits. A relu into ufixed<6,0,AP_RND,AP_SAT> cost ~105 LUT per element "
                          "(jet tagger, SVHN 6-bit) against ~45 for the same relu into its input type", 3.0),
    "lut.acc_round_sat_bit": ("Dense/Conv layers whose accumulator type rounds or saturates (fixed<24,16,RND,SAT>): "
                              "2 x multipliers (Resource) or products (Latency) x accumulator bits — each product's "
                              "cast into the accumulator and each accumulation round and saturate: the element-wise "
                              "layers' logic twice per product (1-D CNN encoders with such accumulators spent ~7.4 "
                              "LUT per multiplier x accumulator bit more than estimated, in every layer alike)", 3.0),
    "lut.port_bit": ("Latency-strategy constant products with an operand wider than the DSP48 port (25 x 18): products "
                     "x input bits x weight bits (HLS builds the overflow in LUTs around the DSP: ~375 LUT per "
                     "28 x 12 product in one C-synthesis report, far fewer for 22-28 x 18 products on an xczu3eg)", 0.3),
    "ff.mult_bit": ("instantiated products (DSP or LUT) x accumulator bits: pipeline registers", 1.0),
    "ff.dsp_bit_7s": ("7-series parts: DSP-mapped constant products x accumulator bits (HLS registers the DSP48E1's "
                      "operands in fabric; ~29 FF per 16-bit product on xc7vx690t-3, ~4 on UltraScale)", 1.0),
    "ff.dsp_stage_bit": ("7-series parts: DSP-mapped constant products x accumulator bits x the extra register "
                         "stages the clock needs (pipeline_stages: 2.7 on xc7z020-1 at 5 ns with Vivado HLS, 0.8 at 10 ns, "
                         "0 at 25 ns): ~115 FF per 16-bit product on xc7z020-1 at 5 ns, ~3 at 25 ns", 3.0),
    "ff.lut_stage_bit": ("7-series parts: LUT-built constant products (non-zero, shifts included) x accumulator bits x "
                         "the extra register stages the clock needs (pipeline_stages): the registers of adder trees "
                         "that do not fit a cycle (an HGQ jet tagger on xc7z020-1 at 5 ns: 20.8k FF where a fast part "
                         "needs ~3k)", 0.8),
    "ff.port_bit": ("constant products wider than the DSP48 port: products x accumulator bits (the registers of "
                    "the DSP cascade and its LUT glue)", 1.0),
    "ff.stream_in_bit": ("io_stream Dense layers: inputs x input bits (hls4ml gathers the whole input vector from "
                         "its stream into registers before the product: a 784-input Resource Dense took 38k FF)", 2.0),
    "ff.share_bit": ("products time-shared through a DSP x input bits", 1.0),
    "ff.fanout_bit": ("Resource-strategy io_stream Dense layers: inputs x input bits x log2(multipliers), on top of "
                      "ff.stream_in_bit — the registers that fan the gathered input out to the time-shared "
                      "multipliers (published: 1.0 FF per input bit at 1 multiplier, 3.0 at 16, 4.0 at 56, 4.1 at "
                      "120, 5.8 at 512)", 0.5),
    "ff.resource_bit": ("Resource strategy: (multipliers + outputs) x accumulator bits", 2.0),
    "ff.elem_bit": ("element-wise and pooling layers: elements per cycle x (input + output bits)", 1.0),
    "ff.pool_bit": ("pooling: elements per cycle x input bits x window size (the window's registers: 2x2 pools "
                    "spent 7-11 FF per channel-bit, 4x4 pools 27-78, where an io_stream ReLU spends ~3 FF in all)", 2.0),
    "ff.softmax_bit": ("softmax: elements x input bits", 5.0),
    "ff.stream_bit": ("io_stream layer ports: channels x (input + output bits)", 2.0),
    "ff.layer": ("layers (control registers)", 50.0),
    "ff.kernel": ("Dense/Conv layers (loop counters, weight indices, output registers)", 300.0),
    "ff.window_bit": ("io_stream convolutions: the sliding window, kernel x channels x input bits", 1.0),
    "ff.fifo": ("io_stream FIFOs in BRAM: channels", 30.0),
    "ff.rf_pipe_bit": ("Latency-strategy kernels with LUT-built products at reuse factor >= 8: products x accumulator "
                       "bits x min(1, (log2(RF) - 2) / 4). HLS spreads such a kernel over several cycles and registers "
                       "the partial sums: the 6-bit tutorial jet tagger at RF 64 spent 3.1k/5.5k/4.7k FF on its "
                       "Dense layers, ~1.3 FF per product-bit, 4-5x the same kernels at RF 1)", 1.0),
    "ff.pipo_bit": ("io_parallel dataflow: bits of the arrays between layers", 0.5),
    "bram18.resource_weights": ("Resource strategy weight memories: ceil(multipliers x weight bits / 36) BRAM18", 1.0),
    "bram18.fifo": ("io_stream FIFOs deeper than 32 words: one per channel, ceil(depth x bits / 18 Kb) BRAM18 each", 1.0),
    "bram18.fifo_small": ("io_stream FIFOs deeper than 32 words of at most FIFO_LUTRAM_BITS (1,024) bits per channel: "
                          "BRAM18s in C-synthesis, which Vivado builds from LUTRAM (SVHN: its 32 such BRAM18 gone, "
                          "its deeper ones kept; 4 of 4, 12 of 12 and 59 of 64 in three other CNNs)", 1.0),
    "bram18.table": ("lookup tables: softmax (exp + inverse) counts 2, sigmoid/tanh/... 1", 1.5),
}
# Latency constants (cycles), fitted by a 1-D search each (see fit.py); defaults are the priors.
LATENCY_TERMS: Dict[str, Tuple[str, float]] = {
    "lat.dense_depth": ("pipeline depth of a Latency-strategy Dense/Conv kernel with DSP products, cycles", 3.0),
    "lat.lut_depth": ("pipeline depth of a Latency-strategy Dense/Conv kernel with LUT-built (narrow) products, cycles", 1.0),
    "lat.slow_depth": ("extra pipeline depth of a kernel with DSP products on a '7series-slow' part, cycles", 1.0),
    "lat.dense_depth_us": ("pipeline depth of a Latency-strategy Dense/Conv kernel with DSP products on an UltraScale "
                           "part (DSP48E2 at -2: 0-2 cycles at 5 ns), cycles", 1.0),
    "lat.rf_depth": ("Latency-strategy kernels with LUT-built products at reuse factor >= 8: cycles per doubling of "
                     "the reuse factor beyond 4 (HLS pipelines them over several cycles: 8-14 at RF 64, 6-bit; "
                     "0-1 at RF 2)", 2.5),
    "lat.vitis_px": ("io_stream convolutions built by Vitis HLS 2023 or newer (layer record 'hls_tool', see "
                     "slow_line_buffer): cycles per input pixel beyond the products' initiation interval. Vitis HLS "
                     "2023-24 ran hls4ml's line buffer at 3-6 cycles per padded input pixel; Vitis HLS 2022.1 and "
                     "Vivado HLS 2019-20 at 1 (the base term)", 2.0),
    "lat.resource_depth": ("pipeline depth added to the RF cycles of a Resource-strategy kernel", 4.0),
    "lat.resource_pixel": ("cycles added to RF per input pixel by a Resource-strategy io_stream convolution", 12.0),
    "lat.elem": ("latency of an element-wise / pooling layer beyond its pixels, cycles", 1.0),
    "lat.softmax": ("latency of a softmax, cycles", 4.0),
    "lat.softmax_slow": ("extra latency of a softmax on a '7series-slow' part, cycles", 4.0),
    "lat.fill": ("io_stream: cycles each non-dominant layer adds to the slowest one's latency", 2.0),
    "lat.parallel_step": ("io_parallel on 7-series parts: cycles each Dense/Conv kernel adds beyond its depth (the "
                          "registers between functions; UltraScale jet taggers showed none)", 1.0),
}


Constants = Dict[str, Any]


def default_constants() -> Constants:
    """The engineering priors: what the estimator uses when nothing was fitted (no band: unknown error)."""
    return {"csynth": {k: v[1] for k, v in TERMS.items()}, "latency": {k: v[1] for k, v in LATENCY_TERMS.items()},
            "synth_ratio": {"lut": 0.5, "ff": 0.8, "dsp": 1.0, "bram18": 0.7},
            "synth_term_ratio": {"ff.dsp_bit_7s": 0.1, "ff.dsp_stage_bit": 0.1, "ff.pool_bit": 0.5, "bram18.fifo": 0.8,
                                 # small FIFOs: Vivado builds them from LUTRAM (the fit cannot tell this ratio from
                                 # the rest; leave-one-source-out chose 0.2 over 0.1 and 0.5)
                                 "bram18.fifo_small": 0.2, "lut.acc_round_sat_bit": 0.5,
                                 "bram18.table": 1.0, "dsp.const_port": 0.1},
            "synth_dsp_overflow_lut": SYNTH_DSP_OVERFLOW_LUT, "bands": {}, "fitted_on": []}


_CACHE: Dict[str, Constants] = {}


def load_constants(path: Optional[Path] = None) -> Constants:
    """The fitted constants and error bands (``estimator_constants.json``); the priors if there is none."""
    key = str(path or CONSTANTS_FILE)
    if key not in _CACHE:
        p = Path(key)
        _CACHE[key] = json.loads(p.read_text()) if p.exists() else default_constants()
    return _CACHE[key]


def precision_bits(text: Optional[str]) -> int:
    """Width of an HLS precision string ('fixed<16,6,...>', 'ap_ufixed<6,2>', 'int<8>'), read by the codec's
    type parser (``weight_stats.precision_width``). 16 when absent or not understood — such a layer is
    flagged NOT COSTED by :func:`estimate_layer` (``weight_stats.type_problem``), never silently costed."""
    return precision_width(text) or 16


# hls4ml layer classes, by the rule that costs them (every class convert can produce from a Keras/QKeras model)
DENSE_CLASSES = ("Dense", "BinaryDense", "TernaryDense")
CONV_CLASSES = ("Conv1D", "Conv2D", "Conv1DBatchnorm", "Conv2DBatchnorm", "PointwiseConv1D", "PointwiseConv2D",
                "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Conv")
ELEMENTWISE_CLASSES = ("Activation", "ReLU", "HardActivation", "TernaryTanh", "BinaryTanh", "ThresholdedReLU")
PARAM_ACT_CLASSES = ("ParametrizedActivation", "LeakyReLU", "ELU", "PReLU")
SCALE_CLASSES = ("BatchNormalization", "ApplyAlpha", "Normalize")
POOL_CLASSES = ("Pooling1D", "Pooling2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
GLOBAL_POOL_CLASSES = ("GlobalPooling1D", "GlobalPooling2D")
MOVE_CLASSES = ("ZeroPadding1D", "ZeroPadding2D", "Resize", "UpSampling1D", "UpSampling2D", "Cropping1D",
                "Cropping2D", "Concatenate", "Transpose", "Repack", "Clone")
MERGE_CLASSES = ("Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
FREE_CLASSES = ("Input", "InputLayer", "Reshape", "Flatten", "Dropout",
                "FixedPointQuantizer")  # HGQ's quantizer: a type cast HLS folds into the neighbouring layers
TABLE_ACTIVATIONS = ("sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "hard_tanh")
BRAM18_BITS = 18 * 1024
"""Bits of one BRAM18: hls4ml's default table (1,024 entries of ap_fixed<18,8>) fills exactly one."""


def table_blocks(layer: Mapping[str, Any]) -> int:
    """BRAM18s of a lookup-table activation's table, in units of hls4ml's default table (what the table term was
    fitted on): the exact-table rule (``exact_types.table_rule``) makes tables larger and narrower."""
    size = int(layer.get("table_size") or 1024)
    precision = layer.get("table_precision") or ((layer.get("types") or {}).get("table_t") or {}).get("precision")
    width = precision_bits(precision) if precision else 18
    return max(1, math.ceil(size * width / BRAM18_BITS))


KNOWN_CLASSES = (DENSE_CLASSES + CONV_CLASSES + ELEMENTWISE_CLASSES + PARAM_ACT_CLASSES + SCALE_CLASSES
                 + POOL_CLASSES + GLOBAL_POOL_CLASSES + MOVE_CLASSES + MERGE_CLASSES + FREE_CLASSES + ("Softmax",))


def _shape(layer: Mapping[str, Any]) -> List[int]:
    return [int(s) for s in (layer.get("shape") or [1])]


def _channels(layer: Mapping[str, Any]) -> int:
    return _shape(layer)[-1]


def _pixels(layer: Mapping[str, Any]) -> int:
    s = _shape(layer)
    return int(math.prod(s[:-1])) if len(s) > 1 else 1


def _elements(layer: Mapping[str, Any]) -> int:
    return int(math.prod(_shape(layer)))


def dsp_per_product(a: int, w: int) -> int:
    """DSP48 slices one a x w product needs (25 x 18 multiplier; a 32 x 32 product takes 4)."""
    big, small = max(a, w), min(a, w)
    return math.ceil(big / 25) * math.ceil(small / 18)


def slow_line_buffer(tool: Optional[str]) -> bool:
    """Whether the HLS tool ('Vitis HLS 2024.1', 'Vivado HLS 2020.1', ...) runs hls4ml's io_stream line buffer
    slower than a pixel per cycle: Vitis HLS 2023 and newer did (3-6 cycles per input pixel in three
    calibration designs), Vitis HLS 2022.1 and Vivado HLS did not. A Vitis HLS without a version counts as new."""
    text = (tool or "").lower()
    if "vitis" not in text:
        return False
    year = re.search(r"(20\d\d)", text)
    return year is None or int(year.group(1)) >= 2023


def rounds_or_saturates(text: Optional[str]) -> bool:
    """True when an HLS type rounds (RND, RND_CONV, ...) or saturates (SAT, SAT_SYM, ...): 'ufixed<6,0,AP_RND,AP_SAT>'
    as hls4ml writes it, or 'ufixed<6,2,RND_CONV,SAT,0>' as fpga_accel.json records it. TRN and WRAP are free."""
    return bool(re.search(r",\s*(?:AP_)?(?:RND|SAT)", text or "", re.I))


def dsp_share(layer: Mapping[str, Any]) -> float:
    """The share of a layer's wide constant products HLS puts on DSPs, from the weights' mean number of
    non-zero canonical-signed digits d (``n_csd_digits`` / non-zero weights): min(1, (d - 1) / 3).

    Why: HLS compares a constant product's shift-and-add cost with a DSP; a constant of few digits is a few
    adders. Seen per layer in the calibration set: d = 1.6 (HGQ jet tagger) put 14 % of the products on DSPs,
    d = 2.2-2.5 (AlexNet) 55-57 %, d = 3.0 70 %, d = 3.3-3.5 78-82 %, d = 3.6 94 %. Without the statistic
    (older projects) every wide product is assumed on a DSP, as before."""
    n, nz, _ = _weight_stats(layer)
    digits = layer.get("n_csd_digits")
    if not digits or not nz:
        return 1.0
    return min(1.0, max(0.0, (float(digits) / nz - 1.0) / 3.0))


def _extra_digits(layer: Mapping[str, Any], w: int) -> float:
    """Non-zero signed digits beyond the first of each non-zero weight (each is one adder of a shift-and-add
    constant product): from ``n_csd_digits`` when recorded, else ~w/3 digits per non-zero weight assumed."""
    n, nz, pow2 = _weight_stats(layer)
    digits = layer.get("n_csd_digits")
    if digits:
        return max(0.0, float(digits) - nz)
    return (nz - pow2) * max(0.0, w / 3.0 - 1.0)


def _weight_stats(layer: Mapping[str, Any]) -> Tuple[int, int, int]:
    """(weights, non-zero weights, non-zero ±2^k weights). Old projects record no powers of two: 0 assumed."""
    n = int(layer.get("n_weights") or layer.get("rf_n_in", 1) * layer.get("rf_n_out", 1))
    nz = int(layer.get("n_nonzero_weights", n))
    return n, nz, min(nz, int(layer.get("n_pow2_weights", 0)))


@dataclass
class Terms:
    """What HLS builds for one layer: quantities per term (resource terms) and its latency and interval."""

    quantities: Dict[str, float] = field(default_factory=dict)
    latency: Dict[str, float] = field(default_factory=dict)  # {"base": cycles, "<lat term>": multiplier}
    interval: Dict[str, float] = field(default_factory=dict)
    multiplications: int = 0
    multipliers: int = 0
    mapped_to: str = "-"
    flag: str = ""

    def add(self, term: str, qty: float) -> None:
        if qty:
            self.quantities[term] = self.quantities.get(term, 0.0) + float(qty)


def speed_grade(part: Optional[str]) -> int:
    """The speed grade of a Xilinx part string: 1 for 'xc7z020clg400-1', 3 for 'xc7vx690t-ffg1930-3', 2 for
    'xcu250-figd2104-2L-e'; 1 (the slowest) when the string has none."""
    m = re.search(r"-(\d)[a-z]*(?:-[a-z])?$", (part or "").lower())
    return int(m.group(1)) if m else 1


def part_family(part: Optional[str], clock_ns: Optional[float] = None) -> str:
    """'7series' (xc7*: DSP48E1) or 'ultrascale' (xcu*, xczu*, xcvu*, ...: DSP48E2); '7series-slow' for a
    7-series part of speed grade -1 asked for a clock of SLOW_CLOCK_NS or faster (no clock given: assumed so).

    Why a slow class: HLS schedules each operation by the part's delay model, and a DSP48E1 product plus its
    accumulation does not fit one 5 ns cycle on a -1 part, so HLS cuts it into more pipeline stages, each with
    its registers: the same Dense 16x4 took 5,748 FF and 6 cycles on xc7z020-1 but 1,866 FF and 3 cycles on
    xc7vx690t-3 (both 5 ns, calibration set). UltraScale+ DSP48E2 at -2 is faster still."""
    if not re.match(r"xc7", (part or "xc7").lower()):
        return "ultrascale"
    if speed_grade(part) <= 1 and (clock_ns is None or clock_ns <= SLOW_CLOCK_NS):
        return "7series-slow"
    return "7series"


def clock_uncertainty(tool: Optional[str]) -> float:
    """The share of the clock period HLS keeps as margin by default: Vitis HLS 27 %, Vivado HLS 12.5 %
    (no tool named: Vivado HLS, the PYNQ-Z2 flow's)."""
    text = (tool or "").lower()
    return next(u for key, u in CLOCK_UNCERTAINTY if key in text)


def pipeline_stages(part: Optional[str], clock_ns: Optional[float], tool: Optional[str] = None) -> float:
    """Extra register stages HLS puts in a constant product and its accumulation on a 7-series part:
    max(0, path delay / (clock x (1 - uncertainty)) - 1), the path delay DSP48E1_PATH_NS scaled by the speed
    grade (SPEED_GRADE_DELAY). 0 on UltraScale (DSP48E2 kernels fitted without it) and for no clock.

    Why continuous: HLS schedules by its delay model and registers wherever the accumulated delay passes the
    period it may use, so the registers fall smoothly with the clock period and the part's speed, where a
    two-valued 'slow part' class (the earlier model) put an xc7z020-1 design at 10 ns with the fast parts:
    a 16-bit Dense on xc7z020-1 spent ~7 FF per product bit at 5 ns and ~0.1 at 25 ns."""
    if part_family(part, clock_ns) == "ultrascale" or not clock_ns:
        return 0.0
    delay = DSP48E1_PATH_NS * SPEED_GRADE_DELAY.get(speed_grade(part), SPEED_GRADE_DELAY[3])
    return max(0.0, delay / (float(clock_ns) * (1.0 - clock_uncertainty(tool))) - 1.0)


def _kernel(layer: Mapping[str, Any], io_type: str, rf: int, t: Terms, family: str, stages: float = 0.0) -> None:
    """Dense and convolution layers: the multiplications, by strategy."""
    kind = layer["class"]
    a = precision_bits(layer.get("input_precision"))
    w = precision_bits(layer.get("weight_precision"))
    acc = precision_bits(layer.get("accum_precision") or layer.get("precision"))
    n_in = int(layer.get("rf_n_in") or layer.get("n_in") or 1)
    n_out = int(layer.get("rf_n_out") or layer.get("n_out") or 1)
    n, nz, pow2 = _weight_stats(layer)
    is_conv = kind not in DENSE_CLASSES
    # io_parallel convolutions compute ceil(positions / RF) output positions at once; io_stream ones one pixel
    units = max(1, math.ceil(_pixels(layer) / rf)) if is_conv and io_type == "io_parallel" else 1
    positions = _pixels(layer) if is_conv else 1
    t.multiplications = nz * positions
    t.add("lut.kernel", 1)
    t.add("ff.kernel", 1)
    if not is_conv and io_type == "io_stream":
        t.add("ff.stream_in_bit", n_in * a)
    if is_conv and io_type == "io_stream":
        window = int(layer.get("filt_height", 1)) * int(layer.get("filt_width", 1)) * int(layer.get("n_chan", 1)) * a
        t.add("lut.window_bit", window)
        t.add("ff.window_bit", window)
    strategy = str(layer.get("strategy") or "latency").lower()
    if strategy == "resource":
        m = math.ceil(n_in * n_out / rf)
        t.multipliers = m
        if max(a, w) > WIDE_BITS and min(a, w) > 4:
            t.mapped_to = "DSP"
            t.add("dsp.generic", m * dsp_per_product(a, w))
        else:
            t.mapped_to = "LUT"
            t.add("lut.generic_mult_bit", m * a * w)
        t.add("lut.resource_bit", (m + n_out) * acc)
        t.add("ff.resource_bit", (m + n_out) * acc)
        if rounds_or_saturates(layer.get("accum_precision")):
            t.add("lut.acc_round_sat_bit", 2 * m * acc)
        if not is_conv and io_type == "io_stream" and m > 1:
            t.add("ff.fanout_bit", n_in * a * math.log2(m))
        if n * w > 1024:
            t.add("bram18.resource_weights", math.ceil(m * w / 36) * math.ceil(rf / 512))
        if is_conv and io_type == "io_stream":
            px = int(layer.get("in_height", 1)) * int(layer.get("in_width", 1))
            t.latency = {"base": px * rf, "lat.resource_pixel": px}
            t.interval = dict(t.latency)
        else:
            t.latency = {"base": rf, "lat.resource_depth": 1}
            t.interval = {"base": rf}
        return
    mults = (nz - pow2) * units                      # real multiplications (zeros free, 2^k are shifts)
    limit = max(1, math.ceil(nz * units / rf))       # hls4ml's multiplier limit (ALLOCATION pragma)
    wide = min(a, w) >= WIDE_BITS
    on_dsp = min(mults, limit)
    t.multipliers = on_dsp if wide else mults
    t.mapped_to = "DSP" if wide else "LUT"
    share = dsp_share(layer) if wide else 0.0
    # the multiplier limit binds the products HLS keeps as multiplications (the DSP share), not the
    # shift-and-add constants: the 16-bit tutorial jet tagger used 1,444 DSPs at RF 2 and 1,450 at RF 1
    # (a third of its products on DSPs, well under the RF-2 limit of half of them)
    dsp_products = min(mults * share, limit)
    if wide and dsp_per_product(a, w) > 1:  # wider than the DSP48 port: DSP cascades plus LUT glue
        t.add("dsp.const_port", dsp_products * dsp_per_product(a, w))
        t.add("lut.port_bit", dsp_products * a * w)
        t.add("ff.port_bit", dsp_products * acc)
    elif wide:
        t.add("dsp.const_wide", dsp_products * dsp_per_product(a, w))
    extra_digits = _extra_digits(layer, w) * units  # adders of the shift-and-add circuits, whole layer
    if wide and share < 1:  # the simple constants HLS builds as shift-and-add circuits instead
        t.add("lut.narrow_mult_bit", on_dsp * (1 - share) * a * w)
        t.add("lut.csd_bit", extra_digits * (1 - share) * a)
    elif not wide:
        t.add("lut.csd_bit", extra_digits * a)
    # time-shared through the DSPs: the DSP share beyond the limit (none at RF 2 for the 16-bit jet tagger,
    # whose third of products on DSPs stays under the limit: its FF and latency did not grow from RF 1)
    shared = max(0.0, mults * share - limit) if wide else 0.0
    if wide:
        t.add("lut.wide_mult_bit", on_dsp * a * w)
        t.add("lut.share_bit", shared * a)
        t.add("ff.share_bit", shared * a)
    elif mults > limit and rf >= 8:  # time-shared (from RF 8, where HLS spreads LUT kernels over cycles,
        # see ff.rf_pipe_bit; at RF 2 the 8-bit LLP convolutions stayed constant products, 0 DSP): each of
        # the `limit` multipliers takes its weight from a multiplexer
        t.add("dsp.narrow_shared", on_dsp * dsp_per_product(a, w))
        t.add("lut.narrow_mult_bit", mults * a * w)
    else:
        t.add("dsp.const_narrow", on_dsp * dsp_per_product(a, w))
        t.add("lut.narrow_mult_bit", mults * a * w)
    adders = nz * units - shared
    t.add("lut.add_bit", adders * acc)
    if rounds_or_saturates(layer.get("accum_precision")):
        t.add("lut.acc_round_sat_bit", 2 * adders * acc)
    t.add("ff.mult_bit", adders * acc)
    if wide and family.startswith("7series"):
        t.add("ff.dsp_bit_7s", dsp_products * acc)
    if wide and stages:
        t.add("ff.dsp_stage_bit", dsp_products * acc * stages)
    if not wide and stages:
        t.add("ff.lut_stage_bit", adders * acc * stages)
    # HLS spreads a LUT-built kernel over more cycles once the reuse factor leaves it slack: none at RF 2
    # (L1 jet tagger convolutions: 0-1 cycles), 8-14 cycles at RF 64 (tutorial jet tagger, 6-bit)
    rf_stages = max(0.0, math.log2(rf) - 2) if not wide else 0.0
    if rf_stages:
        t.add("ff.rf_pipe_bit", mults * acc * min(1.0, rf_stages / 4))
    if not wide:
        depth = {"lat.lut_depth": 1, **({"lat.rf_depth": rf_stages} if rf_stages else {})}
    elif family == "ultrascale":
        depth = {"lat.dense_depth_us": 1}
    else:
        depth = {"lat.dense_depth": 1, **({"lat.slow_depth": 1} if family == "7series-slow" else {})}
    ii = max(1, math.ceil(mults * share / dsp_products)) if wide and dsp_products else 1
    if is_conv and io_type == "io_stream":
        px = int(layer.get("in_height", 1)) * int(layer.get("in_width", 1))
        vitis = {"lat.vitis_px": px} if slow_line_buffer(layer.get("hls_tool")) else {}
        t.latency = {"base": px * ii, **depth, **vitis}
        t.interval = {"base": px * ii, **vitis}
    else:
        # io_parallel: the first product's cycle is the depth's; each further II cycle adds one (an
        # UltraScale Dense at RF 1 reports 0-1 cycles)
        step = {"lat.parallel_step": 1} if family.startswith("7series") and io_type == "io_parallel" else {}
        t.latency = {"base": ii - 1, **depth, **step}
        t.interval = {"base": ii, **({"lat.rf_depth": rf_stages} if rf_stages else {})}


def layer_terms(layer: Mapping[str, Any], io_type: str, reuse_factor: Optional[int] = None,
                family: str = "7series", stages: float = 0.0) -> Terms:
    """The terms of one layer record (the fitted constants turn them into resources and cycles); ``family``
    and ``stages`` describe the part and clock (:func:`part_family`, :func:`pipeline_stages`)."""
    kind = str(layer["class"])
    rf = max(1, int(reuse_factor or layer.get("reuse_factor") or 1))
    t = Terms()
    a = precision_bits(layer.get("input_precision") or layer.get("precision"))
    o = precision_bits(layer.get("precision") or layer.get("input_precision"))
    stream = io_type == "io_stream"
    per_cycle = _channels(layer) if stream else _elements(layer)
    px = _pixels(layer) if stream else 1
    if kind in FREE_CLASSES or (kind == "Activation" and str(layer.get("activation", "")).lower() == "linear"
                                and not rounds_or_saturates(layer.get("precision"))):
        return t  # a linear activation into a type that neither rounds nor saturates is a wire (0 LUT in HLS)
    t.add("lut.layer", 1)
    t.add("ff.layer", 1)
    if stream:
        t.add("lut.stream_bit", _channels(layer) * (a + o))
        t.add("ff.stream_bit", _channels(layer) * (a + o))
    if kind in DENSE_CLASSES or kind in CONV_CLASSES:
        if kind.startswith(("Separable", "Depthwise")):
            t.flag = "depthwise/separable costed as one convolution of its recorded sizes"
        _kernel(layer, io_type, rf, t, family, stages)
        return t
    if kind == "Softmax":
        n = _elements(layer)
        # hls4ml pipelines the softmax at II = reuse factor, so HLS shares its products: SVHN at RF 256 used
        # 1 DSP for 10 classes, at RF 1 10
        t.add("dsp.softmax", min(n, math.ceil(n / rf)))
        t.add("lut.softmax_bit", n * a)
        t.add("ff.softmax_bit", n * a)
        t.add("bram18.table", 2)
        t.latency = {"lat.softmax": 1, **({"lat.softmax_slow": 1} if family == "7series-slow" else {})}
        t.interval = {"base": 1}
        return t
    if kind in POOL_CLASSES or kind in GLOBAL_POOL_CLASSES:
        if kind in GLOBAL_POOL_CLASSES:
            window = 1
        else:
            window = int(layer.get("pool_height") or layer.get("filt_height") or 2) * \
                int(layer.get("pool_width") or layer.get("filt_width") or (1 if kind.endswith("1D") else 2))
        t.add("lut.pool_bit", per_cycle * a * window)
        t.add("ff.pool_bit", per_cycle * a * window)
        t.add("ff.elem_bit", per_cycle * (a + o))
        in_px = int(layer.get("in_height", 1)) * int(layer.get("in_width", 1)) if stream else 1
        t.latency = {"base": max(in_px, px), "lat.elem": 1}
        t.interval = {"base": max(in_px, px)}
        return t
    known = kind in KNOWN_CLASSES
    if not known:
        t.flag = f"unknown layer class {kind}: not costed (costed as a generic element-wise layer)"
    t.add("lut.elem_bit", per_cycle * (a + o))
    t.add("ff.elem_bit", per_cycle * (a + o))
    if rounds_or_saturates(layer.get("precision")):
        t.add("lut.round_sat_bit", per_cycle * a)
    if kind in PARAM_ACT_CLASSES or str(layer.get("activation", "")).lower() in ("leakyrelu", "elu", "prelu"):
        t.add("dsp.param_act", per_cycle * dsp_per_product(a, a) if a >= WIDE_BITS else 0)
    elif kind in SCALE_CLASSES or kind in ("Multiply",):  # products by constant scales: like a kernel's
        w = precision_bits(layer.get("weight_precision") or layer.get("precision"))
        # hls4ml's batch normalisation limits its multipliers to ceil(elements / reuse factor) (ALLOCATION
        # pragma): SVHN's at RF 256 used 1 DSP for 42 and 64 channels, at RF 1 40 and 64
        scales = min(per_cycle, math.ceil(_elements(layer) / rf))
        if min(a, w) >= WIDE_BITS:
            t.add("dsp.const_wide", scales * dsp_per_product(a, w))
        else:
            t.add("dsp.const_narrow", per_cycle * dsp_per_product(a, w))
            t.add("lut.narrow_mult_bit", per_cycle * a * w)
    if kind in ("Activation", "ParametrizedActivation") and str(layer.get("activation", "")).lower() in TABLE_ACTIVATIONS:
        t.add("bram18.table", table_blocks(layer))
    # io_stream: one pixel per cycle; io_parallel: a combinational layer, HLS reports 0 cycles for a ReLU
    t.latency = {"base": px, "lat.elem": 1} if stream else {"base": 0}
    t.interval = {"base": px}
    return t


def _fifo_terms(layers: Sequence[Mapping[str, Any]], io_type: str) -> Dict[str, float]:
    """io_stream: the FIFOs between layers (one per channel, hls4ml sets the depth to the pixel count)."""
    q: Dict[str, float] = {}
    inner = [l for l in layers[1:-1] if l["class"] not in FREE_CLASSES]  # the input and output are ports
    if io_type != "io_stream":
        dataflow = any(str(l.get("strategy", "")).lower() == "resource" or l["class"] in CONV_CLASSES for l in layers)
        if dataflow:
            bits = sum(_elements(l) * precision_bits(l.get("precision")) for l in inner)
            q["lut.pipo_bit"], q["ff.pipo_bit"] = float(bits), float(bits)
            word = _input_channel_bits(layers)
            if word:
                q["bram18.fifo"] = q.get("bram18.fifo", 0.0) + math.ceil(word / 18)
                q["ff.pipo_bit"] += word
        return q
    for l in inner:
        _fifo_q(_pixels(l), _channels(l), precision_bits(l.get("precision")), q)
    return q


def _input_record(layers: Sequence[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    """The design's (first) input layer record, if it has one."""
    return next((l for l in layers if l["class"] in ("Input", "InputLayer")), None)


WIDE_CHANNEL_BITS = 1024
"""A dataflow channel of depth 2 holding more bits than this is a BRAM FIFO in Vivado HLS (2 x 1,400 bits were,
2 x 256 were not)."""


def _input_channel_bits(layers: Sequence[Mapping[str, Any]]) -> int:
    """Bits of the input's dataflow channel in an io_parallel design built by Vivado HLS, if it is a BRAM FIFO
    (else 0): hls4ml reshapes the input array into one word (``ARRAY_RESHAPE complete``) and Vivado HLS passes it
    to the first process through a FIFO of depth 2, one 18-bit-wide BRAM18 per 18 bits of the word — 78 BRAM18 for
    a 140 x 10-bit input, 697 for a 784 x 16-bit one (those designs' whole C-synthesis BRAM beyond their
    instances, to the block). Vitis HLS did not (a 784 x 6-bit input, no such FIFO)."""
    tool = next((str(l["hls_tool"]) for l in layers if l.get("hls_tool")), "")
    inputs = _input_record(layers)
    if inputs is None or "vitis" in tool.lower():
        return 0
    word = _elements(inputs) * precision_bits(inputs.get("precision"))
    return word if 2 * word > WIDE_CHANNEL_BITS else 0


def _fifo_q(depth: int, chans: int, bits: int, q: Dict[str, float]) -> None:
    """Add one io_stream FIFO of ``depth`` words, ``chans`` channels of ``bits`` each, to the terms ``q``: in
    BRAM18s (the narrowest aspect ratio that holds a channel) when deeper than FIFO_SRL_DEPTH, else in SRLs. A
    channel of at most FIFO_LUTRAM_BITS goes to ``bram18.fifo_small``: a BRAM18 in C-synthesis that Vivado builds
    from LUTRAM (its own Vivado ratio)."""
    if depth > FIFO_SRL_DEPTH:
        per_channel = min(math.ceil(bits / wd) * math.ceil(depth / d)
                          for d, wd in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)))
        term = "bram18.fifo_small" if depth * bits <= FIFO_LUTRAM_BITS else "bram18.fifo"
        q[term] = q.get(term, 0.0) + chans * per_channel
        q["lut.fifo"] = q.get("lut.fifo", 0.0) + chans
        q["ff.fifo"] = q.get("ff.fifo", 0.0) + chans
    else:
        q["lut.fifo_srl_bit"] = q.get("lut.fifo_srl_bit", 0.0) + chans * bits


def design_terms(layers: Sequence[Mapping[str, Any]], io_type: str,
                 reuse_factors: Optional[Mapping[str, int]] = None,
                 family: str = "7series", stages: float = 0.0) -> Tuple[List[Terms], Dict[str, float]]:
    """Per-layer terms and the design-level ones (FIFOs, dataflow buffers)."""
    reuse_factors = reuse_factors or {}
    per_layer = [layer_terms(l, io_type, reuse_factors.get(l["name"]), family, stages) for l in layers]
    return per_layer, _fifo_terms(layers, io_type)


def _cycles(spec: Mapping[str, float], lat: Mapping[str, float]) -> float:
    return float(spec.get("base", 0.0)) + sum(v * lat.get(k, 0.0) for k, v in spec.items() if k != "base")


# Terms whose Vivado-synthesis ratio differs from their resource's: the FFs HLS counts around DSP48E1
# products, which Vivado packs into the DSP's own pipeline registers; FIFO BRAM, which Vivado keeps while it
# moves small weight memories (and FIFOs of at most FIFO_LUTRAM_BITS) into LUTRAM; the rounding and saturation
# of accumulators, which HLS costs per product and Vivado trims (the encoders' Vivado LUT is 0.24-0.32 of HLS's
# against ~0.5 elsewhere; one source, so its ratio stays at the generic prior until another publishes one).
SYNTH_TERMS = ("ff.dsp_bit_7s", "ff.dsp_stage_bit", "ff.pool_bit", "bram18.fifo", "bram18.fifo_small", "bram18.table",
               "dsp.const_port", "lut.acc_round_sat_bit")


# DSP slices of the parts the calibration set and the boards use (Xilinx product tables), by part-name prefix.
PART_DSPS: Tuple[Tuple[str, int], ...] = (
    ("xc7z007", 66), ("xc7z010", 80), ("xc7z020", 220), ("xc7a200t", 740), ("xc7vx690t", 3600),
    ("xczu3eg", 360), ("xczu5ev", 1248), ("xczu7ev", 1728), ("xczu9eg", 2520), ("xcku5p", 1824), ("xcku15p", 1968),
    ("xcvu9p", 6840), ("xcvu11p", 9216), ("xcvu13p", 12288), ("xcu50", 5952), ("xcu55c", 9024),
    ("xcu250", 12288))
SYNTH_DSP_OVERFLOW_LUT = 50.0
"""Prior of the LUTs Vivado spends on one constant product it could not place on a DSP (the part had none
left): an adder of the product's few signed digits; ``fit._fit_synth`` replaces it by the calibration set's."""


def part_dsps(part: Optional[str]) -> Optional[int]:
    """The DSP slices of a Xilinx part ('xczu7ev-ffvc1156-2-e' -> 1728), None when the part is not in PART_DSPS."""
    name = (part or "").lower()
    return next((n for prefix, n in PART_DSPS if name.startswith(prefix)), None)


def dsp_overflow(dsp: float, part: Optional[str], constants: Constants) -> Tuple[float, float]:
    """(DSP, LUT) to add to a Vivado-synthesis estimate whose DSP products exceed the part's DSP slices.

    Why: Vivado synthesis infers at most the part's DSP slices and builds the remaining products from LUTs (the
    AlexNet and the jet tagger on the xczu7ev both stopped at its 1,728 DSPs; a CNN estimated at 247 DSPs on the
    xc7z020 got its 220). HLS C-synthesis does not know the part's count: its figure is not capped."""
    cap = part_dsps(part)
    if cap is None or dsp <= cap:
        return 0.0, 0.0
    excess = dsp - cap
    return -excess, excess * float(constants.get("synth_dsp_overflow_lut", SYNTH_DSP_OVERFLOW_LUT))


SYNTH_BY_IO = ("ff", "lut")
"""Resources whose Vivado ÷ C-synthesis ratio is fitted per io type (``synth_ratio_by_io``): HLS counts the
registers of io_stream FIFO interfaces and line buffers that Vivado trims, while io_parallel kernels are
retimed and duplicated by Vivado beyond HLS's count (chosen by leave-one-source-out: Vivado FF 29 -> 20 %)."""


def synth_ratio(constants: Constants, resource: str, io_type: Optional[str]) -> float:
    """Vivado synthesis ÷ C-synthesis of a resource's ordinary terms: the io type's own ratio when the fit
    made one (``SYNTH_BY_IO``), else the resource's."""
    by_io = (constants.get("synth_ratio_by_io") or {}).get(resource) or {}
    return float(by_io.get(io_type or "", constants["synth_ratio"].get(resource, 1.0)))


def _resources(q: Mapping[str, float], constants: Constants, figure: str = "csynth",
               io_type: Optional[str] = None) -> Dict[str, float]:
    c = constants["csynth"]
    out = {r: 0.0 for r in RESOURCES}
    for term, qty in q.items():
        resource = term.split(".", 1)[0]
        value = qty * float(c.get(term, 0.0))
        if figure == "synth":
            value *= float(constants.get("synth_term_ratio", {}).get(term, synth_ratio(constants, resource, io_type)))
        out[resource] += value
    return out


def combine_latency(stages: Sequence[Tuple[float, float]], io_type: str, lat: Mapping[str, float]) -> Tuple[float, float]:
    """(latency, interval) of a chain of (latency, interval) stages: io_stream overlaps them (dataflow: the
    slowest stage plus a fill delay per other stage); io_parallel runs them one after the other."""
    real = [s for s in stages if s[0] > 0 or s[1] > 0]
    if not real:
        return 0.0, 1.0
    interval = max(max(s[1] for s in real), 1.0)
    if io_type == "io_stream":
        return max(s[0] for s in real) + lat.get("lat.fill", 0.0) * (len(real) - 1), interval
    return sum(s[0] for s in real), interval


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
    terms: Dict[str, float] = field(default_factory=dict)
    flag: str = ""


@dataclass
class Estimate:
    """Totals for the hls4ml IP (``ip_total``) and with the platform (``total``, what must fit), each with
    the expected error band (``low``/``high``: the 10–90 % quantiles of published ÷ estimate under
    leave-one-source-out cross-validation), the band's measured ``coverage`` per resource (share of
    held-out designs it contained, nested) and ``verdict`` (see :func:`verdict`)."""

    name: str
    board: str
    figure: str
    io_type: str
    clock_period_ns: float
    layers: List[LayerEstimate]
    margin: float
    total: Dict[str, float] = field(default_factory=dict)
    ip_total: Dict[str, float] = field(default_factory=dict)
    low: Dict[str, float] = field(default_factory=dict)
    high: Dict[str, float] = field(default_factory=dict)
    used_pct: Dict[str, float] = field(default_factory=dict)
    latency_cycles: int = 0
    latency_range: Tuple[int, int] = (0, 0)
    interval: int = 1
    fits: bool = True
    verdict: str = "FITS"
    dominant_layer: str = ""
    dominant_resource: str = ""
    unknown_layers: List[str] = field(default_factory=list)
    band_source: str = ""
    coverage: Dict[str, float] = field(default_factory=dict)
    band_width: Dict[str, float] = field(default_factory=dict)
    out_of_scope: str = ""

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.clock_period_ns

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "latency_ns": self.latency_ns}

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
                         f"{l.latency_cycles:7d} {l.interval:6d}" + (f"  ! {l.flag}" if l.flag else ""))
        lines.append("-" * len(head))
        t = self.total
        lines.append(f"{'total':16s} {'':11s} {'':4s} {'':6s} {'':4s} {t['dsp']:6.0f} {t['lut']:8.0f} {t['ff']:8.0f} "
                     f"{t['bram36']:7.1f} {self.latency_cycles:7d} {self.interval:6d}")
        if self.high:
            band = ", ".join(f"{k.upper()} {self.low[k]:.0f}-{self.high[k]:.0f}" for k in ("dsp", "lut", "ff", "bram36"))
            lines.append(f"expected range: {band}; latency {self.latency_range[0]}-{self.latency_range[1]} cycles "
                         f"({self.band_source})")
            if self.coverage:
                cov = ", ".join(f"{k.upper()} {v:.0%}" for k, v in self.coverage.items())
                lines.append(f"band covers held-out designs: {cov} (measured, leave-one-source-out)")
        else:
            lines.append("expected range: unknown (no fitted error band)")
        pct = ", ".join(f"{k.upper()} {v:.1f}%" for k, v in self.used_pct.items())
        lines.append(f"board use: {pct}  (margin {self.margin:.0%} of each resource)")
        lines.append(f"latency {self.latency_cycles} cycles = {self.latency_ns:g} ns, interval {self.interval} cycles")
        if self.unknown_layers:
            lines.append(f"NOT COSTED: {', '.join(self.unknown_layers)} (an unknown layer class, type or size: see the layer rows); the verdict is never FITS")
        if self.out_of_scope:
            lines.append(f"OUT OF SCOPE: {self.out_of_scope}; the model was not fitted on such designs, the figures "
                         "are for information and the verdict is UNCERTAIN")
        cov = self.coverage.get(self.dominant_resource)
        lines.append(f"{self.verdict}: largest use is {self.dominant_resource.upper()}, dominated by layer "
                     f"{self.dominant_layer}" + (f" (band covers {cov:.0%} of held-out designs)" if cov is not None else ""))
        return "\n".join(lines)

    __str__ = format

    ROW_COLUMNS = ("name", "kind", "reuse_factor", "multiplications", "multipliers", "mapped_to", "dsp", "lut",
                   "ff", "bram36", "latency_cycles", "interval", "flag")

    def rows(self) -> List[Dict[str, Any]]:
        """One dict per row of the table (layers, then FIFOs/buffers and the AXI wrapper when present)."""
        return [{k: getattr(l, k) for k in self.ROW_COLUMNS} for l in self.layers]

    def to_dataframe(self) -> Any:
        """``rows()`` as a pandas DataFrame (pandas optional)."""
        from ..runtime.tables import to_dataframe

        return to_dataframe(self.rows(), self.ROW_COLUMNS)

    def _repr_html_(self) -> str:
        from ..runtime.tables import html_report

        t = self.total
        summary = [("board", f"{self.board} ({self.io_type}, {self.clock_period_ns:g} ns)"),
                   ("predicts", "Vivado post-synthesis utilisation" if self.figure == "synth"
                    else "Vivado HLS csynth estimate"),
                   ("total", f"DSP {t['dsp']:.0f}, LUT {t['lut']:.0f}, FF {t['ff']:.0f}, BRAM36 {t['bram36']:.1f}"),
                   ("board use", ", ".join(f"{k.upper()} {v:.1f}%" for k, v in self.used_pct.items())),
                   ("latency", f"{self.latency_cycles} cycles = {self.latency_ns:g} ns, interval {self.interval}")]
        if self.high:
            summary.append(("expected range", ", ".join(f"{k.upper()} {self.low[k]:.0f}-{self.high[k]:.0f}"
                                                        for k in ("dsp", "lut", "ff", "bram36"))))
        notes = [f"NOT COSTED: {', '.join(self.unknown_layers)}"] if self.unknown_layers else []
        if self.out_of_scope:
            notes.append(f"OUT OF SCOPE: {self.out_of_scope}")
        text = f"{self.verdict}: largest use is {self.dominant_resource.upper()}, dominated by layer {self.dominant_layer}"
        return html_report(f"estimate for {self.name}", summary, self.rows(), self.ROW_COLUMNS,
                           verdict=(text, self.verdict == "FITS"), notes=notes)


def estimate_layer(layer: Mapping[str, Any], io_type: str, figure: str = "synth",
                   reuse_factor: Optional[int] = None, constants: Optional[Constants] = None,
                   family: str = "7series", stages: float = 0.0) -> LayerEstimate:
    """One layer's estimate (no FIFOs, no dataflow: those belong to the design)."""
    c = constants or load_constants()
    t = layer_terms(layer, io_type, reuse_factor, family, stages)
    problem = type_problem(layer)  # an unknown type or size: costed as recorded, but reported NOT COSTED
    if problem:
        t.flag = f"not costed: {problem}"
    res = _resources(t.quantities, c, figure, io_type)
    rf = max(1, int(reuse_factor or layer.get("reuse_factor") or 1))
    return LayerEstimate(str(layer["name"]), str(layer["class"]), rf, t.multiplications, t.multipliers, t.mapped_to,
                         dsp=round(res["dsp"], 1), lut=round(res["lut"], 1), ff=round(res["ff"], 1),
                         bram36=round(res["bram18"] / 2.0, 1),
                         latency_cycles=int(round(_cycles(t.latency, c["latency"]))),
                         interval=max(1, int(round(_cycles(t.interval, c["latency"])))),
                         terms=dict(t.quantities), flag=t.flag)


PLATFORM = dict(get_board("pynq-z2").platform)
"""Deprecated: the PYNQ-Z2's platform row; each board carries its own (``Board.platform``)."""


REGIMES = ("core", "weak")
WEAK_RESOURCE_RF = 100  # Resource-strategy reuse factors from here on: the weak regime
WEAK_ZEROS = 0.85       # share of zero weights from which a kernel is in the weak regime (every metric)
WEAK_ZEROS_FF = 0.5     # ... for the C-synthesis FF (HLS's count of pruned adder trees' registers: 0.4-3.8x)
REGIME_RULE = ("a Dense/Conv layer is in the weak regime when it uses the Resource strategy at reuse factor "
               f">= {WEAK_RESOURCE_RF}, or is an io_parallel convolution with the Resource strategy, or a Latency-"
               "strategy kernel with products wider than the DSP48 port (25 x 18), or has "
               f">= {WEAK_ZEROS:.0%} zero weights; for the C-synthesis FF also >= {WEAK_ZEROS_FF:.0%} zero weights; for DSP also "
               "when its products are built from LUTs (Latency: an operand narrower than "
               f"{WIDE_BITS} bits; Resource: neither operand wider than {WIDE_BITS} bits, or one of 4 bits or less); "
               "a design is weak when any of its Dense/Conv layers is")


def layer_regime(layer: Mapping[str, Any], io_type: str, metric: str, figure: str = "csynth") -> str:
    """'weak' when the model is known to describe this Dense/Conv layer's ``metric`` poorly, else 'core'
    (:data:`REGIME_RULE`); other layer classes are 'core'.

    Why: the error bands are Mondrian (regime-conditional) — the held-out errors of designs the model
    describes well (16-bit Latency kernels, Resource kernels at moderate reuse factors) are a few tens of
    percent, those of the kinds below up to 10x either way; one pooled band is too wide for the first and
    too narrow for the second. Each rule names a mechanism the model simplifies: Resource kernels at
    RF >= 100 and io_parallel Resource convolutions (how HLS schedules and multiplexes them), products wider
    than the DSP48 port (cascades and LUT glue, moved to LUTs by Vivado), heavily pruned kernels (HLS prunes
    adder trees and registers unevenly), and for DSP products the model builds from LUTs (HLS puts some
    narrow products on DSPs: 23 published vs 5 estimated, 330 vs 1). ``figure``: the pruning rule of FF is the
    C-synthesis report's (Vivado trims those registers: its FF ratios of pruned designs stay within 0.5-1.7x)."""
    if layer.get("class") not in DENSE_CLASSES + CONV_CLASSES:
        return "core"
    strategy = str(layer.get("strategy") or "latency").lower()
    rf = max(1, int(layer.get("reuse_factor") or 1))
    a = precision_bits(layer.get("input_precision"))
    w = precision_bits(layer.get("weight_precision"))
    n, nz, _ = _weight_stats(layer)
    zeros = 1.0 - nz / n if n else 0.0
    resource = strategy == "resource"
    if resource and (rf >= WEAK_RESOURCE_RF or (io_type == "io_parallel" and layer["class"] in CONV_CLASSES)):
        return "weak"
    if not resource and min(a, w) >= WIDE_BITS and dsp_per_product(a, w) > 1:
        return "weak"
    if zeros >= WEAK_ZEROS or (metric == "ff" and figure == "csynth" and zeros >= WEAK_ZEROS_FF):
        return "weak"
    if metric == "dsp":
        on_dsp = (max(a, w) > WIDE_BITS and min(a, w) > 4) if resource else min(a, w) >= WIDE_BITS
        if not on_dsp:
            return "weak"
    return "core"


def dsp_ceiling(layer: Mapping[str, Any], io_type: str) -> Optional[float]:
    """The most DSPs HLS can give a Dense/Conv layer (None for other classes): one multiplier of
    :func:`dsp_per_product` DSPs per multiplication it keeps — ceil(weights / RF) for the Resource strategy,
    the non-trivial products up to hls4ml's multiplier limit ceil(non-zero weights / RF) for Latency.

    Why: the weak regime's DSP band is 0.003-330x (HLS put 330 of a 4-bit design's products on DSPs where the
    model built them from LUTs); times an estimate of 17 DSPs that is an upper end no design could reach. Its
    upper end is held to this ceiling (or the core band's upper end, if that is higher), which no published
    design exceeds, so the coverage is unchanged."""
    if layer.get("class") not in DENSE_CLASSES + CONV_CLASSES:
        return None
    a = precision_bits(layer.get("input_precision"))
    w = precision_bits(layer.get("weight_precision"))
    rf = max(1, int(layer.get("reuse_factor") or 1))
    n, nz, pow2 = _weight_stats(layer)
    per = dsp_per_product(a, w)
    if str(layer.get("strategy") or "latency").lower() == "resource":
        n_in = int(layer.get("rf_n_in") or layer.get("n_in") or 1)
        n_out = int(layer.get("rf_n_out") or layer.get("n_out") or 1)
        return float(math.ceil(n_in * n_out / rf) * per)
    conv = layer["class"] in CONV_CLASSES
    units = max(1, math.ceil(_pixels(layer) / rf)) if conv and io_type == "io_parallel" else 1
    return float(min((nz - pow2) * units, max(1, math.ceil(nz * units / rf))) * per)


def design_regime(layers: Sequence[Mapping[str, Any]], io_type: str, metric: str, figure: str = "csynth") -> str:
    """The design's regime for ``metric``: 'weak' when any Dense/Conv layer is (:func:`layer_regime`)."""
    return "weak" if any(layer_regime(l, io_type, metric, figure) == "weak" for l in layers) else "core"


def _regimes(regime: Any, metric: str) -> Dict[str, str]:
    """``regime/<metric>`` (C-synthesis) and ``synth/regime/<metric>`` (Vivado) from ``regime(figure)``."""
    return {f"regime/{metric}": regime("csynth"), f"synth/regime/{metric}": regime("synth")}


def design_kinds(layers: Sequence[Mapping[str, Any]], io_type: str) -> Dict[str, str]:
    """The properties an error band may be conditioned on (``fit.BAND_KINDS``): the io type, the strategy —
    'resource' when any Dense/Conv layer uses the Resource strategy, else 'latency' — and the regime of each
    metric (``regime/lut``, ``regime/ff``, ..., and ``synth/regime/ff``... for the Vivado figure: :func:`design_regime`)."""
    resource = any(str(l.get("strategy") or "").lower() == "resource" for l in layers
                   if l.get("class") in DENSE_CLASSES + CONV_CLASSES)
    return {"io_type": io_type, "strategy": "resource" if resource else "latency",
            **{k: v for m in METRICS for k, v in _regimes(lambda f: design_regime(layers, io_type, m, f), m).items()}}


def kind_value(kinds: Mapping[str, Any], prop: str, metric: str, figure: str = "csynth") -> str:
    """The value of property ``prop`` for ``figure``/``metric``: ``kinds['regime/lut']`` for the regime (it
    depends on the metric; ``synth/regime/lut`` for the Vivado figure when given), ``kinds['io_type']`` for the
    others; '' when absent."""
    return str((kinds.get(f"{figure}/{prop}/{metric}") if figure != "csynth" else None)
               or kinds.get(f"{prop}/{metric}") or kinds.get(prop) or "")


def band_factors(c: Constants, figure: str, metric: str,
                 kinds: Optional[Mapping[str, str]] = None) -> Optional[Tuple[float, float]]:
    """(low, high) factors of one figure/metric's band: when the fit conditioned it on a design property
    (its ``conditioned``: io_type, strategy or regime), the band of designs of this one's value (``kinds``, see
    :func:`design_kinds`) if the fit had enough sources for it; else the pooled band."""
    bands = c.get("bands") or {}
    b = bands.get(f"{figure}/{metric}")
    prop = (b or {}).get("conditioned")
    value = kind_value(kinds or {}, prop, metric, figure) if prop else ""
    if value:
        b = bands.get(f"{figure}/{metric}/{value}") or b
    return (float(b["low"]), float(b["high"])) if b else None


def _banded(rows: Sequence[LayerEstimate], layers: Sequence[Mapping[str, Any]], c: Constants, figure: str,
            metric: str, kinds: Mapping[str, str]) -> Optional[Tuple[float, float]]:
    """(low, high) of the IP's ``metric`` (every row but the platform's): each row times its band's factors.

    Why per row: a Dense/Conv layer takes the band of its own strategy and regime, the other rows the design's
    (:func:`design_kinds`). For a design of one strategy that is the design's band, as measured; for a mixed one
    it moves in proportion to the layers that changed, so switching one layer to the Resource strategy does not
    swing the whole design to the Resource band (``fit`` searches one layer at a time)."""
    if band_factors(c, figure, metric, kinds) is None:
        return None
    own = {str(l["name"]): {"strategy": str(l.get("strategy") or "latency").lower(),
                            **_regimes(lambda f, l=l: layer_regime(l, kinds.get("io_type", ""), metric, f), metric)}
           for l in layers if l.get("class") in DENSE_CLASSES + CONV_CLASSES}
    ceiling = {str(l["name"]): dsp_ceiling(l, kinds.get("io_type", "")) for l in layers} if metric == "dsp" else {}
    low = high = removed = 0.0
    for row in rows:
        if row.name == "axi_wrapper":
            continue
        if getattr(row, metric) < 0:  # the DSPs beyond the part Vivado builds from LUTs: scaled with the rest
            removed += getattr(row, metric)
            continue
        mine = {**kinds, **own.get(row.name, {})}
        band = band_factors(c, figure, metric, mine)
        if band is None:
            return None
        value = getattr(row, metric)
        top = value * band[1]
        if metric == "dsp" and value > 0 and kind_value(mine, "regime", metric, figure) == "weak":  # held to
            # what HLS could build
            core = band_factors(c, figure, metric, {**mine, "regime/dsp": "core", "synth/regime/dsp": "core"}) or band
            top = min(top, max(value * core[1], ceiling.get(row.name) or 0.0))
        low, high = low + value * band[0], high + top
    kept = sum(max(0.0, getattr(r, metric)) for r in rows if r.name != "axi_wrapper")
    if removed and kept > 0:
        low, high = low * (kept + removed) / kept, high * (kept + removed) / kept
    return low, high


VERDICTS = ("FITS", "UNCERTAIN", "DOES NOT FIT")


def verdict(total: Mapping[str, float], low: Mapping[str, float], high: Mapping[str, float],
            capacity: Mapping[str, float], margin: float = 0.8, unknown: Sequence[str] = ()) -> str:
    """The one function that decides whether a design fits (estimate summary, progress line, auto reuse factor).

    - **DOES NOT FIT** when the central estimate of some resource exceeds the part's capacity, or the lower
      end of its band does (even the optimistic reading does not fit).
    - **FITS** when, for every resource, the band's upper end is within the capacity *and* the central
      estimate within margin x capacity — and every layer was costed (a NOT COSTED layer never FITS).
    - **UNCERTAIN** otherwise: the band really straddles the limit, or part of the design is not costed.

    Why upper end against 100 % and not against the margin: the band is the 10–90 % range of held-out
    errors, so its upper end is already a pessimistic reading; asking it to stay under 80 % as well counted
    the same risk twice and made every PYNQ-Z2 design UNCERTAIN (issue 23). The lower end against 100 % and
    not the margin for the same reason the other way: a lower end between the margin and the part is a design
    that may well fit — the hold-out EEG CNN, placed on the xc7z020 at 93 % BRAM and 100 % DSP, has a lower BRAM
    end of 81 % — and DOES NOT FIT would say it cannot. Without a band (no fitted constants) ``high``/``low``
    are empty and the central estimate alone decides.
    """
    keys = [k for k in capacity if capacity[k] > 0]
    hi = {k: high.get(k, total[k]) for k in keys}
    lo = {k: low.get(k, total[k]) for k in keys}
    if any(total[k] > capacity[k] or lo[k] > capacity[k] for k in keys):
        return "DOES NOT FIT"
    if not unknown and all(hi[k] <= capacity[k] and total[k] <= margin * capacity[k] for k in keys):
        return "FITS"
    return "UNCERTAIN"


def axi_wrapper_cost(layers: Sequence[Mapping[str, Any]], io_type: str, c: Constants,
                     figure: str) -> Dict[str, float]:
    """LUT, FF and BRAM36 of the AXI wrapper hls4ml's VivadoAccelerator backend writes around the IP
    (``myproject_axi.cpp``), without the board's platform.

    Why by io type: io_parallel copies the inputs and outputs through local arrays that the IP's complete
    partitioning makes registers (elements x bits FF, a write enable and a read multiplexer per element);
    io_stream copies them one word of channels at a time into two ``hls::stream`` FIFOs as deep as the
    input's and output's pixel counts (``#pragma HLS STREAM depth``), which cost what the FIFOs between the
    layers cost: a 64x64x3 image's wrapper is three BRAM18s, not the 12k elements' registers (counting them
    per element made a PYNQ-Z2 U-Net placed at 48 % LUT 'DOES NOT FIT')."""
    inputs = _input_record(layers) or {"shape": [1]}
    output = layers[-1] if layers else {"shape": [1]}
    a = precision_bits(inputs.get("precision") or inputs.get("input_precision"))
    o = precision_bits(output.get("precision"))
    n_in, n_out = _elements(inputs), _elements(output)
    if io_type == "io_stream":
        q: Dict[str, float] = {}
        _fifo_q(_pixels(inputs), _channels(inputs), a, q)
        _fifo_q(_pixels(output), _channels(output), o, q)
        fifo = _resources(q, c, figure, io_type)
        words = _channels(inputs) + _channels(output)
        return {"lut": words * 2.0 + fifo["lut"], "ff": words * 4.0 + fifo["ff"], "bram36": fifo["bram18"] / 2.0}
    return {"lut": (n_in + n_out) * 2.0, "ff": float(n_in * a + n_out * o), "bram36": 0.0}


def _wrapper_row(layers: Sequence[Mapping[str, Any]], io_type: str, board: Board, c: Constants,
                 figure: str) -> "LayerEstimate":
    """The AXI wrapper (:func:`axi_wrapper_cost`) plus the board's platform (DMA, interconnect, reset logic;
    ``Board.platform``, not fitted), one word per cycle in and out."""
    w = axi_wrapper_cost(layers, io_type, c, figure)
    n_in = _elements(_input_record(layers) or {"shape": [1]})
    n_out = _elements(layers[-1] if layers else {"shape": [1]})
    platform = board.platform
    return LayerEstimate("axi_wrapper", "AXI stream", 1, lut=round(w["lut"] + platform["lut"], 1),
                         ff=round(w["ff"] + platform["ff"], 1), dsp=platform["dsp"],
                         bram36=round(w["bram36"] + platform["bram36"], 1),
                         latency_cycles=n_in + n_out, interval=max(n_in, n_out))


def estimate_layers(layers: Sequence[Mapping[str, Any]], *, name: str, board: Board, io_type: str,
                    clock_period: float, figure: str = "synth", margin: float = 0.8,
                    reuse_factors: Optional[Mapping[str, int]] = None,
                    constants: Optional[Constants] = None, platform: bool = True,
                    part: Optional[str] = None, tool: Optional[str] = None, out_of_scope: str = "") -> Estimate:
    """Estimate a design given as per-layer records (the ``layers`` of fpga_accel.json, dataflow order).
    ``out_of_scope`` (why the model does not describe the design, e.g. hls4ml < 0.5 kernels): the figures are
    given, the verdict is UNCERTAIN whatever they say (the fitted constants do not speak for such a design).
    ``part`` (default: the board's) selects the DSP family, which changes how HLS registers DSP products;
    ``tool`` ('Vitis HLS' or 'Vivado HLS', default: each record's ``hls_tool``, else Vivado HLS) changes
    how many cycles an io_stream convolution's line buffer takes per pixel and the clock uncertainty
    HLS keeps (:func:`pipeline_stages`)."""
    c = constants or load_constants()
    if tool:
        layers = [l if l.get("hls_tool") else {**l, "hls_tool": tool} for l in layers]
    reuse_factors = reuse_factors or {}
    family = part_family(part or board.part, clock_period)
    stages = pipeline_stages(part or board.part, clock_period,
                             tool or next((l["hls_tool"] for l in layers if l.get("hls_tool")), None))
    per_layer = [estimate_layer(l, io_type, figure, reuse_factors.get(l["name"]), c, family, stages) for l in layers]
    fifo = _resources(_fifo_terms(layers, io_type), c, figure, io_type)
    rows = list(per_layer)
    if any(fifo.values()):
        rows.append(LayerEstimate("fifos" if io_type == "io_stream" else "buffers", "between layers", lut=round(fifo["lut"], 1), ff=round(fifo["ff"], 1),
                                  bram36=round(fifo["bram18"] / 2.0, 1), latency_cycles=0, interval=0))
    lat, ii = combine_latency([(l.latency_cycles, l.interval) for l, rec in zip(per_layer, layers)
                               if rec["class"] not in FREE_CLASSES], io_type, c["latency"])
    ip = {k: round(sum(getattr(l, k) for l in rows), 1) for k in ("dsp", "lut", "ff", "bram36")}
    if figure == "synth":
        d_dsp, d_lut = dsp_overflow(ip["dsp"], part or board.part, c)
        if d_dsp:
            rows.append(LayerEstimate("dsp_overflow", f"products beyond the part's {part_dsps(part or board.part)} "
                                      "DSPs, built from LUTs",
                                      dsp=round(d_dsp, 1), lut=round(d_lut, 1), latency_cycles=0, interval=0))
            ip = {k: round(sum(getattr(l, k) for l in rows), 1) for k in ("dsp", "lut", "ff", "bram36")}
    if platform:
        rows.append(_wrapper_row(layers, io_type, board, c, figure))
        lat, ii = lat + rows[-1].latency_cycles, max(ii, rows[-1].interval)
    total = {k: round(sum(getattr(l, k) for l in rows), 1) for k in ("dsp", "lut", "ff", "bram36")}
    extra = {k: total[k] - ip[k] for k in total}  # the platform row is not scaled by the band
    low, high = {}, {}
    # the regime depends on the reuse factor each layer is estimated at (``fit`` passes them here)
    effective = [{**l, "reuse_factor": reuse_factors[l["name"]]} if reuse_factors.get(l["name"]) else l for l in layers]
    kinds = design_kinds(effective, io_type)
    for k in total:
        band = _banded(rows, effective, c, figure, k, kinds)
        if band:
            # not clamped at the part's DSPs: an upper end beyond them means products Vivado may have to build
            # from LUTs, which the verdict should not call FITS
            low[k], high[k] = round(band[0] + extra[k], 1), round(band[1] + extra[k], 1)
    lband = band_factors(c, "csynth", "latency", kinds)
    lat_range = (int(lat * lband[0]), int(math.ceil(lat * lband[1]))) if lband else (int(lat), int(lat))
    capacity = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram36": board.bram36}
    used = {k: round(100.0 * total[k] / capacity[k], 1) for k in capacity}
    resource = max(used, key=lambda k: used[k])
    costed = [l for l in rows if l.name not in ("axi_wrapper", "fifos", "buffers", "dsp_overflow")] or rows
    dominant = max(costed, key=lambda l: getattr(l, resource))
    unknown = [l.name for l in per_layer if l.flag.startswith(("unknown", "not costed"))]
    decided = verdict(total, low, high, capacity, margin, unknown)
    if unknown and decided == "DOES NOT FIT":  # the layers not costed carry guessed figures: decide without them
        known = {k: total[k] - sum(getattr(l, k) for l in per_layer if l.name in unknown) for k in capacity}
        decided = "DOES NOT FIT" if any(known[k] > capacity[k] for k in capacity) else "UNCERTAIN"
    if out_of_scope:
        decided = "UNCERTAIN"
    fits = all(total[k] <= margin * capacity[k] for k in capacity)  # the central estimate alone, for callers
    bands = c.get("bands") or {}
    cov = {k: float(bands[f"{figure}/{k}"]["coverage"]) for k in ("lut", "ff", "dsp", "bram36")
           if "coverage" in bands.get(f"{figure}/{k}", {})}
    width = {k: round(high[k] / low[k], 2) for k in high if low.get(k)}
    src = (f"10-90 % of held-out errors, leave-one-source-out over {len(c.get('sources', []))} sources / "
           f"{len(c.get('fitted_on', []))} published designs") if high else ""
    return Estimate(name=name, board=board.name, figure=figure, io_type=io_type, clock_period_ns=clock_period,
                    layers=rows, margin=margin, total=total, ip_total=ip, low=low, high=high, used_pct=used,
                    latency_cycles=int(round(lat)), latency_range=lat_range, interval=int(round(ii)), fits=fits,
                    verdict=decided, dominant_layer=dominant.name, dominant_resource=resource,
                    unknown_layers=unknown, band_source=src, coverage=cov, band_width=width,
                    out_of_scope=out_of_scope)


def estimate(design: Any = None, board: Optional[str] = None, figure: str = "synth", margin: float = 0.8, *,
             model: Any = None, config: Any = None, part: Optional[str] = None) -> Estimate:
    """Estimate a design: resources (both figures: ``figure="synth"`` Vivado post-synthesis, ``"csynth"``
    the HLS report) and latency, per layer and in total, with the expected error band.

    ``design`` is any of: a converted ``Design``; its ``fpga_accel.json`` dict; a path to a project this
    toolkit wrote (has ``fpga_accel.json``) or to **any hls4ml project** (``firmware/parameters.h``);
    or leave it out and pass a Keras ``model`` with an hls4ml ``config`` (a dict or a YAML file path).
    ``board`` is the board to check against; ``part`` (default: the project's, else the board's) picks
    the DSP family (7-series or UltraScale), which changes how many registers HLS puts around DSPs.
    """
    from ..hls.foreign_project import read_design  # local: keeps this module free of the parser

    meta = read_design(design, model=model, config=config)
    b = get_board(board or meta.get("board") or "pynq-z2")
    return estimate_layers(meta["layers"], name=meta.get("name", "design"), board=b, io_type=meta["io_type"],
                           clock_period=float(meta.get("clock_period") or b.clock_period), figure=figure,
                           margin=margin, part=part or meta.get("part"), out_of_scope=str(meta.get("out_of_scope") or ""))
