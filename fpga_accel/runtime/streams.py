"""How several inputs (outputs) share the design's one DMA stream per direction.

The board has one AXI DMA: a multi-input model receives its inputs one after another on the input stream,
in the order of Keras' ``model.inputs``, each flattened in C order; a multi-output model sends its outputs
the same way, in the order of ``model.outputs``. The manifest records that order (``inputs``/``outputs``:
name and shape per tensor); a single-input, single-output design records nothing and is one flat tensor.
numpy only: this runs on the board.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from ..errors import InputError
from ..layout import stream_length
from .validate import check_input

__all__ = ["pack_inputs", "split_stream", "stream_length"]


def pack_inputs(xs: Any, tensors: Sequence[Dict[str, Any]]) -> np.ndarray:
    """``[x1, x2, ...]`` (one batch per input, in the manifest's order) as the stream carries them:
    float32 of shape (n, stream_length), each input checked like a single one first."""
    if not isinstance(xs, (list, tuple)) or len(xs) != len(tensors):
        names = ", ".join(t["name"] for t in tensors)
        raise InputError(f"the design takes {len(tensors)} inputs as a list [{names}] (Keras' model.inputs order), "
                         f"got {type(xs).__name__}" + (f" of {len(xs)}" if isinstance(xs, (list, tuple)) else ""))
    flats: List[np.ndarray] = []
    for x, t in zip(xs, tensors):
        try:
            flats.append(check_input(x, t["shape"]))
        except InputError as exc:
            raise InputError(f"input {t['name']!r}: {exc}") from None
    sizes = {len(f) for f in flats}
    if len(sizes) != 1:
        raise InputError(f"the inputs have different batch sizes {[len(f) for f in flats]}: one sample is one row of each")
    return np.ascontiguousarray(np.concatenate(flats, axis=1))


def split_stream(y: np.ndarray, tensors: Sequence[Dict[str, Any]]) -> List[np.ndarray]:
    """A stream's values (n, stream_length) as one array per tensor, shaped (n,) + its shape, in order:
    the outputs a design sent, or the inputs a bundle's test vectors hold packed."""
    flat = np.reshape(y, (len(y), -1))
    if flat.shape[1] != stream_length(tensors):
        raise InputError(f"{flat.shape[1]} values per sample are not the stream of {[t['name'] for t in tensors]} "
                         f"({stream_length(tensors)} values)")
    out, start = [], 0
    for t in tensors:
        size = int(np.prod(t["shape"]))
        out.append(flat[:, start:start + size].reshape((len(flat),) + tuple(t["shape"])))
        start += size
    return out
