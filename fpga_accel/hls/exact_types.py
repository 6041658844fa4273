"""Every HLS type of a design derived from the QKeras quantizers: the one place csim is made exact.

hls4ml 1.3 takes the types a quantizer gives (weights, biases, activations) and fills every other type
(products, accumulators, results of float activations, batch-norm maps, pooling) by its own inference,
which falls back to the 16-bit default for power-of-two and binary weights, batch-norm constants and
anything it does not know. A 16-bit type that cannot hold a layer's range wraps silently. Here those
types are derived instead, layer kind by layer kind, so that the C++ computes exactly what QKeras
computes in float32:

- **weights** given as powers of two or as binary (0/1-encoded) values become the smallest exact
  fixed/int type of their values (±1 for binary), so the ordinary exact product is used;
- **sums** (Dense, Conv, depthwise, pointwise) get a product type of input width + weight width and an
  accumulator with ``ceil(log2(fan-in))`` more integer bits and the bias's bits: no rounding, no overflow;
- **float activations** split off a quantized layer (``QConv2D(activation="relu")``) keep their input's
  type; quantized ones keep their quantizer's type (hls4ml's);
- **batch normalisation** (and hls4ml's ``ApplyAlpha``, into which it folds alpha and the bias) uses the
  affine map probed from the Keras layer at parse time (``fpga_accel.hls.probe``), constants
  kept to 24 fraction bits, and a result type wide enough for the product and the sum;
- **binary activations**: QKeras' ``binary_tanh`` maps 0 to −1 while hls4ml's maps it to +1; the
  preceding sum's bias is lowered by one step of its own grid, which moves exactly the ties;
- **merges** of two tensors (Add, Subtract, Multiply, Maximum, Minimum, Average) get the type that holds
  every result: a carry bit for sums, the full width for products, never hls4ml's default precision;
- **average pooling** keeps the bits the division by a power of two adds;
- **softmax** gets tables sized from the logits type (one exp entry per representable ``x_max − x``);
- **tanh, sigmoid, softplus, softsign, elu** followed by a quantizer (and QKeras' ``quantized_tanh`` /
  ``quantized_sigmoid`` with ``use_real_tanh``/``use_real_sigmoid``) get one table entry per representable
  input and the quantizer's type as table type (:func:`table_rule`, checked on every input value), else
  hls4ml's own table, recorded as judged with the reason.

Types a configuration states explicitly (from a quantizer or by the user) are never changed. The
rules run as one hls4ml optimizer pass in the flow :data:`FLOW`, after hls4ml's own graph passes and
before it renders C++ types and templates.
"""
from __future__ import annotations

import contextlib
import logging
import math
import weakref
from typing import Any, Iterator

import numpy as np

from . import node_keys as keys
from .boundary import MethodChange
from .probe import BATCHNORM_CLASSES, affine_probe

log = logging.getLogger(__name__)

FLOW = "fpga_accel:exact_types"
PASS = "fpga_accel:derive_exact_types"
CONST_FRACTION_BITS = 24
"""Fraction bits kept for batch-norm constants that are not on a short fixed-point grid."""
MAX_EXACT_FRACTION_BITS = 32
SOFTMAX_RANGE_BITS = 3
"""x_max - x saturates at 2**3 = 8: exp(-8) = 3e-4 is the largest error that saturation adds."""
MAX_TABLE_BITS = 14
MAX_INV_TABLE_BITS = 12
SUM_CLASSES = {"Dense": "dense", "Conv1D": "conv", "Conv2D": "conv", "PointwiseConv1D": "conv",
               "PointwiseConv2D": "conv", "Conv2DBatchnorm": "conv", "DepthwiseConv1D": "depthwise",
               "DepthwiseConv2D": "depthwise"}
AFFINE_CLASSES = (keys.BATCHNORM_NODE, "ApplyAlpha")
ACTIVATION_CLASSES = ("Activation", "ReLU")
TABLE_CLASSES = ("Activation", "ParametrizedActivation")
"""Nodes a lookup-table activation can be (hls4ml makes every elu a ParametrizedActivation, alpha its parameter)."""
# hls4ml passes taken out of its flows while fpga_accel converts: the batch norm + binary activation
# merge computes a threshold in its own rounding (and re-encodes ±1 as 0/1); merge_linear_activation
# drops a QActivation(quantized_bits) whose parent's type is not set yet — with its quantization.
_REPLACED_HLS4ML_PASSES = {
    "vivado:quantization": ("vivado:merge_batch_norm_quantized_tanh", "vivado:quantize_dense_output"),
    "convert": ("merge_linear_activation",),
}


# ---------------------------------------------------------------------------------------- types


def _fixed(width: int, integer: int, signed: bool = True) -> Any:
    from hls4ml.model.types import FixedPrecisionType

    return FixedPrecisionType(width=int(width), integer=int(integer), signed=bool(signed))


def _as_fixed(precision: Any) -> tuple[int, int, bool] | None:
    """(width, integer, signed) of a fixed or integer precision; None for other kinds."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType, XnorPrecisionType

    if isinstance(precision, XnorPrecisionType):
        return None
    if isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
        return int(precision.width), int(precision.integer), bool(precision.signed)
    return None


def exact_type(values: np.ndarray, max_fraction: int = MAX_EXACT_FRACTION_BITS) -> Any | None:
    """The smallest fixed type that holds every value exactly, or None if one needs > max_fraction bits."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        return None
    frac = 0
    while frac <= max_fraction and not np.all(np.ldexp(v, frac) == np.round(np.ldexp(v, frac))):
        frac += 1
    if frac > max_fraction:
        return None
    return _range_type(v, frac)


def _range_type(v: np.ndarray, frac: int) -> Any:
    """A fixed type with ``frac`` fraction bits whose range holds [min(v), max(v)]."""
    lo, hi = float(v.min(initial=0.0)), float(v.max(initial=0.0))
    signed = lo < 0
    lsb = 2.0 ** -frac
    integer = 0 if not signed else 1
    while hi > 2.0 ** (integer - int(signed)) - lsb or (signed and lo < -(2.0 ** (integer - 1))):
        integer += 1
    if integer + frac < 1:  # all zeros: ap_fixed<0,...> does not exist
        integer = 1
    return _fixed(integer + frac, integer, signed)


def constant_type(values: np.ndarray, fraction: int = CONST_FRACTION_BITS) -> Any:
    """Exact if the constants sit on a grid of at most ``fraction`` bits (po2 alphas, quantized
    parameters), else rounded to ``fraction`` bits (float constants)."""
    found = exact_type(values, fraction)
    if found is not None:
        return found
    v = np.asarray(values, dtype=np.float64).ravel()
    return _range_type(v, fraction)


def sum_type(x: tuple[int, int, bool], w: tuple[int, int, bool], n_terms: int,
             bias: tuple[int, int, bool] | None) -> Any:
    """Exact type of sum_i x_i*w_i (+ bias): products full width, log2(n) carry bits, bias aligned."""
    width, integer, signed = x[0] + w[0], x[1] + w[1], x[2] or w[2]
    carry = math.ceil(math.log2(max(1, n_terms)))
    width, integer = width + carry, integer + carry
    if bias is not None:
        frac = max(width - integer, bias[0] - bias[1])
        integer = max(integer + (bias[2] and not signed), bias[1] + (signed and not bias[2])) + 1
        signed = signed or bias[2]
        width = integer + frac
    return _fixed(width, integer, signed)


# ---------------------------------------------------------------------------------------- graph


def _configured_auto(node: Any, type_name: str) -> bool:
    """True where the configuration left a type to inference (hls4ml nodes made by passes have none)."""
    cfg = node.get_attr(keys.PRECISION)
    if isinstance(cfg, dict):
        return cfg.get(type_name.removesuffix("_t"), "auto") == "auto"
    return True


RULES = "fpga_accel_type_rules"
"""Node attribute: {type name: the rule that derived it}, recorded where each type is set (``design.types()``)."""


def _record_rule(node: Any, type_name: str, rule: str) -> None:
    node.set_attr(RULES, {**(node.get_attr(RULES) or {}), type_name: rule})


def type_rules(node: Any) -> dict[str, dict[str, str]]:
    """Every type of a converted node with why it is what it is: the rule that derived it here, else
    whether the configuration gave it (a quantizer, a per-layer setting, calibration ranges) or hls4ml
    inferred it. For fpga_accel.json (``layer_table``) and ``Design.types()``."""
    rules = node.get_attr(RULES) or {}
    out = {}
    for type_name, named in node.types.items():
        rule = rules.get(type_name)
        if rule is None:
            rule = _given_rule(node, type_name)
        out[type_name] = {"precision": str(named.precision), "rule": rule}
    return out


_QUANTIZER_ATTRS = {keys.WEIGHT_T: (keys.WEIGHT_QUANTIZER, "kernel"), keys.BIAS_T: (keys.BIAS_QUANTIZER, "bias"),
                    keys.RESULT_T: (keys.ACTIVATION_QUANTIZER, "activation")}


def _given_rule(node: Any, type_name: str) -> str:
    """Why a type no rule derived is what it is: a quantizer's, the configuration's, or hls4ml's own."""
    if node.class_name in ("Input", "InputLayer") and type_name == keys.RESULT_T:
        return "design input: the input quantizer's type (the cast is the quantizer), --input-precision or " \
               "sized from calibration data"
    attr, what = _QUANTIZER_ATTRS.get(type_name, ("", ""))
    if attr and node.get_attr(attr) is not None:
        return f"the {what} quantizer's type"
    if _configured_auto(node, type_name):
        return "hls4ml's inference"
    return "the configuration: a per-layer precision, calibration ranges, or hls4ml's default precision"


def _set_type(node: Any, type_name: str, precision: Any, rule: str) -> None:
    _record_rule(node, type_name, rule)
    node.types[type_name].name = f"{node.name}_{type_name}"
    node.types[type_name].precision = precision
    weight = type_name.removesuffix("_t")
    if weight in node.weights:
        node.weights[weight].update_precision(precision)


def _replace_exact(node: Any, name: str, var: Any, found: Any, kind: str, rule: str) -> None:
    """``var``'s values written in ``found``, their exact type; None (more fraction bits than any
    supported type) is an error naming the layer."""
    if found is None:
        raise ValueError(f"{node.name}: {kind} {name} values need more than {MAX_EXACT_FRACTION_BITS} fraction bits")
    _replace_weight(node, name, np.asarray(var.data, dtype=np.float64), found, rule)


def _replace_weight(node: Any, weight: str, data: np.ndarray, precision: Any, rule: str) -> None:
    """A plain weight variable with new (exactly equal) data and type, under the same C++ name."""
    from hls4ml.model.types import WeightVariable

    _record_rule(node, f"{weight}_t", rule)
    old = node.weights[weight]
    var = WeightVariable(old.name, type_name=f"{node.name}_{weight}_t", precision=precision, data=data,
                         quantizer=None)
    var.data_unquantized = getattr(old, "data_unquantized", data)
    node.set_attr(weight, var)


def _exact_weights(node: Any) -> None:
    """Power-of-two and binary weights → the exact fixed/int type of their values (ordinary products)."""
    from hls4ml.model.types import ExponentPrecisionType, IntegerPrecisionType, XnorPrecisionType

    from ..quantizer_types import fixed_type, holds

    for name, var in list(node.weights.items()):
        precision = var.type.precision
        if isinstance(precision, XnorPrecisionType):  # stored 0/1, meaning -1/+1
            _replace_weight(node, name, np.where(np.asarray(var.data) == 0, -1, 1).astype(np.int64),
                            IntegerPrecisionType(width=2, signed=True), "binary weights: ±1 as int<2>")
        elif isinstance(precision, ExponentPrecisionType):
            _replace_exact(node, name, var, exact_type(np.asarray(var.data)), "power-of-two",
                           "power-of-two weights: the exact fixed type of their values")
        elif getattr(var, "quantizer", None) is not None and not holds(precision, np.asarray(var.data)):
            # hls4ml's type of quantized_bits(6, 6) is ap_int<6> (values on a grid of 2 wrap), and it
            # drops a fraction bit for keep_negative=False: the quantizer's own type, else the values'
            found = fixed_type(getattr(var.quantizer, "qkeras_config", {}) or {})
            if found is None or not holds(found, np.asarray(var.data)):
                found = exact_type(np.asarray(var.data))
            _replace_exact(node, name, var, found, "quantized",
                           "quantized weights: the quantizer's own type (else the values' exact type)")


PLAIN_KERNELS = {"Dense": ("weight",), "Conv1D": ("weight",), "Conv2D": ("weight",), "DepthwiseConv1D": ("weight",),
                 "DepthwiseConv2D": ("weight",), "SeparableConv1D": ("depthwise", "pointwise"),
                 "SeparableConv2D": ("depthwise", "pointwise")}
"""Keras layers with float kernels, and the hls4ml precision keys of those kernels in Keras' weight order."""


def float_kernel_types(model: Any) -> dict[str, dict[str, str]]:
    """hls4ml ``LayerName`` precision entries for the float32 kernels of plain Keras layers in a quantized
    model: the exact type of their values (at most 32 fraction bits), as for a QKeras layer without a kernel
    quantizer. Left to hls4ml they take its default type (ap_fixed<16,6>) and the sums differ from Keras'
    (35 % exact measured on a DepthwiseConv1D between two quantizers); exact, only float32 rounding of Keras'
    own sums remains."""
    found: dict[str, dict[str, str]] = {}
    for layer in model.layers:
        keys = PLAIN_KERNELS.get(type(layer).__name__)
        weights = layer.get_weights() if keys else []
        for key, values in zip(keys or (), weights):
            precision = constant_type(np.asarray(values, dtype=np.float64), MAX_EXACT_FRACTION_BITS)
            found.setdefault(layer.name, {})[key] = str(precision)
    return found


def _n_terms(node: Any, kind: str) -> int:
    if kind == "dense":
        return int(node.get_attr(keys.N_IN))
    taps = int(node.get_attr(keys.FILT_HEIGHT, 1)) * int(node.get_attr(keys.FILT_WIDTH, 1))
    return taps if kind == "depthwise" else taps * int(node.get_attr(keys.N_CHAN))


def _derive_sum(node: Any, kind: str) -> bool:
    x = _as_fixed(node.get_input_variable().type.precision)
    w = _as_fixed(node.types[keys.WEIGHT_T].precision) if keys.WEIGHT_T in node.types else None
    if x is None or w is None:
        return False
    if node.get_attr(keys.WEIGHT_QUANTIZER) is None and str(node.get_attr(keys.CLASS_NAME, "")).startswith("Q"):
        # a QKeras layer without a kernel quantizer computes with float32 weights
        _set_type(node, keys.WEIGHT_T, constant_type(np.asarray(node.weights[keys.WEIGHT].data),
                                                     MAX_EXACT_FRACTION_BITS),
                  "float32 weights of a QKeras layer without kernel quantizer: exact type of the values")
        w = _as_fixed(node.types[keys.WEIGHT_T].precision)
    bias = None
    if keys.BIAS in node.weights and np.any(np.asarray(node.weights[keys.BIAS].data) != 0):
        if _configured_auto(node, keys.BIAS_T) and node.get_attr(keys.BIAS_QUANTIZER) is None:
            _set_type(node, keys.BIAS_T, constant_type(np.asarray(node.weights[keys.BIAS].data)),
                      f"float bias: exact type of the values (at most {CONST_FRACTION_BITS} fraction bits)")
        bias = _as_fixed(node.types[keys.BIAS_T].precision)
    exact = sum_type(x, w, _n_terms(node, kind), bias)
    for type_name in (keys.ACCUM_T, keys.RESULT_T):
        if type_name in node.types and _configured_auto(node, type_name):
            _set_type(node, type_name, exact, "exact sum: product = input + weight bits, accumulator + "
                      "ceil(log2 fan-in) carry bits + the bias's bits")
    return True


def _derive_affine(node: Any) -> bool:
    """y = scale*x + bias per channel (batch norm, hls4ml's ApplyAlpha)."""
    x = _as_fixed(node.get_input_variable().type.precision)
    if x is None:
        return False
    for weight, type_name, quantizer in ((keys.SCALE, keys.SCALE_T, keys.SCALE_QUANTIZER),
                                         (keys.BIAS, keys.BIAS_T, keys.BIAS_QUANTIZER)):
        if _configured_auto(node, type_name) and node.get_attr(quantizer) is None:
            _set_type(node, type_name, constant_type(np.asarray(node.weights[weight].data)),
                      f"affine map probed from the Keras layer: exact or {CONST_FRACTION_BITS} fraction bits")
    s, b = _as_fixed(node.types[keys.SCALE_T].precision), _as_fixed(node.types[keys.BIAS_T].precision)
    if s is None or b is None:
        return False
    if _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, sum_type(x, s, 1, b), "exact affine map: scale·x + bias, no rounding")
    return True


def quantized_bits_type(config: dict[str, Any]) -> Any | None:
    """The HLS type whose cast *is* QKeras' quantized_bits (alpha 1): its grid, round half to even,
    saturation (symmetric when QKeras' is), for any integer bits (``fpga_accel.quantizer_types``)."""
    from ..quantizer_types import fixed_type

    return fixed_type({"class_name": "quantized_bits", "config": config})


def _derive_activation(node: Any) -> bool:
    from ..quantizer_types import fixed_type

    quantizer = node.get_attr(keys.ACTIVATION_QUANTIZER) or {}
    if quantizer.get("class_name") in ("linear", "quantized_relu"):  # 'linear': hls4ml's quantized_bits
        exact = fixed_type(quantizer)
        if exact is None:
            return False
        # hls4ml's ap_int/ap_uint for integer >= bits truncates and wraps
        _set_type(node, keys.RESULT_T, exact, "quantized activation: its grid, RND_CONV, (symmetric) SAT")
    elif _is_plain_relu(node) and _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, node.get_input_variable().type.precision,
                  "float relu/linear: keeps its input's type")
    return True


RELU_NAMES = ("relu", "linear")
"""Activations whose result is exact in their input's type (relu: x or 0; linear: x)."""
THRESHOLDED_RELU_NAMES = ("thresholdedrelu", "thresholded_relu")
"""hls4ml's names for a thresholded relu (Keras 3's parser makes every plain ``ReLU`` layer one, threshold 0)."""


def _is_plain_relu(node: Any) -> bool:
    """A relu or linear activation node without a quantizer: a Keras ``ReLU`` layer (hls4ml 1.3's Keras-2
    parser names its activation "ReLU", so the lower-case check alone missed it and hls4ml's default type
    truncated a wide sum), ``Activation("relu")``, or a thresholded relu with threshold 0 (what hls4ml 1.3's
    Keras-3 parser makes of every ``ReLU`` layer)."""
    if node.get_attr(keys.ACTIVATION_QUANTIZER):
        return False
    act = str(node.get_attr(keys.ACTIVATION, "")).lower()
    if act in THRESHOLDED_RELU_NAMES:
        theta = node.get_attr(keys.ACTIV_PARAM, None)
        return theta is not None and float(theta) == 0.0
    return act in RELU_NAMES


def _is_thresholded_relu(node: Any) -> bool:
    """A Keras ``ThresholdedReLU`` (any threshold) without a quantizer, as hls4ml parses it."""
    return node.class_name == "ParametrizedActivation" and not node.get_attr(keys.ACTIVATION_QUANTIZER) \
        and str(node.get_attr(keys.ACTIVATION, "")).lower() in THRESHOLDED_RELU_NAMES


def _derive_thresholded_relu(node: Any) -> bool:
    """``x if x > theta else 0``: the result is x or 0, exact in the input's type. hls4ml casts theta to
    ``param_t`` (by default the input's type, which rounds when it is a quantizer's: a theta just below a
    grid value moved onto it, and that value then no longer passed). Cast instead by truncation onto a grid
    at least as fine as the input's: for inputs on that grid ``x > floor(theta) <=> x > theta``."""
    x = _as_fixed(node.get_input_variable().type.precision)
    theta = node.get_attr(keys.ACTIV_PARAM, None)
    if x is None or theta is None or not np.isfinite(float(theta)):
        return False
    fraction = max(x[0] - x[1], 0)
    floor = math.floor(math.ldexp(float(theta), fraction))
    if _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, node.get_input_variable().type.precision,
                  "thresholded relu: x or 0, keeps its input's type")
    if keys.PARAM_T in node.types and _configured_auto(node, keys.PARAM_T):
        _set_type(node, keys.PARAM_T, _range_type(np.array([math.ldexp(floor, -fraction)]), fraction),
                  "threshold truncated onto the input's grid: x > floor(theta) <=> x > theta")
    return True


TABLE_MAX_ENTRIES = 1 << 16
"""Largest tanh/sigmoid/softplus/softsign/elu table the rule sizes (entries); a wider input is judged."""
TABLE_EXACT = "lookup table sized exact"
"""Start of the table_t rule of a table activation the rule made exact (``table_verdicts`` reads it)."""
TABLE_JUDGED = "hls4ml's lookup table, judged"
"""Start of the table_t rule of a table activation the rule cannot make exact."""


def _fixed_point(precision: Any) -> Any | None:
    """hls4ml's precision as the runtime's ``FixedType`` (its cast is ap_fixed's), None if not fixed-point."""
    from ..errors import ConfigError
    from ..runtime.fixed_point import FixedType

    if _as_fixed(precision) is None:
        return None
    try:
        return FixedType.parse(str(precision))
    except ConfigError:
        return None


def _following_quantizer(node: Any) -> Any | None:
    """The type of the quantizer the node's only consumer applies (a QActivation's quantized_bits or
    quantized_relu), None when its output goes elsewhere."""
    from ..quantizer_types import fixed_type

    users = node.get_output_nodes()
    if len(users) != 1 or users[0].class_name not in ACTIVATION_CLASSES:
        return None
    quantizer = users[0].get_attr(keys.ACTIVATION_QUANTIZER) or {}
    if quantizer.get("class_name") not in ("linear", "quantized_relu"):
        return None
    return fixed_type(quantizer)


def _own_quantizer(node: Any) -> Any | None:
    """QKeras' ``quantized_tanh(use_real_tanh=True)`` / ``quantized_sigmoid(use_real_sigmoid=True)``: Keras' float32
    tanh/sigmoid then ``clip(round_half_even(p·m)/m)``, the cast to this type (None for other quantizers, the
    stochastic ones and a symmetric sigmoid, whose lower clip no unsigned type has)."""
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    quantizer = node.get_attr(keys.ACTIVATION_QUANTIZER) or {}
    kind, cfg = quantizer.get("class_name"), quantizer.get("config") or {}
    if cfg.get("use_stochastic_rounding"):
        return None
    bits = int(cfg.get("bits", 8))
    if kind == "quantized_tanh" and cfg.get("use_real_tanh"):
        saturation = SaturationMode.SAT_SYM if cfg.get("symmetric") else SaturationMode.SAT
        return FixedPrecisionType(bits, 1, signed=True, rounding_mode=RoundingMode.RND_CONV, saturation_mode=saturation)
    if kind == "quantized_sigmoid" and cfg.get("use_real_sigmoid") and not cfg.get("symmetric"):
        return FixedPrecisionType(bits, 0, signed=False, rounding_mode=RoundingMode.RND_CONV,
                                  saturation_mode=SaturationMode.SAT)
    return None


def _keras_activation(function: str) -> Any:
    """Keras' own float32 activation (what QKeras computes before the following quantizer)."""
    from ..keras_compat import keras_module

    import tensorflow as tf

    act = keras_module().activations.get(function)  # a tensor: Keras 2's hard_sigmoid reads its dtype's base_dtype
    return lambda x: np.asarray(act(tf.convert_to_tensor(np.asarray(x, dtype=np.float32))), dtype=np.float32)


def table_rule(function: str, x: Any, q: Any | None,
               reference: Any | None = None) -> tuple[int, str | None]:
    """(table size, None) when hls4ml's ``function`` table can make csim equal QKeras' ``q(function(x))`` for
    every value of the input type ``x``, else (0, why not). ``x``, ``q``: runtime ``FixedType``s.

    The rule: one entry per representable input over the table's range ``[-h, h)`` (table_size =
    2h·2^F for F fraction bits: hls4ml's index ``int(x·table_size/2h)`` is then exact; elu's half table
    ``[-8, 0)``: 8·2^F) and the following
    quantizer's type as table_t and result_t, so each entry is rounded once, as QKeras rounds. Checked
    here on every representable input of the range and on the type's two ends (f is monotone, so an input
    beyond the range, which reads the end entry, agrees iff the end of the type does): an entry whose float
    value falls on the other side of a rounding step from Keras' float32 f, or a quantizer whose steps go on
    beyond the table's range, leaves the layer judged."""
    from ..runtime.emulator import cast
    from ..runtime.lookup_tables import TABLE_FUNCTIONS

    spec = TABLE_FUNCTIONS[function]
    if q is None:
        return 0, "no quantizer follows it, so its float output cannot be matched"
    n = spec.entries_for_grid(x.frac)
    if n > TABLE_MAX_ENTRIES:
        most = int(np.log2(TABLE_MAX_ENTRIES / spec.entries_for_grid(0)))
        return 0, (f"one entry per input value of {x} would take {n:,} entries (more than "
                   f"{TABLE_MAX_ENTRIES:,}): quantize its input to at most {most} fraction bits")
    lo, hi = x.value_range()
    grid = spec.inputs(n).astype(np.float64)  # one per representable value in the range
    xs = np.unique(np.concatenate([cast(grid, x), [lo, hi, 0.0]]))
    design = cast(spec.lookup(xs, cast(spec.values(n), q), n), q)
    keras = cast((reference or _keras_activation(function))(xs).astype(np.float64), q)
    wrong = np.flatnonzero(design != keras)
    if wrong.size:
        i = int(wrong[0])
        return 0, (f"{wrong.size} of {xs.size} input values of {x} would differ from QKeras (first x = {xs[i]:g}: "
                   f"table {design[i]:g}, QKeras {keras[i]:g})")
    return n, None


def _derive_table_activation(node: Any) -> bool:
    """tanh/sigmoid/softplus/softsign/elu followed by a quantizer (or QKeras' quantized_tanh/sigmoid with the real
    function, which quantize it themselves): sized by :func:`table_rule` when it holds;
    otherwise hls4ml's own table, recorded as judged with the reason (the convert verdict names it)."""
    from hls4ml.model.types import NamedType

    function = str(node.get_attr(keys.ACTIVATION)).lower()  # a Keras ELU layer's is "ELU"
    x = _fixed_point(node.get_input_variable().type.precision)
    q_precision = _own_quantizer(node) if node.get_attr(keys.ACTIVATION_QUANTIZER) else _following_quantizer(node)
    q = _fixed_point(q_precision) if q_precision is not None else None
    alpha = node.get_attr(keys.ACTIV_PARAM, 1.0) if node.class_name == "ParametrizedActivation" else 1.0
    if x is None:
        size, why = 0, "its input is not fixed-point"
    elif alpha is None or float(alpha) != 1.0:
        size, why = 0, f"alpha {alpha} is not 1: alpha times an entry rounds differently from Keras' float32"
    else:
        size, why = table_rule(function, x, q)
    result = _fixed_point(node.get_output_variable().type.precision)
    if why is None and not _configured_auto(node, keys.RESULT_T) and not _holds_grid(result, q):
        why = f"its result type {result} is set by the configuration and does not hold the quantizer's values"
    if why is not None:  # (hls4ml's config always names a table type: its default, not a user's choice)
        _record_rule(node, keys.TABLE_T, f"{TABLE_JUDGED}: {why}")
        return True
    node.set_attr(keys.TABLE_T, NamedType(f"{node.name}_table_t", q_precision))
    node.set_attr(keys.TABLE_SIZE, size)
    whose = "its own quantizer's" if node.get_attr(keys.ACTIVATION_QUANTIZER) else "the following quantizer's"
    rule = (f"{TABLE_EXACT}: one entry per input value ({size:,} entries), {whose} type, checked equal to QKeras "
            "on every input value")
    _record_rule(node, keys.TABLE_T, rule)
    if _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, q_precision, rule)
    return True


HARD_SIGMOID_MAX_INPUTS = 1 << 20
"""Input values the hard_sigmoid rule checks one by one at most (a wider input type is judged)."""


def keras_hard_sigmoid_slope() -> float:
    """The slope of the installed Keras' hard_sigmoid, as float32: Keras 2 clip(0.2·x + 0.5), Keras 3
    relu6(x + 3) / 6 (hls4ml 1.3 writes 0.2 for both)."""
    from ..keras_compat import is_keras3

    return float(np.float32(1.0 / 6.0 if is_keras3() else 0.2))


def hard_sigmoid_rule(x: Any, q: Any | None, slope: float,
                      reference: Any | None = None) -> str | None:
    """None when hls4ml's hard_sigmoid, ``clip(slope·x + 0.5, 0, 1)`` computed exactly in fixed point with
    the float32 ``slope``, then cast to the following quantizer's type ``q``, equals QKeras' quantizer of Keras'
    float32 hard_sigmoid for every value of the input type ``x`` (runtime ``FixedType``s); else why not."""
    from ..runtime.emulator import cast

    if q is None:
        return "no quantizer follows it, so its float output cannot be matched"
    n = 2 ** int(x.width)
    if n > HARD_SIGMOID_MAX_INPUTS:
        return f"its input type {x} has {n:,} values, more than the {HARD_SIGMOID_MAX_INPUTS:,} the rule checks"
    lo, _ = x.value_range()
    xs = lo + np.arange(n, dtype=np.float64) * 2.0 ** -x.frac
    design = cast(np.clip(slope * xs + 0.5, 0.0, 1.0), q)
    keras = cast((reference or _keras_activation("hard_sigmoid"))(xs).astype(np.float64), q)
    wrong = np.flatnonzero(design != keras)
    if wrong.size:
        i = int(wrong[0])
        return (f"{wrong.size} of {n} input values of {x} would differ from QKeras (first x = {xs[i]:g}: design "
                f"{design[i]:g}, QKeras {keras[i]:g}: Keras rounds slope·x in float32)")
    return None


def _derive_hard_sigmoid(node: Any) -> bool:
    """A Keras float hard_sigmoid followed by a quantizer: the installed Keras' slope (hls4ml writes Keras 2's
    0.2 on Keras 3 too), slope and shift in the exact types of their float32 values, and the quantizer's type
    as result when :func:`hard_sigmoid_rule` holds; otherwise the same slope and types, judged with the reason."""
    from hls4ml.model.types import NamedType

    slope = keras_hard_sigmoid_slope()
    node.set_attr(keys.SLOPE, slope)
    node.set_attr(keys.SHIFT, 0.5)
    for name, value in ((keys.SLOPE_T, slope), (keys.SHIFT_T, 0.5)):
        node.set_attr(name, NamedType(f"{node.name}_{name}", exact_type(np.array([value]))))
    x = _fixed_point(node.get_input_variable().type.precision)
    q_precision = _following_quantizer(node)
    q = _fixed_point(q_precision) if q_precision is not None else None
    why = "its input is not fixed-point" if x is None else hard_sigmoid_rule(x, q, slope)
    if why is None and not _configured_auto(node, keys.RESULT_T):
        why = "its result type is set by the configuration"
    if why is not None:
        _record_rule(node, keys.SLOPE_T, f"{TABLE_JUDGED}: {why}")
        return True
    rule = (f"{TABLE_EXACT} (no table): hard_sigmoid with Keras' float32 slope {slope:.9g}, the following quantizer's type, "
            "checked equal to QKeras on every input value")
    _record_rule(node, keys.SLOPE_T, rule)
    _set_type(node, keys.RESULT_T, q_precision, rule)
    return True


def _holds_grid(t: Any | None, q: Any) -> bool:
    """Does fixed type ``t`` hold every value of fixed type ``q`` exactly?"""
    if t is None:
        return False
    (t_lo, t_hi), (q_lo, q_hi) = t.value_range(), q.value_range()
    return t.frac >= q.frac and t_lo <= q_lo and q_hi <= t_hi


def table_verdicts(layers: list[dict[str, Any]]) -> dict[str, str | None]:
    """Layer name → None (the table rule made it exact) or why it is judged, for every table activation of
    a converted design's layer records (``hls.layers.layer_table``, fpga_accel.json)."""
    found: dict[str, str | None] = {}
    for layer in layers:
        types = layer.get("types") or {}
        rules = [str((types.get(name) or {}).get("rule", "")) for name in (keys.TABLE_T, keys.SLOPE_T)]
        rule = next((r for r in rules if r.startswith((TABLE_EXACT, TABLE_JUDGED))), "")
        if rule.startswith(TABLE_EXACT):
            found[layer["name"]] = None
        elif rule.startswith(TABLE_JUDGED):
            found[layer["name"]] = rule[len(TABLE_JUDGED) + 2:]
    return found


def _pool_size(node: Any) -> int:
    """Values one output averages: the pool window, or the whole map for global pooling."""
    if node.class_name == "GlobalPooling1D":
        return int(node.get_attr(keys.N_IN, 1))
    if node.class_name == "GlobalPooling2D":
        return int(node.get_attr(keys.IN_HEIGHT, 1)) * int(node.get_attr(keys.IN_WIDTH, 1))
    return int(node.get_attr(keys.POOL_HEIGHT, 1)) * int(node.get_attr(keys.POOL_WIDTH, 1))


def _derive_pooling(node: Any) -> bool:
    x = _as_fixed(node.get_input_variable().type.precision)
    if x is None:
        return False
    extra = 0
    if str(node.get_attr(keys.POOL_OP, "max")).lower() == "average":
        extra = math.ceil(math.log2(max(1, _pool_size(node))))
    if keys.ACCUM_T in node.types and _configured_auto(node, keys.ACCUM_T):
        _set_type(node, keys.ACCUM_T, _fixed(x[0] + 2 * extra, x[1] + extra, x[2]),
                  "pooling sum: input type + the window's carry bits")
    if _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, _fixed(x[0] + extra, x[1], x[2]),
                  "average pooling: input type + the division's bits" if extra else "max pooling: the input's type")
    return True


def _derive_average(node: Any) -> bool:
    """Keras' Average of two tensors, (a + b) / 2: hls4ml's sum type (one more integer bit than the wider
    input) plus the fraction bit the halving adds (hls4ml's own rule drops it and truncates)."""
    inputs = [_as_fixed(node.get_input_variable(name).type.precision) for name in node.inputs]
    if len(inputs) != 2 or any(x is None for x in inputs) or not _configured_auto(node, keys.RESULT_T):
        return False
    (w1, i1, s1), (w2, i2, s2) = inputs  # type: ignore[misc]
    integer = max(i1 + (s2 and not s1), i2 + (s1 and not s2)) + 1
    fraction = max(w1 - i1, w2 - i2) + 1
    _set_type(node, keys.RESULT_T, _fixed(integer + fraction, integer, s1 or s2),
              "average of two: the wider sum + one fraction bit for the halving")
    return True


MERGE_OPS = ("add", "subtract", "multiply", "maximum", "minimum")
"""Two-input merges whose exact result type follows from the inputs' types (hls4ml's own rules, minus the
default-precision fallback and the maximum-precision clipping, either of which would round or wrap)."""


def _derive_merge(node: Any, op: str) -> bool:
    """Add/Subtract: one more integer bit than the wider input (a sign bit more for an unsigned input beside a
    signed one), the finer fraction; Multiply: the full product; Maximum/Minimum: a type holding both inputs."""
    inputs = [_as_fixed(node.get_input_variable(name).type.precision) for name in node.inputs]
    if len(inputs) != 2 or any(x is None for x in inputs) or not _configured_auto(node, keys.RESULT_T):
        return False
    (w1, i1, s1), (w2, i2, s2) = inputs  # type: ignore[misc]
    signed = s1 or s2 or op == "subtract"
    if op == "multiply":
        _set_type(node, keys.RESULT_T, _fixed(w1 + w2, i1 + i2, s1 or s2), "product of two: the full width")
        return True
    integer = max(i1 + (signed and not s1), i2 + (signed and not s2))
    rule = "a type holding both inputs"
    if op in ("add", "subtract"):
        integer += 1
        rule = "sum of two: the wider input + one carry bit"
    fraction = max(w1 - i1, w2 - i2)
    _set_type(node, keys.RESULT_T, _fixed(integer + fraction, integer, signed), rule)
    return True


def _holding_both(inputs: list[tuple[int, int, bool] | None]) -> Any | None:
    """The smallest fixed type holding every value of two fixed types: the larger integer part (one more for
    an unsigned input beside a signed one), the finer fraction, signed if either is."""
    if len(inputs) != 2 or any(x is None for x in inputs):
        return None
    (w1, i1, s1), (w2, i2, s2) = inputs  # type: ignore[misc]
    signed = s1 or s2
    integer = max(i1 + (signed and not s1), i2 + (signed and not s2))
    fraction = max(w1 - i1, w2 - i2)
    return _fixed(integer + fraction, integer, signed)


def _derive_concat(node: Any) -> bool:
    """Concatenate: values move unchanged, so the result type holds both inputs' types. hls4ml's own rule
    computes the same from the types *its* inference gave the inputs, before this pass derives theirs (a
    batch norm's or a power-of-two Dense's exact type is wider): it has to follow the derived types."""
    both = _holding_both([_as_fixed(node.get_input_variable(name).type.precision) for name in node.inputs])
    if both is None or not _configured_auto(node, keys.RESULT_T):
        return False
    _set_type(node, keys.RESULT_T, both, "concatenation: a type holding both inputs' types")
    return True


PASSTHROUGH_CLASSES = ("Reshape", "Transpose", "Clone", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
                       "Resize", "Repack")
"""hls4ml nodes that move values without computing (hls4ml's inference gives Cropping its default type)."""


def _derive_passthrough(node: Any) -> bool:
    """Reshape, Flatten, Clone, padding, Transpose...: values move, so the input's type carries over."""
    if _configured_auto(node, keys.RESULT_T):
        _set_type(node, keys.RESULT_T, node.get_input_variable().type.precision, "values move: the input's type")
    return True


def _strict_sign_consumer(node: Any) -> bool:
    """Is node's only consumer QKeras' binary_tanh, which maps 0 to -1 (hls4ml's maps it to +1)?"""
    users = node.get_output_nodes()
    if len(users) != 1:
        return False
    act = users[0]
    quantizer = act.get_attr(keys.ACTIVATION_QUANTIZER) or {}
    return act.class_name in ACTIVATION_CLASSES and act.get_attr(keys.ACTIVATION) == "binary_tanh" \
        and quantizer.get("class_name") == "binary_tanh" and "use_01" not in quantizer.get("config", {})


TIES_LOWERED = "fpga_accel_ties_lowered"
"""Node attribute (fpga_accel's own): the bias was lowered for binary_tanh's ties already."""


def _lower_ties(node: Any) -> None:
    """x > 0 as x - lsb >= 0: lower the bias by one step of the node's (exact) result grid."""
    if node.get_attr(TIES_LOWERED) or keys.BIAS not in node.weights:
        return
    result = _as_fixed(node.types[keys.RESULT_T].precision)
    if result is None:
        return
    lsb = 2.0 ** -(result[0] - result[1])
    bias = np.asarray(node.weights[keys.BIAS].data, dtype=np.float64) - lsb
    _replace_weight(node, keys.BIAS, bias, constant_type(bias),
                    "binary_tanh ties: bias lowered by one step of the result grid (QKeras maps 0 to -1)")
    node.set_attr(TIES_LOWERED, True)


def softmax_types(logits: Any, n: int) -> dict[str, tuple[int, int]]:
    """Unsigned (width, integer) of hls4ml's 'stable' softmax types for logits of type ``logits``.

    ``inp_norm`` (x_max - x) gets one exp-table entry per representable value below 8, so logits that
    differ get different exponentials and argmax is preserved; tables round and saturate.
    """
    frac = max(0, int(logits.width) - int(logits.integer))
    norm_bits = min(SOFTMAX_RANGE_BITS + frac, MAX_TABLE_BITS)
    sum_int = max(1, math.ceil(math.log2(n + 1)))
    return {
        "inp_norm": (norm_bits, SOFTMAX_RANGE_BITS),
        "exp_table": (18, 1),
        "accum": (18 + sum_int, 1 + sum_int),
        "inv_inp": (12 + sum_int, sum_int),
        "inv_table": (18, 1),
    }


SOFTMAX_TYPE_KEYS = {"inp_norm": keys.INP_NORM_T, "exp_table": keys.EXP_TABLE_T, "accum": keys.ACCUM_T,
                     "inv_inp": keys.INV_INP_T, "inv_table": keys.INV_TABLE_T}
"""The node key of each of :func:`softmax_types`' types."""


def softmax_rows(node: Any) -> tuple[int, int, int]:
    """(n_outer, n_slice, n_inner) of a softmax node: Keras normalises along its ``axis`` (the last by
    default), so a tensor of shape (..., k, ...) is n_outer x n_inner independent softmaxes of n_slice = k
    values each. hls4ml 1.3's Keras-2 parser records the axis but not these, and its template then
    normalises over the whole tensor; set here, io_parallel calls ``softmax_multidim`` (one softmax per row)
    and io_stream's softmax (one per stream word: the last axis) is described as it computes."""
    shape = [int(d) for d in node.get_input_variable().shape]
    axis = node.get_attr(keys.AXIS, -1)
    axis = -1 if axis is None else int(axis)
    axis = axis + len(shape) + 1 if axis < 0 else axis  # Keras' axis counts the batch axis
    axis = min(max(axis - 1, 0), len(shape) - 1)
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def _derive_softmax(node: Any) -> bool:
    """hls4ml sizes softmax tables from defaults (x_max - x as wide as the logits, too coarse to index
    a table) and reads no config key for most of them."""
    from hls4ml.model.types import FixedPrecisionType, NamedType, RoundingMode, SaturationMode

    logits = node.get_input_variable().type.precision
    if _as_fixed(logits) is None:
        return False
    n_outer, n_slice, n_inner = softmax_rows(node)
    node.set_attr(keys.N_OUTER, n_outer)  # hls4ml's Keras-2 parser sets neither: one softmax over every value
    node.set_attr(keys.N_INNER, n_inner)
    types = softmax_types(logits, n_slice)
    for name, (width, integer) in types.items():
        rounding = RoundingMode.TRN if name == "inp_norm" else RoundingMode.RND
        precision = FixedPrecisionType(width, integer, signed=False, rounding_mode=rounding,
                                       saturation_mode=SaturationMode.SAT)
        node.set_attr(SOFTMAX_TYPE_KEYS[name], NamedType(f"{node.name}_{name}_t", precision))
        _record_rule(node, SOFTMAX_TYPE_KEYS[name], "softmax table sized from the logits type: one exp entry per "
                                         "representable x_max - x below 8")
    node.set_attr(keys.ACTIVATION, "softmax")  # a Keras Softmax layer leaves "Softmax": config/call names differ
    node.set_attr(keys.EXP_TABLE_SIZE, 2 ** types["inp_norm"][0])
    node.set_attr(keys.INV_TABLE_SIZE, 2 ** MAX_INV_TABLE_BITS)
    return True


def _table_functions() -> Any:
    from ..runtime.lookup_tables import TABLE_FUNCTIONS

    return TABLE_FUNCTIONS


def derive_types(model: Any) -> list[str]:
    """Derive the types of every layer in graph order; returns the layers no rule covers."""
    uncovered = []
    for node in model.get_layers():
        cls = node.class_name
        _exact_weights(node)
        if cls in ("Input", "InputLayer"):
            done = True
        elif cls in SUM_CLASSES:
            done = _derive_sum(node, SUM_CLASSES[cls])
        elif cls in AFFINE_CLASSES:
            done = _derive_affine(node)
        elif cls in TABLE_CLASSES and str(node.get_attr(keys.ACTIVATION)).lower() in _table_functions() \
                and (not node.get_attr(keys.ACTIVATION_QUANTIZER) or _own_quantizer(node) is not None):
            done = _derive_table_activation(node)  # a float one, or QKeras' quantized_tanh/sigmoid with the real f
        elif cls == "HardActivation" and node.get_attr(keys.ACTIVATION) == "hard_sigmoid" \
                and not node.get_attr(keys.ACTIVATION_QUANTIZER):
            done = _derive_hard_sigmoid(node)  # a Keras float hard_sigmoid (QKeras' quantized_sigmoid has its own)
        elif cls in ACTIVATION_CLASSES or (cls == "ParametrizedActivation" and _is_plain_relu(node)):
            done = _derive_activation(node)
        elif _is_thresholded_relu(node):  # threshold other than 0
            done = _derive_thresholded_relu(node)
        elif cls in ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"):
            done = _derive_pooling(node)
        elif cls == "Merge" and str(node.get_attr(keys.MERGE_OP, "")).lower() == "average":
            done = _derive_average(node)
        elif cls == "Merge" and str(node.get_attr(keys.MERGE_OP, "")).lower() in MERGE_OPS:
            done = _derive_merge(node, str(node.get_attr(keys.MERGE_OP)).lower())
        elif cls == "Softmax":
            done = _derive_softmax(node)
        elif cls == "Concatenate":
            done = _derive_concat(node)
        elif cls in PASSTHROUGH_CLASSES:
            done = _derive_passthrough(node)
        else:
            done = False
        if (cls in SUM_CLASSES or cls in AFFINE_CLASSES) and _strict_sign_consumer(node):
            _lower_ties(node)
            done = _derive_sum(node, SUM_CLASSES[cls]) if cls in SUM_CLASSES else _derive_affine(node)
        if not done:
            uncovered.append(f"{node.name} ({cls})")
    return uncovered


# ------------------------------------------------------------------------------ refusals


def _activation_quantizer(layer: Any) -> Any:
    """The quantizer a QKeras layer applies to its output (QActivation's, or an activation argument)."""
    from ..keras_compat import quantizer_of

    q = quantizer_of(layer) if type(layer).__name__ == "QActivation" else getattr(layer, "activation", None)
    if isinstance(q, str):
        from qkeras.quantizers import get_quantizer

        q = get_quantizer(q)
    return q


def inexact_layers(model: Any) -> list[str]:
    """Layers whose QKeras arithmetic hls4ml 1.3 has no exact counterpart for, each with the reason."""
    from ..quantizer_types import HLS4ML_ACTIVATION_QUANTIZERS, unmatched_reason

    found = []
    for layer in model.layers:
        q = _activation_quantizer(layer)
        kind = type(q).__name__ if q is not None else ""
        if kind == "ternary" or getattr(q, "__name__", "") == "ternary_tanh":
            found.append(f"{layer.name}: QKeras' ternary activation switches at |x| >= its threshold, hls4ml's "
                         "ternary_tanh at |x| > 0.5 with its own scaling (use quantized_bits(2, 1) or binary)")
        elif kind == "quantized_relu" and float(getattr(q, "negative_slope", 0) or 0) != 0:
            found.append(f"{layer.name}: quantized_relu(negative_slope={q.negative_slope}) clips negative values at "
                         "-negative_slope * 2**integer, which hls4ml's leaky relu does not")
        elif kind == "quantized_relu" and (getattr(q, "relu_upper_bound", None) is not None
                                          or getattr(q, "use_sigmoid", False)):
            found.append(f"{layer.name}: quantized_relu with relu_upper_bound or use_sigmoid has no hls4ml "
                         "counterpart (hls4ml 1.3 ignores both)")
        elif kind == "quantized_sigmoid" and getattr(q, "symmetric", False):
            found.append(f"{layer.name}: quantized_sigmoid(symmetric=True) clips its low end at 2**-bits, which no "
                         "fixed-point type does (hls4ml's result is 0 there): use symmetric=False")
        elif getattr(q, "use_stochastic_rounding", False):
            found.append(f"{layer.name}: stochastic rounding cannot be reproduced by a deterministic design")
        elif kind == "quantized_bits" and isinstance(getattr(q, "alpha", None), str):
            found.append(f"{layer.name}: quantized_bits(alpha={q.alpha!r}) as an activation scales by statistics of "
                         "each batch, which no fixed design reproduces")
        elif unmatched_reason(q) is not None:
            found.append(f"{layer.name}: {unmatched_reason(q)}")
        elif q is not None and _is_qkeras(q) and _quantizer_kind(q) not in HLS4ML_ACTIVATION_QUANTIZERS:
            found.append(f"{layer.name}: hls4ml 1.3 has no activation for the {_quantizer_kind(q)} quantizer "
                         f"(it converts {', '.join(HLS4ML_ACTIVATION_QUANTIZERS)})")
    return found


def _is_qkeras(q: Any) -> bool:
    module = getattr(q, "__module__", None) or type(q).__module__
    return str(module).startswith("qkeras")


def _quantizer_kind(q: Any) -> str:
    return str(getattr(q, "__name__", None) or type(q).__name__)


# ------------------------------------------------------------------------------ hls4ml hooks


def _pass_class() -> type:
    from hls4ml.model.optimizer import ModelOptimizerPass

    class DeriveExactTypes(ModelOptimizerPass):
        """hls4ml pass wrapper around :func:`derive_types` (runs once per conversion)."""

        def __init__(self) -> None:
            self.name = PASS

        def transform(self, model: Any) -> bool:
            if model in _UNCOVERED:
                return False
            uncovered = derive_types(model)
            _UNCOVERED[model] = uncovered
            if uncovered:
                log.info("types left to hls4ml (no exact rule): %s", ", ".join(uncovered))
            return False

    return DeriveExactTypes


_UNCOVERED: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
"""The layers no rule covered, per converted hls4ml model (kept here, not in hls4ml's config dict)."""


def uncovered_layers(hls_model: Any) -> list[str]:
    """The layers of a model converted in :func:`exact_flows` whose types no rule derived."""
    return list(_UNCOVERED.get(hls_model, []))


def _probed_batchnorm(original: Any) -> Any:
    """hls4ml's Keras-2 (Q)BatchNormalization handler, with the node's scale and bias set to the map the
    Keras layer computes (QKeras quantizes gamma/beta/mean/variance its own way), at parse time so that
    every hls4ml fusion afterwards (alpha factorisation, consecutive BNs) composes with it."""
    from ..errors import Hls4mlChangedError

    def probed(keras_layer: Any, input_names: Any, input_shapes: Any, reader: Any) -> Any:
        layer, shape = original(keras_layer, input_names, input_shapes, reader)
        model = getattr(reader, "model", None)
        if model is None:  # the probe needs the live layer: never convert a batch norm unprobed
            raise Hls4mlChangedError(f"{layer.get('name')}: hls4ml's Keras-2 reader "
                                     f"{type(reader).__name__} has no `model` to probe the batch norm from")
        scale, bias = affine_probe(model.get_layer(layer["name"]), tuple(input_shapes[0][1:]))
        layer[keys.SCALE_DATA], layer[keys.BIAS_DATA] = scale, bias
        return layer, shape

    return probed


def _pad_before_its_conv(transform: Any) -> Any:
    """hls4ml 1.3's io_stream Conv1D padding pass inserts its ZeroPadding1D node without saying before which
    node, and ``insert_node`` then rewires the first consumer of the conv's input: where that input feeds
    several layers (a Clone), the padding lands before another branch and the conv reads unpadded data (0 %
    exact measured on two padded Conv1Ds reading one tensor). The pass runs here with every insertion placed
    before the conv it pads, as its 2-D twin already does."""

    def transform_before_node(self: Any, model: Any, node: Any) -> Any:
        insert = model.insert_node

        def insert_before(new: Any, before: Any = None, input_idx: int = 0) -> Any:
            return insert(new, before=node if before is None else before, input_idx=input_idx)

        model.insert_node = insert_before
        try:
            return transform(self, model, node)
        finally:
            del model.insert_node  # the instance attribute: the class's method is back

    return transform_before_node


PAD_BEFORE_ITS_CONV = MethodChange(
    "hls4ml.backends.vivado.passes.conv_same_pad:InsertZeroPaddingBeforeConv1D.transform", ("model", "node"),
    _pad_before_its_conv)


def _no_depthwise_fuse(match: Any) -> Any:
    """hls4ml 1.3 fuses a batch norm into the layer before it by ``scale * kernel``; a depthwise kernel
    (taps, channels, 1) broadcasts that to (taps, channels, channels) — a weight file with ``channels`` times
    the weights the layer reads (found on QDepthwiseConv2D + BatchNormalization, kept out of the zoo: convert
    stopped on the weight count). After a depthwise convolution the batch norm stays a layer of its own,
    with its exact affine type."""
    from hls4ml.model.layers import DepthwiseConv1D, DepthwiseConv2D

    def match_unless_depthwise(self: Any, node: Any) -> Any:
        if isinstance(node.get_input_node(), (DepthwiseConv1D, DepthwiseConv2D)):
            return False
        return match(self, node)

    return match_unless_depthwise


NO_DEPTHWISE_BN_FUSE = MethodChange(
    "hls4ml.model.optimizer.passes.bn_fuse:FuseBatchNormalization.match", ("node",), _no_depthwise_fuse)


def hls4ml_changes(backend: str) -> Any:
    """Everything fpga_accel changes in hls4ml to convert exactly (see :mod:`fpga_accel.hls.boundary`):
    the exact-types pass in its flow, the passes in ``_REPLACED_HLS4ML_PASSES`` out of theirs, batch norms
    probed (Keras 2 here, Keras 3 in ``hls.keras3``) and the Keras-3 QKeras handlers."""
    from .boundary import Changes, HandlerChange
    from ..keras_compat import hls4ml_handler_changes, is_keras3

    keras2 = {} if is_keras3() else {cls: HandlerChange(_probed_batchnorm)
                                     for cls in BATCHNORM_CLASSES}
    return Changes(backend=backend, remove_passes=_REPLACED_HLS4ML_PASSES, add_passes={PASS: _pass_class},
                   add_flows={FLOW: ((PASS,), ("vivado:streaming", "vivado:quantization", "vivado:optimize"))},
                   keras2_handlers=keras2, keras3_handlers=hls4ml_handler_changes(), methods=(PAD_BEFORE_ITS_CONV, NO_DEPTHWISE_BN_FUSE))


@contextlib.contextmanager
def exact_flows(backend: str) -> Iterator[list[str]]:
    """The ``Flows`` an hls4ml config needs for exact types, with hls4ml changed as
    :func:`hls4ml_changes` says for the duration (checked first; hls4ml's own objects back on exit)."""
    import hls4ml

    from .boundary import patched

    with patched(hls4ml_changes(backend)):
        yield [FLOW, hls4ml.backends.get_backend(backend).get_default_flow()]


__all__ = ["FLOW", "TABLE_MAX_ENTRIES", "derive_types", "exact_flows", "exact_type", "float_kernel_types",
           "hard_sigmoid_rule", "hls4ml_changes", "inexact_layers", "keras_hard_sigmoid_slope", "softmax_rows", "softmax_types", "sum_type", "table_rule", "table_verdicts",
           "uncovered_layers"]
