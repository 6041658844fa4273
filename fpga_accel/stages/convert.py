"""QKeras → hls4ml VivadoAccelerator project: the one place hls4ml's config dicts are built.

The design's input type is the model's input quantizer (same grid, convergent rounding, saturation), else
a 32-bit type sized from calibration data, with a warning naming it. Every other type is derived from
the quantizers by the passes of ``fpga_accel.hls.exact_types``, run inside hls4ml's own flow.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np

from ..hls.batchnorm_fold import refold
from ..hls.generated import check_bridge, fix_output_dir, set_part
from ..blas import VERDICT_BLAS_THREADS, blas_threads
from ..boards import get_board
from ..config import ConvertConfig, IOType, LayerSetting, SoftmaxMode, Strategy
from ..errors import ConfigError, InputError, NotExactError
from ..hls.exact_types import exact_flows, float_kernel_types, inexact_layers, table_verdicts, uncovered_layers
from ..layer_support import (TABLE as LAYER_TABLE, Assessment, assess, check_compile_size, check_layers,
                             slow_compile_reason, walk)
from ..float_ranges import float_precisions, integer_bits, is_float_model
from ..hls import multi_io, node_keys
from ..hls.layers import layer_table
from ..hls.multi_io import first_ports_only
from ..keras_compat import (hls4ml_parsing, hls4ml_supported_layers, input_layer_names, input_shape,
                            output_shape, port_shapes, quantizer_of, random_model_inputs)
from ..layout import META_FORMAT, stream_length, ProjectLayout, ProjectMeta, refuse_overwrite, replace_dir, sole_writer
from ..model_io import activation_name, ends_in_softmax, model_hash, strip_softmax
from ..quantizer_types import type_string
from ..design import Design
from ..runtime.progress import Progress, Update, notebook_progress

if TYPE_CHECKING:
    from ..fit_search import FitResult

log = logging.getLogger(__name__)

SOFTMAX = {"Implementation": "stable", "Precision": {"result": "ufixed<18,1,RND,SAT>"}}


def check_supported(model: Any) -> None:
    """Fail before any long work when hls4ml cannot convert a layer (with the layer table's reason and
    what to do, where it has one)."""
    supported = hls4ml_supported_layers() | {"Dropout"}  # hls4ml skips Dropout itself
    bad = [_unsupported(layer) for layer in model.layers if type(layer).__name__ not in supported]
    if bad:
        raise ConfigError(f"hls4ml 1.3 cannot convert layers: {', '.join(bad)}")


def _unsupported(layer: Any) -> str:
    cls = type(layer).__name__
    entry = LAYER_TABLE.get(cls)
    return f"{layer.name} ({cls}: {entry.note})" if entry is not None else f"{layer.name} ({cls})"


def is_multi_port(model: Any) -> bool:
    """Several inputs or outputs: they share one DMA stream per direction (``fpga_accel.hls.multi_io``)."""
    return len(model.inputs) != 1 or len(model.outputs) != 1


def _first_layer(model: Any) -> Any:
    return next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)


def check_keras_runs(model: Any) -> None:
    """Run the Keras model on two made-up samples before hls4ml writes anything: the verdict compares csim with
    it, and a model Keras itself cannot compute (qkeras-v3's QConv1D with padding='causal' passes 'CAUSAL' to a
    2-D convolution, found on a held-out model) would otherwise stop convert with Keras' traceback after the
    design was written and compiled."""
    x, _ = random_model_inputs(model, 2)
    try:
        model(x, training=False)
    except Exception as exc:  # noqa: BLE001 - any failure inside Keras: the model's, not fpga_accel's
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
        found = re.search(r"when calling (\w+)\.call", lines[0]) if lines else None
        where = ""
        if found:
            names = [layer.name for layer in walk(model) if type(layer).__name__ == found.group(1)]
            where = f" in {', '.join(names) or 'a layer'} ({found.group(1)})"
            lines = lines[1:]
        why = lines[0] if lines else type(exc).__name__
        raise ConfigError(f"Keras cannot run this model itself{where}: {why} — fix the model first (convert checks "
                          "csim against it)") from None


def input_quantizer_precision(model: Any) -> str | None:
    """The HLS type equal to the model's input quantizer, if the first layer is one hls4ml can match.
    Several inputs share one input type: their quantizers' if all are the same, else none."""
    if len(model.inputs) > 1:
        from ..keras_compat import producing_layer

        found = set()
        for tensor in model.inputs:
            source = producing_layer(tensor)
            users = [layer for layer in model.layers if any(producing_layer(t) is source for t in _inputs_of(layer))
                     and layer is not source]
            found.add(_quantizer_precision(users[0]) if len(users) == 1 else None)
        return found.pop() if len(found) == 1 else None
    return _quantizer_precision(_first_layer(model))


def _inputs_of(layer: Any) -> list[Any]:
    try:
        value = layer.input
    except (AttributeError, ValueError):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _quantizer_precision(first: Any) -> str | None:
    from qkeras.quantizers import quantized_bits, quantized_relu

    if type(first).__name__ != "QActivation":
        return None
    q = quantizer_of(first)
    if getattr(q, "use_stochastic_rounding", False):
        return None
    if isinstance(q, quantized_bits) and not q.symmetric or \
            isinstance(q, quantized_relu) and q.relu_upper_bound is None:
        return type_string(q)  # any integer bits (hls4ml: ap_int/ap_uint when integer >= bits)
    return None


def float_input_parts(model: Any, input_precision: str) -> list[str]:
    """The layer of a quantized model that computes on its unquantized input, as a float part for the verdict:
    Keras sums the raw float32 inputs in float32 (rounded products and sums), the design sums them exactly
    on ``input_precision``, so a value that lands within float32 rounding of the next quantizer's step can
    round the other way (the MLPerf-Tiny ResNet: about 5 % of uniform float images end a step off), and so
    can an input the input type rounds. Inputs whose products and sums float32 holds exactly (8-bit pixels)
    are not affected. Empty when the model starts with a quantizer."""
    first = _first_layer(model)
    if first is None or is_multi_port(model) or is_float_model(model) or type(first).__name__ == "QActivation":
        return []
    return [f"{first.name} ({type(first).__name__}) on the unquantized input: Keras computes it in float32 on the "
            f"raw floats, the design exactly on {input_precision}, so values within float32 rounding of the next "
            "quantizer's step (or inputs that type rounds) may come out a step apart (an input quantizer makes it "
            "exact)"]


def _has_layers_after_input_quantizer(model: Any) -> bool:
    """The input type can only *be* the input quantizer when more follows it: hls4ml drops the
    quantizer as an identity, and a model that is nothing else would be left without any layer."""
    return sum(type(layer).__name__ not in ("InputLayer", "Dropout") for layer in model.layers) > 1


def wide_input_precision(calibration: np.ndarray | None) -> str:
    """32 bits sized to the data: float inputs then reach the first layer almost unrounded."""
    if calibration is None or calibration.size == 0:
        integer = 8
    else:
        integer = integer_bits(float(np.max(np.abs(calibration))))
    return f"fixed<32,{integer},RND_CONV,SAT>"


def _base_reuse(config: ConvertConfig) -> int:
    """The reuse factor every layer starts from (auto starts at 1 and steps up per layer)."""
    return 1 if config.auto_reuse else int(config.reuse_factor)


def hls_config(model: Any, config: ConvertConfig, input_precision: str,
               calibration: np.ndarray | None = None) -> dict[str, Any]:
    """Build hls4ml's nested config: per-layer precisions from the quantizers (or, for a float model,
    from calibration data); the rest is left 'auto' for ``exact_types`` to derive."""
    import hls4ml

    with hls4ml_parsing():
        cfg = hls4ml.utils.config_from_keras_model(
            model, granularity="name", backend="VivadoAccelerator",
            default_precision=config.precision.replace("ap_", ""), default_reuse_factor=_base_reuse(config))
    cfg["Model"]["Strategy"] = "Resource" if config.strategy is Strategy.resource else "Latency"
    layers = cfg["LayerName"]
    for input_name in input_layer_names(model):
        if input_name not in layers:
            raise ConfigError(f"hls4ml config has no entry for input layer {input_name!r}")
        layers[input_name]["Precision"]["result"] = input_precision
    for name, entry in layers.items():
        entry["Trace"] = True  # csim-only hooks (#ifndef __SYNTHESIS__): they locate a diverging layer
        if "ReuseFactor" in entry:
            entry["ReuseFactor"] = _base_reuse(config)
    if is_float_model(model):
        if calibration is None:
            log.warning("float model without calibration data: every layer keeps hls4ml's default %s; pass "
                        "--calibration to size each layer's type from data", config.precision)
        else:
            for name, precision in float_precisions(model, calibration).items():
                layers.setdefault(name, {"Trace": True}).setdefault("Precision", {}).update(precision)
    else:  # a plain Keras layer's float32 kernel in a quantized model: its values' exact type, not the default
        for name, precision in float_kernel_types(model).items():
            entry = layers.setdefault(name, {"Trace": True}).setdefault("Precision", {})
            entry.update({key: value for key, value in precision.items() if entry.get(key, "auto") == "auto"})
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Softmax" or activation_name(layer) == "softmax":
            target = layer.name if kind in ("Softmax", "Activation") else f"{layer.name}_softmax"
            entry = layers.setdefault(target, {"Trace": True})
            entry["Implementation"] = SOFTMAX["Implementation"]
            entry.setdefault("Precision", {}).update(SOFTMAX["Precision"])
    check_layer_settings(model, cfg, config)
    apply_layer_settings(cfg, config.layers)
    return cfg


KERNEL_KERAS_CLASSES = ("Dense", "QDense", "Conv1D", "QConv1D", "Conv2D", "QConv2D", "QConv2DBatchnorm")
"""Keras layers whose products hls4ml shares by a reuse factor (its Dense and Conv layers)."""


def kernel_sizes(model: Any) -> dict[str, tuple[int, int]]:
    """(n_in, n_out) of each layer's products as hls4ml's reuse factor sees them: inputs per output
    (fan-in: kernel size x input channels) and outputs (units, filters)."""
    sizes = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if type(layer).__name__ in KERNEL_KERAS_CLASSES and kernel is not None:
            shape = [int(d) for d in kernel.shape]
            sizes[layer.name] = (int(np.prod(shape[:-1])), shape[-1])
    return sizes


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """hls4ml's valid reuse factors for a layer of n_in x n_out products (the values its backend accepts;
    others it silently replaces by the closest one)."""
    import hls4ml

    return list(hls4ml.backends.get_backend("VivadoAccelerator").get_valid_reuse_factors(n_in, n_out))


def check_layer_settings(model: Any, cfg: dict[str, Any], config: ConvertConfig) -> None:
    """Per-layer settings checked before any conversion: every name is a layer of the model, a reuse factor
    is one hls4ml can use for that layer, and no precision changes the types of a quantized model unless
    ``allow_inexact`` (there every type is a quantizer's or derived exactly from them: csim would no longer
    match QKeras bit for bit)."""
    settings = config.layers
    if not settings:
        return
    known = list(cfg["LayerName"])
    unknown = [name for name in settings if name not in cfg["LayerName"]]
    if unknown:
        raise ConfigError(f"per-layer settings name layers the model does not have: {', '.join(unknown)}; "
                          f"its layers: {', '.join(known)}")
    sizes = kernel_sizes(model)
    for name, setting in settings.items():
        if setting.reuse_factor is None or name not in sizes:
            continue
        valid = valid_reuse_factors(*sizes[name])
        if setting.reuse_factor not in valid:
            raise ConfigError(f"layer {name}: hls4ml cannot use reuse factor {setting.reuse_factor} for its "
                              f"{sizes[name][0]}x{sizes[name][1]} products; valid: {', '.join(map(str, valid))}")
    typed = [name for name, setting in settings.items() if setting.precision is not None]
    if typed and not is_float_model(model) and not config.allow_inexact:
        raise ConfigError(f"per-layer precision on {', '.join(typed)}: in a quantized (QKeras) model every type is "
                          "a quantizer's or derived exactly from them, and another would make csim differ from "
                          "QKeras; change the quantizers instead, or pass allow_inexact / --allow-inexact")


def apply_layer_settings(cfg: dict[str, Any], settings: dict[str, LayerSetting]) -> None:
    """Per-layer settings into hls4ml's ``LayerName`` entries. One precision for a layer sets its weights,
    biases and result (the accumulator stays exact for those types, as ``exact_types`` derives it)."""
    for name, setting in settings.items():
        entry = cfg["LayerName"].setdefault(name, {"Trace": True})
        if setting.reuse_factor is not None:
            entry["ReuseFactor"] = setting.reuse_factor
        if setting.strategy is not None:
            entry["Strategy"] = "Resource" if setting.strategy is Strategy.resource else "Latency"
        if setting.precision is not None:
            precision = setting.precision
            if isinstance(precision, str):
                names = ("weight", "bias", "result") if isinstance(entry.get("Precision"), dict) and \
                    "weight" in entry["Precision"] else ("result",)
                precision = {key: precision for key in names}
            current = entry.get("Precision")
            entry["Precision"] = {**(current if isinstance(current, dict) else {}),
                                  **{k: v.replace("ap_", "") for k, v in precision.items()}}


class Prepared(NamedTuple):
    """What every conversion starts from, checked before any long work."""

    reference: Any
    model: Any
    """The model to convert (the reference without its softmax for ``softmax="host"``)."""
    input_precision: str
    cfg: dict[str, Any]
    """hls4ml's config with the per-layer settings."""
    calibration: np.ndarray | None
    assessment: Assessment
    """``layer_support``'s refused and judged layers of the reference (the verdict reuses it)."""


def _prepare(model: Any, config: ConvertConfig, calibration: np.ndarray | None) -> Prepared:
    """Check the model and build hls4ml's config, before any long work (see :class:`Prepared`)."""
    check_supported(model)
    assessment = check_layers(model, config.io_type.value, config.allow_inexact)  # before hls4ml writes any C++
    check_compile_size(model, config.io_type.value, config.allow_slow_compile)
    inexact = inexact_layers(model)
    if inexact and not config.allow_inexact:
        raise ConfigError("csim cannot be exact for this model: " + "; ".join(inexact)
                          + " (allow_inexact / --allow-inexact converts it anyway)")
    for reason in inexact:
        log.warning("not exact: %s", reason)
    check_keras_runs(model)
    if calibration is not None and len(model.inputs) > 1:
        raise ConfigError("calibration data for a multi-input model is not supported: give the model input "
                          "quantizers (QActivation) so its input type needs no data")
    if calibration is not None:
        calibration = np.asarray(calibration)
        if calibration.dtype.kind not in "fiu":
            raise InputError(f"calibration data has dtype {calibration.dtype}; it must be numeric")
        calibration = calibration.astype(np.float32)
        if calibration.shape[1:] != input_shape(model):
            raise InputError(f"calibration data has sample shape {calibration.shape[1:]}, "
                             f"the model expects {input_shape(model)}")
        bad = ~np.isfinite(calibration.reshape(len(calibration), -1)).all(axis=1)
        if bad.any():
            raise InputError(f"calibration data holds NaN or inf in {int(bad.sum())} sample(s), first at index "
                             f"{int(np.argmax(bad))}: it would size the input type wrongly")
    reference = model
    if config.softmax is SoftmaxMode.host:
        model = strip_softmax(model)

    quantizer_type = input_quantizer_precision(model)
    input_precision = config.input_precision or (quantizer_type if _has_layers_after_input_quantizer(model) else None)
    if input_precision is None:
        input_precision = wide_input_precision(calibration)
    if quantizer_type is None and not config.input_precision:
        log.warning("model has no input quantizer: design input precision set to %s; float inputs are "
                    "rounded to it (add one with `fpga-accel quantize` for an exact, cheaper input)",
                    input_precision)
    input_precision = input_precision.replace("ap_", "")
    cfg = hls_config(model, config, input_precision, calibration)
    return Prepared(reference, model, input_precision, cfg, calibration, assessment)


def probe_layers(model: Any, config: ConvertConfig, calibration: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The per-layer records (as fpga_accel.json's layer table) of converting ``model`` with ``config``, from
    one conversion in memory: nothing is written. What ``fpga_accel.fit_search`` searches over."""
    _, model, _, cfg, _, _ = _prepare(model, config, calibration)
    with tempfile.TemporaryDirectory(prefix="fpga_accel_probe_") as tmp:
        return layer_table(_hls4ml_convert(model, cfg, config, Path(tmp)))


def convert(model: Any, config: ConvertConfig, calibration: np.ndarray | None = None, force: bool = False,
            jobs: int | None = None, progress: Progress | None = None) -> Design:
    """Write an hls4ml VivadoAccelerator project for ``config.board`` to ``config.project_dir``; ``jobs``:
    g++ processes for the csim check (see ``Design``). With ``config.fit`` (or ``reuse_factor="auto"``)
    the per-layer settings are searched first (``fpga_accel.fit_search``). ``progress`` hears the check's
    samples and the search's conversions (in a notebook, bars by default)."""
    import hls4ml

    root = config.project_dir
    refuse_overwrite(root, force)
    reference, model, input_precision, cfg, calibration, assessment = _prepare(model, config, calibration)
    board = get_board(config.board)
    searched: frozenset[str] = frozenset()
    if config.auto_reuse or config.fit:
        chosen = _fitted_settings(model, cfg, config, root, progress)
        apply_layer_settings(cfg, chosen)
        searched = frozenset(name for name in chosen if chosen[name] != config.layers.get(name))
        config = dataclasses.replace(config, layers={**config.layers, **chosen})

    log.info("converting %s with hls4ml %s for %s (%s)", model.name, hls4ml.__version__, board.name, board.part)
    root.parent.mkdir(parents=True, exist_ok=True)
    with sole_writer(root, "convert", force):
        check = None
        if config.verify_samples:
            inputs = verification_inputs(reference, calibration, config.verify_samples)
            floats = float_input_parts(model, input_precision)
            assessed = assessment if model is reference else None  # softmax="host" converts another model
            check = lambda design, meta: verify(design, reference, inputs, meta.uncovered_layers,  # noqa: E731
                                                judged_parts(model, config.io_type.value, meta, assessed) + floats,
                                                progress)
        meta = _write_project(model, reference, cfg, config, input_precision, root, check, jobs, searched)
    if config.strict and meta.fidelity is not None and not meta.fidelity["passed"]:
        raise NotExactError(f"{meta.fidelity['message']} — project kept at {root} for inspection")
    return Design(root, jobs=jobs)


def judged_parts(model: Any, io_type: str, meta: ProjectMeta, before: Assessment | None = None) -> list[str]:
    """The float parts the verdict names: ``layer_support.assess``'s, less the lookup-table activations the
    table rule made exact in this conversion (the others with the rule's reason). ``before``: the assessment
    ``check_layers`` made before converting — the answer when the conversion made no table verdict (the only
    thing that changes it), so the model is walked again only for designs with lookup tables."""
    tables = table_verdicts(meta.layers)
    if before is not None and not tables:
        return list(before.judged)
    return list(assess(model, io_type, tables).judged)


Check = Callable[[Design, ProjectMeta], dict[str, Any]]
"""Run on the finished project in its staging folder; returns the fidelity verdict."""


def _write_project(model: Any, reference: Any, cfg: dict[str, Any], config: ConvertConfig, input_precision: str,
                   root: Path, check: Check | None, jobs: int | None,
                   searched: frozenset[str] = frozenset()) -> ProjectMeta:
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}.convert-", dir=root.parent))
    try:  # written, checked, then renamed into place: a failed or interrupted convert leaves the old project as it was
        hls_model = _hls4ml_convert(model, cfg, config, staging)
        _check_reuse_applied(hls_model, config)
        refold(hls_model, model)  # QConv2DBatchnorm: QKeras' rsqrt fold, not hls4ml's 1/sqrt
        hls_model.config.trace_output = True  # what hls4ml's own trace() sets before writing
        if is_multi_port(model):
            with first_ports_only():
                hls_model.write()
            multi_io.rewrite(ProjectLayout(staging, config.name), multi_io.ports_of(hls_model), config.io_type.value)
        else:
            hls_model.write()
        check_bridge(ProjectLayout(staging, config.name))
        set_part(staging, get_board(config.board))
        reference.save(str(ProjectLayout(staging, config.name).keras_model), include_optimizer=False)
        meta = _meta(hls_model, reference, model, config, cfg, input_precision, searched)
        meta.write(staging)
        if check is not None:  # the csim library does not depend on the folder: the one built here is reused
            with Design(staging, jobs=jobs) as design:
                meta.fidelity = check(design, meta)
            meta.write(staging)
        fix_output_dir(staging, root)
        replace_dir(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return meta


def _check_reuse_applied(hls_model: Any, config: ConvertConfig) -> None:
    """hls4ml replaces a reuse factor it cannot use by the closest valid one with only a printed warning;
    a per-layer one that did not survive the conversion is an error (``check_layer_settings`` catches the
    known cases before any work; this catches the rest)."""
    for node in hls_model.get_layers():
        setting = config.layers.get(node.name)
        applied = node.get_attr(node_keys.REUSE_FACTOR)
        if setting is not None and setting.reuse_factor is not None and applied is not None \
                and int(applied) != setting.reuse_factor:
            raise ConfigError(f"layer {node.name}: hls4ml replaced reuse factor {setting.reuse_factor} by {applied}; "
                              "give one it can use")


def verification_inputs(model: Any, calibration: np.ndarray | None, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """What convert checks csim on: the calibration data, else float samples spanning the input
    quantizer's range (±1.25 × its bound, so saturation is exercised), else [-4, 4)."""
    if calibration is not None and len(calibration):
        return calibration[:n], "calibration data"
    return random_model_inputs(model, n, seed)  # several inputs: a list (calibration data is refused for these)


FLOAT_ARGMAX_GOAL = 0.99
"""A float model cannot be matched bit for bit by fixed point: the check then asks for this argmax agreement."""


def verify(design: Design, reference: Any, inputs: tuple[np.ndarray, str], uncovered: list[str],
           judged: Sequence[str] = (), progress: Progress | None = None) -> dict[str, Any]:
    """Run the design against the Keras model before handing it over: the verdict goes into
    fpga_accel.json and one log line says it (``strict`` convert turns a failed one into an error).
    ``judged``: the layers ``layer_support.assess`` calls float parts ('layer (Class) ...: why'); a verdict
    that is not bit-exact names them, so the user sees which lookup table or float cell to blame rather
    than only the first layer whose numbers differ.

    Engine auto (engines.AUTO_MIN_SAMPLES and up): csim on the first samples, the emulator on all of them
    once it matched csim there (else csim throughout). The verdict records which engine computed it
    (``engine``) and its message says so when it was not csim alone; it is still "csim == Keras": the
    emulator is only trusted after equalling csim on the same call."""
    x, source = inputs
    with blas_threads(VERDICT_BLAS_THREADS):
        report = design.compare(reference, x, progress=progress, layers=False)  # a bit-exact verdict: outputs only
    float_model = is_float_model(reference)
    passed = report.argmax_agreement >= FLOAT_ARGMAX_GOAL if float_model else report.passed
    verdict = {"samples": report.n_samples, "source": source, "compared": report.compared,
               "bit_exact": report.bit_exact, "argmax_agreement": report.argmax_agreement,
               "max_abs_diff": report.max_abs_diff, "first_divergent_layer": report.first_divergent_layer,
               "criterion": f"argmax >= {FLOAT_ARGMAX_GOAL:.0%}" if float_model else "bit-exact", "passed": passed,
               "engine": report.engine, "judged_layers": list(judged)}
    if getattr(report, "output_max_abs_diff", None) is not None:
        verdict.update(softmax_max_abs_diff=report.output_max_abs_diff, softmax_tolerance=report.output_tolerance)
    by = f"; computed by the {report.engine}" if report.engine and report.engine != "csim" else ""
    samples = f"{report.n_samples:,} samples ({source}{', logits' if report.compared == 'logits' else ''}{by})"
    if float_model:
        message = (f"float model: csim agrees with Keras on argmax for {report.argmax_agreement:.2%} of {samples}, "
                   f"max abs error {report.max_abs_diff:.3g}")
    elif passed:
        message = f"csim == Keras bit for bit on {samples}"
    elif report.bit_exact == 1.0 and not getattr(report, "softmax_within_tolerance", True):
        message = (f"csim's logits == Keras' bit for bit on {samples}, but the softmax outputs of "
                   f"{report.first_divergent_layer} differ by up to {report.output_max_abs_diff:.3g}, more than the "
                   f"tables' tolerance {report.output_tolerance:.3g} (argmax {report.argmax_agreement:.2%}): the "
                   "design normalises over other values than Keras")
    else:
        message = (f"csim matches Keras bit for bit on only {report.bit_exact:.2%} of {samples}; "
                   f"argmax {report.argmax_agreement:.2%}, max abs diff {report.max_abs_diff:.3g}")
        if report.first_divergent_layer:
            message += f"; first diverging layer {report.first_divergent_layer}"
        if uncovered:
            message += f"; layers without an exact type rule: {', '.join(uncovered)}"
        if judged:
            message += f"; float parts (judged, not exact by design): {'; '.join(judged)}"
    (log.info if passed else log.warning)("%s", message)
    verdict["message"] = message
    return verdict


def _hls4ml_convert(model: Any, cfg: dict[str, Any], config: ConvertConfig, root: Any) -> Any:
    import hls4ml

    board = get_board(config.board)
    ports = first_ports_only() if is_multi_port(model) else contextlib.nullcontext()
    with exact_flows("VivadoAccelerator") as flows, ports:
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config={**cfg, "Flows": flows}, output_dir=str(root), project_name=config.name,
            backend="VivadoAccelerator", board=board.hls4ml_template, part=board.part,
            clock_period=config.resolved_clock_period, io_type=config.io_type.value,
            interface="axi_stream", driver="python", input_type="float", output_type="float",
            allow_da_fallback=False)


def _port_record(model: Any) -> dict[str, Any]:
    """input_shape/output_shape, and for a multi-port model the stream order (runtime/streams.py): then
    the shape of several tensors is their stream's length per sample."""
    if not is_multi_port(model):
        return {"input_shape": [int(s) for s in input_shape(model)],
                "output_shape": [int(s) for s in output_shape(model)]}
    inputs, outputs = port_shapes(model)
    return {"input_shape": inputs[0]["shape"] if len(inputs) == 1 else [stream_length(inputs)],
            "output_shape": outputs[0]["shape"] if len(outputs) == 1 else [stream_length(outputs)],
            "inputs": inputs, "outputs": outputs}


def _fitted_settings(model: Any, cfg: dict[str, Any], config: ConvertConfig, root: Any,
                     progress: Progress | None = None) -> dict[str, LayerSetting]:
    """A first conversion (in memory, nothing written) tells the estimator the layer sizes;
    ``fit_search`` picks per-layer settings that fit the board with the margin: reuse factors only for
    ``reuse_factor="auto"`` (smallest valid per layer), reuse factor and strategy for ``fit``."""
    from ..fit_search import NoFitError, auto_reuse_factors, search

    records = layer_table(_hls4ml_convert(model, cfg, config, root))
    if progress is not None:
        progress(Update("fit: converting in memory", "count", 1, 1))
    kw = dict(board=get_board(config.board), clock_period=config.resolved_clock_period, margin=config.margin,
              name=config.name, fixed=config.layers)
    if config.auto_reuse:
        result = auto_reuse_factors(records, io_type=config.io_type.value, **kw)
    else:
        result = search({config.io_type.value: records}, **kw)
    if result.chosen is None:
        raise NoFitError(f"fit: {result.message}")
    what = "reuse factors" if config.auto_reuse else "per-layer settings (fit)"
    log.info("%s chosen to fit %s within %.0f%%:\n%s", what, config.board, 100 * config.margin,
             result.chosen.estimate.format())
    return result.settings()


def _meta(hls_model: Any, reference: Any, model: Any, config: ConvertConfig, cfg: dict[str, Any],
          input_precision: str, searched: frozenset[str] = frozenset()) -> ProjectMeta:
    import hls4ml

    board = get_board(config.board)
    layers = layer_table(hls_model)
    for layer in layers:  # what the settings (or the search) asked for, beside what hls4ml made of it
        setting = config.layers.get(layer["name"])
        if setting is not None and not setting.empty:
            source = ("fit" if config.fit else "auto") if layer["name"] in searched else "settings"
            layer["setting"] = {**setting.to_flat(), "source": source}
    out_var = hls_model.get_output_variables()[0]
    return ProjectMeta.from_dict({
        "format": META_FORMAT,
        "uncovered_layers": uncovered_layers(hls_model),
        "name": config.name,
        "project_name": config.name,
        "board": board.name,
        "part": board.part,
        "board_part": board.board_part,
        "clock_period": config.resolved_clock_period,
        "io_type": config.io_type.value,
        "strategy": config.strategy.value,
        "reuse_factor": "auto" if config.auto_reuse else config.reuse_factor,
        "default_precision": config.precision,
        "input_precision": input_precision,
        "output_precision": str(out_var.type.precision),
        "softmax": config.softmax.value,
        **_port_record(model),
        "axi_input_type": "float32",
        "axi_output_type": "float32",
        "layers": layers,
        "model_sha256": model_hash(reference),
        "config_sha256": hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest(),
        "hls4ml_version": hls4ml.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })


def fit(model: Any, config: ConvertConfig, calibration: np.ndarray | None = None,
        io_types: Sequence[str] | None = None, progress: Progress | None = None) -> FitResult:
    """Search the settings of ``model`` for ``config.board``: one in-memory hls4ml conversion per io type
    (``io_types``; default both), then ``fit_search.search``. ``config`` supplies everything else (precision,
    clock, margin, per-layer settings to keep). Nothing is written. (Here, not in ``fit_search``: the
    search is below the convert stage, which uses it for ``reuse_factor="auto"``.) ``progress`` hears
    each conversion (the long part; the search over the estimator takes milliseconds)."""
    from ..fit_search import search

    progress = progress if progress is not None else notebook_progress(log)
    io_types = list(io_types or [io.value for io in IOType])
    slow = None if config.allow_slow_compile else slow_compile_reason(model)
    if slow and "io_parallel" in io_types and len(io_types) > 1:  # alone, the probe refuses it with the reason
        log.warning("fit: io_parallel not searched: %s", slow)
        io_types.remove("io_parallel")
    t0 = time.perf_counter()
    base = dataclasses.replace(config, fit=False, reuse_factor=1 if config.auto_reuse else config.reuse_factor)
    records = {}
    for i, io in enumerate(io_types):
        records[io] = probe_layers(model, dataclasses.replace(base, io_type=IOType(io)), calibration)
        if progress is not None:
            progress(Update("fit: converting in memory", "count", i + 1, len(io_types)))
    probe = time.perf_counter() - t0
    result = search(records, board=get_board(config.board), clock_period=config.resolved_clock_period,
                    margin=config.margin, name=config.name, fixed=config.layers)
    result.probe_seconds = probe
    return result
