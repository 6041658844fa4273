"""A vectorised emulator of a converted design: what the HLS C++ computes, bit for bit, without a compiler.

Why: csim is the ground truth, but a cold compile costs seconds and one worker runs a sample in 75-450 µs.
Everything the C++ computes is in the project's files: the layer calls, types and table sizes of
``firmware/`` (read by :mod:`fpga_accel.runtime.firmware`) and the weights hls4ml wrote. The emulator
recomputes each layer on a whole batch with numpy:

- products and sums exactly: values sit on their type's grid, so ``x·2^Fx`` and ``w·2^Fw`` are integers and
  float64 matrix products are exact while every partial sum stays below 2^53 (checked from the weights'
  magnitudes); int64 and then Python integers beyond that;
- each result cast with its type's rounding and overflow mode, as ``ap_fixed`` does (a fast path for the
  common modes, :class:`~fpga_accel.runtime.fixed_point.FixedType` for the rest). Where hls4ml's
  accumulator rounds or saturates at each addition (types given by hand, not derived), the sum is taken in
  the C++ loop's order, one addition at a time;
- tables (sigmoid, tanh, softplus, softsign, elu, softmax) built as hls4ml's ``init_*_table`` builds them — same sizes, same float32
  arithmetic, same indexing.

A layer kind, product kind or type it does not reproduce exactly raises :class:`NotEmulated` naming the
layer — never an approximate number. io_parallel and io_stream compute the same values; the emulator reads
the layer calls of either. Numpy only, Python 3.8 syntax: this module runs on the board.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError
from ..layout import ProjectLayout
from .firmware import Call, Firmware, read_firmware
from .fixed_point import FixedType
from .lookup_tables import TABLE_FUNCTIONS, TableFunction

__all__ = ["Emulator", "NotEmulated", "cast"]

log = logging.getLogger(__name__)

EXACT = float(2 ** 53)
"""float64 holds every integer below this exactly."""
MAX_WIDTH = 53
"""Types wider than this do not fit float64 values exactly: not emulated."""
CHUNK = 1024
"""Samples computed together at most: larger batches spill the caches and run slower per sample."""
CHUNK_VALUES = 1 << 18
"""Values (2 MB of float64) the widest layer output of a chunk may hold: a chunk of 32x32x32 images is 8
samples, not 1024 (whose 256 MB per layer made every cast and copy of the MLPerf-Tiny ResNet run from
memory instead of cache: twice the time per sample, measured by benchmarks/emulator_layers.py)."""
TAP_BLOCK_VALUES = 1 << 18
"""Values of padded image a convolution computed by taps (:func:`_conv_by_taps`) takes at a time."""
SOFTMAX_DIRECT = 1 << 18
"""A softmax whose input type has fewer raw values than this (2 MB of float64 entries) reads its exp table
through one entry per raw value (:func:`_softmax`): a subtraction, a scale and a gather instead of the
cast to inp_norm_t and the index's bit slicing — on the jet MLP the softmax was ~1/3 of the emulator's time."""
WHOLE_IMAGE = 1 << 16
"""A convolution whose image-to-image matrix has at most this many entries is one dense product
(:func:`_conv_matrix`); larger ones go through im2col patches."""


def _numpy_clip() -> Optional[np.ufunc]:
    """numpy's clip ufunc where it is faster than minimum then maximum, else None. numpy 2's clip loop is
    vectorised (one pass, 3-6x faster than the two, measured on 1,024 x 120 values); numpy 1.26's is not
    (2x slower than the two), so there the two passes stay."""
    if int(np.__version__.split(".")[0]) < 2:
        return None
    try:
        from numpy._core.umath import clip
    except ImportError:  # pragma: no cover - a numpy 2 without the private module
        return None
    return clip


_CLIP = _numpy_clip()


def _clamp(q: np.ndarray, low: float, high: float) -> None:
    """q = min(max(q, low), high) in place (low <= high; NaN stays NaN as with minimum/maximum)."""
    if _CLIP is not None:
        _CLIP(q, low, high, out=q)
    else:
        np.minimum(q, high, out=q)
        np.maximum(q, low, out=q)


class NotEmulated(ConfigError):
    """A design (layer, type or product kind) the emulator does not reproduce bit for bit."""

    def __init__(self, layer: str, reason: str) -> None:
        super().__init__(f"the emulator does not cover layer {layer!r}: {reason}; use engine='csim'")
        self.layer = layer
        self.reason = reason


def _parsed(layer: str, parse: Callable[[], Optional[FixedType]]) -> Optional[FixedType]:
    """A type read from the firmware; one the fixed-point model refuses (wider than 64 bits: an exact
    accumulator of a large layer can be) is a design the emulator does not cover, not a broken one."""
    try:
        return parse()
    except NotEmulated:
        raise
    except ConfigError as exc:
        raise NotEmulated(layer, str(exc)) from None


# ------------------------------------------------------------------------------------------ casts


class _CastPlan(NamedTuple):
    """What :func:`cast` needs of a type, worked out once per type (a tiny batch's cast is mostly this)."""

    bit_level: bool  # N saturation bits, WRAP_SM, wider than 53 bits: FixedType.quantize
    scale: float  # 2^F
    unscale: float  # 2^-F
    lo: float  # raw range
    hi: float
    low: float  # the lowest raw value a saturating cast gives (SAT_SYM: lo + 1)
    quantization: str
    overflow: str
    modulus: float  # 2^W


@functools.lru_cache(maxsize=None)
def _plan(t: FixedType) -> _CastPlan:
    lo, hi = t.raw_range()
    low = lo + 1 if t.overflow == "SAT_SYM" and t.signed and t.width > 1 else lo
    return _CastPlan(bool(t.sat_bits or t.overflow == "WRAP_SM" or t.width > MAX_WIDTH), 2.0 ** t.frac,
                     2.0 ** -t.frac, float(lo), float(hi), float(low), t.quantization, t.overflow, float(2 ** t.width))


def cast(values: np.ndarray, t: FixedType) -> np.ndarray:
    """``t(value)`` for float64 values: what assigning them to an ``ap_fixed`` does.

    A few whole-array passes (scale by 2^F, round, clamp or wrap, scale back) for the common modes; values
    the fast path cannot hold exactly (beyond 2^52 grid steps, inf, NaN) and the rare modes (N saturation
    bits, WRAP_SM, wider than 53 bits) go through :meth:`FixedType.quantize`, element by element only where
    needed — so an input batch with one NaN costs the bit-level path for one value, not for the batch."""
    v = np.asarray(values, dtype=np.float64)
    p = _plan(t)
    if p.bit_level:
        return t.quantize(v)
    if v.ndim == 0:  # numpy turns 0-d results into scalars, which the in-place steps below cannot write
        return cast(v.reshape(1), t).reshape(())
    s = v * p.scale  # exact: a power of two (|F| is far below the exponent range)
    if not s.size:
        return s
    smin, smax = float(s.min()), float(s.max())  # NaN here fails every comparison below: the slow path
    odd = not (-EXACT / 2 < smin and smax < EXACT / 2)
    if odd:
        big = ~(np.abs(s) < EXACT / 2)
        rare = v[big]
        s[big] = 0.0
    q = _round(s, p.quantization)
    if p.low <= smin and smax <= p.hi:  # rounding stays inside too: nothing to clamp or wrap
        pass
    elif p.overflow == "WRAP":
        if q.min() < p.lo or q.max() > p.hi:
            q = np.mod(q - p.lo, p.modulus) + p.lo
    elif p.overflow == "SAT" or p.overflow == "SAT_SYM":
        _clamp(q, p.low, p.hi)
    else:  # SAT_ZERO
        q = np.where((q < p.lo) | (q > p.hi), 0.0, q)
    q *= p.unscale
    if odd:
        q[big] = t.quantize(rare)
    return q


def _cast_from(values: np.ndarray, t: FixedType, res: FixedType) -> np.ndarray:
    """``cast(values, res)`` of values of type ``t`` (finite, on ``t``'s grid, inside its range): where
    ``t``'s whole range scaled to ``res``'s grid stays far below 2^52 and ``res`` saturates, the scan for
    huge or NaN values and for an in-range batch is skipped and the clamp always applied (a clamp changes
    no value inside the range) — the ReLU after a BN casts every value of a large image this way, and the
    scan was two of its seven passes."""
    p = _plan(res)
    if p.bit_level or p.overflow not in ("SAT", "SAT_SYM") or not _scaled_fits(t, res):
        return cast(values, res)
    s = np.multiply(values, p.scale)  # exact: a power of two
    q = _round(s, p.quantization)
    _clamp(q, p.low, p.hi)
    q *= p.unscale
    return q


@functools.lru_cache(maxsize=None)
def _scaled_fits(t: FixedType, res: FixedType) -> bool:
    """Is every value of ``t`` times 2^F(res) well inside float64's exact integers (cast's fast path)?"""
    if t.width > MAX_WIDTH:
        return False
    low, high = t.value_range()
    return max(-low, high) * 2.0 ** res.frac < EXACT / 4


def _recast(values: np.ndarray, t: FixedType, res: FixedType) -> np.ndarray:
    """``cast(values, res)`` of values of type ``t`` — the values themselves (no copy) where ``res`` holds
    every value of ``t`` unchanged. Clones, paddings, linear activations and same-type moves are mostly
    such casts; on large images each cast that is not skipped is a few passes over every value."""
    return values if _holds_type(res, t) else cast(values, res)


@functools.lru_cache(maxsize=None)
def _holds_type(res: FixedType, t: FixedType) -> bool:
    """Does ``res`` hold every value of ``t`` unchanged? (per pair of types, once: casts on tiny batches)"""
    return _holds(res, t, *t.value_range())


@functools.lru_cache(maxsize=None)
def _holds(res: FixedType, t: FixedType, low: float, high: float) -> bool:
    """Does ``res`` hold every value of [low, high] on ``t``'s grid unchanged? (SAT_SYM's casts move its
    lowest value, WRAP_SM and N saturation bits take the bit-level path: never skipped.)"""
    plain = res.overflow not in ("SAT_SYM", "WRAP_SM") and not res.sat_bits
    return plain and _covers(res, t.frac, low, high)


def _round(s: np.ndarray, mode: str) -> np.ndarray:
    """Round grid-scaled values to integers by ``mode`` (in place where the mode allows: s is scratch)."""
    if mode == "TRN":
        return np.floor(s, out=s)
    if mode == "RND_CONV":
        return np.rint(s, out=s)  # halves to even
    if mode == "RND":
        return np.floor(s + 0.5)
    if mode == "RND_MIN_INF":
        return np.ceil(s - 0.5)
    if mode == "RND_ZERO":
        return np.where(s >= 0, np.ceil(s - 0.5), np.floor(s + 0.5))
    if mode == "RND_INF":
        return np.where(s >= 0, np.floor(s + 0.5), np.ceil(s - 0.5))
    return np.trunc(s)  # TRN_ZERO


def _on_grid(values: np.ndarray, t: FixedType) -> bool:
    return bool(np.array_equal(cast(values, t), values))


def _auto_mul(a: FixedType, b: FixedType) -> FixedType:
    """The type of ``a * b`` in ap_fixed arithmetic (full precision)."""
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def _auto_add(a: FixedType, b: FixedType) -> FixedType:
    """The type of ``a + b`` in ap_fixed arithmetic (full precision)."""
    integer = max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed)) + 1
    frac = max(a.frac, b.frac)
    return FixedType(integer + frac, integer, a.signed or b.signed)


# ------------------------------------------------------------------------------------------ tensors


class Tensor:
    """A batch of values of one HLS type, (n, size) float64 in hls4ml's (channels-last) order."""

    __slots__ = ("values", "type")

    def __init__(self, values: np.ndarray, t: FixedType) -> None:
        self.values = values
        self.type = t


class Emulator:
    """A converted design computed in numpy (see module docstring). ``Emulator.open(root)`` reads the
    project; :meth:`predict` and :meth:`trace` take float32 batches like the csim library's."""

    def __init__(self, firmware: Firmware) -> None:
        self.fw = firmware
        self._steps: List[Tuple[Call, Callable[[Dict[str, Tensor]], None]]] = []
        self._widest = 0  # values per sample of the widest layer output seen (sizes the chunks)
        self._compile()
        # read once, not per call (a 1-sample call parsed the input type again: ~15 µs of ~80)
        self._in_type = firmware.var_type(firmware.input_var)
        self._out_var = firmware.resolve(firmware.output_var)

    @classmethod
    def open(cls, root: "str | Path", project_name: str, io_type: str) -> "Emulator":
        axi_h = ProjectLayout(Path(root), project_name).axi_h
        if axi_h.is_file() and "// fpga_accel port" in axi_h.read_text():
            raise NotEmulated("(top function)", "it computes single-input, single-output designs; this one has "
                              "several inputs or outputs on its streams")
        return cls(read_firmware(root, project_name, io_type))

    # -- public ---------------------------------------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs as the csim library returns them: (n, n_out) float32 (in chunks that stay in cache)."""
        out = self._out_var
        parts = [self._run(part)[out].values.astype(np.float32) for part in self._chunks(x)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def trace(self, x: np.ndarray) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
        """(outputs, {traced layer: its outputs as float32, (n, size)}), as the csim library traces."""
        outs: List[np.ndarray] = []
        traces: Dict[str, List[np.ndarray]] = {}
        for part in self._chunks(x) if len(x) else [x]:
            env = self._run(part)
            outs.append(env[self._out_var].values.astype(np.float32))
            for name, var in self.fw.traced.items():
                if self.fw.resolve(var) in env:
                    traces.setdefault(name, []).append(env[self.fw.resolve(var)].values.astype(np.float32))
        joined = {name: v[0] if len(v) == 1 else np.concatenate(v) for name, v in traces.items()}
        return (outs[0] if len(outs) == 1 else np.concatenate(outs)), joined

    # -- running --------------------------------------------------------------------------------------

    def _chunks(self, x: np.ndarray) -> Iterator[np.ndarray]:
        """``x`` in chunks whose widest layer output holds about :data:`CHUNK_VALUES` values (the widest
        layer is known after the first chunk; until then the input's width stands for it)."""
        start = 0
        while start < len(x):
            widest = self._widest or int(np.prod(x.shape[1:], dtype=np.int64)) or 1
            size = max(1, min(CHUNK, CHUNK_VALUES // widest))
            yield x[start:start + size]
            start += size

    def _run(self, x: np.ndarray) -> Dict[str, Tensor]:
        t = self._in_type
        assert t is not None  # checked in _compile
        flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1).astype(np.float64)
        env = {self.fw.input_var: Tensor(cast(flat, t), t)}  # the wrapper's ap_fixed(float): NaN/inf too
        for call, step in self._steps:
            try:
                step(env)
            except KeyError as exc:  # a variable no call wrote: hls4ml wrote no call for a layer before this one
                raise NotEmulated(call.layer, f"it reads {exc} which no earlier call writes") from None
        if len(x):
            self._widest = max(self._widest, max(v.values.size // len(x) for v in env.values()))
        return env

    def _compile(self) -> None:
        fw = self.fw
        for var in (fw.input_var, fw.output_var):
            t = _parsed(var, lambda: fw.var_type(var))
            if t is None:
                raise NotEmulated(var, f"its type {fw.types.get(fw.variables.get(var, ''), '?')} is not ap_fixed/ap_int")
        for call in fw.calls:
            builder = _LAYERS.get(call.function)
            if builder is None:
                raise NotEmulated(call.layer, f"hls4ml function nnet::{call.function} is not emulated")
            self._steps.append((call, builder(self, call)))

    # -- helpers for the layer builders ---------------------------------------------------------------

    def out_type(self, call: Call, var: str) -> FixedType:
        t = _parsed(call.layer, lambda: self.fw.var_type(var))
        if t is None:
            raise NotEmulated(call.layer, f"result type of {var} is not ap_fixed/ap_int")
        self.check_width(call, t)
        return t

    def struct_type(self, call: Call, struct: str, key: str) -> FixedType:
        name = self.fw.field(struct, key)
        t = None if name is None else _parsed(call.layer, lambda: self.fw.type_of(name))
        if t is None:
            raise NotEmulated(call.layer, f"{key} ({name}) is not an ap_fixed/ap_int type")
        self.check_width(call, t)
        return t

    def check_width(self, call: Call, t: FixedType) -> None:
        if t.width > MAX_WIDTH:
            raise NotEmulated(call.layer, f"type {t} is wider than {MAX_WIDTH} bits")

    def size(self, call: Call, struct: str, key: str, default: Optional[int] = None) -> int:
        value = self.fw.int_field(struct, key, default)
        if value is None:
            raise NotEmulated(call.layer, f"{struct}::{key} is not an integer this reader understands")
        return value

    def weights(self, call: Call, name: str, t: FixedType, count: int) -> np.ndarray:
        w = self.fw.weights(name)
        if w.size != count:
            raise ConfigError(f"{self.fw.root}: weights {name}.txt hold {w.size} values, layer {call.layer} needs "
                              f"{count}; re-convert the project")
        return cast(w, t)


# ------------------------------------------------------------------------------------------ sums


def _int_bound(x: FixedType) -> float:
    lo, hi = x.raw_range()
    return float(max(abs(lo), abs(hi)))


def _exact_matmul(xi: np.ndarray, wi: np.ndarray, bound: float) -> np.ndarray:
    """xi @ wi on integer-valued arrays, exact: float64 below 2^53, int64 below 2^62, else Python ints."""
    if bound < EXACT:
        return xi @ wi
    if bound < 2.0 ** 62:
        return (xi.astype(np.int64) @ wi.astype(np.int64)).astype(object)
    return xi.astype(np.int64).astype(object) @ wi.astype(np.int64).astype(object)


def _accumulate(layer: str, x: np.ndarray, xt: FixedType, w: np.ndarray, wt: FixedType, b: Optional[np.ndarray],
                accum: FixedType) -> np.ndarray:
    """``acc = bias; acc += x[i] * w[i, j]`` in accum_t, as hls4ml's dense kernels do: x (m, k), w (k, j).

    Exact in one matrix product where the C++ loop's casts cannot round or saturate (accum_t holds every
    product's fraction bits, and either cannot overflow or wraps, which is modular); otherwise one
    addition at a time in the loop's order."""
    fp = xt.frac + wt.frac
    xi, wi = np.ldexp(x, xt.frac), np.ldexp(w, wt.frac)
    bias = np.zeros(w.shape[1]) if b is None else cast(b, accum)
    per_term = _int_bound(xt) * np.abs(wi).sum(axis=0)  # |sum| bound per output, in units of 2^-fp
    bound = float(per_term.max(initial=0.0))
    lo, hi = accum.value_range()
    fits = bound * 2.0 ** -fp + float(np.abs(bias).max(initial=0.0)) <= min(-lo, hi) if accum.signed else False
    wraps = accum.overflow == "WRAP" and accum.sat_bits == 0
    if accum.frac >= fp and (fits or wraps):
        s = _exact_matmul(xi, wi, bound)
        if s.dtype == object:  # beyond float64: wrap as integers of the accumulator's grid, then values
            scale = 1 << (accum.frac - fp)
            total = s * scale + np.asarray(np.ldexp(bias, accum.frac), dtype=np.int64).astype(object)
            if not fits:
                total = (total - (-(1 << (accum.width - 1)) if accum.signed else 0)) % (1 << accum.width) + \
                    (-(1 << (accum.width - 1)) if accum.signed else 0)
            return np.ldexp(total.astype(np.float64), -accum.frac)
        total = np.ldexp(s, -fp) + bias
        if fits:
            return total
        return cast(total, accum)  # wrap: exact values below 2^53 units (the accumulator is at most 53 bits)
    # the general case: the C++ loop, one product and one addition at a time
    acc = np.broadcast_to(bias, (x.shape[0], w.shape[1])).copy()
    for i in range(x.shape[1]):
        prod = cast(x[:, i:i + 1] * w[i:i + 1, :], accum)
        acc = cast(acc + prod, accum)
    return acc


def _product_weights(emu: Emulator, call: Call, struct: str, w: np.ndarray, wt: FixedType) -> np.ndarray:
    """Weights as the product hls4ml's config names uses them (binary: 0 means -1)."""
    product = emu.fw.field(struct, "product") or "nnet::product::mult"
    kind = product.split("::")[-1]
    if kind in ("mult", "weight_ternary"):
        return w
    if kind == "weight_binary":
        return np.where(w == 0, -1.0, 1.0)
    raise NotEmulated(call.layer, f"product kind {kind} is not emulated")


# ------------------------------------------------------------------------------------------ layers


def _dense(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    src, dst, wname, bname = call.args[:4]
    struct = call.targs[-1]
    n_in, n_out = emu.size(call, struct, "n_in"), emu.size(call, struct, "n_out")
    return _matmul_step(emu, call, struct, src, dst, wname, bname, n_in, n_out, lambda v: v)


Lift = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]
"""(weights (k, m), bias (m,)) -> the same layer as one matrix over the whole input, and its bias."""


Product = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(layer input (n, ...), weights (k, m) float64) -> the sums (n * pixels, m), computed another way than
im2col patches @ weights (the same terms: exact under the same bound, see :func:`_fast_sum`)."""


def _matmul_step(emu: Emulator, call: Call, struct: str, src: str, dst: str, wname: str, bname: str, n_in: int,
                 n_out: int, im2col: Callable[[np.ndarray], np.ndarray], mult: Optional[str] = None,
                 lift: Optional[Lift] = None, product: Optional[Product] = None) -> Callable[[Dict[str, Tensor]], None]:
    """A Dense, or a convolution as a Dense over im2col patches — or, with ``lift`` (weights, bias) -> (one
    matrix over the whole image, bias per output), as one Dense over the image, or, with ``product``, by its
    own sums of the same products (where the exact fast path applies; im2col otherwise)."""
    typed = mult or struct
    wt, bt = emu.struct_type(call, typed, "weight_t"), emu.struct_type(call, typed, "bias_t")
    accum = emu.struct_type(call, typed, "accum_t")
    res = emu.out_type(call, dst)
    w = emu.weights(call, wname, wt, n_in * n_out)
    resource = "resource" in (emu.fw.field(struct, "strategy") or "")
    if resource:  # hls4ml transposes the weights for dense_resource: (n_out, ...) first
        w = w.reshape(n_out, n_in).T
    else:
        w = w.reshape(n_in, n_out)
    w = _product_weights(emu, call, typed, w, wt)
    b = emu.weights(call, bname, bt, n_out)
    xt = emu.fw.var_type(src)
    if xt is not None and xt == FixedType(1, 1, False) and wt == FixedType(1, 1, False):
        raise NotEmulated(call.layer, "binary (ap_uint<1>) inputs with binary weights are not emulated")
    fast, direct = None, False  # direct: fast takes the layer's input itself, not its im2col patches
    if xt is not None and lift is not None:
        big_w, big_b = lift(w, b)
        fast = _fast_sum(xt, big_w, wt, big_b, accum, res, _banded(big_w, n_out))
        direct = fast is not None
    if fast is None and xt is not None:
        fast = _fast_sum(xt, w, wt, b, accum, res, product)
        direct = fast is not None and product is not None
    src_var, dst_var = emu.fw.resolve(src), emu.fw.resolve(dst)

    def step(env: Dict[str, Tensor]) -> None:
        x = env[src_var]
        n = x.values.shape[0]
        if fast is not None and x.type == xt:
            out = fast(x.values if direct else im2col(x.values))
        else:  # (n * pixels, n_in) patches, summed in the C++ loop's order
            out = cast(_accumulate(call.layer, im2col(x.values), x.type, w, wt, b, accum), res)
        env[dst_var] = Tensor(out.reshape(n, -1), res)

    return step


def _covers(t: FixedType, frac: int, low: float, high: float) -> bool:
    """Does every value of [low, high] on the 2^-frac grid fit ``t`` unchanged (so casting is a no-op)?"""
    lo, hi = t.value_range()
    return t.frac >= frac and lo <= low and high <= hi


@functools.lru_cache(maxsize=None)
def _covers_type(t: FixedType, values: FixedType) -> bool:
    """:func:`_covers` of every value of the type ``values`` (once per pair of types)."""
    return _covers(t, values.frac, *values.value_range())


def _fast_sum(xt: FixedType, w: np.ndarray, wt: FixedType, b: np.ndarray, accum: FixedType,
              res: FixedType, product: Optional[Product] = None) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """``res(acc)`` where ``acc = bias; acc += x[i] * w[i, j]`` in accum_t, as one float64 matrix product on
    the values themselves (or ``product(x, w)``, the same terms summed another way) — or None where that is
    not exact (the caller takes :func:`_accumulate`).

    Why this is exact: x sits on the 2^-Fx grid and w on 2^-Fw, so every product and every partial sum in
    any order is a multiple of 2^-(Fx+Fw) of magnitude at most max|x|·Σ|w[:, j]| (the bound, taken per
    output from the weights themselves and the input type's range). Below 2^53 grid steps float64 holds
    each one exactly, so BLAS's order does not matter. The C++ loop's casts to accum_t change nothing when
    accum_t keeps every fraction bit and the sum cannot overflow it (``fits``); when it can, WRAP is modular,
    so wrapping once at the end is the same as at each addition. The cast to the result type is skipped
    where the result type holds every possible sum unchanged (e.g. result_t == accum_t)."""
    fp = xt.frac + wt.frac
    if accum.frac < fp:
        return None
    bound = _int_bound(xt) * float((np.abs(w) * 2.0 ** wt.frac).sum(axis=0).max(initial=0.0))
    bias = cast(b, accum)
    lo, hi = accum.value_range()
    peak = bound * 2.0 ** -fp + float(np.abs(bias).max(initial=0.0))
    fits = accum.signed and peak <= min(-lo, hi)
    wraps = accum.overflow == "WRAP" and accum.sat_bits == 0
    if bound >= EXACT or not (fits or wraps) or peak * 2.0 ** accum.frac >= EXACT:
        return None
    scaled = bias * 2.0 ** fp
    grid = fp if np.array_equal(np.floor(scaled), scaled) else accum.frac
    skip = _covers(res, grid, -peak, peak) if fits else _covers(res, accum.frac, lo, hi)
    wc = np.ascontiguousarray(w, dtype=np.float64)
    with_bias = bool(np.any(bias))

    def run(x: np.ndarray) -> np.ndarray:
        total = x @ wc if product is None else product(x, wc)
        if with_bias:
            total += bias
        if not fits:
            total = cast(total, accum)
        return total if skip else cast(total, res)

    return run


def _conv_geometry(emu: Emulator, call: Call, struct: str, two_d: bool) -> Dict[str, int]:
    keys = ["in_width", "n_chan", "filt_width", "n_filt", "stride_width", "pad_left", "pad_right", "out_width"]
    if two_d:
        keys += ["in_height", "filt_height", "stride_height", "pad_top", "pad_bottom", "out_height"]
    g = {k: emu.size(call, struct, k, 0 if k.startswith("pad") else None) for k in keys}
    if not two_d:
        g.update(in_height=1, filt_height=1, stride_height=1, pad_top=0, pad_bottom=0, out_height=1)
    dil = [emu.fw.int_field(struct, k, 1) for k in ("dilation", "dilation_height", "dilation_width")]
    if any(d not in (None, 1) for d in dil):
        raise NotEmulated(call.layer, "dilated convolutions are not emulated")
    return g


def _patches(v: np.ndarray, g: Dict[str, int], pad_value: float = 0.0) -> np.ndarray:
    """(n, H*W*C) channels-last → (n, OH, OW, KH, KW, C) windows, zero padded as hls4ml's conv pads."""
    n = v.shape[0]
    img = v.reshape(n, g["in_height"], g["in_width"], g["n_chan"])
    if g["pad_top"] or g["pad_bottom"] or g["pad_left"] or g["pad_right"]:
        img = np.pad(img, ((0, 0), (g["pad_top"], g["pad_bottom"]), (g["pad_left"], g["pad_right"]), (0, 0)),
                     constant_values=pad_value)
    win = np.lib.stride_tricks.sliding_window_view(img, (g["filt_height"], g["filt_width"]), axis=(1, 2))
    win = win[:, ::g["stride_height"], ::g["stride_width"]][:, :g["out_height"], :g["out_width"]]
    return win.transpose(0, 1, 2, 4, 5, 3)  # (n, OH, OW, KH, KW, C)


def _conv_matrix(w: np.ndarray, b: np.ndarray, g: Dict[str, int]) -> Tuple[np.ndarray, np.ndarray]:
    """A convolution as one matrix over the whole (unpadded) image: (H*W*C, OH*OW*F), and its bias per
    output. Each output's column holds the same weights as its im2col patch, at the rows of the input
    pixels the window covers (padding taps are zeros: they add nothing), so the sums are the same sums;
    for small images one dense product beats copying the patches."""
    kh, kw, c, f = g["filt_height"], g["filt_width"], g["n_chan"], g["n_filt"]
    h, wd, oh, ow = g["in_height"], g["in_width"], g["out_height"], g["out_width"]
    taps = w.reshape(kh, kw, c, f)
    big = np.zeros((h, wd, c, oh, ow, f))
    for y in range(oh):
        for x in range(ow):
            for i in range(kh):
                iy = y * g["stride_height"] + i - g["pad_top"]
                if not 0 <= iy < h:
                    continue
                for j in range(kw):
                    ix = x * g["stride_width"] + j - g["pad_left"]
                    if 0 <= ix < wd:
                        big[iy, ix, :, y, x, :] = taps[i, j]
    return big.reshape(h * wd * c, oh * ow * f), np.tile(b, oh * ow)


BAND_COLUMNS = 16
"""Output columns (pixels x filters) a band of :func:`_banded` computes at least per product."""
BAND_MIN_ROWS = 32
"""Batches smaller than this take the whole-image product (a few calls of fixed cost beat many)."""


def _banded(matrix: np.ndarray, per_pixel: int) -> Product:
    """The product ``x @ matrix`` of a convolution's whole-image matrix (:func:`_conv_matrix`) by bands of
    output pixels: each band's columns times only the rows of the input pixels its windows cover.

    Why: the whole-image matrix is mostly zeros (a 3-tap window over 32 pixels: 9 of every 96 rows of a
    column are weights), and its product ran at BLAS's peak on those zeros — 9.4 of the 1-D 32x3 zoo
    CNN's 24 ms. A band of ceil(BAND_COLUMNS / filters) pixels keeps each product wide enough for BLAS
    and drops most of the zeros (measured on the zoo's 32x3, 16x2 and 8x8 convolutions, 1,024 samples:
    3-6x less time). Exact: every sum holds the same nonzero products as the whole-image product's, plus
    fewer zeros, so the bound :func:`_fast_sum` checks covers it."""
    pixels = matrix.shape[1] // per_pixel
    step = max(1, -(-BAND_COLUMNS // per_pixel))
    bands = []
    for p in range(0, pixels, step):
        c0, c1 = p * per_pixel, min(pixels, p + step) * per_pixel
        rows = np.nonzero(np.any(matrix[:, c0:c1] != 0, axis=1))[0]
        r0, r1 = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
        bands.append((r0, r1, c0, c1, np.ascontiguousarray(matrix[r0:r1, c0:c1])))

    def product(x: np.ndarray, whole: np.ndarray) -> np.ndarray:
        if x.shape[0] < BAND_MIN_ROWS or len(bands) == 1:
            return x @ whole
        out = np.empty((x.shape[0], matrix.shape[1]))
        for r0, r1, c0, c1, part in bands:
            if r1 > r0:
                np.matmul(x[:, r0:r1], part, out=out[:, c0:c1])
            else:  # no input pixel reaches these outputs (padding only): sums of nothing
                out[:, c0:c1] = 0.0
        return out

    return product


def _conv_by_taps(v: np.ndarray, g: Dict[str, int], w: np.ndarray) -> np.ndarray:
    """The convolution's sums (n * OH * OW, F) of channels-last values ``v`` (n, H*W*C) and weights ``w``
    (KH*KW*C, F) in im2col's row order, as one matrix product per kernel tap instead of im2col patches.

    im2col copies every input value KH*KW times (the MLPerf-Tiny ResNet's 4x4 convolutions on 32x32x32
    images: 0.5 M values per sample) and then reads the copy again. Here a tap (i, j) is one product of
    the padded image, shifted by the tap, with the tap's (C, F) weights, added into the sums: the image is
    laid out flat, pixel after pixel, so the shift is a slice and the product one contiguous BLAS call. The
    sums run over every pixel of the padded width (the columns beyond OW, which read the next row, are
    dropped at the end). A stride s is first split into its s x s phases (rows ≡ p, columns ≡ q mod s): a
    tap (i, j) reads phase (i mod s, j mod s) at offset (i div s, j div s), a stride-1 shift again. Every sum
    holds the same products as the patch product's, so the exactness bound of :func:`_fast_sum` covers it.
    Samples go in blocks of about :data:`TAP_BLOCK_VALUES` padded values, so the temporaries stay small."""
    kh, kw, c, f = g["filt_height"], g["filt_width"], g["n_chan"], g["n_filt"]
    h, wd, sh, sw = g["in_height"], g["in_width"], g["stride_height"], g["stride_width"]
    oh, ow, top, left = g["out_height"], g["out_width"], g["pad_top"], g["pad_left"]
    hq, wq = oh + (kh - 1) // sh, ow + (kw - 1) // sw  # a phase's size: every tap of every output inside
    rows, cols = max(0, min(h, hq * sh - top)), max(0, min(wd, wq * sw - left))  # input pixels ever read
    taps = w.reshape(kh, kw, c, f)
    n = v.shape[0]
    out = np.empty((n, oh, ow, f))
    block = max(1, TAP_BLOCK_VALUES // (hq * sh * wq * sw * max(c, f)))
    for s in range(0, n, block):
        img = v[s:s + block].reshape(-1, h, wd, c)
        m = img.shape[0]
        padded = np.zeros((m, hq * sh, wq * sw, c))
        padded[:, top:top + rows, left:left + cols] = img[:, :rows, :cols]
        phases = padded.reshape(1, 1, m, hq, wq, c) if sh == sw == 1 else \
            np.ascontiguousarray(padded.reshape(m, hq, sh, wq, sw, c).transpose(2, 4, 0, 1, 3, 5))
        length = m * hq * wq
        acc = np.zeros((length, f))
        for i in range(kh):
            for j in range(kw):
                flat = phases[i % sh, j % sw].reshape(length, c)
                shift = (i // sh) * wq + j // sw
                acc[:length - shift] += flat[shift:] @ taps[i, j]
        out[s:s + m] = acc.reshape(m, hq, wq, f)[:, :oh, :ow]
    return out.reshape(n * oh * ow, f)


def _by_taps(g: Dict[str, int]) -> bool:
    """Is a convolution faster by taps than by im2col? When it has more input channels than filters.

    Both compute the same multiply-adds; they differ in memory traffic. im2col writes and reads KH*KW*C
    values per output pixel once, then one efficient product; taps read C values and read+write F sums per
    tap and pixel, in products whose inner dimension is only C. Measured on the MLPerf-Tiny ResNet's 32x32
    layers (benchmarks/emulator_layers.py, 256 images, chunks of 8): 4x4, 32 -> 4 channels 10x faster by
    taps (65 vs 676 ms); 4x4, 4 -> 32 channels 5x slower (~300 vs 60 ms); 32 -> 32 channels about even."""
    return g["n_chan"] > g["n_filt"] and g["filt_height"] * g["filt_width"] > 1


def _conv(two_d: bool) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst, wname, bname = call.args[:4]
        struct = call.targs[-1]
        g = _conv_geometry(emu, call, struct, two_d)
        k = g["filt_height"] * g["filt_width"] * g["n_chan"]
        pixels = g["out_height"] * g["out_width"]
        mult = emu.fw.field(struct, "mult_config")
        mult = mult if mult in emu.fw.structs and emu.fw.field(mult, "accum_t") else None
        if "resource" in (emu.fw.field(struct, "strategy") or ""):
            resource_conv = True
        else:
            resource_conv = False

        def im2col(v: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(_patches(v, g)).reshape(-1, k)

        whole = g["in_height"] * g["in_width"] * g["n_chan"] * pixels * g["n_filt"] <= WHOLE_IMAGE
        step = _matmul_step(emu, call, struct, src, dst, wname, bname, k, g["n_filt"], im2col,
                            mult=None if resource_conv else mult,
                            lift=(lambda w, b: _conv_matrix(w, b, g)) if whole else None,
                            product=(lambda v, w: _conv_by_taps(v, g, w)) if _by_taps(g) else None)
        return step

    return build


def _depthwise(two_d: bool) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst, wname, bname = call.args[:4]
        struct = call.targs[-1]
        g = _conv_geometry(emu, call, struct, two_d)
        if g["n_filt"] != g["n_chan"]:
            raise NotEmulated(call.layer, "depth multipliers other than 1 are not emulated")
        mult = emu.fw.field(struct, "mult_config")
        typed = mult if mult in emu.fw.structs and emu.fw.field(mult, "accum_t") else struct
        wt, bt = emu.struct_type(call, typed, "weight_t"), emu.struct_type(call, typed, "bias_t")
        accum = emu.struct_type(call, typed, "accum_t")
        res = emu.out_type(call, dst)
        taps, c = g["filt_height"] * g["filt_width"], g["n_chan"]
        w = emu.weights(call, wname, wt, taps * c).reshape(taps, c)
        w = _product_weights(emu, call, typed, w, wt)
        b = cast(emu.weights(call, bname, bt, c), accum)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            n = x.values.shape[0]
            win = _patches(x.values, g).reshape(n, g["out_height"] * g["out_width"], taps, c)
            fp = x.type.frac + wt.frac
            bound = _int_bound(x.type) * float(np.abs(np.ldexp(w, wt.frac)).sum(axis=0).max(initial=0.0))
            lo, hi = accum.value_range()
            fits = bound * 2.0 ** -fp + float(np.abs(b).max(initial=0.0)) <= min(-lo, hi)
            if accum.frac >= fp and bound < EXACT and (fits or (accum.overflow == "WRAP" and not accum.sat_bits)):
                acc = np.einsum("npkc,kc->npc", win, w) + b
                acc = acc if fits else cast(acc, accum)
            else:
                acc = np.broadcast_to(b, (n, win.shape[1], c)).copy()
                for i in range(taps):
                    acc = cast(acc + cast(win[:, :, i, :] * w[i], accum), accum)
            env[emu.fw.resolve(dst)] = Tensor(cast(acc, res).reshape(n, -1), res)

        return step

    return build


def _normalize(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    src, dst, sname, bname = call.args[:4]
    struct = call.targs[-1]
    st, bt = emu.struct_type(call, struct, "scale_t"), emu.struct_type(call, struct, "bias_t")
    res = emu.out_type(call, dst)
    n_in = emu.size(call, struct, "n_in")
    n_filt = emu.fw.int_field(struct, "n_filt", -1)
    k = n_in if n_filt in (None, -1) or n_filt < 0 or n_filt > n_in else n_filt
    scale, bias = emu.weights(call, sname, st, k), emu.weights(call, bname, bt, k)
    product = (emu.fw.field(struct, "product") or "mult").split("::")[-1]
    if product != "mult":
        raise NotEmulated(call.layer, f"product kind {product} is not emulated")
    xt = emu.fw.var_type(src)
    holds = False  # does res hold every x*scale+bias exactly (so the cast changes nothing)?
    if xt is not None:
        peak = max(-xt.value_range()[0], xt.value_range()[1]) * float(np.abs(scale).max(initial=0.0)) \
            + float(np.abs(bias).max(initial=0.0))
        holds = _covers(res, max(xt.frac + st.frac, bt.frac), -peak, peak)

    # scale and bias repeated over a whole sample: numpy's broadcast over (n, n_in / k, k) runs its inner
    # loop k (a BN's channel count, often 4-16) values at a time, 2.6x slower than one row of n_in
    row_scale, row_bias = (np.tile(scale, n_in // k), np.tile(bias, n_in // k)) if n_in % k == 0 else (None, None)

    def step(env: Dict[str, Tensor]) -> None:
        x = env[emu.fw.resolve(src)]
        full = _product_sum_type(x.type, st, bt)
        if full.width > MAX_WIDTH:
            raise NotEmulated(call.layer, f"x*scale + bias needs {full.width} bits (beyond float64)")
        n = x.values.shape[0]
        if row_scale is not None and x.values.shape[1] == n_in:
            v = x.values * row_scale
            v += row_bias
        else:
            v = x.values.reshape(n, -1, k) * scale
            v += bias
            v = v.reshape(n, -1)
        if x.type != xt or not holds:
            v = _cast_from(v, full, res)
        env[emu.fw.resolve(dst)] = Tensor(v, res)

    return step


@functools.lru_cache(maxsize=None)
def _product_sum_type(xt: FixedType, st: FixedType, bt: FixedType) -> FixedType:
    """The full-precision type of x * scale + bias (once per type triple: BN steps on tiny batches)."""
    return _auto_add(_auto_mul(xt, st), bt)


def _elementwise(fn: Callable[[np.ndarray, FixedType, FixedType], np.ndarray]) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst = call.args[0], call.args[-1]
        res = emu.out_type(call, dst)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            env[emu.fw.resolve(dst)] = Tensor(fn(x.values, x.type, res), res)

        return step

    return build


def _linear(v: np.ndarray, xt: FixedType, res: FixedType) -> np.ndarray:
    return _recast(v, xt, res)


def _relu(v: np.ndarray, xt: FixedType, res: FixedType) -> np.ndarray:
    if _holds_relu(res, xt):
        return np.maximum(v, 0.0)  # res holds max(x, 0) of every x unchanged
    if not res.signed and res.overflow in ("SAT", "SAT_SYM", "SAT_ZERO") and not res.sat_bits:
        return _cast_from(v, xt, res)  # the cast itself sends every negative value (and what rounds to one) to 0
    return cast(np.maximum(v, 0.0), res)


@functools.lru_cache(maxsize=None)
def _holds_relu(res: FixedType, xt: FixedType) -> bool:
    """Does ``res`` hold max(x, 0) of every x of ``xt`` unchanged?"""
    return _holds(res, xt, 0.0, max(0.0, xt.value_range()[1]))


_BIT = FixedType(1, 1, False)
"""ap_uint<1>, binary_tanh's result type when the activation is binary_cast (made once, not per call)."""


def _binary_tanh(v: np.ndarray, xt: FixedType, res: FixedType) -> np.ndarray:
    if res == _BIT:  # binary_cast to ap_uint<1>: (cache > 0) ? cache : 0
        return np.where(v >= 0, 1.0, 0.0)
    return cast(np.where(v >= 0, 1.0, -1.0), res)


def _ternary_tanh(v: np.ndarray, xt: FixedType, res: FixedType) -> np.ndarray:
    d = cast(2 * v, xt)  # datareg = 2 * data[ii] is stored in data_T
    return cast(np.where(d > 1, 1.0, np.where(d > -1, 0.0, -1.0)), res)


def _hard(kind: str) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst = call.args[0], call.args[-1]
        struct = call.targs[-1]
        res = emu.out_type(call, dst)
        fields = emu.fw.structs.get(struct, {})
        try:
            slope_t = emu.fw.type_of(emu.fw.field(struct, "slope_t") or _member_type(emu, struct, "slope"))
            shift_t = emu.fw.type_of(emu.fw.field(struct, "shift_t") or _member_type(emu, struct, "shift"))
            slope, shift = float(fields["slope"]), float(fields["shift"])
        except (KeyError, ValueError, TypeError):
            raise NotEmulated(call.layer, "its slope/shift constants are not understood") from None
        if slope_t is None or shift_t is None:
            raise NotEmulated(call.layer, "its slope/shift types are not ap_fixed")
        slope, shift = float(cast(np.array(slope), slope_t)), float(cast(np.array(shift), shift_t))

        ones: Dict[FixedType, float] = {}  # per input type, once: a 1-sample call spent ~1/3 of its time here
        src_var, dst_var = emu.fw.resolve(src), emu.fw.resolve(dst)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[src_var]
            one = ones.get(x.type)
            if one is None:
                auto = _auto_add(_auto_mul(slope_t, x.type), shift_t)  # `auto datareg = slope * data + shift`
                one = ones[x.type] = float(cast(np.array(1.0), auto))
            d = slope * x.values + shift
            d = np.where(d > 1, one, np.where(d < 0, 0.0, d))
            if kind == "tanh":
                d = 2 * d - 1
            env[dst_var] = Tensor(cast(d, res), res)

        return step

    return build


def _member_type(emu: Emulator, struct: str, member: str) -> str:
    """The declared type of a static member defined outside its struct (``const slope5_t cfg::slope``)."""
    import re

    text = ProjectLayout(emu.fw.root, emu.fw.name).parameters_h.read_text()
    m = re.search(rf"const\s+(\w+)\s+{re.escape(struct)}::{member}\s*=", text)
    return m.group(1) if m else ""


# -- table-based activations -------------------------------------------------------------------------


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(np.float32)


def _exp32(x: np.ndarray) -> np.ndarray:
    """std::exp on float: correctly rounded float32 (glibc's expf), via float64."""
    return _f32(np.exp(np.asarray(x, dtype=np.float64)))


def _table(spec: TableFunction) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    """tanh, sigmoid, softplus, softsign, elu: hls4ml's table (``lookup_tables``) at the firmware's size and type."""
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst = call.args[0], call.args[-1]
        struct = call.targs[-1]
        alpha = 1.0
        if len(call.args) == 3 and spec.name == "elu":  # nnet::elu(data, alpha, res): alpha in param_t
            try:
                alpha = float(call.args[1])
            except ValueError:
                raise NotEmulated(call.layer, f"its parameter {call.args[1]!r} is not a number") from None
            alpha = float(cast(np.array(alpha), emu.struct_type(call, struct, "param_t")))
        elif len(call.args) != 2:
            raise NotEmulated(call.layer, f"nnet::{call.function} with {len(call.args)} arguments is not emulated")
        n = emu.size(call, struct, "table_size")
        table = cast(spec.values(n), emu.struct_type(call, struct, "table_t"))
        res = emu.out_type(call, dst)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            env[emu.fw.resolve(dst)] = Tensor(cast(spec.lookup(x.values, table, n, alpha), res), res)

        return step

    return build


def _top_bits(values: np.ndarray, t: FixedType, bits: int) -> np.ndarray:
    """hls4ml's softmax_idx_from_real_val: the top ``bits`` bits of the W-bit pattern, as unsigned.

    On the integers ``raw = value·2^F`` an arithmetic shift and a mask are the slice of the two's
    complement pattern (floor(raw / 2^k) mod 2^b is floor((raw mod 2^(k+b)) / 2^k)): two integer passes
    where the float64 mod and floor took four slower ones."""
    if bits > t.width:  # the slice reaches below the pattern: shifted left instead
        raw = np.mod(np.ldexp(values, t.frac), float(2 ** t.width))  # two's complement pattern
        return np.floor(raw * float(2 ** (bits - t.width))).astype(np.int64)
    raw = np.multiply(values, 2.0 ** t.frac).astype(np.int64)  # exact: values on t's grid, at most 53 bits
    np.right_shift(raw, t.width - bits, out=raw)
    np.bitwise_and(raw, (1 << bits) - 1, out=raw)
    return raw


def _real_from_index(i: np.ndarray, t: FixedType, bits: int) -> np.ndarray:
    """hls4ml's softmax_real_val_from_idx: index as the top bits of a t, as float."""
    raw = i.astype(np.float64) * float(2 ** (t.width - bits))
    if t.signed:
        raw = np.where(raw >= 2.0 ** (t.width - 1), raw - 2.0 ** t.width, raw)
    return _f32(np.ldexp(raw, -t.frac))


def _softmax(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    src, dst = call.args[0], call.args[-1]
    struct = call.targs[-1]
    impl = (emu.fw.field(struct, "implementation") or "").split("::")[-1]
    if impl not in ("stable", "latency"):
        raise NotEmulated(call.layer, f"softmax implementation {impl or '?'} is not emulated")
    n_in, n_slice = emu.size(call, struct, "n_in"), emu.size(call, struct, "n_slice", None)
    n_outer, n_inner = emu.size(call, struct, "n_outer", 1), emu.size(call, struct, "n_inner", 1)
    if n_outer * n_slice * n_inner != n_in or (n_inner != 1 and emu.fw.io_type == "io_stream"):
        raise NotEmulated(call.layer, f"softmax rows ({n_outer} x {n_slice} x {n_inner}) that are not its {n_in} "
                                      "values are not emulated")
    exp_t, inv_t = emu.struct_type(call, struct, "exp_table_t"), emu.struct_type(call, struct, "inv_table_t")
    accum, inv_inp = emu.struct_type(call, struct, "accum_t"), emu.struct_type(call, struct, "inv_inp_t")
    n_exp, n_inv = emu.size(call, struct, "exp_table_size"), emu.size(call, struct, "inv_table_size")
    scale = float(emu.fw.field(struct, "exp_scale") or 1.0)
    res = emu.out_type(call, dst)
    exp_bits, inv_bits = math.ceil(math.log2(n_exp)), math.ceil(math.log2(n_inv))
    norm = emu.struct_type(call, struct, "inp_norm_t") if impl == "stable" else None
    inv_x = _real_from_index(np.arange(n_inv), inv_inp, inv_bits)
    with np.errstate(divide="ignore"):
        inv_table = cast_any(_f32(np.float32(1) / inv_x).astype(np.float64), inv_t)
    # e (accum_t values) times 1/sum (inv_table_t values), exact in float64: its type lets the cast skip its scan
    prod_t = _auto_mul(accum, inv_t) if accum.width + inv_t.width <= MAX_WIDTH else None
    lookups: Dict[FixedType, Tuple[Callable[[np.ndarray], np.ndarray], bool]] = {}
    src_var, dst_var = emu.fw.resolve(src), emu.fw.resolve(dst)

    def exp_lookup(data_t: FixedType) -> Tuple[Callable[[np.ndarray], np.ndarray], bool]:
        """(rows of ``data_t`` values (n_slice, m) -> their exp table entries, already cast to accum_t as
        each entry is read; whether accum_t holds every partial sum of a row's n_slice entries unchanged,
        so the tree's casts can be skipped). Built once per input type."""
        if data_t in lookups:
            return lookups[data_t]
        t = norm if norm is not None else data_t
        x = _f32(_real_from_index(np.arange(n_exp), t, exp_bits) * np.float32(scale))
        if norm is not None:
            x = -x
        table = cast(cast_any(_exp32(x).astype(np.float64), exp_t), accum)
        # partial sums of a row's entries lie between n_slice times the lowest and the highest entry
        lowest, highest = min(float(table.min()), 0.0), max(float(table.max()), 0.0)
        plain_sum = _covers(accum, accum.frac, n_slice * lowest, n_slice * highest)
        lo, hi = data_t.raw_range()
        to_raw = 2.0 ** data_t.frac
        if hi - lo >= SOFTMAX_DIRECT or data_t.width > MAX_WIDTH:
            def lookup(v: np.ndarray) -> np.ndarray:
                if norm is None:
                    return table[_top_bits(v, data_t, exp_bits)]
                return table[_top_bits(cast(v.max(axis=0) - v, norm), norm, exp_bits)]
        else:
            # one entry per raw value the index is computed from: for the stable softmax max(row) - x,
            # which lies in [0, hi - lo] steps of data_t's grid; for the latency one x itself, in [lo, hi].
            # Each entry is what the steps below compute for that value, so the lookup is the same function.
            steps = np.arange(hi - lo + 1, dtype=np.float64)
            if norm is not None:
                direct = table[_top_bits(cast(steps / to_raw, norm), norm, exp_bits)]
                offset = 0.0
            else:
                direct = table[_top_bits((steps + lo) / to_raw, data_t, exp_bits)]
                offset = float(-lo)

            def lookup(v: np.ndarray) -> np.ndarray:
                raw = np.subtract(v.max(axis=0), v) if norm is not None else v.copy()
                raw *= to_raw  # exact: integers (a difference of two values on the grid stays below 2^53)
                if offset:
                    raw += offset
                return direct.take(raw.astype(np.intp))

        lookups[data_t] = lookup, plain_sum
        return lookups[data_t]

    def rows(v: np.ndarray) -> np.ndarray:
        """(n, n_in) -> one column per independent softmax (n_slice, n * n_outer * n_inner): the steps below
        then run along long rows (numpy's reductions and broadcasts over 5-value rows ran 4-6x slower)."""
        return np.ascontiguousarray(v.reshape(-1, n_outer, n_slice, n_inner).transpose(2, 0, 1, 3).reshape(n_slice, -1))

    def unrows(v: np.ndarray, n: int) -> np.ndarray:
        return np.ascontiguousarray(v.reshape(n_slice, n, n_outer, n_inner).transpose(1, 2, 0, 3).reshape(n, n_in))

    def step(env: Dict[str, Tensor]) -> None:
        x = env[src_var]
        n = x.values.shape[0]
        v = rows(x.values)
        lookup, plain_sum = exp_lookup(x.type)
        e = lookup(v)
        # exact either way: values on accum's grid
        total = e.sum(axis=0) if plain_sum else _tree_sum(e.T, accum)
        inv = inv_table[_top_bits(cast(total, inv_inp), inv_inp, inv_bits)]
        e *= inv
        out = cast(e, res) if prod_t is None else _cast_from(e, prod_t, res)
        env[dst_var] = Tensor(unrows(out, n), res)

    return step


def cast_any(values: np.ndarray, t: FixedType) -> np.ndarray:
    """cast() for values that may be infinite or not exact on a grid (table contents): the header's rules."""
    return t.quantize(values)


def _tree_sum(e: np.ndarray, t: FixedType) -> np.ndarray:
    """nnet::reduce with Op_add<accum_t>: a tree whose left part is the largest power of two below n."""
    n = e.shape[1]
    if n == 1:
        return e[:, 0]
    if n == 2:
        return cast(e[:, 0] + e[:, 1], t)
    left = 1 << int(math.floor(math.log2(n - 1)))
    return cast(_tree_sum(e[:, :left], t) + _tree_sum(e[:, left:], t), t)


# -- pooling, padding, moves -------------------------------------------------------------------------


def _pooling(two_d: bool) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst = call.args[0], call.args[1]
        struct = call.targs[-1]
        keys = ["n_filt", "pool_width", "stride_width"]
        if two_d:
            keys += ["in_width", "out_width", "in_height", "pool_height", "stride_height", "out_height"]
        g = {k: emu.size(call, struct, k) for k in keys}
        if not two_d:  # pooling1d_config names the widths n_in / n_out
            g["in_width"], g["out_width"] = emu.size(call, struct, "n_in"), emu.size(call, struct, "n_out")
        for k in ("pad_top", "pad_bottom", "pad_left", "pad_right"):
            g[k] = emu.fw.int_field(struct, k, 0) or 0
        if not two_d:
            g.update(in_height=1, pool_height=1, stride_height=1, out_height=1)
        geo = {"in_height": g["in_height"], "in_width": g["in_width"], "n_chan": g["n_filt"],
               "filt_height": g["pool_height"], "filt_width": g["pool_width"], "stride_height": g["stride_height"],
               "stride_width": g["stride_width"], "out_height": g["out_height"], "out_width": g["out_width"],
               "pad_top": g["pad_top"], "pad_bottom": g["pad_bottom"], "pad_left": g["pad_left"],
               "pad_right": g["pad_right"]}
        op = (emu.fw.field(struct, "pool_op") or "").split("::")[-1]
        res = emu.out_type(call, dst)
        accum = emu.struct_type(call, struct, "accum_t") if op == "Average" else None
        padded = any(g[k] for k in ("pad_top", "pad_bottom", "pad_left", "pad_right"))
        size = g["pool_height"] * g["pool_width"]
        if op == "Average" and (padded or size & (size - 1)):
            raise NotEmulated(call.layer, "average pooling with padding or a window that is not a power of two")
        if op not in ("Max", "Average"):
            raise NotEmulated(call.layer, f"pooling operation {op or '?'} is not emulated")
        if padded and emu.fw.io_type == "io_stream":
            raise NotEmulated(call.layer, "padded pooling in io_stream is not emulated")
        xt = emu.fw.var_type(src)
        average = None if op != "Average" or xt is None else _average_matrix(geo, size, xt, accum, res)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            n = x.values.shape[0]
            if average is not None and x.type == xt:
                env[emu.fw.resolve(dst)] = Tensor(average(x.values), res)
                return
            if not padded:  # one strided view per window position, combined in place: no patches
                oh, ow, c = g["out_height"], g["out_width"], g["n_filt"]
                sh, sw = g["stride_height"], g["stride_width"]
                img = x.values.reshape(n, g["in_height"], g["in_width"], c)
                if op == "Max":  # max is separable: rows first (whole rows of width*channels values per inner
                    # loop), then columns on the smaller result — numpy's loops over a window of a few
                    # channels each cost more than the values they compare
                    rows = _combined(np.maximum, [img[:, i:i + sh * (oh - 1) + 1:sh] for i in range(g["pool_height"])])
                    out = _combined(np.maximum, [rows[:, :, j:j + sw * (ow - 1) + 1:sw] for j in range(g["pool_width"])])
                else:
                    views = [img[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                             for i in range(g["pool_height"]) for j in range(g["pool_width"])]
                    out = _combined(np.add, views)
                if op != "Max":  # sums of a few values of x's grid: exact
                    out = _divide(cast(out, accum), size, accum)
            else:
                lo = float(x.type.from_bits(np.array([1 << (x.type.width - 1)]))[0])  # pad_val: only the top bit set
                win = _patches(x.values, geo, pad_value=lo).reshape(n, g["out_height"], g["out_width"], size,
                                                                    g["n_filt"])
                out = win.max(axis=3) if op == "Max" else _divide(cast(win.sum(axis=3), accum), size, accum)
            out = out.reshape(n, -1)
            keep = op == "Max" and _covers_type(res, x.type)  # max of x's values: already res's
            env[emu.fw.resolve(dst)] = Tensor(out if keep else cast(out, res), res)

        return step

    return build


def _average_matrix(g: Dict[str, int], size: int, xt: FixedType, accum: FixedType,
                    res: FixedType) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """Unpadded average pooling of a small image as one product with a matrix of 2^F(accum)/size at each
    window's pixels — or None where that is not provably the C++'s numbers (the caller sums views).

    Why: a window of a few channels is a few values per numpy inner loop (the 1-D 16x4 pooling of the
    zoo took half of its model's time summing two strided views, then casting twice). Exact: every input
    is on x's 2^-Fx grid and a window's sum of ``size`` of them stays far below 2^53 grid steps, so the
    product's sums are exact in any order, and scaling by 2^F/size (size is a power of two) is exact too;
    the cast of the sum to accum_t is skipped only where accum_t holds every window sum of x's type
    unchanged (not SAT_SYM, no saturation bits), and the cast of the quotient to res_t only where res_t
    holds every quotient (between x's lowest value,
    or 0, and its highest, on accum_t's grid: an average of x's values truncated towards zero)."""
    h, w, c = g["in_height"], g["in_width"], g["n_chan"]
    oh, ow = g["out_height"], g["out_width"]
    lo, hi = xt.value_range()
    if h * w * c * oh * ow * c > WHOLE_IMAGE or xt.width > MAX_WIDTH or accum.sat_bits \
            or _int_bound(xt) * size * 2.0 ** max(0, accum.frac - xt.frac) >= EXACT / 4 \
            or not _holds(accum, xt, size * min(lo, 0.0), size * max(hi, 0.0)):
        return None
    keep = _holds(res, accum, min(lo, 0.0), max(hi, 0.0))  # (SAT_SYM would move res's lowest value)
    big = np.zeros((h, w, c, oh, ow, c))
    channels = np.arange(c)
    for y in range(oh):
        for x in range(ow):
            for i in range(g["filt_height"]):
                for j in range(g["filt_width"]):
                    big[y * g["stride_height"] + i, x * g["stride_width"] + j, channels, y, x, channels] = 1.0
    matrix = big.reshape(h * w * c, oh * ow * c) * (2.0 ** accum.frac / size)
    unscale = 2.0 ** -accum.frac

    def run(v: np.ndarray) -> np.ndarray:
        out = v @ matrix
        np.trunc(out, out=out)  # _divide: the quotient truncated towards zero on accum's grid
        out *= unscale
        return out if keep else cast(out, res)

    return run


def _combined(op: np.ufunc, views: List[np.ndarray]) -> np.ndarray:
    """``op`` folded over ``views`` (equal shapes) into a new contiguous array, in their order."""
    if len(views) == 1:
        out = np.empty(views[0].shape)
        np.copyto(out, views[0])
        return out
    out = op(views[0], views[1])
    for view in views[2:]:
        op(out, view, out=out)
    return out


def _divide(values: np.ndarray, n: int, t: FixedType) -> np.ndarray:
    """``t_value / n`` as ap_fixed divides by an integer (``sum / N``, ``y /= length``): the quotient on
    t's grid, truncated towards zero (sdiv), whatever t's rounding mode. Exact: the grid-scaled values
    are integers below 2^53, and a float quotient of such integers never rounds across an integer."""
    return np.trunc(values * (2.0 ** t.frac) / n) * (2.0 ** -t.frac)


def _global_pooling(two_d: bool) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        """hls4ml's global_pooling{1,2}d_cl, both io types: Max is the largest input (io_stream first casts
        each to accum_t and starts from accum_t's lowest value — the same when accum_t holds every input);
        Average sums in accum_t (exact when accum_t holds every sum) and divides as ap_fixed does,
        ``accum / N``: the quotient truncated towards zero on accum_t's grid (sdiv), then cast to res_t."""
        src, dst = call.args[0], call.args[1]
        struct = call.targs[-1]
        pixels = emu.size(call, struct, "in_height") * emu.size(call, struct, "in_width") if two_d \
            else emu.size(call, struct, "n_in")
        c = emu.size(call, struct, "n_filt")
        op = (emu.fw.field(struct, "pool_op") or "").split("::")[-1]
        if op not in ("Max", "Average"):
            raise NotEmulated(call.layer, f"pooling operation {op or '?'} is not emulated")
        accum, res, xt = emu.struct_type(call, struct, "accum_t"), emu.out_type(call, dst), emu.fw.var_type(src)
        if xt is None:
            raise NotEmulated(call.layer, "its input type is not ap_fixed/ap_int")
        lo, hi = xt.value_range()
        scale = 1 if op == "Max" else pixels
        if accum.sat_bits or not _covers(accum, xt.frac, lo * scale, hi * scale):
            raise NotEmulated(call.layer, f"accum_t {accum} does not hold every {'input' if op == 'Max' else 'sum'}")

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            v = x.values.reshape(x.values.shape[0], pixels, c)
            if op == "Max":
                out = v.max(axis=1)
            else:  # sums on x's grid, exact; quotient truncated towards zero at accum's 2^-F
                out = _divide(v.sum(axis=1), pixels, accum)
            env[emu.fw.resolve(dst)] = Tensor(cast(out, res), res)

        return step

    return build


def _zeropad(two_d: bool) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        src, dst = call.args[0], call.args[1]
        struct = call.targs[-1]
        keys = ["in_width", "n_chan", "pad_left", "pad_right"] + (["in_height", "pad_top", "pad_bottom"] if two_d else [])
        g = {k: emu.size(call, struct, k) for k in keys}
        if not two_d:
            g.update(in_height=1, pad_top=0, pad_bottom=0)
        res = emu.out_type(call, dst)

        def step(env: Dict[str, Tensor]) -> None:
            x = env[emu.fw.resolve(src)]
            n = x.values.shape[0]
            h, w, c = g["in_height"], g["in_width"], g["n_chan"]
            # zeros and one slice assignment: np.pad's general machinery cost 3x this on small images
            img = np.zeros((n, g["pad_top"] + h + g["pad_bottom"], g["pad_left"] + w + g["pad_right"], c))
            img[:, g["pad_top"]:g["pad_top"] + h, g["pad_left"]:g["pad_left"] + w] = x.values.reshape(n, h, w, c)
            env[emu.fw.resolve(dst)] = Tensor(_recast(img.reshape(n, -1), x.type, res), res)

        return step

    return build


def _copy(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    """repack_stream, linear-like moves: the values, cast to the output's type."""
    return _elementwise(_linear)(emu, call)


def _clone(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    src, outs = call.args[0], call.args[1:]
    types = [emu.out_type(call, o) for o in outs]

    def step(env: Dict[str, Tensor]) -> None:
        x = env[emu.fw.resolve(src)]
        for o, t in zip(outs, types):
            env[emu.fw.resolve(o)] = Tensor(_recast(x.values, x.type, t), t)

    return step


def _merge(op: str) -> Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]:
    def build(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
        a, b, dst = call.args[0], call.args[1], call.args[2]
        res = emu.out_type(call, dst)
        if op == "average":
            raise NotEmulated(call.layer, "the average merge is not emulated")

        def step(env: Dict[str, Tensor]) -> None:
            x, y = env[emu.fw.resolve(a)], env[emu.fw.resolve(b)]
            if op == "multiply" and _auto_mul(x.type, y.type).width > MAX_WIDTH:
                raise NotEmulated(call.layer, "the product needs more than 53 bits")
            f = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "maximum": np.maximum,
                 "minimum": np.minimum}[op]
            env[emu.fw.resolve(dst)] = Tensor(cast(f(x.values, y.values), res), res)

        return step

    return build


def _concatenate(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    a, b, dst = call.args[0], call.args[1], call.args[2]
    struct = call.targs[-1]
    res = emu.out_type(call, dst)
    fields = emu.fw.structs.get(struct, {})
    dims = [emu.fw.int_field(struct, k) for k in sorted(fields) if k.startswith("n_elem1_")]
    dims2 = [emu.fw.int_field(struct, k) for k in sorted(fields) if k.startswith("n_elem2_")]
    axis = emu.fw.int_field(struct, "axis", -1)
    if None in dims or None in dims2 or axis not in (-1, len(dims) - 1) and len(dims) > 1:
        raise NotEmulated(call.layer, "concatenation along an axis other than the last is not emulated")
    last1 = dims[-1] if dims else None
    last2 = dims2[-1] if dims2 else None

    def step(env: Dict[str, Tensor]) -> None:
        x, y = env[emu.fw.resolve(a)], env[emu.fw.resolve(b)]
        n = x.values.shape[0]
        if last1 and last2:
            out = np.concatenate([x.values.reshape(n, -1, last1), y.values.reshape(n, -1, last2)], axis=2)
        else:
            out = np.concatenate([x.values, y.values], axis=1)
        env[emu.fw.resolve(dst)] = Tensor(cast(out.reshape(n, -1), res), res)

    return step


def _activation_dispatch(emu: Emulator, call: Call) -> Callable[[Dict[str, Tensor]], None]:
    raise NotEmulated(call.layer, f"activation nnet::{call.function} is not emulated")


_LAYERS: Dict[str, Callable[[Emulator, Call], Callable[[Dict[str, Tensor]], None]]] = {
    "dense": _dense,
    "conv_1d_cl": _conv(False), "conv_2d_cl": _conv(True),
    "pointwise_conv_1d_cl": _conv(False), "pointwise_conv_2d_cl": _conv(True),
    "depthwise_conv_1d_cl": _depthwise(False), "depthwise_conv_2d_cl": _depthwise(True),
    "normalize": _normalize,
    "linear": _elementwise(_linear), "relu": _elementwise(_relu),
    "binary_tanh": _elementwise(_binary_tanh), "ternary_tanh": _elementwise(_ternary_tanh),
    "hard_sigmoid": _hard("sigmoid"), "hard_tanh": _hard("tanh"),
    "softmax": _softmax, "softmax_multidim": _softmax, **{name: _table(spec) for name, spec in TABLE_FUNCTIONS.items()},
    "pooling1d_cl": _pooling(False), "pooling2d_cl": _pooling(True),
    "global_pooling1d_cl": _global_pooling(False), "global_pooling2d_cl": _global_pooling(True),
    "zeropad1d_cl": _zeropad(False), "zeropad2d_cl": _zeropad(True),
    "repack_stream": _copy, "clone_stream": _clone,
    "add": _merge("add"), "subtract": _merge("subtract"), "multiply": _merge("multiply"),
    "maximum": _merge("maximum"), "minimum": _merge("minimum"), "average": _merge("average"),
    "concatenate1d": _concatenate, "concatenate2d": _concatenate, "concatenate3d": _concatenate,
}
"""hls4ml function (as called in the project's .cpp) -> builder of its step."""


def emulated_functions() -> Sequence[str]:
    """The hls4ml functions the emulator reproduces (for messages and the README)."""
    return sorted(_LAYERS)
