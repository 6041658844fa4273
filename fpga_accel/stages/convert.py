"""QKeras → hls4ml VivadoAccelerator project: the one place hls4ml's config dicts are built.

The design's input type is the model's input quantizer (same grid, convergent rounding, saturation), else
a 32-bit type sized from calibration data, with a warning naming it. Every other type is derived from
the quantizers by the passes of ``fpga_accel.exact_types``, run inside hls4ml's own flow.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..boards import get_board
from ..config import ConvertConfig, SoftmaxMode, Strategy
from ..errors import ConfigError, InputError, NotExactError
from ..exact_types import exact_flows, inexact_layers
from ..float_ranges import float_precisions, integer_bits, is_float_model
from ..keras_compat import (hls4ml_supported_layers, input_layer_name, input_shape, keras_module, output_shape,
                            quantizer_of, register_hls4ml_handlers)
from ..layout import META_FORMAT, ProjectLayout, ProjectMeta, refuse_overwrite, replace_dir, sole_writer
from ..model_io import activation_name, ends_in_softmax, model_hash
from ..design import Design

log = logging.getLogger(__name__)

SOFTMAX = {"Implementation": "stable", "Precision": {"result": "ufixed<18,1,RND,SAT>"}}


def check_supported(model: Any) -> None:
    """Fail before any long work when hls4ml cannot convert a layer."""
    supported = hls4ml_supported_layers() | {"Dropout"}  # hls4ml skips Dropout itself
    bad = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers
           if type(layer).__name__ not in supported]
    if bad:
        raise ConfigError(f"hls4ml 1.3 cannot convert layers: {', '.join(bad)}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError("only single-input, single-output models are supported by the PYNQ AXI-stream wrapper")


def _first_layer(model: Any) -> Any:
    return next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)


def input_quantizer_precision(model: Any) -> str | None:
    """The HLS type equal to the model's input quantizer, if the first layer is one hls4ml can match."""
    from qkeras.quantizers import quantized_bits, quantized_relu

    first = _first_layer(model)
    if type(first).__name__ != "QActivation":
        return None
    q = quantizer_of(first)
    if getattr(q, "use_stochastic_rounding", False):
        return None
    if isinstance(q, quantized_bits) and q.alpha in (None, 1, 1.0) and not q.symmetric:
        if q.keep_negative:
            return f"fixed<{q.bits},{q.integer + 1},RND_CONV,SAT>"
        return f"ufixed<{q.bits},{q.integer},RND_CONV,SAT>"
    if isinstance(q, quantized_relu) and not q.use_sigmoid and not q.negative_slope and q.relu_upper_bound is None:
        return f"ufixed<{q.bits},{q.integer},RND_CONV,SAT>"
    return None


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


def _strip_softmax(model: Any) -> Any:
    keras = keras_module()
    last = model.layers[-1]
    if not ends_in_softmax(model):
        raise ConfigError("softmax='host' but the model does not end in a softmax layer")
    if type(last).__name__ not in ("Softmax", "Activation", "QActivation"):
        raise ConfigError(f"softmax inside {last.name}: put it in its own Activation layer to run it on the host")
    return keras.Model(model.inputs, model.layers[-2].output, name=model.name)


def hls_config(model: Any, config: ConvertConfig, input_precision: str,
               calibration: np.ndarray | None = None) -> dict[str, Any]:
    """Build hls4ml's nested config: per-layer precisions from the quantizers (or, for a float model,
    from calibration data); the rest is left 'auto' for ``exact_types`` to derive."""
    import hls4ml

    register_hls4ml_handlers()
    cfg = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend="VivadoAccelerator",
        default_precision=config.precision.replace("ap_", ""), default_reuse_factor=_base_reuse(config))
    cfg["Model"]["Strategy"] = "Resource" if config.strategy is Strategy.resource else "Latency"
    layers = cfg["LayerName"]
    input_name = input_layer_name(model)
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
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Softmax" or activation_name(layer) == "softmax":
            target = layer.name if kind in ("Softmax", "Activation") else f"{layer.name}_softmax"
            entry = layers.setdefault(target, {"Trace": True})
            entry["Implementation"] = SOFTMAX["Implementation"]
            entry.setdefault("Precision", {}).update(SOFTMAX["Precision"])
    return cfg


def convert(model: Any, config: ConvertConfig, calibration: np.ndarray | None = None, force: bool = False,
            jobs: int | None = None) -> Design:
    """Write an hls4ml VivadoAccelerator project for ``config.board`` to ``config.project_dir``; ``jobs``:
    g++ processes for the csim check (see ``Design``)."""
    import hls4ml

    root = config.project_dir
    refuse_overwrite(root, force)
    check_supported(model)
    inexact = inexact_layers(model)
    if inexact and not config.allow_inexact:
        raise ConfigError("csim cannot be exact for this model: " + "; ".join(inexact)
                          + " (allow_inexact / --allow-inexact converts it anyway)")
    for reason in inexact:
        log.warning("not exact: %s", reason)
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
        model = _strip_softmax(model)

    quantizer_type = input_quantizer_precision(model)
    input_precision = config.input_precision or (quantizer_type if _has_layers_after_input_quantizer(model) else None)
    if input_precision is None:
        input_precision = wide_input_precision(calibration)
    if quantizer_type is None and not config.input_precision:
        log.warning("model has no input quantizer: design input precision set to %s; float inputs are "
                    "rounded to it (add one with `fpga-accel quantize` for an exact, cheaper input)",
                    input_precision)
    input_precision = input_precision.replace("ap_", "")
    board = get_board(config.board)
    cfg = hls_config(model, config, input_precision, calibration)

    reuse_factors: dict[str, int] = {}
    if config.auto_reuse:
        reuse_factors = _auto_reuse_factors(model, cfg, config, root)
        for name, rf in reuse_factors.items():
            cfg["LayerName"].setdefault(name, {})["ReuseFactor"] = rf

    log.info("converting %s with hls4ml %s for %s (%s)", model.name, hls4ml.__version__, board.name, board.part)
    root.parent.mkdir(parents=True, exist_ok=True)
    with sole_writer(root, "convert", force):
        check = None
        if config.verify_samples:
            inputs = verification_inputs(reference, calibration, config.verify_samples)
            check = lambda design, meta: verify(design, reference, inputs, meta.uncovered_layers)  # noqa: E731
        meta = _write_project(model, reference, cfg, config, input_precision, root, check, jobs)
    if config.strict and meta.fidelity is not None and not meta.fidelity["passed"]:
        raise NotExactError(f"{meta.fidelity['message']} — project kept at {root} for inspection")
    return Design(root, jobs=jobs)


Check = Callable[[Design, ProjectMeta], dict[str, Any]]
"""Run on the finished project in its staging folder; returns the fidelity verdict."""


def _write_project(model: Any, reference: Any, cfg: dict[str, Any], config: ConvertConfig, input_precision: str,
                   root: Path, check: Check | None, jobs: int | None) -> ProjectMeta:
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}.convert-", dir=root.parent))
    try:  # written, checked, then renamed into place: a failed or interrupted convert leaves the old project as it was
        hls_model = _hls4ml_convert(model, cfg, config, staging)
        hls_model.config.trace_output = True  # what hls4ml's own trace() sets before writing
        hls_model.write()
        _check_bridge(ProjectLayout(staging, config.name))
        reference.save(str(ProjectLayout(staging, config.name).keras_model), include_optimizer=False)
        meta = _meta(hls_model, reference, model, config, cfg, input_precision)
        meta.write(staging)
        if check is not None:  # the csim library does not depend on the folder: the one built here is reused
            with Design(staging, jobs=jobs) as design:
                meta.fidelity = check(design, meta)
            meta.write(staging)
        _fix_output_dir(staging, root)
        replace_dir(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return meta


def _check_bridge(layout: ProjectLayout) -> None:
    """hls4ml 1.3 rewrites every line of the csim bridge that contains ``NAME(`` into the AXI call, so a
    name that ends another identifier there (``d`` in ``std(``, ``t`` in ``collect(``...) breaks the C++."""
    name = layout.project_name
    clashes = [line.strip() for line in layout.bridge_cpp.read_text().splitlines() if f"{name}_axi(" in line]
    if len(clashes) > 2:  # the float and the double wrapper each call the AXI top once
        raise ConfigError(f"project name {name!r} clashes with code in hls4ml's generated bridge (hls4ml 1.3 "
                          f"rewrites every line containing '{name}('); choose a longer, more specific name")


def _fix_output_dir(staging: Path, root: Path) -> None:
    """hls4ml records its output folder in hls4ml_config.yml: name the final one, not the staging one."""
    config_file = staging / "hls4ml_config.yml"
    if config_file.is_file():
        config_file.write_text(config_file.read_text().replace(str(staging), str(root.resolve())))


def verification_inputs(model: Any, calibration: np.ndarray | None, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """What convert checks csim on: the calibration data, else float samples spanning the input
    quantizer's range (±1.25 × its bound, so saturation is exercised), else [-4, 4)."""
    if calibration is not None and len(calibration):
        return calibration[:n], "calibration data"
    bound = 4.0
    q = quantizer_of(_first_layer(model))
    if q is not None and hasattr(q, "bits"):
        bound = 1.25 * 2.0 ** float(getattr(q, "integer", 0) or 0)
    shape = (n,) + input_shape(model)
    return np.random.default_rng(seed).uniform(-bound, bound, shape).astype(np.float32), f"uniform samples in ±{bound:g}"


FLOAT_ARGMAX_GOAL = 0.99
"""A float model cannot be matched bit for bit by fixed point: the check then asks for this argmax agreement."""


def verify(design: Design, reference: Any, inputs: tuple[np.ndarray, str], uncovered: list[str]) -> dict[str, Any]:
    """Run csim against the Keras model before handing the design over: the verdict goes into
    fpga_accel.json and one log line says it (``strict`` convert turns a failed one into an error)."""
    x, source = inputs
    report = design.compare(reference, x)
    float_model = is_float_model(reference)
    passed = report.argmax_agreement >= FLOAT_ARGMAX_GOAL if float_model else report.passed
    verdict = {"samples": report.n_samples, "source": source, "compared": report.compared,
               "bit_exact": report.bit_exact, "argmax_agreement": report.argmax_agreement,
               "max_abs_diff": report.max_abs_diff, "first_divergent_layer": report.first_divergent_layer,
               "criterion": f"argmax >= {FLOAT_ARGMAX_GOAL:.0%}" if float_model else "bit-exact", "passed": passed}
    samples = f"{report.n_samples:,} samples ({source}{', logits' if report.compared == 'logits' else ''})"
    if float_model:
        message = (f"float model: csim agrees with Keras on argmax for {report.argmax_agreement:.2%} of {samples}, "
                   f"max abs error {report.max_abs_diff:.3g}")
    elif passed:
        message = f"csim == Keras bit for bit on {samples}"
    else:
        message = (f"csim matches Keras bit for bit on only {report.bit_exact:.2%} of {samples}; "
                   f"argmax {report.argmax_agreement:.2%}, max abs diff {report.max_abs_diff:.3g}")
        if report.first_divergent_layer:
            message += f"; first diverging layer {report.first_divergent_layer}"
        if uncovered:
            message += f"; layers without an exact type rule: {', '.join(uncovered)}"
    (log.info if passed else log.warning)("%s", message)
    verdict["message"] = message
    return verdict


HW_ATTRS = ("n_in", "n_out", "n_chan", "n_filt", "filt_height", "filt_width", "in_height", "in_width",
            "out_height", "out_width", "pool_height", "pool_width", "reuse_factor", "strategy", "table_size")
KERNEL_CLASSES = ("Dense", "Conv1D", "Conv2D", "Conv1DBatchnorm", "Conv2DBatchnorm")


def _hardware(hls_model: Any, node: Any) -> dict[str, Any]:
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
    activation = node.get_attr("activation")
    if isinstance(activation, str) and node.class_name not in KERNEL_CLASSES:
        hw["activation"] = activation.lower()
    inputs = node.get_input_variable() if node.inputs else None
    if inputs is not None:
        hw["input_precision"] = str(inputs.type.precision)
    if "weight" in node.weights:
        weights = node.weights["weight"]
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
            n_in = hw.get("n_in") if node.class_name == "Dense" else \
                hw.get("n_chan", 1) * hw.get("filt_height", 1) * hw.get("filt_width", 1)
            n_out = hw.get("n_out") if node.class_name == "Dense" else hw.get("n_filt")
            if n_in and n_out:
                hw["rf_n_in"], hw["rf_n_out"] = int(n_in), int(n_out)
                hw["valid_reuse_factors"] = hls_model.config.backend.get_valid_reuse_factors(int(n_in), int(n_out))
    elif "scale" in node.weights:  # BatchNormalization: products by the scales
        hw["weight_precision"] = str(node.weights["scale"].type.precision)
    accum = node.get_attr("accum_t")
    if accum is not None and hasattr(accum, "precision"):
        hw["accum_precision"] = str(accum.precision)
    return hw


def _hls4ml_convert(model: Any, cfg: dict[str, Any], config: ConvertConfig, root: Any) -> Any:
    import hls4ml

    board = get_board(config.board)
    register_hls4ml_handlers()
    with exact_flows("VivadoAccelerator") as flows:
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config={**cfg, "Flows": flows}, output_dir=str(root), project_name=config.name,
            backend="VivadoAccelerator", board=board.name, part=board.part,
            clock_period=config.resolved_clock_period, io_type=config.io_type.value,
            interface="axi_stream", driver="python", input_type="float", output_type="float",
            allow_da_fallback=False)


def layer_table(hls_model: Any) -> list[dict[str, Any]]:
    """Per-layer facts for fpga_accel.json and the estimator."""
    layers = []
    for node in hls_model.get_layers():
        var = node.get_output_variable()
        layers.append({"name": node.name, "class": node.class_name, "shape": [int(s) for s in var.shape],
                       "precision": str(var.type.precision), "traced": bool(node.get_attr("trace", False))
                       and node.get_attr("function_cpp", None) is not None, **_hardware(hls_model, node)})
    return layers


def _auto_reuse_factors(model: Any, cfg: dict[str, Any], config: ConvertConfig, root: Any) -> dict[str, int]:
    """A first conversion (in memory, nothing written) at reuse factor 1 tells the estimator the layer
    sizes; it picks the smallest valid reuse factor per layer that fits the board with the margin."""
    from ..analysis.estimate import choose_reuse_factors

    first = _hls4ml_convert(model, cfg, config, root)
    try:
        chosen, est = choose_reuse_factors(layer_table(first), board=get_board(config.board),
                                           io_type=config.io_type.value, clock_period=config.resolved_clock_period,
                                           margin=config.margin, name=config.name)
    except ValueError as exc:
        raise ConfigError(f"--reuse-factor auto: {exc}") from exc
    log.info("reuse factors chosen to fit %s within %.0f%%:\n%s", config.board, 100 * config.margin, est.format())
    return chosen


def _meta(hls_model: Any, reference: Any, model: Any, config: ConvertConfig, cfg: dict[str, Any],
          input_precision: str) -> ProjectMeta:
    import hls4ml

    board = get_board(config.board)
    layers = layer_table(hls_model)
    out_var = hls_model.get_output_variables()[0]
    return ProjectMeta.from_dict({
        "format": META_FORMAT,
        "uncovered_layers": list(hls_model.config.config.get("fpga_accel_uncovered", [])),
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
        "input_shape": [int(s) for s in input_shape(model)],
        "output_shape": [int(s) for s in output_shape(model)],
        "axi_input_type": "float32",
        "axi_output_type": "float32",
        "layers": layers,
        "model_sha256": model_hash(reference),
        "config_sha256": hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest(),
        "hls4ml_version": hls4ml.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
