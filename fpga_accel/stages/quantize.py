"""Keras → QKeras: replace Dense/Conv/activations by quantized layers, fold BatchNormalization, add an
input quantizer, and optionally fine-tune (quantization-aware training).

The input quantizer is what makes csim agree with QKeras on arbitrary float inputs: the design casts
its float input to a fixed-point type, and with a quantizer in the model both sides see the same grid.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import numpy as np

from ..config import MAX_INTEGER_BITS, QuantizeConfig, quantize_config_from
from ..errors import ConfigError, InputError
from ..hls.probe import KERAS_BATCHNORM_CLASS, QKERAS_BATCHNORM_CLASS
from ..keras_compat import (input_layer_name, input_shape, keras_module, layer_input_shape, output_shape,
                            producing_layer)
from ..model_io import ends_in_softmax

log = logging.getLogger(__name__)

PASS_THROUGH = {
    "Flatten", "Dropout", "Reshape", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "QDense", "QConv1D", "QConv2D", "QActivation", QKERAS_BATCHNORM_CLASS, "ZeroPadding2D",
}
QUANTIZED = {"Dense", "Conv1D", "Conv2D", "Activation", "ReLU", "Softmax", KERAS_BATCHNORM_CLASS}
ACTIVATIONS = {"linear", "relu", "softmax"}


def input_integer_bits(x: np.ndarray) -> int:
    """Integer bits (excluding sign) so that the input quantizer covers the data's range; data whose range
    needs more than float32 can compute with (``MAX_INTEGER_BITS``) is refused, naming the sample."""
    flat = np.abs(np.asarray(x, dtype=np.float64)).reshape(len(x), -1) if x.size else np.ones((1, 1))
    peak = float(flat.max())
    integer = max(0, math.floor(math.log2(peak)) + 1) if peak > 0 else 0
    if integer > MAX_INTEGER_BITS:
        sample = int(np.argmax(flat.max(axis=1)))
        raise InputError(f"calibration data reaches {peak:.3g} (sample {sample}): an input quantizer covering it "
                         f"needs {integer} integer bits, beyond the {MAX_INTEGER_BITS} float32 computes with; "
                         "clip or rescale the data, or set input_integer (--input-integer)")
    return integer


def check_finite(qmodel: Any, x: np.ndarray | None) -> None:
    """No model that computes NaN or inf is accepted as quantized: run it on (some of) the calibration
    data, or zeros, and refuse it with the reason instead of writing it."""
    probe = x[:256] if x is not None and len(x) else np.zeros((1,) + input_shape(qmodel), np.float32)
    y = np.asarray(qmodel.predict(probe, verbose=0, batch_size=256))
    bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    if bad.any():
        raise ConfigError(f"the quantized model computes NaN or inf for {int(bad.sum())} of {len(y)} calibration "
                          f"samples (first: sample {int(np.argmax(bad))}): its quantizers exceed float32; lower "
                          "input_integer / the integer bits, or rescale the data")


def check_chain(model: Any) -> list[Any]:
    """The layers of a single-input, single-output chain (what quantize rebuilds), else a ConfigError."""
    keras = keras_module()

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError("quantize supports single-input, single-output models")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    unsupported = [f"{layer.name} ({type(layer).__name__})" for layer in layers
                   if type(layer).__name__ not in PASS_THROUGH | QUANTIZED]
    bad_act = [f"{layer.name} (activation {_activation(layer)})" for layer in layers
               if type(layer).__name__ in {"Dense", "Conv1D", "Conv2D", "Activation"}
               and _activation(layer) not in ACTIVATIONS]
    if unsupported or bad_act:
        raise ConfigError("cannot quantize layers: " + ", ".join(unsupported + bad_act)
                          + f"; supported: {', '.join(sorted(QUANTIZED | PASS_THROUGH))}"
                          + f" with activations {', '.join(sorted(ACTIVATIONS))}")
    prev = producing_layer(model.inputs[0])
    for layer in layers:
        if isinstance(layer.input, list) or producing_layer(layer.input) is not prev:
            raise ConfigError(f"layer {layer.name} is not in a simple chain; quantize rebuilds sequential models only")
        prev = layer
    return layers


def _activation(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else "linear"


def fold_batchnorm(kernel: np.ndarray, bias: np.ndarray, bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference-mode BatchNormalization into the preceding layer's kernel and bias."""
    cfg = bn.get_config()
    params = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights], bn.get_weights()))
    n = kernel.shape[-1]
    gamma = params.get("gamma", np.ones(n))
    beta = params.get("beta", np.zeros(n))
    scale = gamma / np.sqrt(params["moving_variance"] + cfg["epsilon"])
    return (kernel * scale).astype(np.float32), ((bias - params["moving_mean"]) * scale + beta).astype(np.float32)


def quantize(model: Any, config: QuantizeConfig | None = None, x: np.ndarray | None = None,
             y: np.ndarray | None = None) -> Any:
    """Return a QKeras model equivalent to ``model`` (BN folded), fine-tuned for ``config.epochs`` on (x, y)."""
    keras = keras_module()
    from qkeras import QActivation, QConv1D, QConv2D, QDense, quantized_bits, quantized_relu

    if config is None or isinstance(config, Mapping):
        config = quantize_config_from(config)
    elif not isinstance(config, QuantizeConfig):
        raise ConfigError(f"config must be a QuantizeConfig or a mapping of its settings, got {type(config).__name__}")
    layers = check_chain(model)
    if config.epochs and (x is None or y is None):
        raise ConfigError("quantization-aware training (epochs > 0) needs data with x and y")
    if x is not None:
        try:
            x = np.asarray(x, dtype=np.float32)
        except (ValueError, TypeError):
            raise InputError("data is not a rectangular array of numbers") from None
        if x.ndim == 0 or len(x) == 0:
            raise InputError(f"data has shape {x.shape}: give a batch of samples")
        if y is not None and len(np.asarray(y)) != len(x):
            raise InputError(f"data has {len(x)} samples but {len(np.asarray(y))} labels")
        if x.shape[1:] != input_shape(model):
            raise InputError(f"data has sample shape {x.shape[1:]}, the model expects {input_shape(model)}")
        if not np.all(np.isfinite(x)):
            raise InputError("data holds NaN or inf")

    inp = keras.Input(shape=input_shape(model), name=input_layer_name(model))
    t = inp
    if config.input_bits:
        integer = config.input_integer if config.input_integer is not None else (
            input_integer_bits(x) if x is not None else 2)
        t = QActivation(quantized_bits(config.input_bits, integer, alpha=1), name="input_quant")(t)
        log.info("input quantizer: quantized_bits(%d, %d)", config.input_bits, integer)

    def relu(cfg: QuantizeConfig, name: str) -> Any:
        return QActivation(quantized_relu(cfg.activation_bits, cfg.activation_integer), name=name)

    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = type(layer).__name__
        cfg = config.for_layer(layer.name)
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if kind in ("Dense", "Conv1D", "Conv2D"):
            weights = layer.get_weights()
            kernel = weights[0]
            bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
            act = _activation(layer)
            if config.fold_batchnorm and act == "linear" and nxt is not None \
                    and type(nxt).__name__ == KERAS_BATCHNORM_CLASS and _bn_last_axis(nxt):
                kernel, bias = fold_batchnorm(kernel, bias, nxt)
                log.info("folded %s into %s", nxt.name, layer.name)
                i += 1
            qcls = {"Dense": QDense, "Conv1D": QConv1D, "Conv2D": QConv2D}[kind]
            lcfg = layer.get_config()
            for key in ("activation", "use_bias", "kernel_regularizer", "bias_regularizer",
                        "activity_regularizer", "kernel_constraint", "bias_constraint"):
                lcfg.pop(key, None)
            qlayer = qcls(**lcfg, use_bias=True,
                          kernel_quantizer=quantized_bits(cfg.weight_bits, cfg.weight_integer, alpha=1),
                          bias_quantizer=quantized_bits(cfg.bias_bits, cfg.bias_integer, alpha=1))
            t = qlayer(t)
            qlayer.set_weights([kernel, bias])
            if act == "relu":
                t = relu(cfg, f"{layer.name}_relu")(t)
            elif act == "softmax":
                t = keras.layers.Activation("softmax", name=f"{layer.name}_softmax")(t)
        elif kind in ("Activation", "ReLU", "Softmax"):
            act = "softmax" if kind == "Softmax" else "relu" if kind == "ReLU" else _activation(layer)
            if act == "relu":
                t = relu(cfg, layer.name)(t)
            elif act == "softmax":
                t = keras.layers.Activation("softmax", name=layer.name)(t)
        else:  # pass-through layers and plain BatchNormalization that could not be folded
            clone = type(layer).from_config(layer.get_config())
            t = clone(t)
            clone.set_weights(layer.get_weights())
            if kind == KERAS_BATCHNORM_CLASS:
                # its float output must meet a grid before the next layer, or csim cannot match QKeras
                t = QActivation(quantized_bits(cfg.activation_bits, cfg.activation_integer, alpha=1),
                                name=f"{layer.name}_quant")(t)
                log.info("kept %s (not after a linear Dense/Conv) and quantized its output", layer.name)
        i += 1
    qmodel = keras.Model(inp, t, name=f"{model.name}_q")
    if config.epochs:
        fine_tune(qmodel, x, y, config)
    check_finite(qmodel, x)
    return qmodel


def _bn_last_axis(bn: Any) -> bool:
    axis = bn.get_config()["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    return axis in (-1, len(layer_input_shape(bn)) - 1)


def fine_tune(qmodel: Any, x: np.ndarray, y: np.ndarray, config: QuantizeConfig) -> None:
    """Quantization-aware training: the quantizers are in the graph, so plain ``fit`` trains around them."""
    keras = keras_module()

    y = np.asarray(y)
    n_out = output_shape(qmodel)[-1]
    softmax_out = ends_in_softmax(qmodel)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and n_out > 1:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_out)
        metrics = ["accuracy"]
    elif y.ndim == 2 and y.shape[1] == n_out and n_out > 1 and np.all((y == 0) | (y == 1)):
        loss = keras.losses.CategoricalCrossentropy(from_logits=not softmax_out)
        metrics = ["accuracy"]
    else:
        loss, metrics = "mse", []
    qmodel.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, metrics=metrics)
    qmodel.fit(x, y, epochs=config.epochs, batch_size=config.batch_size, verbose=0)
