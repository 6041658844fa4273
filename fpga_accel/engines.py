"""Which engine computes a design's outputs: csim (the compiled C++, the ground truth) or the emulator
(:mod:`fpga_accel.runtime.emulator`, the same numbers in numpy, without a compiler) — and ``auto``, which
uses the emulator only once it has matched csim on the first samples of the very call.

Why a check on every call: the emulator is a second implementation of hls4ml's arithmetic. Where it
could be wrong (a layer kind or a type corner nobody has compared yet) it must never silently replace
the ground truth, so ``auto`` runs csim on the first :data:`CHECK_SAMPLES` samples and falls back to csim
for the whole call, with a warning naming the first layer that differs, if any value differs.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Optional, Tuple, TypeVar

import numpy as np

from .errors import ConfigError
from .runtime.progress import Progress, Update
from .runtime.emulator import Emulator, NotEmulated

log = logging.getLogger(__name__)

ENGINES = ("csim", "emulator", "auto")
"""Every engine there is (``Design.predict``, ``fpga-accel csim --engine``, a sweep's ``engine:``)."""
CHECK_SAMPLES = 64
"""Samples auto runs through both engines before trusting the emulator with the rest."""
AUTO_MIN_SAMPLES = 256
"""Batches of at least this many samples use auto by default (engine=None); smaller ones csim, so that the
default never makes a call slower than one csim worker. auto costs csim on the first 64 samples plus two
emulator calls (head and rest, ~0.05 ms each for a one-layer design, ~0.1 ms for the jet MLP, plus ~1 µs
per sample) and the comparison: it beats csim from 64 + overhead / (csim's cost per sample) samples.
Measured (benchmarks/crossover.py, one core, best of 5-7): the jet MLP (48 µs per sample in csim) and the
zoo's io_stream CNN (25 µs) cross at ~70-80 samples (auto 0.56-0.60x of csim at 128); the cheapest designs,
one Dense or one table activation (2-4 µs per sample), cross at ~110-128 (auto 0.86-0.89x at 128, 1.17x
at 96) — a design at 1 µs per sample would still lose at 128. At 256 every one measured takes 0.28-0.49x
of csim's time. Below 64 samples auto is csim plus the emulator on the same samples: always slower.
Re-measured 2026-12-07 at load 10-11 (best of 3), auto / csim at 96 / 128 / 256 samples: jet MLP 0.95 / 0.55 /
0.27, one Dense 1.00 / 0.83 / 0.37, one table activation 1.22 / 1.10 / 0.67, the io_stream CNN 0.06 at 256:
128 would still make the cheapest design slower, 256 does not (at load 1.3: jet 0.76 / 0.60 / 0.27, table activation
1.45 / 1.13 / 0.58). Again at load 4.5-6 after the emulator's per-call cuts (benchmarks/emulator.py, CPU time, best of
5): auto below csim from 96 samples on the jet MLP, four zoo CNNs and one Dense; a hard tanh 1.20x at 96, 0.92x at
128: 256 kept."""

__all__ = ["AUTO_MIN_SAMPLES", "CHECK_SAMPLES", "ENGINES", "check_engine", "emulator_else_csim", "resolve_engine",
           "run_engine", "settle_auto"]

T = TypeVar("T")


def check_engine(engine: object) -> str:
    """``engine`` if it is one of :data:`ENGINES`, else a ConfigError listing them."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


def resolve_engine(engine: Optional[str], n_samples: int) -> str:
    """``engine`` as given (checked), or the default for a batch of ``n_samples``."""
    if engine is None:
        return "auto" if n_samples >= AUTO_MIN_SAMPLES else "csim"
    return check_engine(engine)


def emulator_else_csim(run: Callable[[Optional[str]], T], engine: Optional[str], name: str) -> T:
    """``run(engine)`` — except that where a step asks for the emulator only to save a compile (the flow's
    csim step in a sweep), a design or batch the emulator does not cover (NotEmulated, at set-up or on
    the values) is computed by ``run("csim")`` instead, as auto does; the result's own record names the
    engine that computed it. Asked of :meth:`Design.predict` directly, engine="emulator" refuses instead."""
    if engine != "emulator":
        return run(engine)
    try:
        return run("emulator")
    except NotEmulated as exc:
        log.info("design %s: %s; running csim", name, exc.reason)
        return run("csim")


Outputs = Tuple[np.ndarray, Optional[Dict[str, np.ndarray]]]


def run_engine(engine: str, emulator: Callable[[], Emulator], csim: Callable[[np.ndarray], Outputs],
               x: np.ndarray, trace: bool, name: str, used: Optional[Callable[[str], None]] = None,
               progress: Optional[Progress] = None) -> Outputs:
    """(outputs, traces or None) of ``x`` (n, n_in) by ``engine``; ``csim(x)`` computes the ground truth.

    ``emulator`` is called for the Emulator (built lazily: it raises NotEmulated for designs it does
    not cover — an error for engine="emulator", csim for auto). ``used``, if given, is told which engine
    computed the outputs, in words (for records that must say where a number came from). ``progress``
    hears the emulator's samples as counts (csim reports its own through ``csim``)."""
    said = used or (lambda how: None)
    if engine == "csim":
        said("csim")
        return csim(x)

    def not_emulated(exc: NotEmulated, done: Optional[Outputs] = None) -> Outputs:
        """csim for the whole batch (reusing ``done``, csim's outputs of its head, when there are some)."""
        log.info("design %s: %s; running csim", name, exc.reason)
        said(f"csim (not emulated: {exc.reason})")
        return csim(x) if done is None else _csim_rest(done, csim, x)

    try:
        emu = emulator()
    except NotEmulated as exc:
        if engine == "emulator":
            raise
        return not_emulated(exc)
    if engine == "emulator":
        said("emulator")
        return _emulate(emu, x, trace, progress)
    head = min(len(x), CHECK_SAMPLES)
    ref = csim(x[:head])
    try:  # some refusals need the values (a product's bits on these weights and inputs)
        ours = _emulate(emu, x[:head], trace)
        where = _difference(ref, ours)
        if where is not None:
            log.warning("design %s: the emulator differs from csim (%s) on the first %d samples: using csim for "
                        "this call; please report it", name, where, head)
            said(f"csim (the emulator differed: {where})")
            return _csim_rest(ref, csim, x)
        if head < len(x):
            ours = _join(ours, _emulate(emu, x[head:], trace, progress, head, len(x)))
    except NotEmulated as exc:
        return not_emulated(exc, ref)
    said(f"emulator, equal to csim on the first {head} samples")
    return ours


def settle_auto(emulator: Callable[[], Emulator], csim_trace: Callable[[np.ndarray], Outputs], x: np.ndarray,
                name: str, used: Optional[Callable[[str], None]] = None) -> str:
    """auto decided once for a call that computes one batch several ways (``Design.compare``: the outputs,
    the logits, the per-layer traces of the samples that differ from Keras): "emulator" if on the first
    :data:`CHECK_SAMPLES` samples of ``x`` the emulator's outputs and every traced layer equal csim's trace,
    else "csim" (with the warning auto gives). ``used`` hears the engine in words, as for :func:`run_engine`.

    Why: run_engine's auto checks each computation on its own, so a compare paid csim on the first samples
    once per computation — a csim predict, then a csim trace of the differing samples: on the MLPerf-Tiny
    ResNet (~0.1 s per csim sample) two thirds of convert's verdict. One csim trace checks every value the
    later computations read, so the emulator is still never trusted before equalling csim on this call."""
    said = used or (lambda how: None)
    head = x[:CHECK_SAMPLES]
    try:
        emu = emulator()
        ours = _emulate(emu, head, True)
        ours_y = emu.predict(head)  # the outputs the call will read come from predict: checked as well
    except NotEmulated as exc:
        log.info("design %s: %s; running csim", name, exc.reason)
        said(f"csim (not emulated: {exc.reason})")
        return "csim"
    ref = csim_trace(head)
    where = _difference(ref, ours) or _difference((ref[0], None), (ours_y, None))
    if where is not None:
        log.warning("design %s: the emulator differs from csim (%s) on the first %d samples: using csim for "
                    "this call; please report it", name, where, len(head))
        said(f"csim (the emulator differed: {where})")
        return "csim"
    said(f"emulator, equal to csim on the first {len(head)} samples")
    return "emulator"


def _csim_rest(head: Outputs, csim: Callable[[np.ndarray], Outputs], x: np.ndarray) -> Outputs:
    """csim's outputs of the whole batch, given its outputs of the first samples."""
    n = len(head[0])
    return head if n == len(x) else _join(head, csim(x[n:]))


EMULATOR_CHUNK = 4096
"""Samples per emulator call when someone watches the progress (each sample's result is its own: the
chunks' outputs are the whole batch's, bit for bit)."""


def _emulate(emu: Emulator, x: np.ndarray, trace: bool, progress: Optional[Progress] = None,
             done: int = 0, total: Optional[int] = None) -> Outputs:
    """The emulator on ``x``; with ``progress``, in chunks, each counted (``done`` of ``total`` before)."""
    total = len(x) + done if total is None else total
    step = len(x) if progress is None else EMULATOR_CHUNK
    out: Optional[Outputs] = None
    for start in range(0, max(len(x), 1), max(step, 1)):
        chunk = x[start:start + step]
        part = emu.trace(chunk) if trace else (emu.predict(chunk), None)
        out = part if out is None else _join(out, part)
        if progress is not None:
            progress(Update("predicting", "count", done + start + len(chunk), total))
    assert out is not None
    return out


def _difference(ref: Outputs, ours: Outputs) -> Optional[str]:
    """None if equal bit for bit, else what differs (the first traced layer in the design's order)."""
    if ref[1] is not None and ours[1] is not None:
        for layer, values in ref[1].items():
            mine = ours[1].get(layer)
            if mine is None or mine.shape != values.reshape(mine.shape[0], -1).shape \
                    or not np.array_equal(mine, values.reshape(mine.shape[0], -1)):
                return f"layer {layer}"
    if not np.array_equal(ref[0], ours[0]):
        return "outputs"
    return None


def _join(a: Outputs, b: Outputs) -> Outputs:
    y = np.concatenate([a[0], b[0]])
    if a[1] is None or b[1] is None:
        return y, None
    return y, {k: np.concatenate([v.reshape(len(v), -1), b[1][k].reshape(len(b[1][k]), -1)])
               for k, v in a[1].items() if k in b[1]}
