"""Typed settings for the quantize and convert stages.

Frozen dataclasses validated in ``__post_init__``; hls4ml's nested CamelCase dicts are built from them in
exactly one place (``stages/convert.py``). A YAML project file carries the same keys.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from .boards import BOARDS, get_board
from .errors import ConfigError
from .layout import ProjectLayout


class IOType(str, Enum):
    io_parallel = "io_parallel"
    io_stream = "io_stream"


class Strategy(str, Enum):
    latency = "latency"
    resource = "resource"


class SoftmaxMode(str, Enum):
    design = "design"
    """Keep softmax in the FPGA design (hls4ml 'stable' implementation, widened tables)."""
    host = "host"
    """Cut softmax off the design; the design outputs logits and softmax runs in numpy on the host."""


_PRECISION = re.compile(r"^(ap_)?u?fixed<\s*\d+\s*,\s*-?\d+\s*(,\s*\w+\s*)*>$|^(ap_)?u?int<\s*\d+\s*>$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


MAX_WIDTH = 1024
"""ap_int/ap_fixed's largest width by default (AP_INT_MAX_W); a width of 0 aborts inside ap_private."""


MAX_INPUT_WIDTH = 64
"""Widest input precision: the AXI input is float32, cast to it (hls4ml 1.3's converter fails at 128)."""


def check_precision(text: str, what: str) -> str:
    if not isinstance(text, str) or not _PRECISION.match(text.strip()):
        raise ConfigError(f"{what}: {text!r} is not an HLS precision such as 'ap_fixed<16,6>'")
    width = int(re.search(r"<\s*(\d+)", text).group(1))
    if not 1 <= width <= MAX_WIDTH:
        raise ConfigError(f"{what}: {text!r} has width {width}; it must be 1 to {MAX_WIDTH} bits")
    return text.strip()


def _whole(value: Any, what: str, allow_none: bool = False) -> int | None:
    """An integer setting: ints, or floats with no fraction (YAML's 6.0); never bools, never truncated."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def _number(value: Any, what: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    return float(value)


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


def _text(value: Any, what: str, allow_none: bool = False) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be text, got {value!r}")
    return value


MAX_INTEGER_BITS = 63
"""Integer bits of a QKeras quantizer: QKeras computes in float32 (largest 2^128), so a value of 2^63 times
a weight of 2^63 is the most a product may reach; quantized_bits(8, 128) computes NaN for every input."""


@dataclass(frozen=True)
class QuantizeConfig:
    """How a float Keras model becomes a QKeras model (bit widths count the sign bit)."""

    weight_bits: int = 6
    weight_integer: int = 0
    bias_bits: int = 6
    bias_integer: int = 0
    activation_bits: int = 6
    activation_integer: int = 2
    input_bits: int = 8
    """Bits of the input quantizer added in front of the model; 0 adds none."""
    input_integer: int | None = None
    """Integer bits of the input quantizer; None derives them from the calibration data's range."""
    fold_batchnorm: bool = True
    """Fold BatchNormalization into the preceding Dense/Conv (exact in csim, no BN hardware)."""
    layers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per-layer overrides, e.g. {"fc1": {"weight_bits": 4}}."""
    epochs: int = 0
    """Quantization-aware fine-tuning epochs (needs data)."""
    batch_size: int = 64
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        for key in ("weight_bits", "weight_integer", "bias_bits", "bias_integer", "activation_bits",
                    "activation_integer", "input_bits", "epochs", "batch_size"):
            object.__setattr__(self, key, _whole(getattr(self, key), key))
        object.__setattr__(self, "input_integer", _whole(self.input_integer, "input_integer", allow_none=True))
        object.__setattr__(self, "fold_batchnorm", _flag(self.fold_batchnorm, "fold_batchnorm"))
        object.__setattr__(self, "learning_rate", _number(self.learning_rate, "learning_rate"))
        if self.batch_size < 1 or not self.learning_rate > 0:
            raise ConfigError(f"batch_size must be >= 1 and learning_rate > 0, got {self.batch_size}, "
                              f"{self.learning_rate}")
        if not isinstance(self.layers, Mapping) or not all(isinstance(v, Mapping) for v in self.layers.values()) \
                or not all(isinstance(k, str) for k in self.layers):
            raise ConfigError(f"layers must map layer names to settings, got {self.layers!r}")
        # QKeras quantizes in float32: past 24 bits its grid is no longer exact (32 gives NaN).
        for key in ("weight_bits", "bias_bits", "activation_bits"):
            if not 2 <= getattr(self, key) <= 24:
                raise ConfigError(f"{key} must be between 2 and 24, got {getattr(self, key)}")
        if self.input_bits and not 2 <= self.input_bits <= 24:
            raise ConfigError(f"input_bits must be 0 (no input quantizer) or 2..24, got {self.input_bits}")
        if self.epochs < 0:
            raise ConfigError("epochs must be >= 0")
        for key in ("weight_integer", "bias_integer", "activation_integer", "input_integer"):
            value = getattr(self, key)
            if value is not None and not -MAX_INTEGER_BITS <= value <= MAX_INTEGER_BITS:
                raise ConfigError(f"{key} must be between {-MAX_INTEGER_BITS} and {MAX_INTEGER_BITS} (QKeras "
                                  f"computes in float32: 2^{value} is beyond what its products can hold), got {value}")
        known = {f.name for f in dataclasses.fields(self)} - {"layers"}
        for name, override in self.layers.items():
            bad = set(override) - known
            if bad:
                raise ConfigError(f"layer {name!r}: unknown quantization keys {sorted(map(str, bad))}")
            try:  # every override is a valid setting before any layer is built with it
                dataclasses.replace(self, layers={}, **override)
            except ConfigError as exc:
                raise ConfigError(f"layer {name!r}: {exc}") from None

    def for_layer(self, name: str) -> "QuantizeConfig":
        override = self.layers.get(name)
        return dataclasses.replace(self, layers={}, **override) if override else self


@dataclass(frozen=True)
class ConvertConfig:
    """How a QKeras model becomes an hls4ml VivadoAccelerator project."""

    name: str
    board: str = "pynq-z2"
    io_type: IOType = IOType.io_parallel
    reuse_factor: int | str = 1
    """hls4ml's reuse factor for every layer, or "auto": per layer, the smallest valid one whose
    estimate fits the board within ``margin``."""
    strategy: Strategy = Strategy.latency
    clock_period: float | None = None
    """ns; None takes the board's (10 ns on pynq-z2, not hls4ml's 5 ns)."""
    precision: str = "ap_fixed<16,6>"
    """Default precision for anything the quantizers do not fix."""
    input_precision: str | None = None
    """None: from the model's input quantizer, else from calibration data (32 bits wide)."""
    softmax: SoftmaxMode = SoftmaxMode.design
    output_dir: Path = Path("hls_projects")
    margin: float = 0.8
    """Share of each board resource that --reuse-factor auto may plan to use."""
    verify_samples: int = 1000
    """Samples convert runs through csim and the Keras model before returning (0: no check)."""
    strict: bool = False
    """Any disagreement found by that check is an error (NotExactError) instead of a warning."""
    allow_inexact: bool = False
    """Convert layers known to have no exact hls4ml counterpart (ternary activations, leaky
    quantized_relu) instead of refusing them; the check above then reports the disagreement. Also lets a
    per-layer ``precision`` replace the types of a quantized (QKeras) model."""
    allow_slow_compile: bool = False
    """Convert an io_parallel CNN whose convolutions hls4ml writes out as more C++ than g++ compiles in a
    few minutes (``layer_support.check_compile_size``) instead of refusing it; io_stream is the alternative."""
    layers: Mapping[str, "LayerSetting"] = field(default_factory=dict)
    """Per-layer settings by hls4ml layer name: reuse factor, strategy, precision (:class:`LayerSetting`;
    a plain mapping in the flat form ``{"fc1": {"reuse_factor": 16}}`` is accepted). They win over the
    model-wide ``reuse_factor``/``strategy``/``precision``."""
    fit: bool = False
    """Before converting, search per-layer reuse factor and strategy for the lowest estimated latency whose
    upper estimate fits the board within ``margin`` (``fpga_accel.fit_search``)."""
    trust_model_code: bool = False
    """Load model files whose layers carry Python code (``Lambda``, classes from modules outside Keras):
    loading runs that code, so only for files from someone you trust (``model_io.load_model``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"project name {self.name!r} must be a C identifier (letters, digits, _)")
        get_board(_text(self.board, "board"))
        _text(self.precision, "precision")
        _text(self.input_precision, "input_precision", allow_none=True)
        if not isinstance(self.output_dir, (str, Path)) or not str(self.output_dir):
            raise ConfigError(f"output_dir must be a folder path, got {self.output_dir!r}")
        object.__setattr__(self, "margin", _number(self.margin, "margin"))
        object.__setattr__(self, "clock_period", _number(self.clock_period, "clock_period", allow_none=True))
        object.__setattr__(self, "verify_samples", _whole(self.verify_samples, "verify_samples"))
        object.__setattr__(self, "io_type", _enum(IOType, self.io_type, "io_type"))
        object.__setattr__(self, "strategy", _enum(Strategy, self.strategy, "strategy"))
        object.__setattr__(self, "softmax", _enum(SoftmaxMode, self.softmax, "softmax"))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        reuse = self.reuse_factor
        if isinstance(reuse, str) and reuse.strip().lower() == "auto":
            object.__setattr__(self, "reuse_factor", "auto")
        else:
            if isinstance(reuse, str) and reuse.strip().isdigit():  # from the command line
                reuse = int(reuse)
            try:
                reuse = _whole(reuse, "reuse_factor")
            except ConfigError:
                raise ConfigError(f"reuse_factor must be a positive integer or 'auto', got {self.reuse_factor!r}") from None
            if reuse < 1:
                raise ConfigError(f"reuse_factor must be a positive integer or 'auto', got {self.reuse_factor!r}")
            object.__setattr__(self, "reuse_factor", reuse)
        if not 0 < self.margin <= 1:
            raise ConfigError(f"margin must be in (0, 1], got {self.margin}")
        if self.clock_period is not None and not 0 < self.clock_period < 1000:
            raise ConfigError(f"clock_period must be in ns (0 < p < 1000), got {self.clock_period}")
        if self.verify_samples < 0:
            raise ConfigError(f"verify_samples must be a whole number >= 0, got {self.verify_samples!r}")
        for key in ("strict", "allow_inexact", "allow_slow_compile", "fit", "trust_model_code"):
            _flag(getattr(self, key), key)
        object.__setattr__(self, "layers", layer_settings_from(self.layers))
        if self.fit and self.auto_reuse:
            raise ConfigError("fit and reuse_factor 'auto' both choose reuse factors: give one of them")
        check_precision(self.precision, "precision")
        if self.input_precision is not None:
            check_precision(self.input_precision, "input_precision")
            width = int(re.search(r"<\s*(\d+)", self.input_precision).group(1))
            if width > MAX_INPUT_WIDTH:
                raise ConfigError(f"input_precision {self.input_precision!r} is {width} bits wide; the design's input "
                                  f"is cast from float32 (24 significant bits), at most {MAX_INPUT_WIDTH} bits are "
                                  "useful (and hls4ml's converter fails beyond)")

    @property
    def resolved_clock_period(self) -> float:
        return float(self.clock_period) if self.clock_period is not None else get_board(self.board).clock_period

    @property
    def auto_reuse(self) -> bool:
        return self.reuse_factor == "auto"

    @property
    def project_dir(self) -> Path:
        return ProjectLayout.under(self.output_dir, self.name).root


LAYER_KEYS = ("reuse_factor", "strategy", "precision")
"""Keys of a per-layer setting in the flat form (``layers: {fc1: {reuse_factor: 16}}``)."""
HLS_LAYER_KEYS = {"ReuseFactor": "reuse_factor", "Strategy": "strategy", "Precision": "precision"}
"""The same keys as hls4ml's ``HLSConfig: {LayerName: {fc1: {ReuseFactor: 16}}}`` spells them."""
HLS_MODEL_DEFAULTS = {"BramFactor": 1_000_000_000, "TraceOutput": False}
"""Keys ``hls4ml.utils.config_from_keras_model`` writes into ``Model`` at values that change nothing here."""


@dataclass(frozen=True)
class LayerSetting:
    """What one layer is given beyond the model-wide settings; None leaves a key to them.

    ``precision`` is one HLS type for all of the layer's types, or a mapping of hls4ml type names
    (``weight``, ``bias``, ``result``, ``accum``...) to types. On a quantized (QKeras) model convert refuses
    it unless ``allow_inexact``: there every type is the quantizers' or derived exactly from them."""

    reuse_factor: int | None = None
    strategy: Strategy | None = None
    precision: str | Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.reuse_factor is not None:
            try:
                rf = _whole(self.reuse_factor, "reuse_factor")
            except ConfigError:
                rf = 0
            if rf < 1:
                raise ConfigError(f"reuse_factor must be a positive integer, got {self.reuse_factor!r}")
            object.__setattr__(self, "reuse_factor", rf)
        if self.strategy is not None:
            object.__setattr__(self, "strategy", _enum(Strategy, self.strategy, "strategy"))
        precision = self.precision
        if isinstance(precision, Mapping):
            types = {}
            for key, value in precision.items():
                if not isinstance(key, str) or not _NAME.match(key):
                    raise ConfigError(f"precision: {key!r} is not an hls4ml type name such as 'weight' or 'result'")
                types[key] = check_precision(value, f"precision of {key}")
            object.__setattr__(self, "precision", types or None)
        elif precision is not None:
            object.__setattr__(self, "precision", check_precision(precision, "precision"))

    @property
    def empty(self) -> bool:
        return self.reuse_factor is None and self.strategy is None and self.precision is None

    def to_flat(self) -> dict[str, Any]:
        """The flat project-file form (only the keys set)."""
        out: dict[str, Any] = {}
        if self.reuse_factor is not None:
            out["reuse_factor"] = self.reuse_factor
        if self.strategy is not None:
            out["strategy"] = self.strategy.value
        if self.precision is not None:
            out["precision"] = dict(self.precision) if isinstance(self.precision, Mapping) else self.precision
        return out


def layer_settings_from(data: Any, what: str = "layers") -> dict[str, LayerSetting]:
    """Per-layer settings in the flat form (``{fc1: {reuse_factor: 16, strategy: resource, precision: ...}}``)
    or already typed; anything else is one ConfigError naming the layer and the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must map layer names to settings such as {{fc1: {{reuse_factor: 16}}}}, "
                          f"got {data!r}")
    out: dict[str, LayerSetting] = {}
    for name, setting in data.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{what}: layer name {name!r} is not text")
        if isinstance(setting, LayerSetting):
            out[name] = setting
            continue
        if not isinstance(setting, Mapping):
            raise ConfigError(f"{what}: layer {name!r} needs a mapping of {', '.join(LAYER_KEYS)}, got {setting!r}")
        unknown = sorted(str(k) for k in setting if k not in LAYER_KEYS)
        if unknown:
            raise ConfigError(f"{what}: layer {name!r} has unknown keys {unknown}; known: {list(LAYER_KEYS)}")
        try:
            out[name] = LayerSetting(**setting)
        except ConfigError as exc:
            raise ConfigError(f"{what}: layer {name!r}: {exc}") from None
    return out


def layer_settings_from_hls_config(hls_config: Any) -> tuple[dict[str, LayerSetting], dict[str, Any]]:
    """hls4ml's ``HLSConfig`` (what ``fpga-accel estimate --config`` reads): its ``LayerName`` entries as
    typed per-layer settings, and its ``Model`` entry as model-wide convert keys (``reuse_factor``,
    ``strategy``, ``precision``). ``auto`` precisions are left to convert; other hls4ml keys are refused."""
    if not isinstance(hls_config, Mapping):
        raise ConfigError(f"HLSConfig must be a mapping with LayerName (and Model), got {hls_config!r}")
    unknown = sorted(str(k) for k in hls_config if k not in ("Model", "LayerName"))
    if unknown:
        raise ConfigError(f"HLSConfig: unsupported keys {unknown}; supported: ['LayerName', 'Model']")
    model = hls_config.get("Model") or {}
    if not isinstance(model, Mapping):
        raise ConfigError(f"HLSConfig: Model must be a mapping, got {model!r}")
    wide: dict[str, Any] = {}
    for key, value in model.items():
        if HLS_MODEL_DEFAULTS.get(key, object()) == value:  # what hls4ml's generated config holds anyway
            continue
        if key not in HLS_LAYER_KEYS:
            raise ConfigError(f"HLSConfig: Model has unsupported key {key!r}; supported: {list(HLS_LAYER_KEYS)}")
        if key == "Precision" and isinstance(value, Mapping):
            value = value.get("default")
        if value is not None and value != "auto":
            wide[HLS_LAYER_KEYS[key]] = value
    names = hls_config.get("LayerName") or {}
    if not isinstance(names, Mapping):
        raise ConfigError(f"HLSConfig: LayerName must map layer names to settings, got {names!r}")
    flat: dict[str, Any] = {}
    for name, entry in names.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"HLSConfig: LayerName {name!r} needs a mapping such as {{ReuseFactor: 16}}, "
                              f"got {entry!r}")
        bad = sorted(str(k) for k in entry if k not in HLS_LAYER_KEYS and k != "Trace")
        if bad:
            raise ConfigError(f"HLSConfig: LayerName {name!r} has unsupported keys {bad}; supported: "
                              f"{list(HLS_LAYER_KEYS)}")
        setting = {HLS_LAYER_KEYS[k]: v for k, v in entry.items() if k in HLS_LAYER_KEYS}
        precision = setting.get("precision")
        if isinstance(precision, Mapping):
            precision = {k: v for k, v in precision.items() if v != "auto"} or None
        elif precision == "auto":
            precision = None
        setting["precision"] = precision
        flat[name] = {k: v for k, v in setting.items() if v is not None}
    settings = layer_settings_from(flat, "HLSConfig LayerName")
    return {k: v for k, v in settings.items() if not v.empty}, wide


def _enum(kind: type[Enum], value: Any, what: str) -> Enum:
    try:
        return kind(value.value if isinstance(value, Enum) else str(value).lower())
    except ValueError:
        choices = ", ".join(m.value for m in kind)  # type: ignore[attr-defined]
        raise ConfigError(f"{what} must be one of {choices}, got {value!r}") from None


MAX_SETTINGS_BYTES = 1 << 20
"""A settings file larger than this is refused unread (a project file is a few hundred bytes)."""
MAX_YAML_NODES = 100_000
"""Values a settings file may hold once its aliases are expanded: nested aliases (``&b [*a, *a, ...]``)
multiply, so a few hundred bytes can stand for 10^9 values that the first ``str()`` of them expands."""


def _expanded_size(root: Any, path: Path) -> int:
    """Values under ``root`` (a composed YAML node) with every alias expanded, counted without expanding
    them (each node's size is computed once); a node that contains itself is refused."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            children = _children(node, yaml)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in active:
            raise ConfigError(f"{path}: an alias refers to a value that contains it (a YAML loop)")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node, yaml) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml(path: str | Path, what: str, loader_class: Any = None) -> dict[str, Any]:
    """A YAML file of settings as a dict; a missing, unreadable, malformed or non-mapping file is one
    ConfigError naming it (never a parser traceback). Loaded safely (no Python objects) and with a budget:
    at most MAX_SETTINGS_BYTES, and MAX_YAML_NODES values once aliases are expanded (an alias bomb is
    refused before anything is built from it). ``loader_class``: a ``yaml.SafeLoader`` subclass with extra
    data-only tags (hls4ml's ``!keras_model``); default SafeLoader."""
    import yaml

    if loader_class is None:
        loader_class = yaml.SafeLoader
    if not issubclass(loader_class, yaml.SafeLoader):
        raise TypeError("read_yaml loads with a yaml.SafeLoader (sub)class only")

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_SETTINGS_BYTES:
            raise ConfigError(f"{path} is {size} bytes; a {what} is at most {MAX_SETTINGS_BYTES} bytes")
        loader = loader_class(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            if node is None:
                data: Any = {}
            else:
                if _expanded_size(node, path) > MAX_YAML_NODES:
                    raise ConfigError(f"{path} expands to more than {MAX_YAML_NODES} values (nested YAML "
                                      "aliases): write the settings out instead of aliasing them")
                data = loader.construct_document(node)
        finally:
            loader.dispose()
        data = {} if data is None else data
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ConfigError(f"{path} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a {what}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{path}: setting names must be text, got {bad[0]!r}")
    return data


FLOW_SECTIONS = ("quantize", "data", "test_samples", "build", "deploy")
"""Project-file keys of the flow beside ConvertConfig's fields, ``model``, ``custom_objects`` and
``HLSConfig`` (``flow.FlowConfig`` reads them)."""


HLS4ML_KEYS = {"IOType": "io_type", "ClockPeriod": "clock_period", "ProjectName": "name", "KerasModel": "model",
               "KerasH5": "model"}
"""Top-level keys of hls4ml's own YAML (``hls4ml convert -c``) a project file may hold instead of ours."""
HLS4ML_HANDLED = ("Part", "Backend", "OutputDir")
HLS4ML_UNUSED = ("KerasJson", "InputData", "OutputPredictions", "WriterConfig", "AcceleratorConfig", "Board",
                 "Interface", "Driver", "Precision", "Version", "Stamp")


def is_hls4ml_config(data: Mapping[str, Any]) -> bool:
    """A YAML in hls4ml's ``convert -c`` form (``IOType``, ``ClockPeriod``, ``Part``, ...) rather than a
    project file of this toolkit."""
    return bool(set(data) & (set(HLS4ML_KEYS) | set(HLS4ML_HANDLED) | set(HLS4ML_UNUSED)))


def from_hls4ml_config(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """hls4ml's top-level keys as project-file keys, so ``convert --config`` and ``flow`` take the YAML an
    hls4ml user already has: ``IOType``, ``ClockPeriod``, ``ProjectName``, ``KerasModel``/``KerasH5``,
    ``HLSConfig``; ``Part`` names the board that has it, ``OutputDir`` is ``output_dir/name``. What this
    toolkit cannot honour (another backend, a part no board has, files it does not use) is refused by name."""
    out = {k: v for k, v in data.items() if k not in HLS4ML_KEYS and k not in HLS4ML_HANDLED}
    for key, ours in HLS4ML_KEYS.items():
        if key in data:
            if ours in out and out[ours] != data[key]:
                raise ConfigError(f"{source}: {key} and {ours} disagree ({data[key]!r}, {out[ours]!r}): give one")
            out[ours] = data[key]
    unused = sorted(k for k in data if k in HLS4ML_UNUSED)
    if unused:
        raise ConfigError(f"{source}: hls4ml keys {unused} are not used by fpga_accel (it writes hls4ml's "
                          "VivadoAccelerator project itself): remove them")
    backend = data.get("Backend")
    if backend is not None and backend not in ("Vivado", "VivadoAccelerator"):
        raise ConfigError(f"{source}: Backend {backend!r}: fpga_accel converts to hls4ml's VivadoAccelerator "
                          "backend only; remove Backend or set it to VivadoAccelerator")
    if "Part" in data:
        boards = [b.name for b in BOARDS.values() if b.part == data["Part"]]
        if not boards:
            raise ConfigError(f"{source}: Part {data['Part']!r} is not the part of a known board "
                              f"({', '.join(f'{b.name}: {b.part}' for b in BOARDS.values())}); give `board:` "
                              "instead (or register the board, see README \"Extending\")")
        out.setdefault("board", boards[0])
    if "OutputDir" in data:
        folder = Path(str(data["OutputDir"]))
        out.setdefault("name", folder.name)
        if out["name"] != folder.name:
            raise ConfigError(f"{source}: the project goes to output_dir/name: OutputDir {str(folder)!r} and "
                              f"ProjectName {out['name']!r} disagree; set output_dir: {str(folder.parent)!r} "
                              "(the parent folder) instead of OutputDir")
        out.setdefault("output_dir", str(folder.parent))
    return out


def load_project_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML project file: top-level convert keys, ``model``, ``custom_objects`` (a module holding the
    model's custom layer classes), an optional ``quantize:`` section, and per-layer settings as ``layers:``
    (flat form) and/or hls4ml's ``HLSConfig:`` (see :func:`merge_hls_config`). hls4ml's own YAML is read
    too (:func:`from_hls4ml_config`)."""
    data = read_yaml(path, "project file")
    if is_hls4ml_config(data):
        data = from_hls4ml_config(data, str(path))
    known = {f.name for f in dataclasses.fields(ConvertConfig)} | {"model", "custom_objects", "HLSConfig",
                                                                    *FLOW_SECTIONS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    return merge_hls_config(data, str(path))


def merge_hls_config(settings: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Project-file settings with an ``HLSConfig:`` section folded into the convert keys: its ``LayerName``
    entries join ``layers:`` (one layer in both is an error), its ``Model`` entry fills model-wide keys the
    file does not set itself."""
    data = dict(settings)
    if "HLSConfig" not in data:
        return data
    try:
        per_layer, wide = layer_settings_from_hls_config(data.pop("HLSConfig"))
        flat = layer_settings_from(data.get("layers") or {})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    both = sorted(set(per_layer) & set(flat))
    if both:
        raise ConfigError(f"{source}: layers {both} are set both in `layers:` and in HLSConfig: give each once")
    data["layers"] = {**flat, **per_layer}
    for key, value in wide.items():
        data.setdefault(key, value)
    return data


def quantize_config_from(data: Mapping[str, Any] | None) -> QuantizeConfig:
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"quantize must be a section of settings (weight_bits: 6, ...), got {data!r}")
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(QuantizeConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown quantize keys {unknown}; known: {sorted(known)}")
    return QuantizeConfig(**data)
