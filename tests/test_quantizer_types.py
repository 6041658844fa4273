"""Every quantized_bits / quantized_relu setting is its HLS type: checked bit for bit against QKeras.

One compiled design carries many settings side by side (one branch per setting off a shared input,
summed pairwise so that the graph has one output); csim's per-layer trace gives each branch's output,
compared with the same Keras layer's. The settings are the edge cases hls4ml 1.3 gets wrong (integer
bits equal to or above the width, keep_negative=False, symmetric) plus random ones drawn from a seed;
the inputs are on a fine grid, with exact ties of every step size and values far past saturation.
"""
from __future__ import annotations

import numpy as np
import pytest

import fpga_accel as fa

EDGE_ACTIVATIONS = [
    ("quantized_relu", 6, 6, {}), ("quantized_relu", 6, 8, {}), ("quantized_relu", 4, 0, {}),
    ("quantized_relu", 1, 0, {}), ("quantized_relu", 3, 3, {}), ("quantized_relu", 8, 2, {}),
    ("quantized_bits", 6, 6, {}), ("quantized_bits", 4, 6, {}), ("quantized_bits", 8, 0, {}),
    ("quantized_bits", 5, 2, {"symmetric": 1}), ("quantized_bits", 6, 6, {"keep_negative": False}),
    ("quantized_bits", 4, 0, {"keep_negative": False}), ("quantized_bits", 7, 9, {"keep_negative": False}),
    ("quantized_bits", 2, 0, {}), ("quantized_bits", 2, 2, {}), ("quantized_bits", 3, 3, {"symmetric": 1}),
]
EDGE_WEIGHTS = [(6, 6, {}), (4, 5, {}), (8, 0, {"keep_negative": False}), (5, 2, {"symmetric": 1}),
                (3, 3, {"keep_negative": False})]
N_IN = 8


def _random_settings(seed: int, n: int) -> list[tuple[str, int, int, dict]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind = ("quantized_relu", "quantized_bits")[int(rng.integers(2))]
        bits = int(rng.integers(2, 13))
        integer = int(rng.integers(0, bits + 4))
        extra = {}
        if kind == "quantized_bits":
            if rng.random() < 0.3:
                extra["keep_negative"] = False
            elif rng.random() < 0.3:
                extra["symmetric"] = 1
        out.append((kind, bits, integer, extra))
    return out


def _quantizer(kind, bits, integer, extra):
    from qkeras import quantized_bits, quantized_relu

    if kind == "quantized_relu":
        return quantized_relu(bits, integer, **extra)
    return quantized_bits(bits, integer, alpha=1, **extra)


def _model(activations, weights, seed=0):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    tf.keras.utils.set_random_seed(seed)
    inp = keras.Input((N_IN,), name="x")
    # the input quantizer holds every test input exactly: the design input type is this quantizer's
    x = QActivation(quantized_bits(26, 10, alpha=1), name="input_q")(inp)
    branches = []
    for i, setting in enumerate(activations):
        branches.append(QActivation(_quantizer(*setting), name=f"act{i}")(x))
    short = QActivation(quantized_bits(8, 3, alpha=1), name="short")(x)  # float32 sums below stay exact
    for i, (bits, integer, extra) in enumerate(weights):
        q = quantized_bits(bits, integer, alpha=1, **extra)
        dense = QDense(N_IN, kernel_quantizer=q, bias_quantizer=q, name=f"dense{i}",
                       kernel_initializer=keras.initializers.RandomUniform(-2.0 ** (integer + 1), 2.0 ** (integer + 1)),
                       bias_initializer=keras.initializers.RandomUniform(-2.0 ** (integer + 1), 2.0 ** (integer + 1)))
        branches.append(QActivation(quantized_bits(20, 14, alpha=1), name=f"dense{i}_q")(dense(short)))
    total = branches[0]
    for i, branch in enumerate(branches[1:]):
        total = keras.layers.Add(name=f"sum{i}")([total, branch])
    return keras.Model(inp, total, name="quantizer_settings")


def _inputs(n, seed=0):
    """Fine-grid values at every scale, exact ties of steps 2**-8 .. 2**8 and values past saturation."""
    rng = np.random.default_rng(seed)
    grid = 2.0 ** -14
    shape = (n, N_IN)
    sign = rng.choice([-1.0, 1.0], shape)
    logs = sign * 2.0 ** rng.uniform(-8, 9.9, shape)
    ties = sign * (rng.integers(0, 64, shape) + 0.5) * 2.0 ** rng.integers(-8, 9, shape).astype(float)
    x = np.where(rng.random(shape) < 0.5, logs, ties)
    return np.clip(np.round(x / grid) * grid, -1000, 1000).astype(np.float32)


@pytest.mark.parametrize("kind, bits, integer, extra, expected", [
    ("quantized_relu", 6, 6, {}, "ufixed<6,6,RND_CONV,SAT>"),
    ("quantized_relu", 6, 8, {}, "ufixed<6,8,RND_CONV,SAT>"),
    ("quantized_bits", 6, 6, {}, "fixed<6,7,RND_CONV,SAT>"),
    ("quantized_bits", 6, 6, {"keep_negative": False}, "ufixed<6,6,RND_CONV,SAT>"),
    ("quantized_bits", 5, 2, {"symmetric": 1}, "fixed<5,3,RND_CONV,SAT_SYM>"),
])
def test_quantizer_type_strings(kind, bits, integer, extra, expected):
    from fpga_accel.quantizer_types import type_string

    assert type_string(_quantizer(kind, bits, integer, extra)) == expected


@pytest.mark.parametrize("quantizer, reason", [
    ("quantized_bits(1, 0, alpha=1)", "sign function"),
    ("quantized_bits(4, 0, alpha=0.5)", "alpha=0.5"),
    ("quantized_relu(4, 0, qnoise_factor=0.5)", "qnoise_factor=0.5"),
    ("quantized_po2(4)", "no activation for the quantized_po2 quantizer"),
    ("quantized_relu_po2(4)", "no activation for the quantized_relu_po2 quantizer"),
])
def test_activation_quantizers_without_an_exact_type_are_refused(quantizer, reason, tmp_path):
    from qkeras import QActivation, QDense, quantized_bits

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    inp = keras.Input((4,))
    h = QDense(4, kernel_quantizer=quantized_bits(4, 0, alpha=1), name="d")(inp)
    model = keras.Model(inp, QActivation(quantizer, name="act")(h))
    with pytest.raises(fa.ConfigError, match=f"act: .*{reason}"):
        fa.convert(model, fa.ConvertConfig(name="q", output_dir=tmp_path))
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_every_quantizer_setting_matches_qkeras_bit_for_bit(tmp_path):
    """The property: for every setting (edge cases and 24 drawn from a seed), csim's values are QKeras'
    on 2,000 inputs, ties and saturation included."""
    from fpga_accel.design import _keras_outputs

    activations = EDGE_ACTIVATIONS + _random_settings(seed=24, n=24)
    model = _model(activations, EDGE_WEIGHTS)
    design = fa.convert(model, fa.ConvertConfig(name="qsettings", output_dir=tmp_path, verify_samples=0))
    x = _inputs(2000)
    names = [f"act{i}" for i in range(len(activations))] + [f"dense{i}_q" for i in range(len(EDGE_WEIGHTS))]
    ref = _keras_outputs(model, x, names)
    _, traces = design.trace(x)
    wrong = {}
    for name in names:
        ours = traces[name].reshape(ref[name].shape)
        if not np.array_equal(ours, ref[name]):
            i = int(name.removeprefix("act")) if name.startswith("act") else None
            wrong[name] = (activations[i] if i is not None else EDGE_WEIGHTS[int(name[5:-2])],
                           float(np.mean(ours != ref[name])))
    assert not wrong, f"settings csim does not reproduce: {wrong}"
    # the settings hls4ml 1.3 turns into ap_int/ap_uint are fixed types with rounding and saturation here
    defines = (design.root / "firmware" / "defines.h").read_text()
    assert "ap_uint<6>" not in defines and "ap_ufixed<6,6,AP_RND_CONV,AP_SAT" in defines


def test_float32_sum_noise_is_not_a_divergence_but_a_grid_step_is():
    """The first-diverging-layer diagnosis: a sum that differs from Keras' float32 sum in its last bits
    has not diverged; one step of a 16-bit quantizer's grid (2**-9 on values near 50) has."""
    from fpga_accel.design import _within_float32_rounding

    ref = np.random.default_rng(0).uniform(-50, 50, (100, 72)).astype(np.float32)
    noisy = np.nextafter(ref, np.float32(np.inf))  # one float32 ulp
    assert _within_float32_rounding(ref, noisy)
    stepped = ref.copy()
    stepped[3, 5] += 2.0 ** -9  # one step of quantized_bits(16, 6)
    assert not _within_float32_rounding(ref, stepped)
