"""Multi-input and multi-output models behind the board's one AXI DMA: one stream per direction.

hls4ml 1.3's VivadoAccelerator writer asserts one input and one output tensor. For a model with several,
convert lets that writer see only the first of each (:func:`first_ports_only`) and then writes the three
files that depend on them itself (:func:`rewrite`): ``<project>_axi.h`` (N_IN/N_OUT: the stream lengths),
``<project>_axi.cpp`` (the AXI wrapper reads N_IN words into the inputs one after another and writes the
outputs one after another into N_OUT words) and the bridge's ``<project>_float``/``_double`` (one flat
array per direction, as csim and the simulated board call them).

Stream order: Keras' ``model.inputs`` (``model.outputs``) order — hls4ml's top function takes them in
that order — each tensor flattened in C order (the order hls4ml's arrays and streams hold it).
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Sequence

from ..errors import Hls4mlChangedError
from ..layout import ProjectLayout

PORT_LINE = "// fpga_accel port"
"""``<project>_axi.h`` names each port of a multi-port design on a line ``// fpga_accel port in|out INDEX
ELEMENT_TYPE SIZE DEPTH`` (what the hls::axis wrapper of the vitis flow reads back)."""
_PORT = re.compile(r"^// fpga_accel port (in|out) (\d+) (\w+) (\d+) (\d+)$", re.M)


@dataclass(frozen=True)
class Port:
    """One tensor of the top function: its element type (an array's scalar type, or an io_stream packed
    type), its size (values per sample) and its io_stream FIFO depth."""

    direction: str
    index: int
    elem: str
    size: int
    depth: int = 1

    @property
    def local(self) -> str:
        return f"{self.direction}{self.index}_local"


def ports_of(hls_model: Any) -> List[Port]:
    """The top function's inputs then outputs, in its parameter order."""
    ports = []
    for direction, variables in (("in", hls_model.get_input_variables()), ("out", hls_model.get_output_variables())):
        for i, var in enumerate(variables):
            ports.append(Port(direction, i, str(var.type.name), int(var.size()), int(var.pragma[1])
                              if isinstance(var.pragma, tuple) else 1))
    return ports


def read_ports(axi_h_text: str) -> List[Port]:
    """The ports a multi-port ``<project>_axi.h`` records (empty for hls4ml's own single-port one)."""
    return [Port(d, int(i), e, int(n), int(depth)) for d, i, e, n, depth in _PORT.findall(axi_h_text)]


@contextlib.contextmanager
def first_ports_only() -> Iterator[None]:
    """hls4ml's VivadoAcceleratorConfig sees the first input and output only, for the duration (its
    writer asserts one of each); the files that depend on the rest are rewritten by :func:`rewrite`."""
    from hls4ml.backends.vivado_accelerator import vivado_accelerator_config as module

    cls = getattr(module, "VivadoAcceleratorConfig", None)
    original = getattr(cls, "__init__", None)
    if cls is None or original is None or original.__code__.co_varnames[1:4] != ("config", "model_inputs",
                                                                                  "model_outputs"):
        raise Hls4mlChangedError("hls4ml's VivadoAcceleratorConfig(config, model_inputs, model_outputs) is not "
                                 "where fpga_accel expects it: multi-input/output models need hls4ml 1.3")

    def init(self: Any, config: Any, model_inputs: Sequence[Any], model_outputs: Sequence[Any]) -> None:
        original(self, config, list(model_inputs)[:1], list(model_outputs)[:1])

    cls.__init__ = init
    try:
        yield
    finally:
        cls.__init__ = original


def rewrite(layout: ProjectLayout, ports: Sequence[Port], io_type: str) -> None:
    """Replace what hls4ml wrote for the first ports only by the one-stream-per-direction wrapper."""
    name = layout.project_name
    n_in = sum(p.size for p in ports if p.direction == "in")
    n_out = sum(p.size for p in ports if p.direction == "out")
    axi_h = layout.firmware / f"{name}_axi.h"
    text = axi_h.read_text()
    text, k_in = re.subn(r"static const unsigned N_IN = \d+;", f"static const unsigned N_IN = {n_in};", text)
    text, k_out = re.subn(r"static const unsigned N_OUT = \d+;", f"static const unsigned N_OUT = {n_out};", text)
    if (k_in, k_out) != (1, 1):
        raise Hls4mlChangedError(f"{axi_h} does not declare N_IN and N_OUT as hls4ml 1.3 does")
    lines = "".join(f"{PORT_LINE} {p.direction} {p.index} {p.elem} {p.size} {p.depth}\n" for p in ports)
    text = text.replace("static const unsigned N_IN", lines + "static const unsigned N_IN", 1)
    axi_h.write_text(text)
    layout.axi_cpp.write_text(axi_cpp(name, ports, io_type))
    _rewrite_bridge(layout.bridge_cpp, name)


def axi_cpp(name: str, ports: Sequence[Port], io_type: str) -> str:
    """hls4ml's AXI wrapper (same interface pragmas, casts and TLAST rule) for several ports."""
    ins = [p for p in ports if p.direction == "in"]
    outs = [p for p in ports if p.direction == "out"]
    stream = io_type == "io_stream"
    body = [f'#include "{name}_axi.h"\n',
            f"// Generated by fpga_accel (hls/multi_io.py): inputs {', '.join(str(p.size) for p in ins)} values and "
            f"outputs {', '.join(str(p.size) for p in outs)} values, one after another on each stream.",
            f"void {name}_axi(input_axi_t in[N_IN], output_axi_t out[N_OUT]) {{",
            "#pragma HLS INTERFACE axis port=in", "#pragma HLS INTERFACE axis port=out",
            "#pragma HLS INTERFACE ap_ctrl_none port=return"]
    if stream:
        body.append("#pragma HLS DATAFLOW")
    body.append("    bool is_last = false;")
    for p in ports:
        if stream:
            body += [f'    hls::stream<{p.elem}> {p.local}("{p.local}");',
                     f"#pragma HLS STREAM variable={p.local} depth={p.depth}"]
        else:
            body.append(f"    {p.elem} {p.local}[{p.size}];")
    offset = 0
    for p in ins:
        if stream:
            body += [f"    for (unsigned i = 0; i < {p.size} / {p.elem}::size; ++i) {{",
                     f"        {p.elem} ctype;",
                     "#pragma HLS DATA_PACK variable=ctype",
                     f"        for (unsigned j = 0; j < {p.elem}::size; j++) {{",
                     f"            ctype[j] = typename {p.elem}::value_type(in[{offset} + i * {p.elem}::size + j].data);",
                     f"            is_last |= (in[{offset} + i * {p.elem}::size + j].last == 1) ? true : false;",
                     "        }", f"        {p.local}.write(ctype);", "    }"]
        else:
            body += [f"    for (unsigned i = 0; i < {p.size}; i++) {{", "#pragma HLS PIPELINE",
                     f"        {p.local}[i] = in[{offset} + i].data; // Read input with cast",
                     f"        is_last |= (in[{offset} + i].last == 1) ? true : false;", "    }"]
        offset += p.size
    body.append(f"    {name}({', '.join(p.local for p in ports)});")
    offset = 0
    for p in outs:
        if stream:
            body += [f"    for (unsigned i = 0; i < {p.size} / {p.elem}::size; ++i) {{",
                     f"        {p.elem} ctype = {p.local}.read();",
                     f"        for (unsigned j = 0; j < {p.elem}::size; j++) {{",
                     f"            bool last = (is_last && ({offset} + i * {p.elem}::size + j == N_OUT - 1)) ? true : false;",
                     f"            out[{offset} + i * {p.elem}::size + j] = output_axi_t(ctype[j], last);",
                     "        }", "    }"]
        else:
            body += [f"    for (unsigned i = 0; i < {p.size}; i++) {{", "#pragma HLS PIPELINE",
                     f"        out[{offset} + i].data = {p.local}[i]; // Write output with cast",
                     f"        out[{offset} + i].last = (is_last && ({offset} + i == N_OUT - 1)) ? true : false;", "    }"]
        offset += p.size
    body.append("}\n")
    return "\n".join(body)


_WRAPPERS = re.compile(r"// Wrapper of top level function for Python bridge\n.*?\n}\n(?=\s*}\s*\n\s*#endif)", re.S)


def _rewrite_bridge(bridge: Path, name: str) -> None:
    """The bridge's float/double entries take one flat array per direction and call the AXI wrapper, as
    hls4ml's single-port VivadoAccelerator bridge does."""
    text = bridge.read_text()
    text, k_inc = re.subn(rf'#include "firmware/{re.escape(name)}(_axi)?\.h"', f'#include "firmware/{name}_axi.h"', text)
    entries = "// Wrapper of top level function for Python bridge (one stream per direction: fpga_accel)\n" + "\n".join(
        f"void {name}_{t}({t} in[N_IN], {t} out[N_OUT]) {{\n"
        f"    input_axi_t in_ap[N_IN];\n"
        f"    nnet::convert_data<{t}, input_axi_t, N_IN>(in, in_ap);\n"
        f"    output_axi_t out_ap[N_OUT];\n"
        f"    {name}_axi(in_ap, out_ap);\n"
        f"    nnet::convert_data<output_axi_t, {t}, N_OUT>(out_ap, out);\n"
        "}\n" for t in ("float", "double"))
    text, k_fn = _WRAPPERS.subn(lambda _: entries, text)
    if (k_inc, k_fn) != (1, 1):
        raise Hls4mlChangedError(f"{bridge} is not hls4ml 1.3's bridge (its include and float/double entries "
                                 "were not found): multi-input/output models need hls4ml 1.3")
    bridge.write_text(text)


__all__ = ["PORT_LINE", "Port", "axi_cpp", "first_ports_only", "ports_of", "read_ports", "rewrite"]
