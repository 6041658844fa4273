"""What fpga_accel.json and the estimator know about each layer of a converted hls4ml model.

Why here: the convert stage writes these records and ``analysis`` (the estimator, the reader of foreign
hls4ml models) reads the same ones from a conversion of its own; analysis never imports a stage, so the
description of a converted layer lives on the hls4ml side of the boundary, importable by both.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import node_keys as keys
from .exact_types import type_rules

HW_ATTRS = (keys.N_IN, keys.N_OUT, keys.N_CHAN, keys.N_FILT, keys.FILT_HEIGHT, keys.FILT_WIDTH, keys.IN_HEIGHT,
            keys.IN_WIDTH, keys.OUT_HEIGHT, keys.OUT_WIDTH, keys.POOL_HEIGHT, keys.POOL_WIDTH, keys.REUSE_FACTOR,
            keys.STRATEGY, keys.TABLE_SIZE)
KERNEL_CLASSES = ("Dense", "Conv1D", "Conv2D", "Conv1DBatchnorm", "Conv2DBatchnorm")


def hardware(hls_model: Any, node: Any) -> dict[str, Any]:
    """What the estimator needs about a layer: sizes, operand types, reuse factor and its valid values, and
    the weight counts measured by the one ruler (``analysis.weight_stats``) on the constants HLS compiles —
    the weights as hls4ml writes them, converted to the weight type — exactly as the hls4ml project parser
    measures a written project."""
    from hls4ml.model.types import ExponentPrecisionType

    from ..analysis.weight_stats import UnknownType, shift_weight_stats, weight_stats

    hw: dict[str, Any] = {}
    for attr in HW_ATTRS:
        value = node.get_attr(attr)
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            hw[attr] = value
    if node.class_name.startswith(("Pooling", "GlobalPooling")):
        # filt_* and n_chan repeat pool_* and n_filt there; hls4ml's Keras 3 parser sets them, its Keras 2
        # parser and the written project do not: dropped, as the project parser does, so the routes agree
        for attr in (keys.FILT_HEIGHT, keys.FILT_WIDTH, keys.N_CHAN):
            hw.pop(attr, None)
    activation = node.get_attr(keys.ACTIVATION)
    if isinstance(activation, str) and node.class_name not in KERNEL_CLASSES:
        hw["activation"] = activation.lower()
    inputs = node.get_input_variable() if node.inputs else None
    if inputs is not None:
        hw["input_precision"] = str(inputs.type.precision)
    if keys.WEIGHT in node.weights:
        weights = node.weights[keys.WEIGHT]
        hw["weight_precision"] = str(weights.type.precision)
        values = np.asarray(weights.data, dtype=np.float64).ravel().tolist()
        try:
            if isinstance(weights.type.precision, ExponentPrecisionType):  # po2 weights: a sign and an exponent
                stats = shift_weight_stats(len(values))
            else:
                stats = weight_stats(values, hw["weight_precision"])
            hw.update({k: v for k, v in stats.items() if k != "csd_hist"})
        except UnknownType as exc:  # not guessed: the estimator reports the layer NOT COSTED
            hw["n_weights"] = len(values)
            hw["not_costed"] = f"weight {exc}"
        if node.class_name in KERNEL_CLASSES:
            n_in = hw.get(keys.N_IN) if node.class_name == "Dense" else \
                hw.get(keys.N_CHAN, 1) * hw.get(keys.FILT_HEIGHT, 1) * hw.get(keys.FILT_WIDTH, 1)
            n_out = hw.get(keys.N_OUT) if node.class_name == "Dense" else hw.get(keys.N_FILT)
            if n_in and n_out:
                hw["rf_n_in"], hw["rf_n_out"] = int(n_in), int(n_out)
                hw["valid_reuse_factors"] = hls_model.config.backend.get_valid_reuse_factors(int(n_in), int(n_out))
    elif keys.SCALE in node.weights:  # BatchNormalization: products by the scales
        hw["weight_precision"] = str(node.weights[keys.SCALE].type.precision)
    accum = node.get_attr(keys.ACCUM_T)
    if accum is not None and hasattr(accum, "precision"):
        hw["accum_precision"] = str(accum.precision)
    return hw


def layer_table(hls_model: Any) -> list[dict[str, Any]]:
    """Per-layer facts for fpga_accel.json and the estimator."""
    layers = []
    for node in hls_model.get_layers():
        var = node.get_output_variable()
        layers.append({"name": node.name, "class": node.class_name, "shape": [int(s) for s in var.shape],
                       "precision": str(var.type.precision), "traced": bool(node.get_attr(keys.TRACE, False))
                       and node.get_attr(keys.FUNCTION_CPP, None) is not None, **hardware(hls_model, node),
                       "types": type_rules(node)})
    return layers


__all__ = ["HW_ATTRS", "KERNEL_CLASSES", "hardware", "layer_table"]
