"""hls4ml 1.3 Keras-3 layer handlers for QKeras (qkeras-v3) layers and for batch normalisation.

On Keras 3 hls4ml parses a model with its keras_v3 converter, which has handlers for core Keras layers
only. For anything else it falls back to the Keras-2 handler of the class name, but then asserts that
a layer's ``activation`` is a plain function: every ``QActivation`` and ``QDense(activation=quantizer)``
fails. The handlers here run hls4ml's own Keras-2 QKeras handlers on the live layer (its config and
weights) and split a quantizer activation into its own node exactly as hls4ml's Keras-2 parser does
(same node names and attributes), so the types fpga_accel derives and the csim it checks are the same on
both stacks.

``QDenseBatchnorm`` (qkeras-v3 only; hls4ml parses none) becomes the QDense it is at inference: hls4ml's QDense
handler with QKeras' folded, quantized kernel and bias (``fpga_accel.hls.batchnorm_fold.qkeras_folded``).

(Q)BatchNormalization nodes get the affine map probed from the Keras layer, as
``exact_types`` does on Keras 2 (both through ``fpga_accel.hls.probe``) (there the parser sees only the model's JSON).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import activations
from . import node_keys as keys
from .probe import BATCHNORM_CLASSES, KERAS_BATCHNORM_CLASS, affine_probe
from .values import to_numpy

log = logging.getLogger(__name__)

ACTIVATION_NODES = activations.ACTIVATION_NODES
"""Node classes that are an activation themselves: hls4ml's Keras-2 parser splits no activation off these."""
KERAS_BATCHNORM = f"keras.src.layers.normalization.batch_normalization.{KERAS_BATCHNORM_CLASS}"


class _LayerReader:
    """The weight reader hls4ml's Keras-2 handlers expect, over one live Keras 3 layer."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def get_weights_data(self, layer_name: str, var_name: str) -> np.ndarray | None:
        if layer_name != self.layer.name:
            raise ValueError(f"handler of {self.layer.name} asked for weights of {layer_name}")
        for weight in self.layer.weights:
            if weight.name == var_name or weight.path.rsplit("/", 1)[-1] == var_name:
                return to_numpy(weight)
        return None


class _FoldedReader(_LayerReader):
    """A QDenseBatchnorm's weights as the QDense it is at inference: QKeras' folded, quantized kernel and bias."""

    def __init__(self, layer: Any) -> None:
        from .batchnorm_fold import qkeras_folded

        super().__init__(layer)
        self.folded = dict(zip(("kernel", "bias"), qkeras_folded(layer)))

    def get_weights_data(self, layer_name: str, var_name: str) -> np.ndarray | None:
        if layer_name != self.layer.name:
            raise ValueError(f"handler of {self.layer.name} asked for weights of {layer_name}")
        return self.folded.get(var_name)


def _keras2_nodes(layer: Any, in_tensors: Sequence[Any], out_tensors: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """hls4ml's Keras-2 handler of the layer's class, run on its config and weights; a non-linear
    ``activation`` argument becomes a node of its own named ``{layer}_{activation}`` as on Keras 2.
    A QDenseBatchnorm (which hls4ml does not parse) goes through the QDense handler with its folded weights."""
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers

    handlers = get_layer_handlers()
    class_name = type(layer).__name__
    reader = _LayerReader(layer)
    if class_name == "QDenseBatchnorm":
        class_name, reader = "QDense", _FoldedReader(layer)
    keras_layer = {"class_name": class_name, "config": layer.get_config()}
    node, output_shape = handlers[class_name](keras_layer, [t.name for t in in_tensors],
                                              [list(t.shape) for t in in_tensors], reader)
    out_names = [t.name for t in out_tensors]
    node[keys.INPUT_TENSORS] = [t.name for t in in_tensors]
    node[keys.OUTPUT_TENSORS] = out_names
    activation = node.get(keys.ACTIVATION)
    if activation is None or activation == "linear" or node[keys.CLASS_NAME] in ACTIVATION_NODES:
        return (node,)
    if isinstance(activation, dict):  # a QKeras quantizer, serialized
        act_layer = {"class_name": "QActivation",
                     "config": {"name": f"{node['name']}_{activation['class_name']}", "activation": activation}}
    else:
        act_layer = {"class_name": "Activation",
                     "config": {"name": f"{node['name']}_{activation}", "activation": activation}}
    act, _ = handlers[act_layer["class_name"]](act_layer, None, [output_shape], reader)
    between = f"{out_names[0]}_pre_activation"
    node[keys.OUTPUT_TENSORS] = [between]
    act[keys.INPUT_TENSORS] = [between]
    act[keys.OUTPUT_TENSORS] = out_names
    return node, act


def _probe_batchnorm(layer: Any, nodes: tuple[dict[str, Any], ...], in_tensors: Sequence[Any]) -> None:
    for node in nodes:
        if node.get(keys.CLASS_NAME) in BATCHNORM_CLASSES:
            node[keys.SCALE_DATA], node[keys.BIAS_DATA] = affine_probe(layer, tuple(in_tensors[0].shape[1:]))


def _qkeras_layer_classes() -> list[type]:
    """Every QKeras layer class hls4ml has a Keras-2 handler for."""
    import qkeras
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers

    handled = set(get_layer_handlers())
    return [cls for name, cls in vars(qkeras).items()
            if isinstance(cls, type) and name in handled and cls.__module__.startswith("qkeras")]


def handler_changes() -> dict[str, Any]:
    """The entries of hls4ml's Keras-3 registry fpga_accel replaces while it converts (made, checked and
    undone by ``fpga_accel.hls.boundary``; Keras 3 stack only): one per QKeras layer class (hls4ml has
    none of its own for most, so none is required) and Keras' BatchNormalization (hls4ml 1.3 has none:
    its Keras-2 handler runs, probing added). The Keras-2 handlers they fall back to are checked by name."""
    from .boundary import HandlerChange

    changes = {}
    for cls in _qkeras_layer_classes():
        key = f"{cls.__module__}.{cls.__name__}"
        changes[key] = HandlerChange(functools.partial(_handler, key, probe=cls.__name__ in BATCHNORM_CLASSES),
                                     required=False)
    changes[KERAS_BATCHNORM] = HandlerChange(functools.partial(_handler, KERAS_BATCHNORM, probe=True), required=False)
    folded = _qdense_batchnorm_class()
    if folded is not None:
        key = f"{folded.__module__}.{folded.__name__}"
        changes[key] = HandlerChange(functools.partial(_handler, key, probe=False), required=False)
    return changes


def _qdense_batchnorm_class() -> type | None:
    """qkeras-v3's QDenseBatchnorm (hls4ml has no handler for it on either parser), None where absent."""
    import qkeras

    return getattr(qkeras, "QDenseBatchnorm", None)


def _handler(key: str, upstream: Any, probe: bool) -> Any:
    """A registry entry: hls4ml's own Keras-3 handler where it has one (only probing added), else the
    Keras-2 handler run through :func:`_keras2_nodes`."""

    def handle(layer: Any, in_tensors: Sequence[Any], out_tensors: Sequence[Any]) -> tuple[dict[str, Any], ...]:
        nodes = tuple(upstream(layer, in_tensors, out_tensors)) if upstream is not None \
            else _keras2_nodes(layer, in_tensors, out_tensors)
        if probe:
            _probe_batchnorm(layer, nodes, in_tensors)
        return nodes

    handle.__qualname__ = f"fpga_accel handler for {key}"
    return handle


def supported_layer_names() -> set[str]:
    """Class names the Keras-3 parser can convert: its own registry and the Keras-2 handlers it falls
    back to (which now include the QKeras layers)."""
    from hls4ml.converters.keras_v2_to_hls import get_supported_keras_layers
    from hls4ml.converters.keras_v3 import layer_handlers as registry

    return ({key.rsplit(".", 1)[-1] for key in [*registry, *handler_changes()]}
            | set(get_supported_keras_layers()))


__all__ = ["handler_changes", "supported_layer_names"]
