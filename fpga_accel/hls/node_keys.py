"""The keys of hls4ml's ModelGraph nodes fpga_accel reads or writes — one table, checked against hls4ml.

Why: ``node.get_attr("n_in")`` on a key hls4ml renamed returns None without a word, and a layer record or a
derived type built on None is wrong only later (a layer the estimator cannot cost, a type left to hls4ml's
default). Every key fpga_accel uses is declared here with where hls4ml 1.3 defines it, and the boundary
(:func:`fpga_accel.hls.boundary.patched`) checks each against the installed hls4ml before a conversion:
a key that is no longer there stops the conversion with an error naming it. Code reads the keys through
the names below (``node.get_attr(keys.N_IN)``), never through string literals of its own.

A key is declared one of two ways: an ``Attribute`` of hls4ml layer classes (what their
``expected_attributes`` list, as the backend extends them: ``TypeAttribute("accum")`` is the key
``accum_t``), or written by a module of hls4ml that is not a declared attribute (a parser's dict key, a
backend's ``set_attr``): then that module's source must name the key.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any

__all__ = ["BATCHNORM_NODE", "NODE_KEYS", "NodeKey", "key_problems"]

_CONV = "Conv2D"
_POOL = "Pooling2D"
BATCHNORM_NODE = "BatchNormalization"
"""hls4ml's batch-norm node class (the Keras layer classes are ``hls.probe.BATCHNORM_CLASSES``)."""
_BN = BATCHNORM_NODE


@dataclasses.dataclass(frozen=True)
class NodeKey:
    """A node key and where hls4ml declares it: ``classes`` (names in ``hls4ml.model.layers`` whose backend
    layer class lists it as an attribute) or ``module`` (an hls4ml module whose source writes it)."""

    name: str
    classes: tuple[str, ...] = ()
    module: str = ""


NODE_KEYS: dict[str, NodeKey] = {}
"""Every node key fpga_accel uses, by name."""


def _key(name: str, *classes: str, module: str = "") -> str:
    NODE_KEYS[name] = NodeKey(name, classes, module)
    return name


# sizes (what the estimator and the emulator's records read)
N_IN = _key("n_in", "Dense", "Activation", "Softmax", _BN)
N_OUT = _key("n_out", "Dense")
N_CHAN = _key("n_chan", _CONV)
N_FILT = _key("n_filt", _CONV, _POOL, _BN)
FILT_HEIGHT = _key("filt_height", _CONV)
FILT_WIDTH = _key("filt_width", _CONV, "Conv1D")
IN_HEIGHT = _key("in_height", _CONV, _POOL)
IN_WIDTH = _key("in_width", _CONV, _POOL)
OUT_HEIGHT = _key("out_height", _CONV, _POOL)
OUT_WIDTH = _key("out_width", _CONV, _POOL)
POOL_HEIGHT = _key("pool_height", _POOL)
POOL_WIDTH = _key("pool_width", _POOL)
POOL_OP = _key("pool_op", _POOL, "GlobalPooling2D")
N_OUTER = _key("n_outer", "Softmax")
N_INNER = _key("n_inner", "Softmax")
# hardware settings
REUSE_FACTOR = _key("reuse_factor", "Dense", _CONV, "Activation", _BN, "Merge")
STRATEGY = _key("strategy", module="hls4ml.backends.vivado.vivado_backend")  # init_dense/init_conv set it
TABLE_SIZE = _key("table_size", "Activation", "Softmax")
EXP_TABLE_SIZE = _key("exp_table_size", module="hls4ml.backends.vivado.passes.core_templates")
INV_TABLE_SIZE = _key("inv_table_size", module="hls4ml.backends.vivado.passes.core_templates")
TRACE = _key("trace", "Dense")
FUNCTION_CPP = _key("function_cpp", module="hls4ml.model.graph")
CLASS_NAME = _key("class_name", module="hls4ml.model.layers")  # the Keras class the node was parsed from
PRECISION = _key("precision", module="hls4ml.model.optimizer.passes.move_scales")  # the layer config's Precision
# the parser's layer dict (hls4ml's Keras-3 converter names the tensors; the batch norm reads its map from it)
INPUT_TENSORS = _key("input_keras_tensor_names", module="hls4ml.converters.keras_v3_to_hls")
OUTPUT_TENSORS = _key("output_keras_tensor_names", module="hls4ml.converters.keras_v3_to_hls")
SCALE_DATA = _key("scale_data", module="hls4ml.model.layers")
BIAS_DATA = _key("bias_data", module="hls4ml.model.layers")
# what a layer computes
ACTIVATION = _key("activation", "Activation", "Softmax")
ACTIV_PARAM = _key("activ_param", module="hls4ml.converters.keras.core")
AXIS = _key("axis", module="hls4ml.converters.keras.core")
MERGE_OP = _key("op", module="hls4ml.converters.keras.merge")
SLOPE = _key("slope", "HardActivation")
SHIFT = _key("shift", "HardActivation")
WEIGHT_QUANTIZER = _key("weight_quantizer", module="hls4ml.converters.keras.qkeras")
BIAS_QUANTIZER = _key("bias_quantizer", module="hls4ml.converters.keras.qkeras")
ACTIVATION_QUANTIZER = _key("activation_quantizer", module="hls4ml.converters.keras.qkeras")
SCALE_QUANTIZER = _key("scale_quantizer", module="hls4ml.model.layers")
# weights (WeightAttribute "x" is both ``node.weights["x"]`` and the node key "x")
WEIGHT = _key("weight", "Dense", _CONV)
BIAS = _key("bias", "Dense", _CONV, _BN)
SCALE = _key("scale", _BN)
# type names (TypeAttribute "x" is the node key "x_t")
RESULT_T = _key("result_t", "Dense", "Activation")
ACCUM_T = _key("accum_t", "Dense", _CONV, _POOL, "Softmax")
WEIGHT_T = _key("weight_t", "Dense", _CONV)
BIAS_T = _key("bias_t", "Dense", _CONV, _BN)
SCALE_T = _key("scale_t", _BN)
TABLE_T = _key("table_t", "Activation")
PARAM_T = _key("param_t", "ParametrizedActivation")
EXP_TABLE_T = _key("exp_table_t", "Softmax")
INV_TABLE_T = _key("inv_table_t", "Softmax")
INV_INP_T = _key("inv_inp_t", "Softmax")
INP_NORM_T = _key("inp_norm_t", module="hls4ml.backends.vivado.passes.core_templates")
SLOPE_T = _key("slope_t", "HardActivation")
SHIFT_T = _key("shift_t", "HardActivation")


def _declared(backend: Any, class_name: str) -> set[str] | str:
    """The attribute names hls4ml's ``class_name``, as ``backend`` extends it, declares; or why none."""
    from hls4ml.model import layers

    cls = getattr(layers, class_name, None)
    if cls is None:
        return f"hls4ml.model.layers.{class_name} does not exist"
    return {attribute.name for attribute in backend.create_layer_class(cls).expected_attributes}


def _source(module: str) -> str | None:
    try:
        return inspect.getsource(importlib.import_module(module))
    except (ImportError, OSError, TypeError):
        return None


def key_problems(backend: Any, keys: dict[str, NodeKey] | None = None) -> list[str]:
    """What of ``keys`` (default: :data:`NODE_KEYS`) the installed hls4ml no longer declares, one line each."""
    problems: list[str] = []
    declared: dict[str, set[str] | str] = {}
    sources: dict[str, str | None] = {}
    for key in (NODE_KEYS if keys is None else keys).values():
        for class_name in key.classes:
            names = declared.setdefault(class_name, _declared(backend, class_name))
            if isinstance(names, str):
                problems.append(f"node key {key.name!r}: {names}")
            elif key.name not in names:
                problems.append(f"node key {key.name!r} is not an attribute of {class_name}")
        if key.module:
            text = sources.setdefault(key.module, _source(key.module))
            if text is None:
                problems.append(f"node key {key.name!r}: module {key.module} does not exist")
            elif f"'{key.name}'" not in text and f'"{key.name}"' not in text:
                problems.append(f"node key {key.name!r} is not written by {key.module}")
    return sorted(set(problems))
