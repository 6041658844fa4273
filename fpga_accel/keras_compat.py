"""The one place that knows which Keras is installed: TensorFlow 2.14 / Keras 2 / QKeras 0.9, or
Keras 3 / qkeras-v3 on TensorFlow.

The stages ask this module for the Keras API, a model's input name and shapes, a layer's input shape,
and to load and save model files; they never test versions themselves. Both stacks import QKeras as
``qkeras`` with the same layer and quantizer API. Keras 3 runs here on the TensorFlow backend only
(qkeras-v3 and hls4ml's QKeras handling call TensorFlow), chosen by :func:`use_tensorflow_backend`.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from .errors import ConfigError

KERAS3_STACK = "Keras 3 / qkeras-v3 (Python >= 3.12, or the host-keras3 extra)"
KERAS2_STACK = "TensorFlow 2.14 / Keras 2 / QKeras 0.9 (Python 3.10-3.11, the host extra)"


def version_tuple(version: str) -> tuple[int, ...]:
    """'3.15.1' → (3, 15, 1); '2.14.0rc1' → (2, 14, 0): versions compare as numbers, never as strings."""
    parts = []
    for piece in version.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


@functools.lru_cache(maxsize=None)
def keras_version() -> tuple[int, ...]:
    """The installed Keras, from the package metadata (no TensorFlow import). () when none is installed."""
    try:
        return version_tuple(metadata.version("keras"))
    except metadata.PackageNotFoundError:
        return ()


def is_keras3() -> bool:
    """True on the Keras 3 stack, where hls4ml parses models with its keras_v3 converter."""
    return keras_version() >= (3,)


def use_tensorflow_backend() -> None:
    """Make Keras 3 use TensorFlow, before anything imports it: qkeras-v3 and hls4ml need it (on JAX
    hls4ml fails on ``'ArrayImpl' object has no attribute 'numpy'``). A no-op on Keras 2. Raises a
    ConfigError when Keras 3 is already running on another backend, rather than computing wrongly."""
    if not is_keras3():
        return
    chosen = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:
        if chosen not in (None, "", "tensorflow"):
            raise ConfigError(f"KERAS_BACKEND={chosen}: fpga_accel needs Keras' TensorFlow backend "
                              "(unset KERAS_BACKEND or set it to tensorflow)")
        os.environ["KERAS_BACKEND"] = "tensorflow"
        return
    backend = sys.modules["keras"].backend.backend()
    if backend != "tensorflow":
        raise ConfigError(f"Keras runs on its {backend!r} backend in this process; fpga_accel needs TensorFlow "
                          "(set KERAS_BACKEND=tensorflow before importing keras)")


def keras_module() -> ModuleType:
    """The Keras API QKeras builds on: ``keras`` on Keras 3, ``tensorflow.keras`` on Keras 2."""
    use_tensorflow_backend()
    if is_keras3():
        import keras

        return keras
    from tensorflow import keras

    return keras


# ------------------------------------------------------------------------------ model facts


def producing_layer(tensor: Any) -> Any:
    """The layer that made a symbolic tensor (an InputLayer for a model input); None if unknown.
    Keras 2 names it ``history.layer``, Keras 3 ``history.operation``; both keep it first in the tuple.
    Compare layers with this, not tensors by identity: Keras 3 calls the layers of a Sequential model
    loaded from .h5 twice, so ``layer.output`` need not be the next layer's ``input`` object."""
    history = getattr(tensor, "_keras_history", None)
    return history[0] if history is not None else None


def input_layer_name(model: Any) -> str:
    """The name of the model's (first) InputLayer: the key of hls4ml's input entry on both stacks."""
    names = getattr(model, "input_names", None)  # Keras 2 only
    if names:
        return str(names[0])
    layer = producing_layer(model.inputs[0])
    return str(layer.name if layer is not None else model.inputs[0].name)


def input_layer_names(model: Any) -> list[str]:
    """The names of the model's InputLayers in ``model.inputs`` order (hls4ml's input entries)."""
    names = getattr(model, "input_names", None)  # Keras 2 only
    if names:
        return [str(n) for n in names]
    layers = [producing_layer(t) for t in model.inputs]
    return [str(layer.name if layer is not None else t.name) for layer, t in zip(layers, model.inputs)]


def output_layer(model: Any) -> Any:
    """The layer producing the model's (single) output: not always ``model.layers[-1]`` in a graph."""
    outputs = getattr(model, "outputs", None) or []
    layer = producing_layer(outputs[0]) if len(outputs) == 1 else None
    return layer if layer is not None else model.layers[-1]


def _shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tuple(shape))


def input_shape(model: Any) -> tuple[int | None, ...]:
    """One sample's input shape (no batch axis) of a single-input model."""
    return _shape(model.inputs[0].shape)[1:]


def port_shapes(model: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs): name and one sample's shape per tensor, in ``model.inputs``/``model.outputs`` order."""
    def table(tensors: Any) -> list[dict[str, Any]]:
        rows = []
        for tensor in tensors:
            layer = producing_layer(tensor)
            rows.append({"name": str(layer.name if layer is not None else tensor.name),
                         "shape": [int(d) for d in _shape(tensor.shape)[1:]]})
        return rows

    return table(model.inputs), table(model.outputs)


def output_shape(model: Any) -> tuple[int | None, ...]:
    """One sample's output shape (no batch axis) of a single-output model."""
    return _shape(model.outputs[0].shape)[1:]


def layer_input_shape(layer: Any) -> tuple[int | None, ...]:
    """A called layer's input shape with the batch axis (Keras 3 layers have no ``input_shape``)."""
    return _shape(layer.input.shape)


def input_bound(model: Any) -> float:
    """How far made-up inputs reach (``runtime.validate.random_inputs``): 1.25 x the range of the model's
    input quantizer (so saturation is exercised), else 4."""
    first = next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)
    q = quantizer_of(first) if first is not None else None
    if q is not None and hasattr(q, "bits"):
        return 1.25 * 2.0 ** float(getattr(q, "integer", 0) or 0)
    return 4.0


MULTI_INPUT_BOUND = 4.0
"""How far made-up inputs of a model with several inputs reach (no one input quantizer bounds them all)."""


def random_model_inputs(model: Any, n: int, seed: int = 0) -> tuple[Any, str]:
    """Made-up inputs for ``model`` — the one policy for convert's check without calibration data, the flow's
    csim step without test data and a bundle's test vectors: ``n`` samples uniform in ±``input_bound``, the
    same on every run (``seed``). Several inputs: a list, one batch per input (seeds ``seed``, ``seed + 1``...)
    in ±``MULTI_INPUT_BOUND``. Returns (inputs, what they are in words)."""
    from .runtime.validate import random_inputs

    if len(model.inputs) > 1:
        inputs, _ = port_shapes(model)
        return ([random_inputs(n, t["shape"], MULTI_INPUT_BOUND, seed + i) for i, t in enumerate(inputs)],
                f"uniform samples in ±{MULTI_INPUT_BOUND:g}")
    bound = input_bound(model)
    return random_inputs(n, input_shape(model), bound, seed), f"uniform samples in ±{bound:g}"


def quantizer_of(layer: Any) -> Any:
    """The quantizer a QActivation applies, as an object: QKeras 0.9 keeps it in ``quantizer`` (its
    ``activation`` may be the string given), qkeras-v3 only in ``activation``. None for other layers."""
    if type(layer).__name__ != "QActivation":
        return None
    found = getattr(layer, "quantizer", None) or getattr(layer, "activation", None)
    if isinstance(found, (str, dict)):
        from qkeras.quantizers import get_quantizer

        found = get_quantizer(found)
    return found


# ------------------------------------------------------------------------------ hls4ml


def hls4ml_handler_changes() -> dict[str, Any]:
    """The Keras-3 registry entries that teach hls4ml's Keras-3 parser the QKeras layers (and probe batch
    norms), as ``fpga_accel.hls.boundary`` changes; none on Keras 2, where hls4ml's own parser handles QKeras."""
    if not is_keras3():
        return {}
    from .hls.keras3 import handler_changes

    return handler_changes()


@contextlib.contextmanager
def hls4ml_parsing() -> Iterator[None]:
    """hls4ml able to parse the installed stack's QKeras models for the duration (the Keras-3 handlers
    registered, removed again on exit): around any hls4ml call that parses a model."""
    from .hls.boundary import Changes, patched

    with patched(Changes(keras3_handlers=hls4ml_handler_changes())):
        yield


def hls4ml_supported_layers() -> set[str]:
    """Keras layer class names hls4ml 1.3 converts on the installed stack."""
    if is_keras3():
        from .hls.keras3 import supported_layer_names

        return supported_layer_names()
    from hls4ml.converters.keras_v2_to_hls import get_supported_keras_layers

    return set(get_supported_keras_layers())


# ------------------------------------------------------------------------------ files


def saved_keras_version(path: Path) -> tuple[int, ...] | None:
    """The Keras version a .h5 or .keras file was written with, from its own metadata; None if unknown."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return version_tuple(json.loads(archive.read("metadata.json")).get("keras_version", ""))
        import h5py

        with h5py.File(path, "r") as f:
            found = f.attrs.get("keras_version")
        if isinstance(found, bytes):
            found = found.decode()
        return version_tuple(found) if found else None
    except (OSError, KeyError, ValueError):
        return None


def check_readable(path: Path) -> None:
    """Refuse, with the reason, a model file the installed Keras cannot read: Keras 2 reads no file
    written by Keras 3. (Keras 3 reads Keras 2 .h5 files through QKeras' loader.)"""
    saved = saved_keras_version(path)
    if saved is not None and saved >= (3,) and not is_keras3():
        raise ConfigError(
            f"{path} was saved with Keras {'.'.join(map(str, saved))}; this environment runs "
            f"{KERAS2_STACK}, which cannot read Keras 3 files. Load it with {KERAS3_STACK}, or re-save the "
            "model there and convert it there")


def load_qmodel(path: Path, custom_objects: dict[str, Any]) -> Any:
    """QKeras' loader on both stacks (it registers every QKeras layer and quantizer); on Keras 3 it also
    reads .h5 files written by TensorFlow 2.14 / QKeras 0.9."""
    check_readable(path)
    use_tensorflow_backend()
    from qkeras.utils import load_qmodel as qkeras_load

    return qkeras_load(str(path), custom_objects=custom_objects, compile=False)


def save(model: Any, path: Path) -> None:
    """Save without optimizer state (.h5 or .keras; Keras 3 writes .h5 in its legacy format)."""
    model.save(str(path), include_optimizer=False)


__all__ = ["KERAS2_STACK", "KERAS3_STACK", "check_readable", "hls4ml_supported_layers", "input_bound", "input_layer_name", "input_layer_names", "input_shape", "port_shapes", "random_model_inputs", "is_keras3",
           "keras_module", "keras_version", "layer_input_shape", "load_qmodel", "output_layer", "output_shape",
           "producing_layer", "quantizer_of", "hls4ml_handler_changes", "hls4ml_parsing", "save", "saved_keras_version", "use_tensorflow_backend", "version_tuple"]
