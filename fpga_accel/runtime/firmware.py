"""Read what an hls4ml project's C++ computes, as data: the layer calls of ``firmware/<project>.cpp`` in
order (function, template types, variables, layer name), the types of ``defines.h``, the config structs of
``parameters.h`` and the weights of ``firmware/weights/*.txt``.

Why: the emulator (:mod:`fpga_accel.runtime.emulator`) recomputes a design from exactly the files g++
compiles — never from the Keras model — so it sees the types, weight layouts (transposed for the Resource
strategy), table sizes and padding layers hls4ml wrote. A project is data: sizes are integer expressions
evaluated by a small parser (literals, ``+ - *``, parentheses and fields of the same struct), nothing is
ever run. Numpy only, Python 3.8 syntax: this module runs on the board.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import ConfigError
from ..layout import ProjectLayout
from .fixed_point import FixedType
from .hls_text import c_int, config_structs, follow_typedefs

__all__ = ["Call", "Firmware", "read_firmware"]

_FIXED = re.compile(r"ap_(u?)fixed<\s*(\d+)\s*,\s*([-+]?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?(?:,\s*(\d+)\s*)?>")
_INT = re.compile(r"ap_(u?)int<\s*(\d+)\s*>")
_ARRAY = re.compile(r"nnet::array<\s*(.+?)\s*,\s*[\d*\s]+>$")
_CALL = re.compile(r"nnet::(\w+)\s*<([^;]*?)>\s*\(([^;]*)\)\s*;[ \t]*(?://[ \t]*(\S+))?")
_TRACE = re.compile(r"nnet::save_layer_output\s*<[^>]*>\s*\(\s*(\w+)\s*,\s*\"([^\"]+)\"")
_SKIP = ("load_weights_from_txt", "save_layer_output")


def parse_type(text: str) -> Optional[FixedType]:
    """An HLS scalar type (ap_fixed/ap_ufixed/ap_int/ap_uint, or nnet::array of one) as a FixedType;
    None for anything else (float, exponent structs)."""
    text = text.strip()
    m = _ARRAY.match(text)
    if m:
        text = m.group(1)
    m = _FIXED.fullmatch(text)
    if m:
        return FixedType.parse(text)
    m = _INT.fullmatch(text)
    if m:
        width = int(m.group(2))
        return FixedType(width, width, m.group(1) != "u")
    return None


@dataclass(frozen=True)
class Call:
    """One ``nnet::function<template args>(args); // layer`` line of the top function."""

    function: str
    targs: Tuple[str, ...]
    args: Tuple[str, ...]
    layer: str


@dataclass
class Firmware:
    """An hls4ml project's firmware as data (see module docstring)."""

    root: Path
    name: str
    io_type: str
    types: Dict[str, str]
    """typedef name -> the C++ type it stands for (typedefs of typedefs followed)."""
    structs: Dict[str, Dict[str, str]]
    calls: List[Call]
    variables: Dict[str, str]
    """variable -> its declared type name (arrays, streams, the top function's parameters)."""
    aliases: Dict[str, str]
    """``auto& a = b;``: a -> b."""
    input_var: str
    output_var: str
    traced: Dict[str, str] = field(default_factory=dict)
    """layer name -> the variable its trace hook saves."""

    _resolved: Dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    """resolve()'s answers (the emulator asks on every call, once per layer)."""

    def resolve(self, var: str) -> str:
        known = self._resolved.get(var)
        if known is None:
            known = self._resolved[var] = self._follow(var)
        return known

    def _follow(self, var: str) -> str:
        for _ in range(64):
            if var not in self.aliases:
                return var
            var = self.aliases[var]
        raise ConfigError(f"{self.root}: variable aliases of {var!r} form a cycle")

    def type_of(self, name: str) -> Optional[FixedType]:
        """The scalar fixed type of a typedef name (or a literal C++ type)."""
        return parse_type(self.types.get(name, name))

    def var_type(self, var: str) -> Optional[FixedType]:
        declared = self.variables.get(var) or self.variables.get(self.resolve(var))
        return None if declared is None else self.type_of(declared)

    def field(self, struct: str, key: str) -> Optional[str]:
        return self.structs.get(struct, {}).get(key)

    def int_field(self, struct: str, key: str, default: Optional[int] = None) -> Optional[int]:
        fields = self.structs.get(struct, {})
        value = c_int(fields.get(key), fields)
        return default if value is None else value

    def weights(self, name: str) -> np.ndarray:
        """The values of firmware/weights/<name>.txt (what load_weights_from_txt reads), float64."""
        path = ProjectLayout(self.root, self.name).weights / f"{name}.txt"
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}; re-convert the project") from None
        line = text.split("\n", 1)[0]
        try:
            return np.array([float(tok) for tok in line.split(",") if tok.strip()], dtype=np.float64)
        except ValueError:
            raise ConfigError(f"{path} holds something other than numbers; re-convert the project") from None


def _typedefs(*texts: str) -> Dict[str, str]:
    raw: Dict[str, str] = {}
    for text in texts:
        for m in re.finditer(r"^\s*typedef\s+(.+?)\s+(\w+)\s*;", text, re.M):
            raw[m.group(2)] = m.group(1).strip()
    return follow_typedefs(raw)


def read_firmware(root: "str | Path", project_name: str, io_type: str) -> Firmware:
    """Parse a project written by convert (see module docstring)."""
    root = Path(root)
    layout = ProjectLayout(root, project_name)
    try:
        top = layout.top_cpp.read_text()
        defines = layout.defines_h.read_text()
        params = layout.parameters_h.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the firmware of {root}: {exc.strerror or exc}; re-convert the project") from None
    sig = re.search(rf"\bvoid\s+{re.escape(project_name)}\s*\((.*?)\)\s*\{{", top, re.S)
    if not sig:
        raise ConfigError(f"{layout.top_cpp}: no top function {project_name}(); re-convert the project")
    params_text = sig.group(1)
    variables: Dict[str, str] = {}
    ports = []
    for m in re.finditer(r"(?:hls::stream<\s*(\w+)\s*>\s*&\s*(\w+)|(\w+)\s+(\w+)\s*\[)", params_text):
        var, typ = (m.group(2), m.group(1)) if m.group(2) else (m.group(4), m.group(3))
        variables[var] = typ
        ports.append(var)
    if len(ports) != 2:
        raise ConfigError(f"{project_name}(): expected one input and one output port, found {ports}")
    body = top[top.index("insert layers"):] if "insert layers" in top else top[sig.end():]
    for m in re.finditer(r"^\s*(\w+)\s+(\w+)\s*\[[^\]]*\]\s*;", body, re.M):
        variables[m.group(2)] = m.group(1)
    for m in re.finditer(r"hls::stream<\s*(\w+)\s*>\s+(\w+)\s*\(", body):
        variables[m.group(2)] = m.group(1)
    aliases = {m.group(1): m.group(2) for m in re.finditer(r"auto\s*&\s*(\w+)\s*=\s*(\w+)\s*;", body)}
    calls = []
    for m in _CALL.finditer(body):
        if m.group(1) in _SKIP:
            continue
        targs = tuple(a.strip() for a in _split(m.group(2)))
        args = tuple(a.strip() for a in _split(m.group(3)))
        calls.append(Call(m.group(1), targs, args, m.group(4) or args[-1]))
    traced = {name: var for var, name in _TRACE.findall(body)}
    io = "io_stream" if "nnet::io_stream" in params else io_type
    return Firmware(root, project_name, io, _typedefs(defines, params), config_structs(params), calls, variables,
                    aliases, ports[0], ports[1], traced)


def _split(text: str) -> List[str]:
    """Split at top-level commas (template arguments may hold commas inside <>)."""
    out, depth, cur = [], 0, ""
    for c in text:
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur)
    return out
