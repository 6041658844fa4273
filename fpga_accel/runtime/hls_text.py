"""Reading the C++ hls4ml writes (``parameters.h``, ``defines.h``) as text, never as code.

Why one module: the emulator (runtime) and the estimator's reader of foreign projects (analysis) both need
the layer config structs and the typedef chains of a generated project; two regex dialects for one file
format drift apart (one of them once skipped ``constexpr`` members and structs without an ``nnet::`` base).
It lives in runtime because runtime imports no other part of fpga_accel and analysis may import runtime.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

MAX_DEPTH = 16  # typedef chains and name references followed at most this deep (a cycle is not a value)


_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b|([A-Za-z_]\w*)|(.))")


def _tokens(text: str) -> Optional[List[Tuple[str, Any]]]:
    out: List[Tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        if m.group(1):
            out.append(("num", int(m.group(1), 16) if m.group(1)[:2].lower() == "0x" else int(m.group(1), 10)))
        elif m.group(2):
            out.append(("name", m.group(2)))
        elif m.group(3) in "+-*/%()":
            out.append(("op", m.group(3)))
        elif m.group(3).strip():
            return None  # any other character: not a constant expression this parser knows
    return out


def c_int(text: Optional[str], names: Optional[Mapping[str, str]] = None, depth: int = 0) -> Optional[int]:
    """The value of a C integer constant expression, or None when it is anything else.

    Knows integer literals (decimal, hex; ``U``/``L`` suffixes), ``+ - * / %`` (C's truncating division),
    unary ``+``/``-``, parentheses, and names looked up in ``names`` (``#define`` macros and the struct's own
    fields; their text is parsed the same way, at most :data:`MAX_DEPTH` deep). Never evaluates Python or
    calls anything: a project's ``parameters.h`` is data from someone else."""
    if text is None or depth > MAX_DEPTH:
        return None
    tokens = _tokens(str(text))
    if not tokens:
        return None
    names = names or {}
    pos = 0

    def peek() -> Optional[Tuple[str, Any]]:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> Tuple[str, Any]:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary() -> Optional[int]:
        tok = peek()
        if tok is None:
            return None
        take()
        if tok == ("op", "("):
            value = additive()
            return value if value is not None and peek() == ("op", ")") and take() else None
        if tok in (("op", "-"), ("op", "+")):
            value = primary()
            return None if value is None else (-value if tok[1] == "-" else value)
        if tok[0] == "num":
            return tok[1]
        if tok[0] == "name" and tok[1] in names:
            return c_int(names[tok[1]], names, depth + 1)
        return None

    def term() -> Optional[int]:
        value = primary()
        while value is not None and peek() in (("op", "*"), ("op", "/"), ("op", "%")):
            op = take()[1]
            right = primary()
            if right is None or (op != "*" and right == 0):
                return None
            if op == "*":
                value *= right
            else:
                quotient = abs(value) // abs(right) * (1 if (value >= 0) == (right >= 0) else -1)
                value = quotient if op == "/" else value - quotient * right
        return value

    def additive() -> Optional[int]:
        value = term()
        while value is not None and peek() in (("op", "+"), ("op", "-")):
            op = take()[1]
            right = term()
            if right is None:
                return None
            value = value + right if op == "+" else value - right
        return value

    result = additive()
    return result if pos == len(tokens) else None


def follow_typedefs(raw: Mapping[str, str], depth: int = MAX_DEPTH) -> Dict[str, str]:
    """name -> the body at the end of its typedef chain (``model_default_t`` -> ``ap_fixed<16,6>``); a name
    whose chain loops or ends in an unknown name keeps the last body reached."""
    out: Dict[str, str] = {}
    for name, body in raw.items():
        for _ in range(depth):
            if body not in raw or body == name:
                break
            body = raw[body]
        out[name] = body
    return out


def config_structs(text: str) -> Dict[str, Dict[str, str]]:
    """config struct name -> {field: value as written}: ``static const``/``constexpr`` members, member
    typedefs, ``using`` templates (their template's name) and static members defined outside the struct."""
    out: Dict[str, Dict[str, str]] = {}
    for m in re.finditer(r"struct\s+(\w+)\s*(?::\s*nnet::\w+\s*)?\{(.*?)\n\};", text, re.S):
        fields: Dict[str, str] = {}
        for f in re.finditer(r"static\s+(?:const|constexpr)\s+[\w:]+(?:\s+\w+)?\s+(\w+)\s*=\s*([^;]+);", m.group(2)):
            fields[f.group(1)] = f.group(2).strip()
        for f in re.finditer(r"typedef\s+([\w:<>, ]+?)\s+(\w+)\s*;", m.group(2)):
            fields[f.group(2)] = f.group(1).strip()
        for f in re.finditer(r"using\s+(\w+)\s*=\s*([\w:]+)\s*<", m.group(2)):
            fields[f.group(1)] = f.group(2)
        out[m.group(1)] = fields
    for m in re.finditer(r"^const\s+\w+\s+(\w+)::(\w+)\s*=\s*([^;{]+);", text, re.M):  # static members defined outside
        out.setdefault(m.group(1), {})[m.group(2)] = m.group(3).strip()
    return out


__all__ = ["MAX_DEPTH", "c_int", "config_structs", "follow_typedefs"]
