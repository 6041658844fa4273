"""What fpga_accel makes of every Keras layer class hls4ml 1.3 parses: exact, refused or judged.

One table, :data:`TABLE`, keyed by the Keras class name hls4ml's parser dispatches on:

- **exact**: a type rule (``fpga_accel.hls.exact_types``, or hls4ml's own inference where it is exact) makes
  csim compute what QKeras computes, bit for bit;
- **refused**: hls4ml 1.3 cannot compute it (a C++ compile error, a crash, a wrong number): convert stops
  *before* hls4ml writes C++, naming the layer and the reason, unless ``allow_inexact``;
- **judged**: a float part (a lookup-table activation, a float recurrent cell): csim approximates it,
  the convert verdict measures how well and names the layer.

Some classes are exact or judged in general and refused in a setting the table states (``padding="same"``
pooling in io_stream, ``keepdims``, Dense on an N-D input...): :class:`Condition`. :func:`assess` walks a
model (into nested models and wrappers) and returns what is refused and what is judged; the convert
stage refuses before any long work. The class list comes from hls4ml's registered handlers at run time
(:func:`parsed_classes`), so a class a later hls4ml parses and this table does not know is reported as
judged, never silently exact.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from .errors import ConfigError


class Status(str, enum.Enum):
    exact = "exact"
    refused = "refused"
    judged = "judged"


@dataclass(frozen=True)
class Condition:
    """A setting in which a layer class is refused although its class is not."""

    when: str
    """The setting, as the README table states it."""
    reason: str
    """Why, and what to do instead."""
    applies: Callable[[Any, str], bool]
    """(Keras layer, io type) → True when the setting is met."""
    status: "Status" = None  # type: ignore[assignment]
    """What the layer is in that setting (refused unless stated)."""
    explain: Callable[[Any], str] | None = None
    """Layer → the reason worded for that layer (naming its activation, say); ``reason`` when None."""

    def __post_init__(self) -> None:
        if self.status is None:
            object.__setattr__(self, "status", Status.refused)

    def reason_for(self, layer: Any) -> str:
        return self.explain(layer) if self.explain is not None else self.reason


@dataclass(frozen=True)
class Support:
    status: Status
    note: str
    """exact: the type rule; refused: why and what to do; judged: the float part the verdict measures."""
    conditions: tuple[Condition, ...] = field(default=())


# ------------------------------------------------------------------------------ layer facts


def _shape(value: Any) -> tuple[Any, ...]:
    if isinstance(value, list):  # a merge: the first input's shape
        value = value[0] if value else ()
    return tuple(value) if value is not None else ()


def input_rank(layer: Any) -> int:
    """Number of non-batch axes of the layer's (first) input; 0 when Keras does not know it."""
    return len(_input_shape(layer))


def _input_shape(layer: Any) -> tuple[int, ...]:
    for get in (lambda: layer.input_shape, lambda: layer.input.shape,  # Keras 2; Keras 3
                lambda: [t.shape for t in layer.input]):
        try:
            return tuple(int(d) for d in _shape(get())[1:] if d is not None)
        except (AttributeError, RuntimeError, ValueError, TypeError):
            continue
    return ()


def _config(layer: Any) -> dict[str, Any]:
    try:
        return dict(layer.get_config())
    except (NotImplementedError, AttributeError):
        return {}


def _n_inputs(layer: Any) -> int:
    try:
        inputs = layer.input
    except (AttributeError, ValueError):
        return 1
    return len(inputs) if isinstance(inputs, (list, tuple)) else 1


def _activation(layer: Any) -> str | None:
    from .model_io import activation_name

    return activation_name(layer)


def _multidim(layer: Any) -> bool:
    """The tensor has more than one axis with more than one value (a softmax over it is per row)."""
    return sum(d > 1 for d in _input_shape(layer)) > 1


def _rnn_activations(layer: Any) -> list[str]:
    cell = getattr(layer, "cell", layer)
    names = []
    for attr in ("activation", "recurrent_activation"):
        act = getattr(cell, attr, None)
        names.append(getattr(act, "__name__", None) or type(act).__name__)
    return names


TABLE_ACTIVATIONS = {"tanh", "sigmoid", "elu", "selu", "softplus", "softsign", "hard_sigmoid", "exponential",
                     "gelu", "swish", "silu", "hard_tanh", "hard_silu", "hard_swish", "leaky_relu", "relu6",
                     "mish", "log_softmax"}
"""Keras float activations hls4ml computes by a lookup table or in fixed point of its own choosing."""

EXACT_ACTIVATIONS = {None, "linear", "relu", "softmax"}
"""relu and linear keep their input's type; softmax: logits exact, outputs within ~0.003 (README)."""


def _float_activation(layer: Any) -> bool:
    act = _activation(layer)
    return act is not None and act not in EXACT_ACTIVATIONS and not str(act).startswith(("quantized_", "binary",
                                                                                        "ternary"))


# ------------------------------------------------------------------------------ conditions


SAME_POOLING_STREAM = Condition(
    "io_stream with padding='same'",
    "hls4ml 1.3's io_stream pooling with padding='same' reads past its input (the compiled csim is killed on "
    "the first sample); use io_parallel, or pad the input so that padding='valid' gives the shape you need",
    lambda layer, io: io == "io_stream" and _config(layer).get("padding") == "same")

def _window_is_not_stride(layer: Any) -> bool:
    cfg = _config(layer)
    pool, strides = cfg.get("pool_size"), cfg.get("strides") or cfg.get("pool_size")
    as_tuple = lambda v: tuple(int(d) for d in (v if isinstance(v, (list, tuple)) else (v, v)))  # noqa: E731
    return pool is not None and as_tuple(pool) != as_tuple(strides)


POOL2D_STRIDE_STREAM = Condition(
    "io_stream with strides other than pool_size",
    "hls4ml 1.3's io_stream 2-D pooling handles only windows that do not overlap or skip (the compiled csim "
    "aborts on its first sample: 'pool_height == stride_height'); use io_parallel, or strides = pool_size",
    lambda layer, io: io == "io_stream" and _window_is_not_stride(layer))

KEEPDIMS = Condition(
    "keepdims=True",
    "hls4ml 1.3 ignores keepdims (its result is flat) and the layers after it compute on the wrong shape "
    "(21.6 % argmax measured); drop keepdims (add a Reshape((1, 1, C)) after the pooling if you need it)",
    lambda layer, io: bool(_config(layer).get("keepdims")))

MAX_KEEPDIMS = Condition(
    "keepdims=True",
    "hls4ml 1.3 ignores keepdims (its result is flat): the layers after it compute on the wrong shape, and in "
    "io_parallel its converter stops with an IndexError; drop keepdims (add a Reshape((1, 1, C)) after the "
    "pooling if you need it)",
    lambda layer, io: bool(_config(layer).get("keepdims")))

def _producers(layer: Any) -> list[Any]:
    try:
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        return [t._keras_history[0] for t in tensors]  # the same on Keras 2 and 3
    except (AttributeError, IndexError, ValueError):
        return []


def _reads_design_input(layer: Any) -> bool:
    """The layer's input is the model's input (or the input quantizer hls4ml folds into it)."""
    for producer in _producers(layer):
        if type(producer).__name__ == "InputLayer":
            return True
        if type(producer).__name__ == "QActivation":
            return any(type(p).__name__ == "InputLayer" for p in _producers(producer))
    return False


RESHAPE_AT_INPUT_STREAM = Condition(
    "right after the input, in io_stream",
    "hls4ml 1.3 makes it the design's input and its io_stream AXI wrapper then uses a type it never declares "
    "(g++ error 'input_t has not been declared'); use io_parallel, or give the model its input in that shape",
    lambda layer, io: io == "io_stream" and _reads_design_input(layer))


def _consumers(layer: Any) -> list[Any]:
    """The layers reading the layer's output (Keras 2: ``outbound_layer``, Keras 3: ``operation``)."""
    found = []
    for node in getattr(layer, "_outbound_nodes", None) or []:
        consumer = getattr(node, "outbound_layer", None) or getattr(node, "operation", None)
        if consumer is not None:
            found.append(consumer)
    return found


ACTIVATION_LAYERS = ("Activation", "QActivation", "ReLU", "LeakyReLU", "ThresholdedReLU", "ELU", "PReLU")
"""Keras layers hls4ml 1.3 turns into an element-wise activation node (a Softmax is a node of its own)."""


def _unpacked_flat(layer: Any) -> bool:
    """In io_stream hls4ml 1.3 repacks the stream for a Reshape to several axes (a Repack node) but not for one
    to a single axis: the stream keeps the input's words (one per position, its last axis) while the result's
    type is one word of every value. A vector in the same word ((16,) -> (16,), (1, 16) -> (16,)) is unchanged."""
    out, inp = _output_shape(layer), _input_shape(layer)
    return len(out) == 1 and (inp[-1] if inp else 1) != out[0]


def _into_activation(layer: Any, io: str) -> bool:
    if io != "io_stream" or not _unpacked_flat(layer):
        return False
    return any(type(c).__name__ in ACTIVATION_LAYERS and _activation(c) != "softmax" for c in _consumers(layer))


RESHAPE_INTO_ACTIVATION = Condition(
    "in io_stream, to one axis from a tensor whose last axis is shorter, directly followed by an activation layer",
    "hls4ml 1.3's io_stream activation after a Flatten/Reshape to one axis reads the stream in the input's words as "
    "if they were one (0 % exact measured: a relu, a QActivation); put the activation before the Flatten/Reshape "
    "(it is element-wise), or use io_parallel",
    _into_activation)


def _pool_window(layer: Any) -> int:
    """Values one output of an average pooling averages."""
    cls = type(layer).__name__
    if cls.startswith("Global"):
        return math.prod(_input_shape(layer)[:-1]) or 1
    size = _config(layer).get("pool_size") or (1,)
    return math.prod(int(d) for d in (size if isinstance(size, (list, tuple)) else (size,)))


AVERAGE_NOT_POW2 = Condition(
    "over a window whose size is not a power of two",
    "a mean over N values is not on any fixed-point grid when N is not a power of two: csim's quotient is "
    "rounded to the type's fraction bits, Keras' to float32",
    lambda layer, io: _pool_window(layer) & (_pool_window(layer) - 1) != 0, Status.judged)

DENSE_ND = Condition(
    "on an input of more than one axis",
    "hls4ml 1.3 computes a Dense on an N-D input as if it were flat (0 % exact measured); put a Flatten before "
    "it, or use a Conv1D with kernel_size=1 (the same arithmetic per position)",
    lambda layer, io: math.prod(_input_shape(layer)[:-1]) > 1)

TABLE_RULE = ("tanh, sigmoid, softplus, softsign and elu (alpha 1) are exact when a quantizer follows and their input "
              "has at most 13 (tanh, elu) or 12 fraction bits: one table entry per input value, the quantizer's type as "
              "the table's (checked on every input value at convert); hard_sigmoid with the installed Keras' float32 slope "
              "(Keras 2: 0.2, Keras 3: 1/6; hls4ml writes 0.2 for both) and the following quantizer's type is exact "
              "when its input has no more fraction bits than that quantizer (no input lands on a rounding tie; "
              "checked on every input value)")
"""The lookup-table rule (``fpga_accel.hls.exact_types.table_rule``) as the README table states it."""

def _float_activation_reason(layer: Any) -> str:
    act = _activation(layer)
    if act == "hard_sigmoid":
        return "its hard_sigmoid is float32 arithmetic in Keras (slope·x + 0.5), fixed point in the design"
    return f"its {act} is a lookup table"


FLOAT_ACTIVATION_ARG = Condition(
    "with a float activation (tanh, sigmoid, elu, ...) the table rule does not make exact",
    "the activation is a lookup table, or float32 arithmetic in Keras (hard_sigmoid)",
    lambda layer, io: _float_activation(layer), Status.judged, _float_activation_reason)

RELU6_STREAM = Condition(
    "io_stream with a relu6 activation",
    "hls4ml 1.3 has no io_stream relu6 (g++ error 'no match for operator=' in nnet_activation.h); use "
    "io_parallel, or a QActivation(quantized_relu(bits, integer)) that saturates where you need it",
    lambda layer, io: io == "io_stream" and _activation(layer) == "relu6")

NNET_ACTIVATIONS = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "softplus", "softsign", "elu", "selu",
                    "hard_sigmoid", "leaky_relu", "thresholded_relu", "prelu", "binary_tanh",
                    "ternary_tanh"}
"""Activations hls4ml 1.3's Vivado C++ has a function for (``nnet_activation.h``): hls4ml writes a call to
``nnet::<name>`` for any other Keras activation name, and g++ stops ('is not a member of nnet')."""
# hard_tanh is not among them: nnet::hard_tanh reads a slope and a shift only QKeras' quantizers' HardActivation
# config has; Keras 3's Activation("hard_tanh") gets a plain config (g++ error found on a held-out model).


def _no_nnet_function(layer: Any, io: str) -> bool:
    act = _activation(layer)
    if act is None or str(act).startswith(("quantized_", "binary", "ternary")):
        return False
    return str(act).lower() not in NNET_ACTIVATIONS

def _no_nnet_function_reason(layer: Any) -> str:
    if str(_activation(layer)).lower() == "hard_tanh":
        return ("hls4ml 1.3 writes Keras' hard_tanh as a plain activation whose config lacks the slope and shift its "
                "C++ function reads (g++ error \"'slope' is not a member of\"); use a QActivation(quantized_bits(bits, "
                "0)) (it saturates at ±1), or compute it outside the design")
    return NO_NNET_FUNCTION.reason


NO_NNET_FUNCTION = Condition(
    "with an activation hls4ml 1.3 has no C++ function for (swish/silu, gelu, exponential, mish, hard_silu, "
    "Keras 3's hard_tanh, ...)",
    "hls4ml 1.3 writes a call to a function its nnet_utils do not have (g++ error 'is not a member of nnet'); use "
    "one it has (relu, sigmoid, tanh, softplus, softsign, elu, selu, hard_sigmoid, ...), or compute it outside "
    "the design",
    _no_nnet_function, explain=_no_nnet_function_reason)


def _real_quantized_table(layer: Any) -> bool:
    from .keras_compat import quantizer_of

    if type(layer).__name__ != "QActivation":
        return False
    q = quantizer_of(layer)
    return bool(getattr(q, "use_real_tanh", False) or getattr(q, "use_real_sigmoid", False))


REAL_QUANTIZED_TABLE = Condition(
    "with quantized_tanh/quantized_sigmoid(use_real_tanh/use_real_sigmoid=True) the table rule does not make exact",
    "the real tanh/sigmoid is a lookup table",
    lambda layer, io: _real_quantized_table(layer), Status.judged)

SOFTMAX_RULE = ("logits bit-exact, tables sized from the logits' type; one softmax per row along its axis (hls4ml's "
                "softmax_multidim in io_parallel, one per stream word in io_stream); the verdict also compares the "
                "softmax outputs: more than the tables' tolerance (the inverse table's step, 2^(ceil(log2(k+1)) - 12) "
                "for k values, + k·exp(-8) + 2^-11 + one result step; 0.0048 for 4 values) fails it, naming the layer")
"""The softmax rule as the README table states it (``runtime.validate.softmax_tolerance``)."""

TABLE_CONDITIONS = (FLOAT_ACTIVATION_ARG, REAL_QUANTIZED_TABLE)
"""Conditions the table rule can lift (``assess`` with the conversion's table verdicts)."""

def _softmax_axis(layer: Any) -> Any:
    """The axis a softmax normalises along, counted over the non-batch axes (Keras' -1: the last)."""
    if type(layer).__name__ != "Softmax":
        return len(_input_shape(layer)) - 1  # an activation="softmax": the last axis
    axis = _config(layer).get("axis", -1)
    if isinstance(axis, (list, tuple)):
        return list(axis) if len(axis) != 1 else _axis_index(layer, int(axis[0]))
    return _axis_index(layer, int(axis))


def _axis_index(layer: Any, axis: int) -> int:
    rank = len(_input_shape(layer))
    return axis + rank if axis < 0 else axis - 1


def _softmax_not_last(layer: Any, io: str) -> bool:
    is_softmax = type(layer).__name__ == "Softmax" or _activation(layer) == "softmax"
    if not is_softmax or not _multidim(layer):
        return False
    axis = _softmax_axis(layer)
    return isinstance(axis, list) or (io == "io_stream" and axis != len(_input_shape(layer)) - 1)


SOFTMAX_AXIS = Condition(
    "over several axes at once, or in io_stream along an axis other than the last",
    "hls4ml 1.3's softmax normalises along one axis, and in io_stream only along the last (one softmax per stream "
    "word); use io_parallel, or a Permute that puts the axis last",
    _softmax_not_last)

MERGE_MANY = Condition(
    "of more than two inputs",
    "hls4ml 1.3 merges two tensors at a time; chain two-input merges",
    lambda layer, io: _n_inputs(layer) > 2)

def _axis_is_2(layer: Any) -> bool:
    axis = _config(layer).get("axis")
    return isinstance(axis, (list, tuple)) and len(axis) == 1 and int(axis[0]) == 2


def _not_one(key: str) -> Callable[[Any, str], bool]:
    """A condition on a Keras config value that hls4ml 1.3 supports only at 1 (a number or one per axis)."""
    def holds(layer: Any, io: str) -> bool:
        value = _config(layer).get(key) or 1
        return any(int(v) != 1 for v in (value if isinstance(value, (list, tuple)) else (value,)))
    return holds


DILATED = Condition(
    "with dilation_rate > 1",
    "hls4ml 1.3's Keras parser drops dilation_rate and computes an undilated convolution (another output "
    "shape, other numbers); use dilation_rate=1, e.g. a larger kernel with zeros between its taps",
    _not_one("dilation_rate"))

GROUPED = Condition(
    "with groups > 1",
    "hls4ml 1.3's Keras parser ignores groups: it computes a full convolution from a kernel holding 1/groups of "
    "the weights it reads (its weight file is short); use groups=1, or one convolution per group joined by a "
    "Concatenate",
    _not_one("groups"))

DEPTH_MULTIPLIER = Condition(
    "with depth_multiplier > 1",
    "hls4ml 1.3's depthwise convolution supports a depth multiplier of 1 only (the compiled csim aborts on "
    "its first sample, both io types); use depth_multiplier=1 and a pointwise (1x1) convolution for more "
    "channels",
    _not_one("depth_multiplier"))


def _on_keras3(layer: Any, io: str) -> bool:
    from .keras_compat import is_keras3

    return is_keras3()


SEPARABLE_KERAS3 = Condition(
    "on the Keras 3 stack",
    "hls4ml 1.3's Keras 3 parser reads a 'kernel' a Keras SeparableConv does not have (AttributeError); use "
    "QKeras' QSeparableConv1D/2D, or a DepthwiseConv followed by a 1x1 Conv",
    _on_keras3)


UPSAMPLING_INTERPOLATION = Condition(
    "with interpolation other than 'nearest'",
    "hls4ml 1.3 resizes by repeating values whatever the interpolation (bilinear: 0 % exact, max |diff| 6.6 "
    "measured); use interpolation='nearest'",
    lambda layer, io: str(_config(layer).get("interpolation", "nearest")) != "nearest")


def _relu_options(layer: Any) -> bool:
    cfg = _config(layer)
    return cfg.get("max_value") is not None or bool(cfg.get("negative_slope")) or bool(cfg.get("threshold"))


RELU_OPTIONS = Condition(
    "with max_value, negative_slope or threshold",
    "hls4ml 1.3 parses a ReLU layer as a plain relu and drops these options (6 % exact, max |diff| 7.75 "
    "measured with max_value=1); clip with a QActivation(quantized_relu(bits, integer)) instead (it saturates "
    "at 2**integer), or use LeakyReLU / ThresholdedReLU for the others",
    lambda layer, io: _relu_options(layer))

HARD_RNN_ACTIVATION = Condition(
    "with a quantized_tanh / hard_sigmoid / quantized_sigmoid (recurrent) activation",
    "hls4ml 1.3 stops with 'Hard activation not supported' for these in recurrent layers; use tanh/sigmoid",
    lambda layer, io: any(name.startswith(("quantized_", "hard_", "binary", "ternary"))
                          for name in _rnn_activations(layer)))

RNN_STREAM_SEQUENCE = Condition(
    "with return_sequences=True",
    "not measured bit-exact in either io type; return the last state only",
    lambda layer, io: bool(_config(layer).get("return_sequences")))


# ------------------------------------------------------------------------------ the table


def _exact(note: str, *conditions: Condition) -> Support:
    return Support(Status.exact, note, conditions)


def _refused(note: str) -> Support:
    return Support(Status.refused, note)


def _judged(note: str, *conditions: Condition) -> Support:
    return Support(Status.judged, note, conditions)


SIMPLE_RNN = ("hls4ml 1.3's Vivado backend has no C++ template for SimpleRNN: it writes no call for the layer and "
              "the next one reads uninitialised memory (found on a model kept out of the zoo)")
_SUM = "exact sums: product = input + weight bits, accumulator + ceil(log2 fan-in) carry bits + the bias's bits"
_MOVE = "values move unchanged: the input's type carries over"
_HGQ = ("an HGQ layer: fpga_accel does not derive HGQ's types (and HGQ must not be installed next to "
        "qkeras-v3); convert it with hls4ml directly")

TABLE: dict[str, Support] = {
    "InputLayer": _exact("the input quantizer's type (convergent rounding, saturation); without one 32 bits "
                         "sized from calibration data (float inputs are rounded: a warning says so)"),
    "QActivation": _exact("the quantizer's type; ternary, leaky quantized_relu, symmetric quantized_sigmoid, stochastic "
                          "and batch-statistic quantizers are refused (see above); quantized_tanh/quantized_sigmoid with the real "
                          "function: the table rule (see Activation) with their own rounding step",
                          REAL_QUANTIZED_TABLE),
    "Activation": _exact("relu/linear keep their input's type, softmax as below; " + TABLE_RULE + "; otherwise "
                         "these and selu (a table on its negative side, scale·x on its positive) are judged, the "
                         "layer named with the reason; swish, gelu and others hls4ml has no C++ for are refused",
                         RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG, SOFTMAX_AXIS),
    "ReLU": _exact("keeps its input's type (hls4ml 1.3's Keras 3 parser makes it a thresholded relu with threshold "
                   "0: the same)", RELU_OPTIONS),
    "Softmax": _exact(SOFTMAX_RULE, SOFTMAX_AXIS),
    "Dense": _exact(_SUM, DENSE_ND, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "QDense": _exact(_SUM, DENSE_ND, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "Conv1D": _exact(_SUM, DILATED, GROUPED, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "Conv2D": _exact(_SUM, DILATED, GROUPED, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "QConv1D": _exact(_SUM, DILATED, GROUPED, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "QConv2D": _exact(_SUM, DILATED, GROUPED, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "QConv2DBatchnorm": _exact(_SUM + " (folded batch norm)", DILATED, GROUPED, RELU6_STREAM, NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "QDenseBatchnorm": _exact(_SUM + " (qkeras-v3 only; hls4ml parses none: converted as the QDense it is at "
                              "inference, with QKeras' folded, quantized kernel and bias)", DENSE_ND, RELU6_STREAM,
                              NO_NNET_FUNCTION, FLOAT_ACTIVATION_ARG),
    "DepthwiseConv1D": _exact(_SUM, DILATED, DEPTH_MULTIPLIER),
    "DepthwiseConv2D": _exact(_SUM, DILATED, DEPTH_MULTIPLIER),
    "QDepthwiseConv2D": _exact(_SUM, DILATED, DEPTH_MULTIPLIER),
    "SeparableConv1D": _exact(_SUM + ", depthwise then pointwise", DILATED, DEPTH_MULTIPLIER,
                               SEPARABLE_KERAS3),
    "SeparableConv2D": _exact(_SUM + ", depthwise then pointwise", DILATED, DEPTH_MULTIPLIER,
                               SEPARABLE_KERAS3),
    "QSeparableConv1D": _exact(_SUM + ", depthwise then pointwise", DILATED, DEPTH_MULTIPLIER),
    "QSeparableConv2D": _exact(_SUM + ", depthwise then pointwise", DILATED, DEPTH_MULTIPLIER),
    "BatchNormalization": _exact("y = a*x + b probed from the Keras layer; constants exact or 24 fraction bits "
                                 "(Keras' own float32 rounding can move a value by one step)"),
    "QBatchNormalization": _exact("y = a*x + b probed from the Keras layer, as QKeras computes it"),
    "MaxPooling1D": _exact("the input's type", SAME_POOLING_STREAM),
    "MaxPooling2D": _exact("the input's type", SAME_POOLING_STREAM, POOL2D_STRIDE_STREAM),
    "AveragePooling1D": _exact("the input's type plus the bits of the division", SAME_POOLING_STREAM, AVERAGE_NOT_POW2),
    "AveragePooling2D": _exact("the input's type plus the bits of the division", SAME_POOLING_STREAM,
                               POOL2D_STRIDE_STREAM, AVERAGE_NOT_POW2),
    "GlobalMaxPooling1D": _exact("the input's type", MAX_KEEPDIMS),
    "GlobalMaxPooling2D": _exact("the input's type", MAX_KEEPDIMS),
    "GlobalAveragePooling1D": _exact("the input's type plus the bits of the division", KEEPDIMS, AVERAGE_NOT_POW2),
    "GlobalAveragePooling2D": _exact("the input's type plus the bits of the division", KEEPDIMS, AVERAGE_NOT_POW2),
    "Flatten": _exact(_MOVE, RESHAPE_AT_INPUT_STREAM, RESHAPE_INTO_ACTIVATION),
    "Reshape": _exact(_MOVE, RESHAPE_AT_INPUT_STREAM, RESHAPE_INTO_ACTIVATION),
    "Permute": _exact(_MOVE),
    "ZeroPadding1D": _exact(_MOVE),
    "ZeroPadding2D": _exact(_MOVE),
    "Cropping1D": _exact(_MOVE),
    "Cropping2D": _exact(_MOVE),
    "UpSampling1D": _exact(_MOVE),
    "UpSampling2D": _exact(_MOVE, UPSAMPLING_INTERPOLATION),
    "Concatenate": _exact("values move unchanged: a type holding both inputs' types (the larger integer part, the "
                          "finer fraction, signed if either is)", MERGE_MANY),
    "Add": _exact("one more integer bit than the wider input", MERGE_MANY),
    "Subtract": _exact("one more integer bit than the wider input, signed", MERGE_MANY),
    "Multiply": _exact("the product's full width", MERGE_MANY),
    "Maximum": _exact("a type holding both inputs", MERGE_MANY),
    "Minimum": _exact("a type holding both inputs", MERGE_MANY),
    "Average": _exact("the sum's type plus the fraction bit of the halving", MERGE_MANY),
    "Dot": _refused("hls4ml 1.3's Dot parser asserts on anything but two flat vectors and has no exact type "
                    "rule; compute it as Multiply followed by a Dense of ones"),
    "Functional": _refused("a model nested as a layer: hls4ml 1.3 loses its layers' quantizer types (1.2 % exact "
                           "measured); call its layers directly in the outer model"),
    "Sequential": _refused("a model nested as a layer: hls4ml 1.3 loses its layers' quantizer types; add its "
                           "layers to the outer model directly"),
    "TimeDistributed": _refused("hls4ml 1.3's TimeDistributed does not compile in csim (its result type is not "
                                "the wrapped layer's); use a Conv1D with kernel_size=1 for a Dense per step"),
    "SimpleRNN": _refused(SIMPLE_RNN + "; use a GRU"),
    "QSimpleRNN": _refused(SIMPLE_RNN + "; use a QGRU"),
    "GRU": _judged("float tanh/sigmoid by lookup tables", RNN_STREAM_SEQUENCE),
    "QGRU": _judged("QKeras computes its state in float; hls4ml by lookup tables", HARD_RNN_ACTIVATION,
                    RNN_STREAM_SEQUENCE),
    "LSTM": _refused("hls4ml 1.3's LSTM does not compile in csim (its cell state takes the accumulator type); "
                     "use a GRU"),
    "QLSTM": _refused("hls4ml 1.3's LSTM does not compile in csim (its cell state takes the accumulator type); "
                      "use a QGRU"),
    "Bidirectional": _refused("not measured by fpga_accel (hls4ml 1.3 runs two recurrent cells; LSTM ones do not "
                              "compile); run the two directions as separate layers"),
    "ELU": _judged("exp by a lookup table; with alpha 1 exact under the table rule (see Activation)"),
    "LeakyReLU": _judged("alpha rounded to the design's type"),
    "PReLU": _judged("learned alphas rounded to the design's type"),
    "ThresholdedReLU": _exact("keeps its input's type; the threshold truncated onto the input's grid (for values on "
                              "that grid x > floor(theta) exactly when x > theta; hls4ml rounded it)"),
    "LayerNormalization": _judged("mean and variance in fixed point, 1/sqrt by a lookup table", Condition(
        "on an input that is not a sequence (steps, features)",
        "hls4ml 1.3 parses LayerNormalization only on (steps, features) inputs and stops with an exception "
        "otherwise; give it a Reshape((1, n)) first", lambda layer, io: input_rank(layer) != 2), Condition(
        "in io_stream",
        "hls4ml 1.3 has no io_stream LayerNormalization: it calls the io_parallel function on streams (g++ error "
        "'no match for operator='); use io_parallel",
        lambda layer, io: io == "io_stream"), Condition(
        "with an axis other than [2] in its config (Keras 3 writes -1)",
        "hls4ml 1.3's parser reads the axis only as the list [2] and stops with an exception otherwise; give "
        "LayerNormalization(axis=[2]) (the last axis of a (steps, features) input)",
        lambda layer, io: input_rank(layer) == 2 and not _axis_is_2(layer))),
    "RandomCrop": _refused("Keras 3 crops the centre at inference (another shape); hls4ml 1.3's Keras 3 parser "
                           "passes the values through unchanged; use a Cropping2D"),
    "EinsumDense": _refused("no exact type rule in fpga_accel (hls4ml 1.3's einsum_dense computes in types of its own "
                            "inference: 83.7 % exact measured on a held-out model), and hls4ml 1.3 builds it in "
                            "io_parallel only (AssertionError in io_stream); use a Dense (on a Flatten) or a "
                            "Conv1D with kernel_size=1"),
    "Embedding": _refused("takes integer token indices; the PYNQ AXI-stream wrapper streams float samples "
                          "through a fixed-point cast: give the one-hot vector to a Dense instead"),
    "BinaryDense": _refused("not a Keras or QKeras layer fpga_accel knows; use QDense with binary() weights"),
    "TernaryDense": _refused("not a Keras or QKeras layer fpga_accel knows; use QDense with ternary() weights"),
    "FixedPointQuantizer": _refused(_HGQ),
    "HGQ>FixedPointQuantizer": _refused(_HGQ),
    "UnaryLUT": _refused(_HGQ),
    "HGQ>UnaryLUT": _refused(_HGQ),
    "GarNet": _refused("an hls4ml contrib layer: its types are hls4ml's own, not derived by fpga_accel"),
    "GarNetStack": _refused("an hls4ml contrib layer: its types are hls4ml's own, not derived by fpga_accel"),
    "Dropout": _exact("identity at inference (hls4ml drops it)"),
}
"""Every Keras class hls4ml 1.3's Keras parser accepts, with its status in fpga_accel (plus Dropout, which
hls4ml skips, and QDenseBatchnorm, which fpga_accel hands to its QDense parser)."""

KERAS3_GROUPS: dict[str, tuple[tuple[str, ...], Support]] = {
    "`AlphaDropout`, `GaussianDropout`, `SpatialDropout1D/2D/3D`, `Random*` preprocessing but `RandomCrop` (Keras 3)": (
        ("AlphaDropout", "GaussianDropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
         "RandomBrightness", "RandomColorDegeneration", "RandomColorJitter", "RandomContrast",
         "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale",
         "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
         "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation", "RandomZoom"),
        _exact("identity at inference: hls4ml 1.3's Keras 3 parser makes it a linear activation, which keeps its "
               "input's type (its Keras 2 parser does not parse these: refused there)")),
    "`MaxPooling3D`, `AveragePooling3D`, `GlobalMaxPooling3D`, `GlobalAveragePooling3D` (Keras 3)": (
        ("MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D"),
        _refused("hls4ml 1.3 parses 3-D pooling but builds only 1-D and 2-D layers (ValueError 'Only 1D and 2D "
                 "layers are supported', found on a held-out model); reshape to 2-D and use the 2-D pooling")),
    "HGQ2 layers (`QAdd`, `QEinsumDense`, `QMultiHeadAttention`, `Quantizer`, ...; Keras 3)": (
        ("QAdd", "QAverage", "QAveragePooling1D", "QAveragePooling2D", "QAveragePooling3D", "QAveragePow2",
         "QBatchNormDense", "QDot", "QEinsum", "QEinsumDense", "QEinsumDenseBatchnorm", "QGlobalAveragePooling1D",
         "QGlobalAveragePooling2D", "QGlobalAveragePooling3D", "QGlobalMaxPooling1D", "QGlobalMaxPooling2D",
         "QGlobalMaxPooling3D", "QLinformerAttention", "QMaxPooling1D", "QMaxPooling2D", "QMaxPooling3D", "QMaximum",
         "QMinimum", "QMultiHeadAttention", "QMultiply", "QSoftmax", "QSubtract", "QUnaryFunctionLUT", "Quantizer"),
        _refused(_HGQ)),
}
"""Classes only hls4ml 1.3's Keras 3 parser accepts, one status per group (README shows one row per group)."""

UNKNOWN = Support(Status.judged, "not in fpga_accel's table (a newer hls4ml parses it): the verdict judges it")


def parsed_classes() -> list[str]:
    """The Keras class names hls4ml's parser accepts on the installed stack, from its registered handlers."""
    from .keras_compat import hls4ml_supported_layers

    return sorted(hls4ml_supported_layers())


def support(class_name: str) -> Support:
    if class_name in TABLE:
        return TABLE[class_name]
    for classes, entry in KERAS3_GROUPS.values():
        if class_name in classes:
            return entry
    return UNKNOWN


# ------------------------------------------------------------------------------ a model


@dataclass(frozen=True)
class Assessment:
    refused: tuple[str, ...]
    """'layer (Class): reason', one per refused layer."""
    judged: tuple[str, ...]
    """'layer (Class): float part', one per judged layer."""


def _children(layer: Any) -> list[Any]:
    """Layers inside a nested model or a wrapper (TimeDistributed, Bidirectional)."""
    if hasattr(layer, "layers") and isinstance(getattr(layer, "layers"), list):
        return list(layer.layers)
    if hasattr(layer, "forward_layer"):  # Bidirectional: its two copies, not the layer it was given
        return [layer.forward_layer, layer.backward_layer]
    inner = getattr(layer, "layer", None)
    return [inner] if inner is not None else []


def walk(model: Any) -> Iterator[Any]:
    """Every layer of the model, nested models' and wrapped layers included (outer first)."""
    yield from _walk(list(model.layers))


def _walk(layers: list[Any]) -> Iterator[Any]:
    for layer in layers:
        yield layer
        yield from _walk(_children(layer))


def assess(model: Any, io_type: str, tables: Mapping[str, str | None] | None = None) -> Assessment:
    """What convert must refuse and what its verdict judges in ``model`` converted for ``io_type`` (a refused
    nested model or wrapper is named once, not its layers). ``tables``: what the conversion made of each
    lookup-table activation (``exact_types.table_verdicts``: node name → None when the table rule made it
    exact, else why not); without it every float activation is judged."""
    refused: list[str] = []
    judged: list[str] = []
    _assess(list(model.layers), io_type, refused, judged, dict(tables or {}))
    return Assessment(tuple(refused), tuple(judged))


def _table_node(layer: Any) -> str:
    """The hls4ml node computing the layer's activation: the layer itself, or the one hls4ml splits off."""
    from .activations import KERAS_ACTIVATION_LAYERS

    return layer.name if type(layer).__name__ in KERAS_ACTIVATION_LAYERS else f"{layer.name}_{_activation(layer)}"


def _table_verdict(layer: Any, tables: dict[str, str | None]) -> tuple[bool, str]:
    """(the table rule made the layer's activation exact, else ' (why not)' or '' when it did not run)."""
    node = _table_node(layer)
    if node not in tables:
        return False, ""
    why = tables[node]
    return why is None, "" if why is None else f" ({why})"


def _assess(layers: list[Any], io_type: str, refused: list[str], judged: list[str],
            tables: dict[str, str | None]) -> None:
    for layer in layers:
        cls = type(layer).__name__
        entry = support(cls)
        where = f"{layer.name} ({cls})"
        if entry.status is Status.refused:
            refused.append(f"{where}: {entry.note}")
            continue
        met = [c for c in entry.conditions if c.applies(layer, io_type)]
        hard = [c for c in met if c.status is Status.refused]
        if hard:
            refused.append(f"{where} {hard[0].when}: {hard[0].reason_for(layer)}")
            continue
        table_exact, why = _table_verdict(layer, tables)
        if table_exact:  # the float activation (an argument, or the layer itself) is exact after all
            met = [c for c in met if c not in TABLE_CONDITIONS]
        if met:
            judged.append(f"{where} {met[0].when}: {met[0].reason_for(layer)}{why if met[0] in TABLE_CONDITIONS else ''}")
        elif entry.status is Status.judged and not table_exact:
            judged.append(f"{where}: {entry.note}{why}")
        _assess(_children(layer), io_type, refused, judged, tables)


def check_layers(model: Any, io_type: str, allow_inexact: bool) -> Assessment:
    """Refuse, before hls4ml writes any C++, a model with a layer hls4ml 1.3 cannot compute (each named
    with the reason); with ``allow_inexact`` log them and go on. Returns the assessment (its judged
    layers go into the convert verdict)."""
    import logging

    found = assess(model, io_type)
    if found.refused and not allow_inexact:
        raise ConfigError("hls4ml 1.3 cannot compute this model as Keras does: " + "; ".join(found.refused)
                          + " (allow_inexact / --allow-inexact converts it anyway, unverified)")
    log = logging.getLogger(__name__)
    for reason in found.refused:
        log.warning("converting anyway (allow_inexact): %s", reason)
    for reason in found.judged:
        log.info("judged by the verdict (float part): %s", reason)
    return found


# ------------------------------------------------------------------------------ io_parallel size


@dataclass(frozen=True)
class UnrolledSize:
    """How much C++ hls4ml 1.3 writes out for one convolution in io_parallel."""

    im2col: int
    """Assignments of the generated ``fill_buffer`` (output positions x kernel taps x input channels)."""
    products: int
    """Products per sample (output positions x every weight of the layer's kernels)."""


def _output_shape(layer: Any) -> tuple[int, ...]:
    for get in (lambda: layer.output_shape, lambda: layer.output.shape):  # Keras 2; Keras 3
        try:
            return tuple(int(d) for d in _shape(get())[1:] if d is not None)
        except (AttributeError, RuntimeError, ValueError, TypeError):
            continue
    return ()


def unrolled_layers(model: Any) -> dict[str, UnrolledSize]:
    """Per convolution (Conv, Depthwise, Separable, QKeras' too) of the model, nested ones included: what
    io_parallel writes out. hls4ml generates each convolution's im2col as straight-line C++ and g++ -O3
    compiles it, so its time grows with these sizes (``benchmarks/io_parallel_compile.md``)."""
    sizes = {}
    for layer in walk(model):
        if "Conv" not in type(layer).__name__:
            continue
        kernels = [getattr(layer, attr, None) for attr in ("kernel", "depthwise_kernel", "pointwise_kernel")]
        kernels = [tuple(int(d) for d in k.shape) for k in kernels if k is not None]
        out_shape = _output_shape(layer)
        if not kernels or len(out_shape) < 2:
            continue
        positions = math.prod(out_shape[:-1])
        first = kernels[0]  # (taps..., in channels, filters or depth multiplier)
        sizes[layer.name] = UnrolledSize(im2col=positions * math.prod(first[:-1]),
                                         products=positions * sum(math.prod(k) for k in kernels))
    return sizes


def unrolled_products(model: Any) -> int:
    """Products a model's convolutions compute per sample (output positions x kernel taps x channels x
    filters): in io_parallel hls4ml writes every position's loops out, and g++'s time grows with it."""
    return sum(size.products for size in unrolled_layers(model).values())


WARN_IM2COL = 10_000
"""io_parallel convolutions writing out more im2col assignments than this (the model's total): convert
warns that g++ takes a minute or more (15 s for 8,700 in one layer on the development machine, 2.2 min for
21,000)."""
REFUSE_IM2COL = 30_000
"""... and above this many refuses unless ``allow_slow_compile`` (39,000 in one layer: 4 minutes of g++;
the superlinear growth is measured in ``benchmarks/io_parallel_compile.md``)."""


def _size_text(model: Any) -> tuple[int, str] | None:
    """(the model's im2col assignments, what they are and where the largest layer is)."""
    sizes = unrolled_layers(model)
    if not sizes:
        return None
    total = sum(size.im2col for size in sizes.values())
    name, largest = max(sizes.items(), key=lambda item: item[1].im2col)
    return total, (f"hls4ml 1.3 writes this model's io_parallel convolutions out as {total:,} straight-line C++ "
                   f"assignments, the largest {name} with {largest.im2col:,} ({largest.products:,} products)")


def slow_compile_reason(model: Any) -> str | None:
    """Why ``model`` in io_parallel is above the refuse threshold (None when it is not)."""
    found = _size_text(model)
    if found is None or found[0] <= REFUSE_IM2COL:
        return None
    return (f"io_parallel CNN too large for g++: {found[1]}, above {REFUSE_IM2COL:,}: g++ would take many "
            "minutes; use io_type: io_stream (compiles in seconds)")


def check_compile_size(model: Any, io_type: str, allow_slow_compile: bool) -> None:
    """Refuse, before hls4ml writes any C++, an io_parallel CNN whose unrolled C++ g++ would compile for
    many minutes (unless ``allow_slow_compile``); warn above the lower threshold. io_stream is never
    refused: its convolutions are loops over a line buffer, whatever the image size."""
    import logging

    if io_type != "io_parallel":
        return
    found = _size_text(model)
    if found is None or found[0] <= WARN_IM2COL:
        return
    reason = slow_compile_reason(model)
    if reason is not None and not allow_slow_compile:
        raise ConfigError(f"{reason}, or pass allow_slow_compile / --allow-slow-compile to wait for it")
    logging.getLogger(__name__).warning("%s: g++ will take a minute or more (io_type: io_stream compiles it in "
                                        "seconds)", found[1])


__all__ = ["Assessment", "Condition", "KERAS3_GROUPS", "REFUSE_IM2COL", "Status", "Support", "TABLE", "TABLE_RULE", "UnrolledSize", "WARN_IM2COL",
           "assess", "check_compile_size", "check_layers", "parsed_classes", "slow_compile_reason", "support",
           "unrolled_layers", "unrolled_products", "walk"]
