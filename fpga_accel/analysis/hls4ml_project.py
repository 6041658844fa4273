"""Read any hls4ml design into the per-layer records the estimator costs.

Why: ``fpga-accel estimate`` should answer "does it fit?" for hls4ml projects this toolkit did not write
(someone else's ``firmware/``), and for a Keras model + hls4ml configuration before any project exists.
The parser reads what hls4ml generates — the layer calls of ``firmware/<project>.cpp`` (function, types,
config struct, layer name), the config structs of ``parameters.h``, the typedefs of ``defines.h`` /
``parameters.h`` and the weights of ``firmware/weights/w<N>.txt`` (non-zero and power-of-two counts after
quantisation to the weight type) — the same facts the calibration set was built from. No hls4ml needed.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import InputError
from .weight_stats import csd_digits

__all__ = ["read_design", "read_hls4ml_project", "from_model", "weight_statistics"]

# hls4ml's nnet function (as called in the project's .cpp) -> hls4ml layer class
FUNCTIONS: Tuple[Tuple[str, str], ...] = (
    (r"dense", "Dense"), (r"pointwise_conv_1d", "Conv1D"), (r"pointwise_conv_2d", "Conv2D"),
    (r"depthwise_conv_1d", "DepthwiseConv1D"), (r"depthwise_conv_2d", "DepthwiseConv2D"),
    (r"separable_conv_1d", "SeparableConv1D"), (r"separable_conv_2d", "SeparableConv2D"),
    (r"conv_1d", "Conv1D"), (r"conv_2d", "Conv2D"), (r"normalize", "BatchNormalization"),
    (r"softmax", "Softmax"), (r"leaky_relu", "LeakyReLU"), (r"(s?elu)(_|$)", "ELU"), (r"prelu", "PReLU"),
    (r"global_pooling", "GlobalPooling2D"), (r"pooling1d", "Pooling1D"), (r"pooling2d", "Pooling2D"),
    (r"zeropad1d", "ZeroPadding1D"), (r"zeropad2d", "ZeroPadding2D"), (r"resize", "Resize"),
    (r"cropping", "Cropping2D"), (r"concatenate", "Concatenate"), (r"transpose", "Transpose"),
    (r"repack", "Repack"), (r"clone", "Clone"), (r"(add|subtract|multiply|average|maximum|minimum)$", "Merge"),
    (r"(relu|sigmoid|tanh|linear|softplus|softsign|hard_sigmoid|hard_tanh|binary_tanh|ternary_tanh|thresholded)",
     "Activation"),
)
_SKIP = ("load_weights_from_txt", "save_layer_output", "print_result", "fill_zero", "convert_data", "copy_data")
_ACT_NAMES = ("relu", "sigmoid", "tanh", "linear", "softplus", "softsign", "hard_sigmoid", "hard_tanh", "elu",
              "selu", "leaky_relu", "prelu")


def _typedefs(*texts: str) -> Dict[str, str]:
    """typedef name -> HLS precision text (the element type for nnet::array<...> stream words)."""
    out: Dict[str, str] = {}
    for text in texts:
        for m in re.finditer(r"typedef\s+(.+?)\s+(\w+)\s*;", text):
            body, name = m.group(1), m.group(2)
            inner = re.search(r"(ap_u?fixed<[^>]*>|ap_u?int<[^>]*>)", body)
            out[name] = inner.group(1) if inner else body
    for name, body in list(out.items()):  # one level of typedef-of-typedef (model_default_t)
        if body in out:
            out[name] = out[body]
    return out


def _structs(text: str) -> Dict[str, Dict[str, str]]:
    """config struct name -> {field: value} from ``static const ... k = v;`` and ``typedef T k;`` lines."""
    out: Dict[str, Dict[str, str]] = {}
    for m in re.finditer(r"struct\s+(\w+)\s*:\s*nnet::\w+\s*\{(.*?)\n\};", text, re.S):
        fields: Dict[str, str] = {}
        for f in re.finditer(r"static\s+const\s+\w+(?:\s+\w+)?\s+(\w+)\s*=\s*([^;]+);", m.group(2)):
            fields[f.group(1)] = f.group(2).strip()
        for f in re.finditer(r"typedef\s+([\w:<>, ]+?)\s+(\w+)\s*;", m.group(2)):
            fields[f.group(2)] = f.group(1).strip()
        out[m.group(1)] = fields
    return out


def _int(fields: Mapping[str, str], key: str) -> Optional[int]:
    v = fields.get(key)
    if v is None:
        return None
    try:
        return int(eval(re.sub(r"[uUlL]+\b", "", v), {"__builtins__": {}}, {}))  # "16*1", "DIV_ROUNDUP" -> error
    except Exception:
        return None


def _quantum(precision: str) -> Tuple[float, float, bool]:
    """(step, max, signed) of an ap_fixed/ap_int type."""
    m = re.search(r"ap_(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)", precision)
    if m:
        w, i = int(m.group(2)), int(m.group(3))
        return 2.0 ** (i - w), 2.0 ** (i - (0 if m.group(1) else 1)), not m.group(1)
    m = re.search(r"ap_(u?)int<\s*(\d+)", precision)
    w = int(m.group(2)) if m else 16
    return 1.0, 2.0 ** (w - (0 if m and m.group(1) else 1)), not (m and m.group(1))


def weight_statistics(values: List[float], precision: str) -> Dict[str, int]:
    """Non-zero and ±2^k counts, and the non-zero canonical signed digits summed over the weights, after
    truncation to ``precision`` (what HLS sees as constants; a constant with d signed digits is d - 1 adders)."""
    step, top, _ = _quantum(precision)
    nonzero = pow2 = digits = 0
    for v in values:
        q = math.floor(abs(v) / step) * step if v >= 0 else -math.floor(abs(v) / step + (abs(v) % step > 0)) * step
        q = max(min(q, top - step), -top)
        if q != 0:
            nonzero += 1
            if math.log2(abs(q)).is_integer():
                pow2 += 1
            digits += csd_digits(round(q / step))
    return {"n_nonzero_weights": nonzero, "n_pow2_weights": pow2, "n_csd_digits": digits}


def _weights(firmware: Path, index: str, precision: str) -> Optional[Dict[str, int]]:
    for path in (firmware / "weights" / f"w{index}.txt", firmware / "weights" / f"w{index}.h"):
        if path.exists():
            text = path.read_text()
            if path.suffix == ".h":
                body = re.search(r"\{(.*)\}", text, re.S)
                text = body.group(1) if body else ""
            values = [float(x) for x in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text)]
            return {"n_weights": len(values), **weight_statistics(values, precision)}
    return None


def _class(function: str) -> str:
    for pattern, cls in FUNCTIONS:
        if re.match(pattern, function):
            return cls
    return function  # unknown: the estimator flags it


def read_hls4ml_project(root: Union[str, Path]) -> Dict[str, Any]:
    """The design of an hls4ml project directory, in the shape of fpga_accel.json's estimator fields."""
    root = Path(root)
    firmware = root / "firmware"
    params = firmware / "parameters.h"
    if not params.exists():
        raise InputError(f"{root}: not an hls4ml project (no firmware/parameters.h)")
    ptext = params.read_text(errors="replace")
    dtext = (firmware / "defines.h").read_text(errors="replace") if (firmware / "defines.h").exists() else ""
    cpps = [p for p in firmware.glob("*.cpp") if "hls-fpga-machine-learning insert layers" in p.read_text(errors="replace")]
    if not cpps:
        raise InputError(f"{root}: no firmware/*.cpp with hls4ml's layer calls")
    top = cpps[0]
    ctext = top.read_text(errors="replace")
    types = _typedefs(dtext, ptext)
    structs = _structs(ptext)
    part, clock = None, None
    for tcl in ("project.tcl", "build_prj.tcl"):
        if (root / tcl).exists():
            t = (root / tcl).read_text(errors="replace")
            part = part or (re.search(r"set\s+part\s+\"?\{?([\w-]+)", t) or [None, None])[1]
            m = re.search(r"set\s+clock_period\s+([\d.]+)", t) or re.search(r"create_clock\s+-period\s+([\d.]+)", t)
            clock = clock or (float(m.group(1)) if m else None)
    layers: List[Dict[str, Any]] = []
    io_type = "io_stream" if re.search(r"io_type\s*=\s*nnet::io_stream", ptext) else "io_parallel"
    body = ctext[ctext.index("hls-fpga-machine-learning insert layers"):]
    prev_shape: List[int] = []
    for m in re.finditer(r"nnet::(\w+)\s*<([^;]*?)>\s*\(([^;]*)\)\s*;[ \t]*(?://\s*(\S+))?", body):
        function, targs, name = m.group(1), [a.strip() for a in m.group(2).split(",")], m.group(4)
        if function in _SKIP or not name:
            continue
        cfg_name = next((a for a in reversed(targs) if a in structs), None)
        cfg = structs.get(cfg_name or "", {})
        cls = _class(function)
        rec: Dict[str, Any] = {"name": name, "class": cls, "config": cfg_name or ""}
        if targs:
            rec["input_precision"] = types.get(targs[0], targs[0])
        if len(targs) > 1:
            rec["precision"] = types.get(targs[1], targs[1])
        for key in ("n_in", "n_out", "n_chan", "n_filt", "filt_height", "filt_width", "in_height", "in_width",
                    "out_height", "out_width", "pool_height", "pool_width", "reuse_factor", "n_zeros"):
            v = _int(cfg, key)
            if v is not None:
                rec[key] = v
        strategy = cfg.get("strategy", "")
        rec["strategy"] = "resource" if "resource" in strategy else "latency"
        if cls == "Activation":
            rec["activation"] = next((a for a in _ACT_NAMES if a in function), function)
        for key, field in (("accum_precision", "accum_t"), ("weight_precision", "weight_t"), ("weight_precision", "scale_t")):
            if field in cfg and key not in rec:
                rec[key] = types.get(cfg[field], cfg[field])
        # the per-pixel product matrix of convolutions (what hls4ml's reuse factor divides)
        if cls in ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
            rec["rf_n_in"] = rec.get("n_chan", 1) * rec.get("filt_height", 1) * rec.get("filt_width", 1)
            rec["rf_n_out"] = rec.get("n_filt", 1)
            shape = [rec[k] for k in ("out_height", "out_width") if k in rec] + [rec.get("n_filt", 1)]
        elif cls == "Dense":
            rec["rf_n_in"], rec["rf_n_out"] = rec.get("n_in", 1), rec.get("n_out", 1)
            shape = [rec.get("n_out", 1)]
        elif "out_height" in rec or "out_width" in rec:
            shape = [rec[k] for k in ("out_height", "out_width") if k in rec] + \
                [rec.get("n_filt", rec.get("n_chan", prev_shape[-1] if prev_shape else 1))]
        elif prev_shape and (rec.get("n_in") in (None, math.prod(prev_shape))):
            shape = list(prev_shape)
        else:
            shape = [rec.get("n_in", 1)]
        rec["shape"] = shape
        if "rf_n_in" in rec:
            rec["n_weights"] = rec["rf_n_in"] * rec["rf_n_out"]
            index = re.sub(r"\D", "", cfg_name or "")
            stats = _weights(firmware, index, rec.get("weight_precision", "ap_fixed<16,6>")) if index else None
            if stats and stats["n_weights"] == rec["n_weights"]:
                rec.update(stats)
            else:
                rec["n_nonzero_weights"] = rec["n_weights"] - rec.get("n_zeros", 0)
        if not layers:
            in_shape = [rec[k] for k in ("in_height", "in_width") if k in rec] + [rec.get("n_chan", rec.get("n_in", 1))] \
                if "in_width" in rec else [rec.get("n_in", 1)]
            layers.append({"name": "input", "class": "Input", "shape": in_shape,
                           "precision": rec.get("input_precision")})
        layers.append(rec)
        prev_shape = shape
    if len(layers) < 2:
        raise InputError(f"{top}: found no hls4ml layer calls")
    return {"name": top.stem, "io_type": io_type, "clock_period": clock, "part": part, "layers": layers,
            "source": str(root)}


def from_model(model: Any, config: Union[None, str, Path, Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Convert a Keras model with an hls4ml configuration (dict, or YAML file in hls4ml's ``convert -c``
    format: ``HLSConfig``, ``IOType``, ``ClockPeriod``, ``Part``, ``KerasH5``/``KerasModel``) in a
    temporary directory and read the records hls4ml produced (needs hls4ml: the host install)."""
    import tempfile

    import yaml

    from ..model_io import load_model
    from ..stages.convert import layer_table

    cfg: Dict[str, Any] = {}
    if isinstance(config, (str, Path)):
        cfg = yaml.safe_load(Path(config).read_text()) or {}
    elif config:
        cfg = dict(config)
    if model is None:
        source = cfg.get("KerasModel") or cfg.get("KerasH5")
        if not source:
            raise InputError("estimate: give a model, or a config naming one (KerasModel/KerasH5)")
        model = load_model(source)
    elif isinstance(model, (str, Path)):
        model = load_model(model)
    import hls4ml

    hls_config = cfg.get("HLSConfig") or hls4ml.utils.config_from_keras_model(model, granularity="name")
    io_type = cfg.get("IOType", "io_parallel")
    clock = float(cfg.get("ClockPeriod", 10.0))
    with tempfile.TemporaryDirectory() as tmp:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=hls_config, output_dir=tmp, io_type=io_type, clock_period=clock,
            part=cfg.get("Part", "xc7z020clg400-1"), backend=cfg.get("Backend", "Vivado"))
        layers = layer_table(hls_model)
    return {"name": str(cfg.get("ProjectName", getattr(model, "name", "model"))), "io_type": io_type,
            "clock_period": clock, "part": cfg.get("Part"), "layers": layers}


def read_design(design: Any, model: Any = None, config: Any = None) -> Dict[str, Any]:
    """Whatever ``fpga_accel.estimate`` was given, as a dict with ``name``, ``io_type``, ``clock_period``,
    ``layers`` (and ``board`` / ``part`` when known)."""
    if design is None:
        return from_model(model, config)
    if hasattr(design, "meta"):
        return design.meta.to_dict()
    if isinstance(design, Mapping):
        return dict(design)
    root = Path(design)
    if (root / "fpga_accel.json").exists():
        from ..design import Design  # validates the record (an edited one is refused, as by every command)

        return Design(root).meta.to_dict()
    if (root / "firmware" / "parameters.h").exists():
        return read_hls4ml_project(root)
    raise InputError(f"{root}: neither a project of this toolkit (fpga_accel.json) nor an hls4ml project "
                     "(firmware/parameters.h)")
