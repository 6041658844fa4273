"""The one activation-class table agrees with hls4ml 1.3 itself, and both its readers use it."""
from __future__ import annotations

from fpga_accel import activations, design
from fpga_accel.hls import keras3 as hls4ml_keras3


def test_the_table_is_hls4mls_own_mapping():
    from hls4ml.converters.keras.core import activation_layers
    from hls4ml.model.layers import layer_map

    for node, layer_class in activations.HLS4ML_ACTIVATION_CLASSES.items():
        assert layer_map[node].__name__ == layer_class, node
    assert set(activation_layers) | {"QActivation"} == activations.KERAS_ACTIVATION_LAYERS


def test_design_and_the_keras3_parser_read_the_same_table():
    assert design._ACTIVATION_NODES is activations.ACTIVATION_LAYER_CLASSES
    assert design._KERAS_ACTIVATION_LAYERS is activations.KERAS_ACTIVATION_LAYERS
    assert hls4ml_keras3.ACTIVATION_NODES is activations.ACTIVATION_NODES
