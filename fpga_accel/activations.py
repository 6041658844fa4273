"""The one activation-class table: which Keras layers are an activation, what hls4ml calls the node each
becomes, and which hls4ml layer class that node is built as.

``design`` (pairing Keras layers with csim nodes) and ``hls.keras3`` (splitting a layer's
``activation`` into its own node as hls4ml's Keras-2 parser does) both read it, so they cannot disagree;
``tests/test_activations.py`` checks it against hls4ml's own ``layer_map`` and activation handlers.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

HLS4ML_ACTIVATION_CLASSES: Mapping[str, str] = MappingProxyType({
    "Activation": "Activation",
    "QActivation": "Activation",
    "LeakyReLU": "ParametrizedActivation",
    "ThresholdedReLU": "ParametrizedActivation",
    "ELU": "ParametrizedActivation",
    "PReLU": "PReLU",
    "Softmax": "Softmax",
    "TernaryTanh": "TernaryTanh",
    "HardActivation": "HardActivation",
})
"""hls4ml node ``class_name`` (what its Keras handlers write) → the hls4ml layer class built from it
(hls4ml 1.3 ``model.layers.layer_map``)."""

ACTIVATION_NODES = frozenset(HLS4ML_ACTIVATION_CLASSES)
"""Node class names that are an activation themselves: hls4ml splits no activation off these."""

ACTIVATION_LAYER_CLASSES = frozenset(HLS4ML_ACTIVATION_CLASSES.values())
"""hls4ml layer classes of an activation node (what a layer's split-off ``activation`` becomes)."""

KERAS_ACTIVATION_LAYERS = frozenset({"Activation", "QActivation", "ReLU", "LeakyReLU", "ThresholdedReLU", "ELU",
                                     "PReLU", "Softmax"})
"""Keras layer classes that are an activation (hls4ml's activation handlers and QActivation's): converted
to one node, nothing split off."""

__all__ = ["ACTIVATION_LAYER_CLASSES", "ACTIVATION_NODES", "HLS4ML_ACTIVATION_CLASSES", "KERAS_ACTIVATION_LAYERS"]
