"""The fixed-point codec against the ap_fixed headers hls4ml ships, bit for bit, and its properties.

One C++ program is compiled per session: a fixed table of ``ap_fixed``/``ap_ufixed`` types (every
quantization × overflow mode, signed and unsigned, N saturation bits, W from 1 to 64, I < 0 and I > W)
instantiated from ``TYPES``; it reads ``index n bits...`` lines (doubles as raw IEEE bits, so nothing is
lost in text) and answers each value with the raw bits and ``to_double()`` of ``T(double)``, the
conversion hls4ml's AXI wrapper applies to each float it receives.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpga_accel.errors import ConfigError
from fpga_accel.runtime.fixed_point import OVERFLOW, QUANTIZATION, Codec, FixedType

# (overflow mode, N) variants: N only changes AP_WRAP and AP_WRAP_SM
SIGNED_OVERFLOWS = [("SAT", 0), ("SAT_ZERO", 0), ("SAT_SYM", 0), ("WRAP", 0), ("WRAP", 1), ("WRAP", 3),
                    ("WRAP_SM", 0), ("WRAP_SM", 1), ("WRAP_SM", 3)]
UNSIGNED_OVERFLOWS = [(o, n) for o, n in SIGNED_OVERFLOWS if o != "WRAP_SM"]
MODES = {True: [(q, o, n) for q in QUANTIZATION for o, n in SIGNED_OVERFLOWS],
         False: [(q, o, n) for q in QUANTIZATION for o, n in UNSIGNED_OVERFLOWS]}

# (width, integer) shapes beyond the full cross: W = 1 and 64, I < 0, I = 0, I = W, I > W, around 32 and 53
SHAPES = [(1, 1), (1, -3), (1, 5), (2, 1), (3, 3), (4, 7), (7, 0), (8, -4), (8, 12), (12, 4), (16, 6), (18, 1),
          (24, 24), (31, 2), (32, 16), (32, 40), (33, 5), (40, -2), (48, 24), (53, 1), (54, 27), (63, 0),
          (64, 0), (64, 64), (64, 70)]
EDGE_SHAPES = [(1, 0), (1, 2), (2, -1), (64, 32), (64, -5), (53, 60)]  # with every overflow variant


def _table() -> list[FixedType]:
    types = []
    for signed in (True, False):  # every Q × O × N on one shape
        types += [FixedType(6, 3, signed, q, o, n) for q, o, n in MODES[signed]]
    for signed in (True, False):
        overflows = SIGNED_OVERFLOWS if signed else UNSIGNED_OVERFLOWS
        for e, (w, i) in enumerate(EDGE_SHAPES):
            types += [FixedType(w, i, signed, QUANTIZATION[(e + j) % 7], o, min(n, w))
                      for j, (o, n) in enumerate(overflows)]
    for k, (w, i) in enumerate(SHAPES):  # each shape with two modes, walking through the cross
        for signed in (True, False):
            modes = MODES[signed]
            for j in range(2):
                q, o, n = modes[(k * 2 + j) * 5 % len(modes)]
                types.append(FixedType(w, i, signed, q, o, min(n, w)))
    return list(dict.fromkeys(types))


TYPES = _table()

_PROGRAM = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "ap_fixed.h"

template <class T> static void run(unsigned n) {
  std::vector<double> xs(n);
  for (unsigned i = 0; i < n; ++i) {
    unsigned long long b;
    if (scanf("%llx", &b) != 1) exit(2);
    memcpy(&xs[i], &b, sizeof b);
  }
  for (unsigned i = 0; i < n; ++i) {
    T v(xs[i]);
    printf(i ? " %llx:%a" : "%llx:%a", (unsigned long long)v.bits_to_uint64(), v.to_double());
  }
  printf("\n");
  fflush(stdout);
}

typedef void (*runner)(unsigned);
static const runner TYPES[] = {
%s
};

int main() {
  unsigned index, n;
  while (scanf("%u %u", &index, &n) == 2) {
    if (index >= sizeof TYPES / sizeof TYPES[0]) return 3;
    TYPES[index](n);
  }
  return 0;
}
"""


class ApFixed:
    """The compiled reference, kept running: one request line per batch of values of one type."""

    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def convert(self, index: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw W-bit patterns as uint64, values as float64) of ``TYPES[index](x)``."""
        x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        words = " ".join(format(b, "x") for b in x.view(np.uint64).tolist())
        self.proc.stdin.write(f"{index} {x.size} {words}\n")
        self.proc.stdin.flush()
        answer = [token.split(":") for token in self.proc.stdout.readline().split()]
        assert len(answer) == x.size, f"the reference program answered {len(answer)} of {x.size} values"
        mask = (1 << TYPES[index].width) - 1
        bits = np.array([int(b, 16) & mask for b, _ in answer], dtype=np.uint64)
        return bits, np.array([float.fromhex(v) for _, v in answer])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _ap_types_dir() -> Path:
    spec = importlib.util.find_spec("hls4ml")
    assert spec is not None and spec.origin, "hls4ml (the host extra) ships the ap_fixed headers these tests use"
    path = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    assert (path / "ap_fixed.h").is_file(), f"no ap_fixed.h in {path}"
    return path


@pytest.fixture(scope="module")
def ap_fixed(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH: the ap_fixed reference program cannot be compiled")
    folder = tmp_path_factory.mktemp("ap_fixed")
    source, exe = folder / "reference.cpp", folder / "reference"
    source.write_text(_PROGRAM.replace("%s", ",\n".join(f"  run<{t} >" for t in TYPES)))
    proc = subprocess.run(["g++", "-std=c++11", "-O0", "-I", str(_ap_types_dir()), str(source), "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    reference = ApFixed(exe)
    yield reference
    reference.close()


def _probe_values(t: FixedType, rng: np.random.Generator) -> np.ndarray:
    """Grid points, half-way and quarter points and their neighbouring doubles around 0, the range's ends
    and far beyond; uniform values over 2.5× the range; log-uniform magnitudes; IEEE specials; ± each."""
    lo, hi = t.raw_range()
    centres = [0, lo, hi, lo // 2, hi // 2, hi + 1, lo - 1, 2 * lo, 2 * hi + 1, -hi, 1 << t.width, 3 << t.width]
    raw = np.array([float(c + d) for c in centres for d in (-2, -1, 0, 1, 2)])
    grid = np.ldexp((raw[:, None] + np.array([0.0, 0.25, 0.5, 0.75])).ravel(), -t.frac)
    near = np.concatenate([grid, np.nextafter(grid, np.inf), np.nextafter(grid, -np.inf)])
    span = max(abs(v) for v in t.value_range()) + t.lsb
    uniform = rng.uniform(-2.5 * span, 2.5 * span, 150)
    logs = np.ldexp(rng.uniform(1.0, 2.0, 150), rng.integers(-t.frac - 60, t.integer + 60, 150))
    special = np.array([0.0, np.inf, np.nan, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1.0, 0.5,
                        0.75, 1.5, 3.0])
    x = np.concatenate([near, uniform, logs, special])
    return np.concatenate([x, -x])


def test_the_table_covers_every_mode():
    for signed in (True, False):
        ours = {(t.quantization, t.overflow, t.sat_bits > 0) for t in TYPES if t.signed == signed}
        overflows = [o for o in OVERFLOW if signed or o != "WRAP_SM"]
        assert ours >= {(q, o, n) for q in QUANTIZATION for o in overflows for n in (False, True)
                        if n is False or o.startswith("WRAP")}
        shapes = [t for t in TYPES if t.signed == signed]
        assert any(t.width == 1 for t in shapes) and any(t.width == 64 for t in shapes)
        assert any(t.integer < 0 for t in shapes) and any(t.integer > t.width for t in shapes)
    assert len(TYPES) < 320  # each instantiation costs ~30 ms of g++


def test_codec_matches_ap_fixed_bit_for_bit(ap_fixed):
    rng = np.random.default_rng(8)
    failures = []
    for index, t in enumerate(TYPES):
        x = _probe_values(t, rng)
        want_bits, want_values = ap_fixed.convert(index, x)
        got = t.to_bits(x)
        bad = np.flatnonzero(got != want_bits)
        if bad.size:
            failures.append(f"{t}: x={x[bad[0]]!r} ours {int(got[bad[0]]):#x}, ap_fixed {int(want_bits[bad[0]]):#x} "
                            f"({bad.size} of {x.size} differ)")
        elif t.width <= 53:  # decoding is exact there: the value must be ap_fixed's to_double()
            assert np.array_equal(t.from_bits(got), want_values), t
    assert not failures, "\n".join(failures)


@st.composite
def fixed_types(draw, max_width: int = 64) -> FixedType:
    width = draw(st.integers(1, max_width))
    signed = draw(st.booleans())
    overflow = draw(st.sampled_from([o for o in OVERFLOW if signed or o != "WRAP_SM"]))
    n = draw(st.integers(0, width)) if overflow.startswith("WRAP") else 0
    return FixedType(width, draw(st.integers(-8, width + 8)), signed, draw(st.sampled_from(QUANTIZATION)),
                     overflow, n)


def values_near(t: FixedType, spread: int = 2) -> st.SearchStrategy[float]:
    """Floats around the type's range: grid points, halves, quarters and arbitrary fractions of a step,
    their neighbouring doubles, and any float at all."""
    lo, hi = t.raw_range()
    steps = st.integers(spread * lo - 2, spread * hi + 2)
    fraction = st.sampled_from([0.0, 0.5, 0.25, 0.75]) | st.floats(0.0, 1.0, exclude_max=True)
    on_grid = st.builds(lambda r, f: float(np.ldexp(float(r) + f, -t.frac)), steps, fraction)
    nudged = st.builds(lambda v, up: float(np.nextafter(v, np.inf if up else -np.inf)), on_grid, st.booleans())
    return on_grid | nudged | st.floats(allow_nan=False)


@st.composite
def a_table_type_and_values(draw):
    index = draw(st.integers(0, len(TYPES) - 1))
    return index, draw(st.lists(values_near(TYPES[index]), min_size=1, max_size=64))


@settings(max_examples=150, deadline=None, database=None)
@given(case=a_table_type_and_values())
def test_random_values_match_ap_fixed(ap_fixed, case):
    index, values = case
    x = np.array(values)
    want, _ = ap_fixed.convert(index, x)
    got = TYPES[index].to_bits(x)
    assert got.tolist() == want.tolist(), (str(TYPES[index]), x[got != want].tolist())


@st.composite
def a_type_and_values(draw, max_width: int = 64, spread: int = 2):
    t = draw(fixed_types(max_width))
    return t, np.array(draw(st.lists(values_near(t, spread), min_size=1, max_size=32)))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=a_type_and_values(max_width=32, spread=3))
def test_fast_encode_is_the_exact_encode(case):
    """The board's per-call path (whole-array float64 steps) gives the words of the header's bit recipe
    for float32 inputs, every mode it covers; the others, and values it cannot hold exactly, go that way."""
    t, x = case
    codec = Codec("fixed", t)
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    finite = np.concatenate([x32[np.isfinite(x32)], np.float32([0.0, -0.0])])
    fast = codec._encode_fast(finite)
    covered = codec._fast and bool(np.all(np.abs(finite.astype(np.float64) * 2.0 ** t.frac) < 2.0 ** 52))
    assert (fast is not None) == covered, str(t)
    if fast is not None:
        exact = codec._encode_exact(finite)
        assert fast.dtype == exact.dtype == np.int32 and fast.tolist() == exact.tolist(), \
            (str(t), finite[fast != exact].tolist())
    odd = np.concatenate([finite, np.float32([np.inf, -np.inf, np.nan])])
    assert codec._encode_fast(odd) is None  # inf/NaN: the header reads their bits, only the exact way does
    assert codec.encode(odd).tolist() == codec._encode_exact(odd).tolist()


def test_fast_decode_is_the_exact_decode():
    """int32 words of every width <= 32 (their bits above W anything) decode as from_bits does, bit for bit."""
    rng = np.random.default_rng(3)
    words = np.concatenate([rng.integers(-2**31, 2**31, 4000), [0, -1, 1, 2**31 - 1, -2**31]]).astype(np.int32)
    for width in range(1, 33):
        for integer in (-3, 0, 1, width // 2, width, width + 5):
            for signed in (True, False):
                codec = Codec("fixed", FixedType(width, integer, signed))
                fast = codec._decode_fast(words)
                assert fast is not None and fast.dtype == np.float32
                assert fast.view(np.uint32).tolist() == codec.fixed.from_bits(words).astype(np.float32).view(
                    np.uint32).tolist(), str(codec.fixed)
    assert Codec.parse("ap_fixed<40,20>")._decode_fast(np.zeros(2, np.int64)) is None


def test_fast_encode_covers_the_usual_stream_types():
    assert all(Codec.parse(text)._fast for text in ("ap_fixed<16,6>", "ap_fixed<16,6,AP_RND,AP_SAT>",
                                                    "ap_ufixed<8,0,AP_RND_CONV,AP_SAT_SYM>", "fixed<32,8,TRN,SAT_ZERO>"))
    assert not any(Codec.parse(text)._fast for text in ("ap_fixed<40,20>", "ap_fixed<8,3,AP_TRN,AP_WRAP,2>",
                                                        "ap_fixed<8,3,AP_TRN,AP_WRAP_SM>"))
    assert Codec.parse("ap_fixed<16,6>")._encode_fast(np.array([1.5])) is None  # float64 input: the exact way


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=a_type_and_values())
def test_decoded_values_are_on_the_grid_and_in_range(case):
    t, x = case
    bits = t.to_bits(x)
    assert bits.dtype == np.uint64 and bits.shape == x.shape
    assert np.all(bits <= np.uint64((1 << t.width) - 1))
    y = t.quantize(x)
    steps = np.ldexp(y, t.frac)
    assert np.all(steps == np.floor(steps))
    lo, hi = t.value_range()
    assert np.all((lo <= y) & (y <= hi))
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        assert np.all(y >= -hi)  # symmetric: min itself is never produced
    if t.overflow == "SAT_ZERO" and t.width <= 53:
        assert np.all((y == 0) | (np.abs(y - x) <= t.lsb))


@st.composite
def a_type_and_grid_values(draw):
    """Values already on the grid and inside the range (as doubles: |steps| < 2^53)."""
    t = draw(fixed_types())
    lo, hi = t.raw_range()
    steps = draw(st.lists(st.integers(max(lo, -(1 << 53) + 1), min(hi, (1 << 53) - 1)), min_size=1, max_size=32))
    return t, np.array(steps, dtype=np.int64)


@settings(max_examples=300, deadline=None, database=None)
@given(case=a_type_and_grid_values())
def test_values_on_the_grid_survive_unchanged(case):
    t, steps = case
    x = np.ldexp(steps.astype(np.float64), -t.frac)
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        lo, hi = t.raw_range()
        steps = np.where(steps == lo, -hi, steps)  # ap_fixed's SAT_SYM treats min as an underflow
        x = np.where(x == t.value_range()[0], -t.value_range()[1], x)
    mask = (1 << t.width) - 1
    assert t.to_bits(x).tolist() == [int(s) & mask for s in steps]
    assert np.array_equal(t.quantize(x), x)


@settings(max_examples=300, deadline=None, database=None)
@given(case=a_type_and_values(spread=3))
def test_quantization_is_monotonic(case):
    """Saturating modes are monotonic everywhere; every mode is inside the range (no overflow there)."""
    t, x = case
    x = np.sort(x)
    if t.overflow not in ("SAT", "SAT_SYM"):
        lo, hi = t.value_range()
        x = x[(lo <= x) & (x <= hi)]
    y = t.quantize(x)
    assert np.all(np.diff(y) >= 0), (str(t), x.tolist(), y.tolist())


TIES = {  # what each mode does to k + 1/2 steps: (k = 2, k = 3, k = -3, k = -4), i.e. 2.5, 3.5, -2.5, -3.5
    "RND": (3, 4, -2, -3), "RND_ZERO": (2, 3, -2, -3), "RND_MIN_INF": (2, 3, -3, -4),
    "RND_INF": (3, 4, -3, -4), "RND_CONV": (2, 4, -2, -4), "TRN": (2, 3, -3, -4), "TRN_ZERO": (2, 3, -2, -3),
}


@pytest.mark.parametrize("mode", QUANTIZATION)
def test_ties_and_error_bounds_per_quantization_mode(mode):
    t = FixedType(12, 5, True, mode, "SAT")
    assert t.quantize(np.array([2.5, 3.5, -2.5, -3.5]) * t.lsb).tolist() == [v * t.lsb for v in TIES[mode]]
    x = np.random.default_rng(3).uniform(-14, 14, 5000)
    err = t.quantize(x) - x
    if mode == "TRN":
        assert np.all((-t.lsb < err) & (err <= 0))
    elif mode == "TRN_ZERO":
        assert np.all(np.abs(err) < t.lsb) and np.all(np.abs(t.quantize(x)) <= np.abs(x))
    else:
        assert np.all(np.abs(err) <= t.lsb / 2)


@pytest.mark.parametrize("text, x, words", [
    # the modes the tracker reported: TRN_ZERO truncates towards zero, RND_INF rounds halves away from
    # zero, SAT_SYM saturates to ±max
    ("ap_fixed<8,4,AP_TRN_ZERO,AP_SAT>", [0.99, -0.99, -0.0625, -0.07, 100.0], [15, -15, -1, -1, 127]),
    ("ap_fixed<8,4,AP_RND_INF,AP_WRAP>", [0.03125, -0.03125, 0.09375, -0.09375, 0.04], [1, -1, 2, -2, 1]),
    ("ap_fixed<8,4,AP_TRN,AP_SAT_SYM>", [-8.0, -100.0, 100.0, -7.9375], [-127, -127, 127, -127]),
    ("ap_fixed<4,4,AP_TRN,AP_WRAP,1>", [9.0, -9.0, 5.0], [1, -1, 5]),  # N=1: overflow keeps the sign bit
    ("ap_ufixed<4,4,AP_TRN,AP_WRAP,2>", [17.0, -1.0], [13, 15]),  # unsigned N=2: top two bits set, both ways
    ("ap_fixed<4,4,AP_TRN,AP_WRAP_SM>", [9.0, -9.0, 19.0], [6, -8, -4]),
    ("fixed<8,3,RND_CONV,SAT>", [0.046875, 0.078125, 100.0], [2, 2, 127]),
    ("ap_ufixed<8,2,AP_RND,AP_SAT_SYM>", [-1.0, 10.0], [0, 255]),  # unsigned SAT_SYM is SAT
])
def test_codec_words(text, x, words):
    codec = Codec.parse(text)
    got = codec.encode(np.array(x, dtype=np.float32))
    assert got.dtype == np.int32 and got.tolist() == words
    assert np.array_equal(codec.encode(codec.decode(got)), got)


def test_words_are_sign_or_zero_extended_and_64_bit_above_32():
    assert Codec.parse("ap_fixed<32,32>").encode(np.array([-1.0])).tolist() == [-1]
    assert Codec.parse("ap_ufixed<32,32>").encode(np.array([2.0 ** 32 - 1])).view(np.uint32).tolist() == [2**32 - 1]
    assert Codec.parse("ap_ufixed<4,4>").encode(np.array([15.0])).tolist() == [15]
    wide = Codec.parse("ap_fixed<40,20,AP_RND,AP_SAT>")
    assert wide.word_dtype == np.int64
    x = np.array([-3.25, 1e9, 12345.678], dtype=np.float32)
    words = wide.encode(x)
    assert words.dtype == np.int64 and words[0] == -3.25 * 2**20 and words[1] == 2**39 - 1
    assert np.array_equal(wide.decode(words), np.array([-3.25, 2**19 - 2**-20, 12345.678], dtype=np.float32))
    assert Codec.parse("ap_fixed<16,6>").encode(np.float32(1.5)).shape == ()


@pytest.mark.parametrize("text, attrs", [
    ("ap_fixed<16,6>", (16, 6, True, "TRN", "WRAP", 0)),
    ("ufixed<18,1,RND,SAT>", (18, 1, False, "RND", "SAT", 0)),
    ("ap_fixed<8,-2,AP_RND_MIN_INF,AP_WRAP_SM,3>", (8, -2, True, "RND_MIN_INF", "WRAP_SM", 3)),
    (" ap_ufixed< 64 , 70 , AP_TRN_ZERO , AP_SAT_ZERO > ", (64, 70, False, "TRN_ZERO", "SAT_ZERO", 0)),
])
def test_parse(text, attrs):
    t = FixedType.parse(text)
    assert (t.width, t.integer, t.signed, t.quantization, t.overflow, t.sat_bits) == attrs
    assert FixedType.parse(str(t)) == t


@pytest.mark.parametrize("text, match", [
    ("ap_ufixed<8,3,AP_TRN,AP_WRAP_SM>", "cannot use AP_WRAP_SM"),
    ("ap_fixed<65,3>", "width 65 is not supported"),
    ("ap_fixed<0,0>", "width 0 is not supported"),
    ("ap_fixed<8,3,AP_ROUND>", "unknown quantization mode 'AP_ROUND'"),
    ("ap_fixed<8,3,AP_RND,AP_CLIP>", "unknown overflow mode 'AP_CLIP'"),
    ("ap_fixed<8,3,AP_RND,AP_WRAP,9>", "saturation bits N"),
    ("ap_int<8>", "not a fixed-point type"),
])
def test_parse_refuses(text, match):
    with pytest.raises(ConfigError, match=match):
        FixedType.parse(text)
    with pytest.raises(ConfigError):
        Codec.parse(text)
