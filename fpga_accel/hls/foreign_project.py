"""Read any hls4ml design into the per-layer records the estimator costs.

Why: ``fpga-accel estimate`` should answer "does it fit?" for hls4ml projects this toolkit did not write
(someone else's ``firmware/``), and for a Keras model + hls4ml configuration before any project exists.
The parser reads what hls4ml generates — the layer calls of ``firmware/<project>.cpp`` (function, types,
config struct, layer name), the config structs of ``parameters.h``, the typedefs and size macros of
``defines.h`` / ``parameters.h`` (hls4ml ≤ 0.6 writes sizes as ``#define N_LAYER_2 64`` and
``n_out = N_LAYER_2;``) and the weights of ``firmware/weights/w<N>.txt`` — the same facts the calibration set
was built from, measured by the same ruler as convert (:mod:`fpga_accel.analysis.weight_stats`). No hls4ml
needed.

A project is data, never code: sizes are C constant expressions, evaluated by :func:`c_int`, a small parser
of integer literals, ``+ - * / %``, parentheses and names (``#define`` macros, the struct's own fields);
anything else leaves the size unknown and the layer is reported NOT COSTED (``not_costed``), not guessed.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import InputError
from ..layout import ProjectLayout
from ..runtime.hls_text import c_int, config_structs, follow_typedefs
from ..analysis.scope import project_scope_problem
from ..analysis.weight_stats import UnknownType, hls_type, precision_width, shift_weight_stats, weight_stats
from .node_keys import BATCHNORM_NODE

__all__ = ["read_design", "read_hls4ml_project", "from_model", "c_int"]

# hls4ml's nnet function (as called in the project's .cpp) -> hls4ml layer class
FUNCTIONS: Tuple[Tuple[str, str], ...] = (
    (r"dense", "Dense"), (r"pointwise_conv_1d", "Conv1D"), (r"pointwise_conv_2d", "Conv2D"),
    (r"depthwise_conv_1d", "DepthwiseConv1D"), (r"depthwise_conv_2d", "DepthwiseConv2D"),
    (r"separable_conv_1d", "SeparableConv1D"), (r"separable_conv_2d", "SeparableConv2D"),
    (r"conv_1d", "Conv1D"), (r"conv_2d", "Conv2D"), (r"normalize", BATCHNORM_NODE),
    (r"softmax", "Softmax"), (r"leaky_relu", "LeakyReLU"), (r"(s?elu)(_|$)", "ELU"), (r"prelu", "PReLU"),
    (r"global_pooling", "GlobalPooling2D"), (r"pooling1d", "Pooling1D"), (r"pooling2d", "Pooling2D"),
    (r"zeropad1d", "ZeroPadding1D"), (r"zeropad2d", "ZeroPadding2D"), (r"resize", "Resize"),
    (r"cropping", "Cropping2D"), (r"concatenate", "Concatenate"), (r"transpose", "Transpose"),
    (r"repack", "Repack"), (r"clone", "Clone"), (r"(add|subtract|multiply|average|maximum|minimum)$", "Merge"),
    (r"(relu|sigmoid|tanh|linear|softplus|softsign|hard_sigmoid|hard_tanh|binary_tanh|ternary_tanh|thresholded)",
     "Activation"),
)
# hls4ml <= 0.6 named the Resource strategy's kernels by function, not by a ``strategy`` field
RESOURCE_FUNCTIONS = ("dense_large", "dense_resource", "conv_1d_large", "conv_2d_large", "conv_1d_resource",
                      "conv_2d_resource")
_SKIP = ("load_weights_from_txt", "save_layer_output", "print_result", "fill_zero", "convert_data", "copy_data")
_ACT_NAMES = ("leaky_relu", "thresholded_relu", "hard_sigmoid", "hard_tanh", "binary_tanh", "ternary_tanh",
              "relu", "sigmoid", "tanh", "linear", "softplus", "softsign", "selu", "elu", "prelu")
SIZE_FIELDS = ("n_in", "n_out", "n_chan", "n_filt", "filt_height", "filt_width", "in_height", "in_width",
               "out_height", "out_width", "pool_height", "pool_width", "reuse_factor", "n_zeros")


def _macros(*texts: str) -> Dict[str, str]:
    """Object-like ``#define NAME value`` lines (function-like macros such as DIV_ROUNDUP are left out)."""
    out: Dict[str, str] = {}
    for text in texts:
        for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?![\w(])[ \t]*(.*?)[ \t]*(?://.*)?$", text, re.M):
            out.setdefault(m.group(1), m.group(2))
    return out


# -- types, structs, weights -----------------------------------------------------------------------------

# hls4ml's type of QKeras quantized_po2 weights: a sign and an exponent per weight (the product is a shift)
_EXPONENT = re.compile(r"typedef\s+struct\s+(\w+)\s*\{\s*ap_uint<1>\s+sign\s*;\s*(ap_int<\s*\d+\s*>)\s+weight\s*;"
                       r"\s*\}\s*(\w+)\s*;")
EXPONENT_PREFIX = "exponent:"


def _typedefs(*texts: str) -> Dict[str, str]:
    """typedef name -> HLS precision text (the element type for nnet::array<...> stream words), typedefs of
    typedefs followed (model_default_t); a name that resolves to no HLS type is kept as written."""
    raw: Dict[str, str] = {}
    for text in texts:
        for m in _EXPONENT.finditer(text):  # power-of-two weights: their exponent's type, marked
            raw[m.group(3)] = EXPONENT_PREFIX + m.group(2)
        text = _EXPONENT.sub("", text)
        for m in re.finditer(r"typedef\s+(.+?)\s+(\w+)\s*;", text):
            body, name = m.group(1), m.group(2)
            inner = re.search(r"(ap_u?fixed<[^>]*>|ap_u?int<[^>]*>)", body)
            raw[name] = inner.group(1) if inner else body.strip()
    return follow_typedefs(raw)


def _struct_names(text: str) -> Dict[str, str]:
    """config struct name -> the layer name hls4ml wrote in the comment above it (``// fc1``)."""
    return {m.group(2): m.group(1) for m in re.finditer(r"//[ \t]*(\S+)[ \t]*\n[ \t]*struct\s+(\w+)\s*:", text)}


def _weights(found: ProjectLayout, name: str, precision: str, exponent: bool = False) -> Optional[Dict[str, Any]]:
    """The statistics of weights/<name>.txt (or .h): the numbers there are the text hls4ml wrote
    (``exponent``: power-of-two weights, written as {sign, exponent} pairs)."""
    for path in found.weight_files(name):
        if path.exists():
            text = path.read_text(errors="replace")
            if path.suffix == ".h":
                body = re.search(r"\{(.*)\}", text, re.S)
                text = body.group(1) if body else ""
            if exponent:
                stats = shift_weight_stats(len(re.findall(r"\{[^{}]*\}", text)))
                stats.pop("csd_hist")
                return stats
            values = [float(x) for x in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text)]
            stats = weight_stats(values, precision, written=True)
            stats.pop("csd_hist")
            return stats
    return None


def _class(function: str) -> str:
    for pattern, cls in FUNCTIONS:
        if re.match(pattern, function):
            return cls
    return function  # unknown: the estimator flags it


def _precision(types: Mapping[str, str], name: str) -> str:
    """A typedef name as the HLS type it stands for, spelt as hls4ml prints its types ('fixed<16,6,TRN,WRAP,0>',
    'uint<1>': the records of a project and of the model it came from read alike); as written when it is no
    type this parser knows (the estimator flags it)."""
    text = types.get(name, name)
    if text.startswith(EXPONENT_PREFIX):
        return EXPONENT_PREFIX + _precision({}, text[len(EXPONENT_PREFIX):])
    m = re.fullmatch(r"(?:ap_)?(u?)int<\s*(\d+)\s*>", text.strip())
    if m:
        return f"{m.group(1)}int<{m.group(2)}>"
    try:
        t = hls_type(text)
    except UnknownType:
        return text
    return f"{'' if t.signed else 'u'}fixed<{t.width},{t.integer},{t.quantization},{t.overflow},{t.sat_bits}>"


def _kernel_sizes(rec: Dict[str, Any], cfg: Mapping[str, str], cls: str) -> Optional[str]:
    """rf_n_in / rf_n_out (the product matrix the reuse factor divides) of a Dense or convolution, or why
    they are unknown."""
    if cls == "Dense":
        need = ("n_in", "n_out")
    else:
        need = ("n_chan", "n_filt") + (("filt_width",) if cls.endswith("1D") else ("filt_height", "filt_width"))
    missing = [k for k in need if k not in rec]
    if missing:
        return "size " + ", ".join(f"{k} = {cfg.get(k, '(absent)')!r}" for k in missing) + " not understood"
    if cls == "Dense":
        rec["rf_n_in"], rec["rf_n_out"] = rec["n_in"], rec["n_out"]
    else:
        rec["rf_n_in"] = rec["n_chan"] * rec.get("filt_height", 1) * rec["filt_width"]
        rec["rf_n_out"] = rec["n_filt"]
    return None


def _image(rec: Mapping[str, Any]) -> Optional[List[int]]:
    """The input image of a layer that states it (in_height, in_width, channels), else None."""
    if "in_width" not in rec:
        return None
    return [rec[k] for k in ("in_height", "in_width") if k in rec] + [rec.get("n_chan", rec.get("n_filt", 1))]


def _spatial_inputs(layers: List[Dict[str, Any]]) -> None:
    """The input and the element-wise layers before the first layer that states its input image know only
    their element count (an io_stream project writes no input shape): give them that image's shape, as the
    model has it (an io_stream FIFO holds one pixel of all channels per word)."""
    for i, rec in enumerate(layers):
        image = _image(rec)
        if image is None:
            continue
        for earlier in layers[:i]:
            if "rf_n_in" not in earlier and len(earlier["shape"]) == 1 and earlier["shape"][0] == math.prod(image):
                earlier["shape"] = list(image)
        return


def read_hls4ml_project(root: Union[str, Path]) -> Dict[str, Any]:
    """The design of an hls4ml project directory, in the shape of fpga_accel.json's estimator fields.

    A layer whose sizes or weight type cannot be read gets ``not_costed`` (the reason): the estimator then
    reports it NOT COSTED and never says the design fits. A project the estimator's model does not describe
    (hls4ml < 0.5 kernels, modified nnet_utils: :func:`fpga_accel.analysis.scope.project_scope_problem`)
    gets ``out_of_scope`` (the reason): estimated for information, its verdict is UNCERTAIN."""
    root = Path(root)
    found = ProjectLayout.unnamed(root)
    firmware, params = found.firmware, found.parameters_h
    if not params.exists():
        raise InputError(f"{root}: not an hls4ml project (no firmware/parameters.h)")
    ptext = params.read_text(errors="replace")
    dtext = found.defines_h.read_text(errors="replace") if found.defines_h.exists() else ""
    cpps = [p for p in sorted(firmware.glob("*.cpp"))
            if "hls-fpga-machine-learning insert layers" in p.read_text(errors="replace")]
    if not cpps:
        raise InputError(f"{root}: no firmware/*.cpp with hls4ml's layer calls")
    top = cpps[0]
    ctext = top.read_text(errors="replace")
    top_h = ProjectLayout(root, top.stem).top_h
    htext = top_h.read_text(errors="replace") if top_h.exists() else ""
    types = _typedefs(dtext, ptext, htext, ctext)
    macros = _macros(dtext, ptext, htext, ctext)
    structs = config_structs(ptext)
    struct_names = _struct_names(ptext)
    folded = {k.lower(): k for k in structs}  # hls4ml 1.3 names a Softmax layer's struct Softmax_config<N>
    part, clock = None, None
    for tcl in (found.project_tcl, found.build_tcl):
        if tcl.exists():
            t = tcl.read_text(errors="replace")
            part = part or (re.search(r"set\s+part\s+\"?\{?([\w-]+)", t) or [None, None])[1]
            m = re.search(r"set\s+clock_period\s+([\d.]+)", t) or re.search(r"create_clock\s+-period\s+([\d.]+)", t)
            clock = clock or (float(m.group(1)) if m else None)
    layers: List[Dict[str, Any]] = []
    io_type = "io_stream" if re.search(r"io_type\s*=\s*nnet::io_stream", ptext) else "io_parallel"
    signature = re.search(rf"\b{re.escape(top.stem)}\s*\(\s*[\w:<>, ]+?[\s&]+(\w+)\s*[\[,)]", ctext)
    input_name = signature.group(1) if signature else "input"
    body = ctext[ctext.index("hls-fpga-machine-learning insert layers"):]
    prev_shape: List[int] = []
    functions: List[str] = []
    # csim trace calls name a layer's output variable: nnet::save_layer_output<T>(layer2_out, "fc1", N)
    traced = dict(re.findall(r"nnet::save_layer_output\s*<[^>]*>\s*\(\s*(\w+)\s*,\s*\"([^\"]+)\"", body))
    for m in re.finditer(r"nnet::(\w+)\s*<([^;]*?)>\s*\(([^;]*)\)\s*;[ \t]*(?://\s*(\S+))?", body):
        function, targs = m.group(1), [a.strip() for a in m.group(2).split(",")]
        args = [a.strip() for a in m.group(3).split(",")]
        if function in _SKIP:
            continue
        functions.append(function)
        cfg_name = next((a for a in reversed(targs) if a in structs), None) or \
            next((folded[a.lower()] for a in reversed(targs) if a.lower() in folded), None)
        cfg = structs.get(cfg_name or "", {})
        out_var = args[1] if len(args) > 1 else ""
        # the layer's name: hls4ml's comment after the call, else its csim trace call's or the comment above
        # its config struct (older versions), else its output variable
        name = m.group(4) or traced.get(out_var) or struct_names.get(cfg_name or "") or \
            re.sub(r"_out$", "", out_var) or function
        cls = _class(function)
        rec: Dict[str, Any] = {"name": name, "class": cls, "config": cfg_name or ""}
        if targs:
            rec["input_precision"] = _precision(types, targs[0])
        if len(targs) > 1:
            rec["precision"] = _precision(types, targs[1])
        names = {**macros, **cfg}  # a field may name a macro or another field of its struct (n_chan = n_filt)
        for key in SIZE_FIELDS:
            v = c_int(cfg.get(key), names) if key in cfg else None
            if v is not None and v >= 0:  # hls4ml writes "unsigned n_filt = -1" for "none"
                rec[key] = v
        if cls.startswith(("Pooling", "GlobalPooling")):  # filt_* and n_chan repeat pool_* and n_filt there
            for key in ("filt_height", "filt_width", "n_chan"):
                rec.pop(key, None)
        strategy = cfg.get("strategy", "")
        if "resource" in strategy or function in RESOURCE_FUNCTIONS:
            rec["strategy"] = "resource"
        elif strategy or cls in ("Dense", "Conv1D", "Conv2D"):
            rec["strategy"] = "latency"
        if cls in ("Activation", "Softmax", "LeakyReLU", "ELU", "PReLU"):
            rec["activation"] = next((a for a in _ACT_NAMES if a in function), function)
        for key, field in (("accum_precision", "accum_t"), ("weight_precision", "weight_t"), ("weight_precision", "scale_t")):
            if field in cfg and key not in rec:
                rec[key] = _precision(types, cfg[field])
        # the product matrix the reuse factor divides (per pixel for convolutions); unknown sizes: not costed
        problem = None
        if cls in ("Dense", "Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
                   "SeparableConv2D"):
            problem = _kernel_sizes(rec, cfg, cls)
        if cls == "Dense":
            shape = [rec.get("n_out", 1)]
        elif "rf_n_in" in rec or "out_height" in rec or "out_width" in rec:
            shape = [rec[k] for k in ("out_height", "out_width") if k in rec] + \
                [rec.get("n_filt", rec.get("n_chan", prev_shape[-1] if prev_shape else 1))]
        elif prev_shape and (rec.get("n_in") in (None, math.prod(prev_shape))):
            shape = list(prev_shape)
        else:
            shape = [rec.get("n_in", 1)]
        rec["shape"] = shape
        if "rf_n_in" in rec:
            rec["n_weights"] = rec["rf_n_in"] * rec["rf_n_out"]
            weight_file = args[2] if len(args) > 2 and re.fullmatch(r"\w+", args[2]) else \
                "w" + re.sub(r"\D", "", cfg_name or "")
            precision = rec.get("weight_precision")
            exponent = bool(precision and precision.startswith(EXPONENT_PREFIX))
            if exponent:  # recorded as the exponent's type, as hls4ml prints it
                rec["weight_precision"] = precision = precision[len(EXPONENT_PREFIX):]
            try:
                if precision is None:
                    raise UnknownType("no weight type (weight_t) in its config struct")
                stats = _weights(found, weight_file, precision, exponent)
            except UnknownType as exc:
                problem, stats = problem or f"weight {exc}", None
            if exponent and not (stats and stats["n_weights"] == rec["n_weights"]):
                stats = {k: v for k, v in shift_weight_stats(rec["n_weights"]).items() if k != "csd_hist"}
            if stats and stats["n_weights"] == rec["n_weights"]:
                rec.update(stats)
            else:
                rec["n_nonzero_weights"] = max(0, rec["n_weights"] - rec.get("n_zeros", 0))  # hls4ml's count
        for key in ("input_precision", "precision"):
            if key in rec and precision_width(rec[key]) is None and problem is None:
                problem = f"{key.replace('_precision', '') if key != 'precision' else 'result'} type " \
                          f"{rec[key]!r} not understood"
        if problem:
            rec["not_costed"] = problem
        if not layers:
            layers.append({"name": input_name, "class": "Input", "shape": _image(rec) or [rec.get("n_in", 1)],
                           "precision": rec.get("input_precision")})
        layers.append(rec)
        prev_shape = shape
    if len(layers) < 2:
        raise InputError(f"{top}: found no hls4ml layer calls")
    _spatial_inputs(layers)
    design: Dict[str, Any] = {"name": top.stem, "io_type": io_type, "clock_period": clock, "part": part,
                              "layers": layers, "source": str(root)}
    scope = project_scope_problem(firmware, top, functions)
    if scope:
        design["out_of_scope"] = scope
    return design


def from_model(model: Any, config: Union[None, str, Path, Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Convert a Keras model with an hls4ml configuration (dict, or YAML file in hls4ml's ``convert -c``
    format: ``HLSConfig``, ``IOType``, ``ClockPeriod``, ``Part``, ``KerasH5``/``KerasModel``) in a
    temporary directory and read the records hls4ml produced (needs hls4ml: the host install)."""
    import tempfile

    import yaml

    from .layers import layer_table
    from ..model_io import load_model

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

    from ..keras_compat import hls4ml_parsing

    io_type = cfg.get("IOType", "io_parallel")
    clock = float(cfg.get("ClockPeriod", 10.0))
    # QKeras layers on Keras 3 (hls4ml's Keras 3 parser has no handlers for them); nothing else changed
    with hls4ml_parsing(), tempfile.TemporaryDirectory() as tmp:
        hls_config = cfg.get("HLSConfig") or hls4ml.utils.config_from_keras_model(model, granularity="name")
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
    if ProjectLayout.unnamed(root).meta_file.exists():
        from ..design import Design  # validates the record (an edited one is refused, as by every command)

        return Design(root).meta.to_dict()
    if ProjectLayout.unnamed(root).parameters_h.exists():
        return read_hls4ml_project(root)
    raise InputError(f"{root}: neither a project of this toolkit (fpga_accel.json) nor an hls4ml project "
                     "(firmware/parameters.h)")
