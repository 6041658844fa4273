"""Load and save Keras/QKeras models and .npz/.npy data, with errors that say what is wrong.

Also what the stages need to know about a model's ending: whether it ends in softmax and where its
logits live (a standalone softmax layer's input, or the pre-activation output of a layer with
``activation="softmax"``), so quantize, convert and compare agree on it.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError, InputError
from .keras_compat import keras_module, layer_input_shape, load_qmodel, output_layer, producing_layer, save
from .layout import check_writable, refuse_overwrite, write_atomic

log = logging.getLogger(__name__)

CustomObjects = Mapping[str, Any] | str | Path | None
"""A {name: class} mapping, or a module (dotted name or .py file) holding one: see ``load_custom_objects``."""

SOFTMAX_LAYERS = ("Softmax", "Activation", "QActivation")
"""Layers that are nothing but their activation: when it is softmax, the logits are the layer's input."""

_UNKNOWN = re.compile(r"Unknown (?:layer|object|activation|loss|metric|class|config)[^:]*:\s*'?([\w.>]+)'?")


def load_custom_objects(spec: CustomObjects) -> dict[str, Any]:
    """The custom objects a model needs to load, from a mapping or from a module given as a dotted name
    (``mypkg.layers``) or a path to a .py file: its ``custom_objects`` dict, else its public Keras Layer
    subclasses by class name. Importing the module also runs any registration it does (e.g. hls4ml
    extension layers), which convert then sees."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return dict(spec)
    module = _import_module(str(spec))
    found = getattr(module, "custom_objects", None)
    if found is not None:
        if not isinstance(found, Mapping) or not found:
            raise ConfigError(f"custom objects module {spec}: `custom_objects` must be a non-empty dict "
                              f"of name → class, got {type(found).__name__}")
        return dict(found)
    keras = keras_module()
    layers: dict[str, Any] = {}
    for name, obj in vars(module).items():
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) \
                and obj.__module__ == module.__name__:
            # saved configs name a class by its registered name ('Package>Name') when it has one
            layers[obj.__name__] = layers[keras.utils.get_registered_name(obj)] = obj
    if not layers:
        raise ConfigError(f"custom objects module {spec} ({module.__file__}) defines no `custom_objects` dict "
                          "and no Keras Layer subclasses")
    return layers


def _import_module(spec: str) -> Any:
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"custom objects module {spec} does not exist")
        name = f"_fpga_accel_custom_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"custom objects module {spec}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # Keras and pickling look classes up by module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"custom objects module {spec} failed to import: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"custom objects module {spec!r} not found ({exc}): give a dotted module name "
                          "importable from here (check PYTHONPATH) or a path to a .py file") from exc
    except Exception as exc:
        raise ConfigError(f"custom objects module {spec} failed to import: {type(exc).__name__}: {exc}") from exc


def load_model(path: str | Path, custom_objects: CustomObjects = None) -> Any:
    """Load a float Keras or a QKeras model (.h5/.keras) with QKeras' custom objects registered, plus
    ``custom_objects`` (a mapping, or a module holding them: see ``load_custom_objects``)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist")
    if path.suffix not in (".h5", ".keras", ".hdf5"):
        raise ConfigError(f"{path}: expected a Keras model file (.h5 or .keras)")
    keras_module()  # the backend is chosen before a custom objects module imports Keras
    extra = load_custom_objects(custom_objects)
    try:
        return load_qmodel(path, extra)
    except ConfigError:
        raise
    except Exception as exc:  # Keras raises many kinds here; keep the cause
        unknown = _UNKNOWN.search(str(exc))
        if unknown:
            given = f" (the custom objects given hold {sorted(extra)})" if extra else ""
            raise ConfigError(
                f"cannot load Keras model {path}: it uses {unknown.group(1)!r}, which neither Keras nor QKeras "
                f"defines{given}; pass --custom-objects MODULE (a module with a `custom_objects` dict mapping "
                f"{unknown.group(1)!r} to its class, or defining that Layer class)") from exc
        raise ConfigError(f"cannot load Keras model {path}: {exc}") from exc


def save_model(model: Any, path: str | Path, force: bool = False) -> Path:
    """Save whole or not at all: written under a temporary name beside ``path`` (same suffix, which picks
    the format) and renamed into place, so a full disk or an interruption leaves an old file as it was."""
    import os
    import uuid

    path = Path(path)
    refuse_overwrite(path, force)
    check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        if path.suffix in (".h5", ".hdf5"):  # HDF5 meeting a full disk crashes (SIGSEGV): it writes to memory
            write_atomic(path, _h5_bytes(model))
        else:
            save(model, tmp)
            os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # h5py reports a full disk as OSError or RuntimeError
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200]
        raise ConfigError(f"cannot write {path}: {reason}" + (" (it was left as it was)" if path.exists() else "")) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _h5_bytes(model: Any) -> bytes:
    """The model as an .h5 file's bytes, built in memory (only plain Python writes them to disk)."""
    import h5py

    from .keras_compat import is_keras3

    with h5py.File(f"in-memory-{id(model)}.h5", "w", driver="core", backing_store=False) as f:
        if is_keras3():
            from keras.src.legacy.saving.legacy_h5_format import save_model_to_hdf5

            save_model_to_hdf5(model, f, include_optimizer=False)
        else:
            model.save(f, include_optimizer=False)
        f.flush()
        return f.id.get_file_image()


def activation_name(layer: Any) -> str | None:
    """The name of a layer's ``activation`` setting ('relu', 'softmax', 'quantized_relu', ...), None if it
    has none. QKeras serializes quantizer activations as dicts; a missing or 'linear' one is None."""
    try:
        act = layer.get_config().get("activation")
    except (NotImplementedError, AttributeError):
        return None
    if isinstance(act, Mapping):
        act = act.get("class_name")
    elif callable(act):  # qkeras-v3 keeps the function or quantizer object itself in QActivation's config
        act = getattr(act, "__name__", None) or type(act).__name__
    if act is None or act == "linear":
        return None
    return str(act)


def ends_in_softmax(model: Any) -> bool:
    """The model's last layer is a softmax (a Softmax layer, or any layer with activation='softmax')."""
    return logits_layer(model) is not None


@dataclass(frozen=True)
class LogitsLocation:
    """Where a softmax-ending model's logits (its pre-softmax tensor) live."""

    layer: str
    """The final layer, the one holding the softmax."""
    inside: bool
    """True: softmax is the layer's ``activation`` (``Dense(..., activation="softmax")``), the logits are
    its pre-activation output. False: a standalone softmax layer, the logits are its input tensor."""
    from_input: bool = False
    """The logits are the model's input itself (a model that is a softmax alone)."""


def logits_layer(model: Any) -> LogitsLocation | None:
    """Where the logits of a model ending in softmax live; None when it does not end in softmax."""
    last = output_layer(model)
    kind = type(last).__name__
    if kind == "Softmax":
        inside = False
    elif activation_name(last) == "softmax":
        inside = kind not in SOFTMAX_LAYERS
    else:
        return None
    from_input = not inside and producing_layer(last.input) is producing_layer(model.inputs[0])
    return LogitsLocation(layer=last.name, inside=inside, from_input=from_input)


def logits_model(model: Any) -> Any:
    """A Keras model computing ``model``'s logits (sharing its weights), or ``model`` itself when it does
    not end in softmax. A layer with ``activation="softmax"`` is replaced by a clone with a linear
    activation and the same weights and name, so hls4ml and the trace see the same layer names."""
    keras = keras_module()
    where = logits_layer(model)
    if where is None:
        return model
    last = model.get_layer(where.layer)
    if not where.inside:
        return keras.Model(model.inputs, last.input, name=f"{model.name}_logits")
    return keras.Model(model.inputs, linear_clone(last)(last.input), name=f"{model.name}_logits")


def linear_clone(layer: Any) -> Any:
    """A copy of ``layer`` with ``activation="linear"`` and the same weights: its output is the layer's
    pre-activation output. Built from the layer's config, like Keras' own clone_model."""
    from qkeras.utils import _add_supported_quantized_objects

    keras = keras_module()
    config = dict(layer.get_config(), activation="linear")
    scope: dict[str, Any] = {}
    _add_supported_quantized_objects(scope)
    try:
        with keras.utils.custom_object_scope(scope):
            clone = type(layer).from_config(config)
        clone.build(layer_input_shape(layer))
        clone.set_weights(layer.get_weights())
    except Exception as exc:  # from_config/build/set_weights of arbitrary layer classes
        raise ConfigError(f"cannot compute the logits of {layer.name} ({type(layer).__name__}) with a linear "
                          f"copy of it: {type(exc).__name__}: {exc}; put the softmax in its own "
                          "Activation('softmax') layer") from exc
    return clone


def model_hash(model: Any) -> str:
    """sha256 over architecture and weights: identifies the model a design came from."""
    digest = hashlib.sha256(model.to_json().encode())
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def read_arrays(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of an .npy (as 'x') or .npz, numeric only; anything unreadable is an InputError."""
    import zipfile

    try:
        if path.suffix == ".npy":
            found = {"x": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as data:
                if names[0] not in data.files:
                    raise InputError(f"{path}: expected an array named {names[0]!r} (found {sorted(data.files)})")
                found = {n: data[n] for n in names if n in data.files}
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(f"{path} is not a readable numeric NumPy file ({exc})") from None
    for name, array in found.items():
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub" or array.ndim == 0:
            raise InputError(f"{path}: {name!r} has dtype {getattr(array, 'dtype', type(array))} and shape "
                             f"{getattr(array, 'shape', '?')}; expected a numeric array with a batch axis")
    return found


def _check_data_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"input file {path} is a folder: name the .npy or .npz file in it")
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    if path.suffix not in (".npy", ".npz"):
        raise InputError(f"{path}: expected a .npy or .npz file")


def load_array(path: str | Path) -> np.ndarray:
    path = Path(path)
    _check_data_file(path)
    return read_arrays(path, ("x",))["x"]


def load_xy(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Training/calibration data: an .npz with ``x`` (and ``y`` for fine-tuning) or an .npy of x."""
    path = Path(path)
    _check_data_file(path)
    found = read_arrays(path, ("x", "y"))
    return found["x"], found.get("y")
