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
import json
import logging
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping

import numpy as np

from .errors import ConfigError, InputError
from .keras_compat import check_readable, is_keras3, keras_module, layer_input_shape, load_qmodel, output_layer, producing_layer, save
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


TRUST_ENV = "FPGA_ACCEL_TRUST_MODEL_CODE"
"""Set to 1 (the CLI's ``--trust-model-code`` does, so sweep workers inherit it) to load model files whose
layers carry Python code."""
TRUST_HINT = ("pass --trust-model-code (trust_model_code: true in a project file) only if you trust "
              "whoever wrote this file")
CODE_LAYERS = ("Lambda", "__lambda__")
"""Serialized objects whose config holds Python code (Keras 2 marshals a Lambda's bytecode into the file;
Keras 3 its source text) that deserializing runs."""
FUNCTION_LAYERS = ("TFOpLambda", "SlicingOpLambda")
"""Layers TF 2 writes for tf.* calls: they call any TensorFlow function the file names, with arguments
the file gives (``io.write_file`` with a path writes a file while the model loads)."""
KERAS_MODULES = ("keras", "qkeras", "tensorflow", "tf_keras", "hls4ml")
"""Python modules a model file may name for Keras to import classes and functions from."""
ALWAYS_KNOWN = ("Functional", "Sequential", "Model", *FUNCTION_LAYERS)
"""Model classes, and TF 2's function layers (refused as code unless trusted)."""


MAX_CONFIG_BYTES = 64 << 20
"""A model's architecture is kilobytes; its weights live elsewhere in the file."""


def trusted_code(trust_code: bool | None = None) -> bool:
    """Whether model files may carry code: ``trust_code`` when given, else the ``FPGA_ACCEL_TRUST_MODEL_CODE``
    environment variable."""
    if trust_code is not None:
        return bool(trust_code)
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def model_config(path: Path) -> Any:
    """The model's architecture as plain JSON, read without Keras: a .keras zip's config.json or an .h5's
    ``model_config`` attribute. None when the file has none (weights only, or not a model: Keras says why)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    return None
                if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:  # a zip bomb, not a model
                    raise ConfigError(f"{path}: config.json unpacks to more than {MAX_CONFIG_BYTES >> 20} MB; "
                                      "not a Keras model")
                text: Any = archive.read("config.json")
        else:
            import h5py

            with h5py.File(path, "r") as f:
                text = f.attrs.get("model_config")
        if text is None:
            return None
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(str(text))
    except RecursionError:
        raise ConfigError(f"{path}: the model config is nested too deeply to be a Keras model") from None
    except (OSError, KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, RuntimeError):
        return None  # not a readable model file: Keras' loader reports it


def h5_kernels(path: Path) -> dict[str, np.ndarray]:
    """Each top-level layer's ``kernel`` in a Keras .h5 model file, float64, read with h5py alone.

    Why not ``load_model``: a profile of a converted project only needs the reference model's float kernels
    (to count weight underflow), and loading the model costs a TensorFlow import (~4 s) and deserializing
    every layer; the arrays are data in the file (``model_weights/<layer>/<layer>/kernel[:0]``, Keras 2 and
    Keras 3's legacy .h5 alike) and reading them runs no code. {} for a file that is not such an .h5."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            weights = f["model_weights"] if "model_weights" in f else f
            out = {}
            for raw in weights.attrs.get("layer_names", []):
                layer = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
                for wraw in weights[layer].attrs.get("weight_names", []):
                    wname = wraw.decode("utf-8") if isinstance(wraw, bytes) else str(wraw)
                    parts = wname.split("/")
                    if parts[0] == layer and parts[-1].split(":")[0] == "kernel" and len(parts) == 2:
                        out[layer] = np.asarray(weights[layer][wname], dtype=np.float64)
            return out
    except (OSError, KeyError, ValueError, TypeError, UnicodeDecodeError, RuntimeError):
        return {}


def _objects(config: Any) -> Iterator[tuple[dict, str | None]]:
    """Every serialized object ({"class_name": ..., "config": ...}) in a config, with the name of the layer
    it belongs to; iterative, so no nesting depth raises RecursionError."""
    stack = [(config, None)]
    while stack:
        node, layer = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str):
                inner = node.get("config")
                name = inner.get("name") if isinstance(inner, dict) else None
                layer = name if isinstance(name, str) else layer
                yield node, layer
            stack.extend((v, layer) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, layer) for v in node)


def _layer_entries(config: Any) -> Iterator[dict]:
    """The serialized layers of a model config (nested models' layers too) and the model itself."""
    for node, _ in _objects(config):
        inner = node.get("config")
        if node is config or (isinstance(inner, dict) and isinstance(inner.get("layers"), list)):
            yield node
            for entry in inner.get("layers", []) if isinstance(inner, dict) else []:
                if isinstance(entry, dict) and isinstance(entry.get("class_name"), str):
                    yield entry


def code_in_model(config: Any, named: Collection[str] = (), modules: bool = True) -> list[str]:
    """What in a model config would run Python code from the file, as 'layer (why)' strings: Lambda layers
    and functions, and (``modules``) objects naming a Python module outside Keras/QKeras for Keras to
    import — unless their class is one of the custom objects the user ``named``."""
    found: dict[str, str] = {}  # one reason per layer (a Keras 3 Lambda holds a __lambda__ function)
    for node, layer in _objects(config):
        kind = node["class_name"]
        inner = node.get("config") if isinstance(node.get("config"), dict) else {}
        module, registered = node.get("module"), node.get("registered_name")
        where = f"layer {layer!r}" if layer else "the model"
        if kind in CODE_LAYERS or "lambda" in (inner.get("function_type"), inner.get("output_shape_type")):
            found.setdefault(where, f"{where} ({kind}: Python code)")
        elif kind in FUNCTION_LAYERS:
            found.setdefault(where, f"{where} ({kind}: calls the TensorFlow function {str(inner.get('function'))[:60]!r})")
        elif modules and isinstance(module, str) and module.split(".")[0] not in KERAS_MODULES:
            names = {kind, registered} if isinstance(registered, str) else {kind}
            if not {n.rsplit(">", 1)[-1] for n in names} & set(named) and not names & set(named):
                found.setdefault(where, f"{where} ({kind} from Python module {module!r})")
    return sorted(found.values())


def _known_layers(extra: Mapping[str, Any]) -> set[str]:
    from qkeras.utils import _add_supported_quantized_objects

    keras = keras_module()
    known = {n for n, obj in vars(keras.layers).items() if inspect.isclass(obj)} | set(ALWAYS_KNOWN) | set(extra)
    qkeras_objects: dict[str, Any] = {}
    _add_supported_quantized_objects(qkeras_objects)
    return known | set(qkeras_objects)


def unknown_layers(config: Any, extra: Mapping[str, Any]) -> list[str]:
    """Layer classes of a model config that neither Keras nor QKeras defines and the custom objects given
    do not name (Keras' registry of classes registered by code imported here counts too)."""
    keras = keras_module()
    known = _known_layers(extra)
    unknown = set()
    for entry in _layer_entries(config):
        kind = entry["class_name"]
        registered = entry.get("registered_name")
        names = {kind} | ({registered} if isinstance(registered, str) else set())
        names |= {n.rsplit(">", 1)[-1] for n in names}  # Keras 3 writes registered names, 'qkeras>QDense'
        if names & known or any(keras.utils.get_registered_object(n) is not None for n in names):
            continue
        unknown.add(registered if isinstance(registered, str) and registered not in (kind, "") else kind)
    return sorted(unknown)


def refuse_code(path: Path, config: Any, trust_code: bool | None = None, named: Collection[str] | None = None) -> None:
    """Refuse a model config that carries Python code, unless trusted: reading a model is reading data.
    ``named``: the custom objects given (None: not imported yet, so only the code itself is judged)."""
    code = [] if config is None or trusted_code(trust_code) else \
        code_in_model(config, named or (), modules=named is not None)
    if code:
        fix = "give its classes with --custom-objects" if any("Python module" in c for c in code) \
            else "rewrite it with Keras layers"
        raise ConfigError(f"{path}: refused, {', '.join(code)} would run when the model loads; {fix}, or {TRUST_HINT}")


def check_model_file(path: Path, extra: Mapping[str, Any], trust_code: bool | None = None) -> None:
    """Refuse, before anything deserializes it, a model file whose layers carry Python code (unless
    trusted) or name classes nobody defined."""
    config = model_config(path)
    if config is None:
        return
    refuse_code(path, config, trust_code, named=set(extra))
    unknown = unknown_layers(config, extra)
    if unknown:
        given = f" (the custom objects given hold {sorted(extra)})" if extra else ""
        raise ConfigError(
            f"cannot load Keras model {path}: it uses {unknown[0]!r}, which neither Keras nor QKeras defines"
            f"{given}; pass --custom-objects MODULE (a module with a `custom_objects` dict mapping "
            f"{unknown[0]!r} to its class, or defining that Layer class)")


def load_model(path: str | Path, custom_objects: CustomObjects = None, trust_code: bool | None = None) -> Any:
    """Load a float Keras or a QKeras model (.h5/.keras) with QKeras' custom objects registered, plus
    ``custom_objects`` (a mapping, or a module holding them: see ``load_custom_objects``).

    The one loader of model files: a file is data, so a model whose layers carry Python code (``Lambda``,
    or a class from a module outside Keras/QKeras) is refused before Keras deserializes anything, unless
    ``trust_code`` (default: the ``FPGA_ACCEL_TRUST_MODEL_CODE`` environment variable) says to run it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"model file {path} is not a file")
    if path.suffix not in (".h5", ".keras", ".hdf5"):
        raise ConfigError(f"{path}: expected a Keras model file (.h5 or .keras)")
    if not trusted_code(trust_code):  # before a custom objects module is imported
        refuse_code(path, model_config(path))
    keras = keras_module()  # the backend is chosen before a custom objects module imports Keras
    extra = load_custom_objects(custom_objects)
    check_readable(path)  # a file of a Keras this one cannot read: say so, before judging its classes
    check_model_file(path, extra, trust_code)
    try:
        if trusted_code(trust_code) and is_keras3():
            return _load_trusted_keras3(path, extra)
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


def _load_trusted_keras3(path: Path, extra: Mapping[str, Any]) -> Any:
    """QKeras' loader with Keras 3's safe mode off, for a file the user trusts: Keras 3 refuses Lambda
    layers itself (its legacy .h5 reader even when safe mode is off globally), QKeras passes no
    ``safe_mode``."""
    from qkeras.utils import _add_supported_quantized_objects

    keras = keras_module()
    objects = dict(extra)
    _add_supported_quantized_objects(objects)
    return keras.models.load_model(str(path), custom_objects=objects, compile=False, safe_mode=False)


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


def strip_softmax(model: Any) -> Any:
    """The model without its final softmax layer (``softmax='host'``: the host applies it to the design's
    outputs)."""
    keras = keras_module()
    last = model.layers[-1]
    if not ends_in_softmax(model):
        raise ConfigError("softmax='host' but the model does not end in a softmax layer")
    if type(last).__name__ not in ("Softmax", "Activation", "QActivation"):
        raise ConfigError(f"softmax inside {last.name}: put it in its own Activation layer to run it on the host")
    return keras.Model(model.inputs, model.layers[-2].output, name=model.name)


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
    axis: int = -1
    """The axis the softmax normalises along, counted from the end of the output's non-batch axes (-1: the
    last): a softmax over a (rows, k) tensor is one softmax per row."""


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
    return LogitsLocation(layer=last.name, inside=inside, from_input=from_input, axis=_softmax_axis(last))


def _softmax_axis(layer: Any) -> int:
    """A Softmax layer's axis from the end of its non-batch axes (an activation="softmax" normalises the last;
    several axes at once, which convert refuses, count as the last)."""
    axis = layer.get_config().get("axis", -1) if type(layer).__name__ == "Softmax" else -1
    if isinstance(axis, (list, tuple)):
        axis = axis[0] if len(axis) == 1 else -1
    if int(axis) < 0:
        return int(axis)
    rank = len(tuple(layer.output.shape)) - 1
    return int(axis) - 1 - rank


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
