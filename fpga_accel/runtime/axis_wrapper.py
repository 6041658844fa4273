"""The ``hls::axis`` AXI-stream wrapper the Vitis flow synthesises, and csim compiles, around a design.

Vitis HLS emits TLAST only for ``hls::axis``/``ap_axiu`` stream elements; hls4ml's VivadoAccelerator
wrapper streams a packed struct with a ``last`` field, which Vitis turns into a stream *without* TLAST
(PYNQ's DMA receive then never completes, hls4ml #1244). This wrapper keeps hls4ml's word format and
TLAST rule — TDATA is the AXI type of ``<project>_axi.h`` (float32: the IEEE word the runtime codec
writes), TLAST is set on the last output word of a sample in which an input TLAST arrived — so a DMA
transfer of a batch ends exactly where it does with the 2020.1 flow.

One generator, two users: the vitis build stage writes :func:`generate`'s text into the HLS project and
csim_build compiles the same text into every csim library (``fpga_accel_axis_run``), so the simulated
board exercises the TLAST logic the bitstream has. Reads only the hls4ml project's own files, so a
bundle (firmware/ without fpga_accel.json) works too. Light on purpose: the board runtime imports it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from ..errors import ConfigError
from ..layout import ProjectLayout

AXI, AXIS = "axi", "axis"
"""The two AXI-stream wrappers a bitstream can have, as a build records them (``build: {wrapper: ...}``):
hls4ml's own (IP ``<project>_axi``) or this one (IP ``<project>_axis``)."""

HEADERS = Path(__file__).with_name("hls_csim")
"""``ap_axi_sdata.h`` for g++: put after hls4ml's ap_types; Vitis HLS uses its own."""

WORD_TYPES = {"float": 32}
"""AXI data types of ``<project>_axi.h`` the wrapper streams, with their TDATA width in bits. hls4ml's
fixed-point AXI types would change TDATA to W bits padded to bytes, not the codec's 32-bit words."""

_N = re.compile(r"static\s+const\s+unsigned\s+(N_IN|N_OUT)\s*=\s*(\d+)\s*;")
_T = re.compile(r"typedef\s+(.+?)\s+(T_in|T_out)\s*;")


@dataclass(frozen=True)
class AxisWrapper:
    """What the wrapper depends on; :meth:`source` is the C++ text."""

    project_name: str
    io_type: str
    """io_parallel (the top takes arrays) or io_stream (hls::stream of packed elements)."""
    n_in: int
    n_out: int
    data_in: str = "float"
    data_out: str = "float"
    elem_in: str = "input_t"
    elem_out: str = "result_t"
    """The top's element types: hls4ml names them after the layer that makes them (``input_t`` and
    ``result_t`` usually; ``flatten_result_t`` when a Flatten or Reshape right after the input becomes the
    input itself), so they are read from its prototype."""
    ports: Tuple[Tuple[str, str, int, int], ...] = ()
    """A multi-input/output design's tensors in stream order: (in|out, element type, size, io_stream
    depth), as ``<project>_axi.h`` records them (``fpga_accel.hls.multi_io``); empty for one of each."""

    @property
    def top(self) -> str:
        """The HLS top function and so the IP's name (``xilinx.com:hls:<top>:1.0``)."""
        return f"{self.project_name}_axis"

    @property
    def file_name(self) -> str:
        return f"{self.top}.cpp"

    @property
    def tdata_bits(self) -> Tuple[int, int]:
        """(input, output) TDATA widths: what the DMA's MM2S and S2MM stream widths must be."""
        return WORD_TYPES[self.data_in], WORD_TYPES[self.data_out]

    @classmethod
    def for_layout(cls, layout: ProjectLayout) -> "AxisWrapper":
        """From hls4ml's ``<project>_axi.h`` (sizes, AXI data types) and ``<project>.h`` (io type)."""
        axi_h, top_h = layout.axi_h, layout.top_h
        try:
            axi, top = axi_h.read_text(), top_h.read_text()
        except OSError as exc:
            raise ConfigError(f"{layout.root} lacks hls4ml's {exc.filename}: re-convert the project") from None
        sizes = dict((k, int(v)) for k, v in _N.findall(axi))
        types = dict((k, v.strip()) for v, k in _T.findall(axi))
        if set(sizes) != {"N_IN", "N_OUT"} or set(types) != {"T_in", "T_out"}:
            raise ConfigError(f"{axi_h} does not declare N_IN, N_OUT, T_in and T_out as hls4ml's "
                              "VivadoAccelerator writer does: re-convert the project")
        for name in ("T_in", "T_out"):
            if types[name] not in WORD_TYPES:
                raise ConfigError(f"{axi_h}: {name} is {types[name]}; the hls::axis wrapper streams "
                                  f"{', '.join(WORD_TYPES)} words (what convert gives every design)")
        stream = re.search(rf"void\s+{layout.project_name}\s*\(\s*hls::stream<", top) is not None
        elems = _top_element_types(top, layout.project_name, top_h)
        ports = tuple((d, e, int(n), int(depth)) for d, _, e, n, depth in _PORT.findall(axi))
        return cls(layout.project_name, "io_stream" if stream else "io_parallel", sizes["N_IN"], sizes["N_OUT"],
                   types["T_in"], types["T_out"], *elems, ports=ports)

    def source(self) -> str:
        if self.ports:
            return self._fill(_HEAD + _DECLS) + _multi_port(self)
        body = _STREAM if self.io_type == "io_stream" else _PARALLEL
        return self._fill(_HEAD + _DECLS + body)

    def testbench(self) -> str:
        """A C testbench for Vitis' csim/cosim: two samples, the second ending in TLAST; exit status 1
        unless TLAST is on exactly the last output word (the first sample's outputs carry none)."""
        return self._fill(_TB_HEAD + _DECLS + _TESTBENCH)

    def _fill(self, template: str) -> str:
        return template.format(p=self.project_name, top=self.top, n_in=self.n_in, n_out=self.n_out,
                               t_in=self.data_in, t_out=self.data_out, last_out=self.n_out - 1,
                               e_in=self.elem_in, e_out=self.elem_out)


_PORT = re.compile(r"^// fpga_accel port (in|out) (\d+) (\w+) (\d+) (\d+)$", re.M)
"""A port line of a multi-port ``<project>_axi.h`` (written by ``fpga_accel.hls.multi_io``)."""


def _multi_port(w: AxisWrapper) -> str:
    """The wrapper for several inputs/outputs: the words of one sample fill the inputs one after another
    (and the outputs fill the words), in the top function's parameter order; TLAST as for one port."""
    top, stream = w.top, w.io_type == "io_stream"
    ports = [(d, f"{d}{i}_local", e, n, depth) for i, (d, e, n, depth) in enumerate(w.ports)]
    ins = [p for p in ports if p[0] == "in"]
    outs = [p for p in ports if p[0] == "out"]
    lines = [f"void {top}(hls::stream<{top}_in_t> &in_stream, hls::stream<{top}_out_t> &out_stream) {{",
             "#pragma HLS INTERFACE mode=axis port=in_stream", "#pragma HLS INTERFACE mode=axis port=out_stream",
             "#pragma HLS INTERFACE mode=ap_ctrl_none port=return", "    bool is_last = false;"]
    for _, local, elem, size, depth in ports:
        lines += ([f'    hls::stream<{elem}> {local}("{local}");', f"#pragma HLS STREAM variable={local} depth={depth}"]
                  if stream else [f"    {elem} {local}[{size}];"])
    for _, local, elem, size, _ in ins:
        if stream:
            lines += [f"    for (unsigned i = 0; i < {size} / {elem}::size; i++) {{", f"        {elem} packed;",
                      f"        for (unsigned j = 0; j < {elem}::size; j++) {{", "#pragma HLS PIPELINE",
                      f"            {top}_in_t word = in_stream.read();",
                      f"            packed[j] = typename {elem}::value_type(word.data); // the cast hls4ml's wrapper makes",
                      "            is_last |= word.last == 1;", "        }", f"        {local}.write(packed);", "    }"]
        else:
            lines += [f"    for (unsigned i = 0; i < {size}; i++) {{", "#pragma HLS PIPELINE",
                      f"        {top}_in_t word = in_stream.read();",
                      f"        {local}[i] = word.data; // the cast hls4ml's wrapper makes",
                      "        is_last |= word.last == 1;", "    }"]
    lines.append(f"    {w.project_name}({', '.join(p[1] for p in ports)});")
    offset = 0
    for _, local, elem, size, _ in outs:
        if stream:
            lines += [f"    for (unsigned i = 0; i < {size} / {elem}::size; i++) {{", f"        {elem} packed = {local}.read();",
                      f"        for (unsigned j = 0; j < {elem}::size; j++) {{", "#pragma HLS PIPELINE",
                      f"            {top}_out_t word;", "            word.data = packed[j];",
                      "            word.keep = -1;", "            word.strb = -1;",
                      f"            word.last = is_last && {offset} + i * {elem}::size + j == {w.n_out - 1}; // TLAST ends the DMA transfer",
                      "            out_stream.write(word);", "        }", "    }"]
        else:
            lines += [f"    for (unsigned i = 0; i < {size}; i++) {{", "#pragma HLS PIPELINE",
                      f"        {top}_out_t word;", f"        word.data = {local}[i];",
                      "        word.keep = -1;", "        word.strb = -1;",
                      f"        word.last = is_last && {offset} + i == {w.n_out - 1}; // TLAST ends the DMA transfer",
                      "        out_stream.write(word);", "    }"]
        offset += size
    lines.append("}\n")
    return "\n".join(lines)


def _top_element_types(header: str, project_name: str, where: object) -> Tuple[str, str]:
    """(input, output) element type of hls4ml's top function, from its prototype in ``<project>.h``
    (``where``, named in the error). A prototype it cannot read is refused: guessing ``input_t``/``result_t``
    wrote a wrapper that Vitis HLS fails to compile an hour into the build (or one that streams the wrong
    type) for a top whose input is a Flatten's ``flatten_result_t``."""
    found = re.search(rf"void\s+{project_name}\s*\(([^)]*)\)", header)
    params = [p.strip() for p in found.group(1).split(",")] if found else []
    names = []
    for param in params[:2]:
        inner = re.match(r"hls::stream<\s*(\w+)\s*>", param)
        names.append(inner.group(1) if inner else param.split()[0] if param else "")
    if len(names) != 2 or not all(re.fullmatch(r"\w+", n) for n in names):
        raise ConfigError(f"{where} does not declare the top function as hls4ml's writer does "
                          f"('void {project_name}(<input type> ..., <output type> ...)'): cannot write the "
                          "hls::axis wrapper; re-convert the project")
    return names[0], names[1]


_HEAD = """\
// {top}: AXI-stream wrapper of {p} with hls::axis ports, so Vitis HLS emits TLAST.
// Generated by fpga_accel (runtime/axis_wrapper.py); synthesised by the vitis build flow and compiled
// as is into csim, which drives it word by word as PYNQ's AXI DMA does.
"""

_TB_HEAD = """\
// Testbench of {top} for Vitis HLS csim/cosim (generated by fpga_accel): exit status 0 only if TLAST
// is set on exactly the last output word of a transfer of two samples.
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>

namespace nnet {{ // hls4ml's trace hooks are defined by the testbench (as in its own <project>_test.cpp)
bool trace_enabled = false;
std::map<std::string, void *> *trace_outputs = NULL;
size_t trace_type_size = sizeof(double);
}} // namespace nnet

"""

_DECLS = """\
#include "ap_axi_sdata.h"
#include "hls_stream.h"
#include "{p}.h"

typedef hls::axis<{t_in}, 0, 0, 0> {top}_in_t;   // TDATA: the runtime codec's {t_in} word
typedef hls::axis<{t_out}, 0, 0, 0> {top}_out_t;

"""

_PARALLEL = """\
void {top}(hls::stream<{top}_in_t> &in_stream, hls::stream<{top}_out_t> &out_stream) {{
#pragma HLS INTERFACE mode=axis port=in_stream
#pragma HLS INTERFACE mode=axis port=out_stream
#pragma HLS INTERFACE mode=ap_ctrl_none port=return

    bool is_last = false;
    {e_in} in_local[{n_in}];
    {e_out} out_local[{n_out}];

read_input:
    for (unsigned i = 0; i < {n_in}; i++) {{
#pragma HLS PIPELINE
        {top}_in_t word = in_stream.read();
        in_local[i] = word.data; // the cast hls4ml's wrapper makes
        is_last |= word.last == 1;
    }}

    {p}(in_local, out_local);

write_output:
    for (unsigned i = 0; i < {n_out}; i++) {{
#pragma HLS PIPELINE
        {top}_out_t word;
        word.data = out_local[i];
        word.keep = -1;
        word.strb = -1;
        word.last = is_last && i == {last_out}; // TLAST ends the DMA transfer
        out_stream.write(word);
    }}
}}
"""

_STREAM = """\
static void {top}_read(hls::stream<{top}_in_t> &in_stream, hls::stream<{e_in}> &in_local,
                       hls::stream<bool> &is_last_out) {{
    bool is_last = false;
read_input:
    for (unsigned i = 0; i < {n_in} / {e_in}::size; i++) {{
        {e_in} packed;
        for (unsigned j = 0; j < {e_in}::size; j++) {{
#pragma HLS PIPELINE
            {top}_in_t word = in_stream.read();
            packed[j] = typename {e_in}::value_type(word.data); // the cast hls4ml's wrapper makes
            is_last |= word.last == 1;
        }}
        in_local.write(packed);
    }}
    is_last_out.write(is_last);
}}

static void {top}_write(hls::stream<{e_out}> &out_local, hls::stream<bool> &is_last_in,
                        hls::stream<{top}_out_t> &out_stream) {{
    bool is_last = is_last_in.read();
write_output:
    for (unsigned i = 0; i < {n_out} / {e_out}::size; i++) {{
        {e_out} packed = out_local.read();
        for (unsigned j = 0; j < {e_out}::size; j++) {{
#pragma HLS PIPELINE
            {top}_out_t word;
            word.data = packed[j];
            word.keep = -1;
            word.strb = -1;
            word.last = is_last && i * {e_out}::size + j == {last_out}; // TLAST ends the DMA transfer
            out_stream.write(word);
        }}
    }}
}}

void {top}(hls::stream<{top}_in_t> &in_stream, hls::stream<{top}_out_t> &out_stream) {{
#pragma HLS INTERFACE mode=axis port=in_stream
#pragma HLS INTERFACE mode=axis port=out_stream
#pragma HLS INTERFACE mode=ap_ctrl_none port=return
#pragma HLS DATAFLOW

    hls::stream<{e_in}> in_local("in_local");
    hls::stream<{e_out}> out_local("out_local");
    hls::stream<bool> is_last("is_last"); // a scalar crossing dataflow processes travels as a stream
#pragma HLS STREAM variable=in_local depth={n_in}
#pragma HLS STREAM variable=out_local depth={n_out}
#pragma HLS STREAM variable=is_last depth=2

    {top}_read(in_stream, in_local, is_last);
    {p}(in_local, out_local);
    {top}_write(out_local, is_last, out_stream);
}}
"""

_TESTBENCH = """\
void {top}(hls::stream<{top}_in_t> &in_stream, hls::stream<{top}_out_t> &out_stream);

int main() {{
    hls::stream<{top}_in_t> in_stream;
    hls::stream<{top}_out_t> out_stream;
    int errors = 0;
    for (unsigned sample = 0; sample < 2; sample++) {{
        for (unsigned i = 0; i < {n_in}; i++) {{
            {top}_in_t word;
            word.data = 0;
            word.keep = -1;
            word.strb = -1;
            word.last = sample == 1 && i == {n_in} - 1;
            in_stream.write(word);
        }}
        {top}(in_stream, out_stream);
        for (unsigned j = 0; j < {n_out}; j++) {{
            {top}_out_t word = out_stream.read();
            bool expected = sample == 1 && j == {n_out} - 1;
            if ((word.last == 1) != expected) {{
                std::printf("ERROR: sample %u word %u: TLAST %d, expected %d\\n", sample, j, (int)word.last, (int)expected);
                errors++;
            }}
        }}
    }}
    if (!out_stream.empty()) {{
        std::printf("ERROR: {top} wrote more than {n_out} words per sample\\n");
        errors++;
    }}
    std::printf("%s: TLAST %s\\n", "{top}", errors ? "WRONG" : "on the last word only");
    return errors ? 1 : 0;
}}
"""
