"""Is a foreign hls4ml project one the estimator describes? The calibration set's scope rule, applied to a project.

Why: the estimator's constants were fitted on designs built by hls4ml 0.5 and later as released
(``calibration.SCOPE_RULE``); a project whose kernels are older (hls4ml < 0.5: the 'large' kernels,
``nnet::dense_large`` / ``conv_2d_large_cl`` and the ``dense_latency`` calls) or changed by their author (an
``nnet_utils`` header that matches no commit of fastmachinelearning/hls4ml) builds other hardware, and a
fitted number for it is a guess. Such a project is estimated for information, but its verdict is UNCERTAIN
with the reason, never FITS (issue 23).

How a header is compared: its code without what cannot change the hardware (comments, whitespace, line ends,
prints, ``#include`` lines), hashed; ``nnet_utils_hashes.txt`` next to this file lists the hashes of every
``nnet_utils/*.h`` version in fastmachinelearning/hls4ml's history (written by
``benchmarks/estimate_accuracy_scope.py --write-hashes``). Only the headers the synthesised code includes are
checked (``#include "..."`` followed from the top function's file and ``parameters.h``); the testbench's
``nnet_helpers.h`` and the per-project ``nnet_code_gen.h`` are skipped. A project shipped without its
``nnet_utils`` is judged from its layer calls alone.
"""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import FrozenSet, Iterable, List, Optional, Sequence

__all__ = ["normalise_header", "header_hash", "known_header_hashes", "old_kernel_calls", "project_scope_problem",
           "HASHES_FILE", "SKIP_HEADERS", "OLD_HEADERS"]

log = logging.getLogger(__name__)

HASHES_FILE = Path(__file__).parent / "nnet_utils_hashes.txt"
HASH_CHARS = 16  # 64 bits of sha1: ~2,000 header versions, no collision to fear
SKIP_HEADERS = frozenset({"nnet_helpers.h", "nnet_code_gen.h"})
# headers only hls4ml < 0.5 shipped (0.5 replaced them by nnet_dense_resource.h, nnet_conv2d_resource.h, ...)
OLD_HEADERS = frozenset({"nnet_dense_large.h", "nnet_conv_large.h", "nnet_conv2d_large.h", "nnet_conv.h"})
# hls4ml < 0.5 named the kernel by strategy in the call: nnet::dense_latency, dense_large, conv_2d_large_cl, ...
_OLD_CALL = re.compile(r"(dense|conv_[12]d)_(latency|large)(_c[lf])?$")


def normalise_header(blob: bytes) -> str:
    """A header's code without what cannot change the hardware: comments, prints, whitespace, line ends,
    ``#include`` lines (one line of text per non-empty code line)."""
    s = blob.decode("latin1").replace("\r", "")
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    s = re.sub(r"//[^\n]*", "", s)
    lines = [re.sub(r"\s+", "", line) for line in s.split("\n")]
    keep = [l for l in lines if l and not l.startswith("#include") and not any(w in l for w in ("cout", "cerr", "printf"))]
    return "\n".join(keep)


def header_hash(blob: bytes) -> str:
    """The hash ``nnet_utils_hashes.txt`` lists: sha1 of :func:`normalise_header`, first ``HASH_CHARS`` digits."""
    return hashlib.sha1(normalise_header(blob).encode()).hexdigest()[:HASH_CHARS]


_KNOWN: List[FrozenSet[str]] = []


def known_header_hashes() -> FrozenSet[str]:
    """Every hash of ``nnet_utils_hashes.txt`` (read once; empty when the file is missing)."""
    if not _KNOWN:
        text = HASHES_FILE.read_text() if HASHES_FILE.exists() else ""
        _KNOWN.append(frozenset(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#")))
    return _KNOWN[0]


def old_kernel_calls(functions: Iterable[str]) -> List[str]:
    """The layer calls (nnet function names) that only hls4ml < 0.5 generated, in order, without repeats."""
    out: List[str] = []
    for f in functions:
        if _OLD_CALL.match(f) and f not in out:
            out.append(f)
    return out


def _included(firmware: Path, roots: Sequence[Path]) -> List[Path]:
    """The headers under ``firmware`` reachable through ``#include "..."`` from ``roots`` (files that exist)."""
    seen: List[Path] = []
    todo = list(roots)
    while todo:
        path = todo.pop()
        text = path.read_text(errors="replace") if path.is_file() else ""
        for name in re.findall(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', text, re.M):
            for base in (path.parent, firmware):
                cand = (base / name).resolve()
                if cand.is_file():
                    if cand not in seen and cand not in roots:
                        seen.append(cand)
                        todo.append(cand)
                    break
    return seen


def project_scope_problem(firmware: Path, top: Path, functions: Sequence[str]) -> Optional[str]:
    """Why the estimator does not describe this project (the scope rule, applied), or None when it does.

    ``firmware``: the project's firmware directory; ``top``: the file with hls4ml's layer calls;
    ``functions``: the nnet functions it calls."""
    old = old_kernel_calls(functions)
    if old:
        return (f"hls4ml older than 0.5: its layer calls ({', '.join('nnet::' + f for f in old)}) are the "
                "pre-0.5 kernels the estimator was not fitted on")
    roots = [p for p in (top, top.with_suffix(".h"), firmware / "parameters.h") if p.is_file()]
    headers = [p for p in _included(firmware, roots) if p.parent.name == "nnet_utils" and p.name not in SKIP_HEADERS]
    if not headers:
        log.info("%s: no nnet_utils headers found; judged from its layer calls only", firmware)
        return None
    old_headers = sorted(p.name for p in headers if p.name in OLD_HEADERS)
    if old_headers:
        return f"hls4ml older than 0.5: it includes {', '.join(old_headers)} (the pre-0.5 'large' kernels)"
    known = known_header_hashes()
    if not known:
        log.warning("%s missing: nnet_utils headers not checked", HASHES_FILE.name)
        return None
    foreign = sorted(p.name for p in headers if header_hash(p.read_bytes()) not in known)
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        return (f"modified nnet_utils: {shown} match{'es' if len(foreign) == 1 else ''} no commit of "
                "fastmachinelearning/hls4ml (edited by the author, from a fork, or newer than this estimator)")
    return None
