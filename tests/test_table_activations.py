"""Lookup-table activations (tanh, sigmoid, softplus, softsign, elu) inside QKeras models: the table rule of
``fpga_accel.hls.exact_types.table_rule`` — one entry per input value and the following quantizer's type —
makes csim equal QKeras bit for bit (and the emulator equal csim); where it cannot, the verdict names the
layer and says why. Fast part: the rule on types alone; slow part: five small models compiled."""
from __future__ import annotations

import numpy as np
import pytest

from fpga_accel.runtime.fixed_point import FixedType

Q6 = FixedType(6, 1, True, "RND_CONV", "SAT")  # quantized_bits(6, 0)
SUM = FixedType(17, 7)  # an exact QDense sum with 10 fraction bits


@pytest.mark.parametrize("function,x,size", [("tanh", SUM, 8192), ("sigmoid", SUM, 16384),
                                             ("softsign", FixedType(8, 4), 256), ("tanh", FixedType(6, 8), 8),
                                             ("elu", SUM, 8192)])
def test_one_entry_per_input_value_is_exact(function, x, size):
    """The table reads f at every representable input exactly once rounded, as QKeras does."""
    from fpga_accel.hls.exact_types import table_rule

    assert table_rule(function, x, Q6) == (size, None)


def test_without_the_rule_tables_are_not_exact():
    """hls4ml's default (1024 entries of ap_fixed<18,8>, truncated) differs from QKeras on the same inputs:
    the rule is what makes them equal."""
    from fpga_accel.hls.exact_types import _keras_activation
    from fpga_accel.runtime.emulator import cast
    from fpga_accel.runtime.lookup_tables import TABLE_FUNCTIONS

    spec = TABLE_FUNCTIONS["tanh"]
    xs = np.arange(-4096, 4096) / 1024.0
    hls4ml = cast(cast(cast(spec.values(1024), FixedType(18, 8))[spec.index(xs, 1024)], FixedType(16, 6)), Q6)
    qkeras = cast(_keras_activation("tanh")(xs).astype(np.float64), Q6)
    assert np.mean(hls4ml != qkeras) > 0.01


def test_the_rule_says_why_it_does_not_apply():
    from fpga_accel.hls.exact_types import table_rule

    size, why = table_rule("tanh", FixedType(24, 8), Q6)  # 16 fraction bits: 2^19 entries
    assert size == 0 and "524,288 entries" in why and "at most 13 fraction bits" in why
    assert "at most 12 fraction bits" in table_rule("sigmoid", FixedType(24, 8), Q6)[1]
    assert "at most 13 fraction bits" in table_rule("elu", FixedType(24, 8), Q6)[1]
    assert table_rule("sigmoid", SUM, None) == (0, "no quantizer follows it, so its float output cannot be matched")
    # quantized_bits(12, 1) goes on rounding beyond tanh's table range [-4, 4): tanh(5) is not tanh(4 - 2^-10)
    size, why = table_rule("tanh", SUM, FixedType(12, 2, True, "RND_CONV", "SAT"))
    assert size == 0 and "would differ from QKeras" in why


def _model(function: str, in_bits: tuple[int, int], after: object | None, head: bool = False):
    """hls4ml's test_qkeras shape: input quantizer, QDense(quantized_bits(8, 2)), the float activation,
    the quantizer after it (none: the float output is the model's)."""
    from qkeras import QActivation, QDense, quantized_bits

    from fpga_accel.keras_compat import keras_module

    from qkeras import quantized_tanh

    keras = keras_module()
    keras.utils.set_random_seed(3)
    if function == "real_tanh":  # QKeras' own: tanh, then its rounding step
        act = QActivation(quantized_tanh(6, use_real_tanh=True), name="float_real_tanh")
    elif function == "elu":
        act = keras.layers.ELU(1.0, name="float_elu")
    else:
        act = keras.layers.Activation(function, name=f"float_{function}")
    layers = [keras.Input((10,)), QActivation(quantized_bits(*in_bits, alpha=1)),
              QDense(6, kernel_quantizer=quantized_bits(8, 2, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1)),
              act]
    if after is not None:
        layers.append(QActivation(after))
    if head:  # a layer after the table's quantizer
        layers.append(QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1),
                             bias_quantizer=quantized_bits(6, 0, alpha=1), name="head"))
    return keras.Sequential(layers, name=f"table_{function}")


CASES = {  # id: (function, input quantizer bits/integer, quantizer after, io type)
    "tanh": ("tanh", (6, 2), "quantized_bits(6, 0, alpha=1)", "io_parallel"),
    "sigmoid": ("sigmoid", (6, 2), "quantized_relu(6, 0)", "io_stream"),
    "elu": ("elu", (6, 2), "quantized_bits(6, 2, alpha=1)", "io_parallel"),  # the Keras ELU layer
    "real_tanh": ("real_tanh", (6, 2), None, "io_stream"),  # quantized_tanh(6, use_real_tanh=True)
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_table_activation_in_csim(case, tmp_path):
    """tanh → quantized_bits(6, 0), sigmoid → quantized_relu(6, 0), ELU → quantized_bits(6, 2),
    quantized_tanh(6, use_real_tanh=True) on an 8-fraction-bit sum: csim ==
    QKeras == emulator bit for bit (outputs and every traced layer), over and beyond the tables' range; a 16-fraction-bit input: judged, the
    verdict naming the layer and the reason."""
    from qkeras.quantizers import get_quantizer

    import fpga_accel as fa

    function, bits, after, io_type = CASES[case]
    model = _model(function, bits, get_quantizer(after) if after else None)
    x = np.random.default_rng(0).uniform(-12, 12, (400, 10)).astype(np.float32)
    design = fa.convert(model, fa.ConvertConfig(name=f"table_{case}", output_dir=tmp_path, io_type=io_type,
                                                verify_samples=200))
    verdict = design.meta.fidelity
    (csim, csim_layers), (emulated, layers) = design.trace(x, engine="csim"), design.trace(x, engine="emulator")
    assert np.array_equal(csim, emulated) and sorted(layers) == sorted(csim_layers)
    for name, values in csim_layers.items():
        assert np.array_equal(layers[name], values), name
    assert verdict["passed"] and verdict["judged_layers"] == [], verdict["message"]
    assert np.array_equal(csim, np.asarray(model.predict(x, verbose=0), dtype=np.float32))
    rules = {layer["name"]: layer["types"] for layer in design.meta.layers}[f"float_{function}"]
    assert rules["table_t"]["rule"].startswith("lookup table sized exact")


def test_a_table_the_rule_cannot_size_is_judged_naming_the_layer(tmp_path):
    """tanh on a 16-fraction-bit sum would need 2^19 entries: hls4ml's own table, and the verdict's float parts
    (what ``convert`` passes to ``verify``) name the layer with the reason."""
    from qkeras.quantizers import get_quantizer

    import fpga_accel as fa
    from fpga_accel.stages.convert import judged_parts

    model = _model("tanh", (16, 4), get_quantizer("quantized_bits(6, 0, alpha=1)"))
    design = fa.convert(model, fa.ConvertConfig(name="table_wide", output_dir=tmp_path, verify_samples=0))
    (judged,) = judged_parts(model, "io_parallel", design.meta)
    assert judged.startswith("float_tanh (Activation) with a float activation") and "524,288 entries" in judged
    rules = {layer["name"]: layer["types"] for layer in design.meta.layers}["float_tanh"]
    assert rules["table_t"]["precision"] == "fixed<18,8,TRN,WRAP,0>"  # hls4ml's own


def test_the_estimate_counts_the_larger_tables():
    """The table term was fitted on hls4ml's default table (1,024 × 18 bits: one BRAM18); an exact table is
    costed by its bits."""
    from fpga_accel.analysis.estimate import table_blocks

    assert table_blocks({"table_size": 1024, "table_precision": "fixed<18,8>"}) == 1
    assert table_blocks({"activation": "tanh"}) == 1  # records without table facts: hls4ml's default
    exact = {"table_size": 16384, "types": {"table_t": {"precision": "fixed<6,1,RND_CONV,SAT,0>"}}}
    assert table_blocks(exact) == 6  # 98,304 bits


def test_before_conversion_every_table_activation_is_judged_by_name():
    """Without a conversion's table verdicts (what convert logs before any work) each such layer is judged, the
    QKeras quantized_tanh with the real tanh included."""
    from fpga_accel.layer_support import assess

    for function in ("tanh", "real_tanh"):
        (judged,) = assess(_model(function, (6, 2), None), "io_parallel").judged
        assert judged.startswith(f"float_{function} (") and "lookup table" in judged


def test_the_diagnosis_looks_past_an_exact_table(tmp_path):
    """An exact table returns the following quantizer's values, not Keras' float tanh: when a later layer
    diverges (here: a reference whose last kernel differs), that layer is named, not the table."""
    from qkeras.quantizers import get_quantizer

    import fpga_accel as fa

    model = _model("tanh", (6, 2), get_quantizer("quantized_bits(6, 0, alpha=1)"), head=True)
    head = model.get_layer("head")
    design = fa.convert(model, fa.ConvertConfig(name="table_head", output_dir=tmp_path, verify_samples=0))
    weights = [w.copy() for w in head.get_weights()]
    weights[0][0, 0] += 0.5  # another quantizer step: the reference's head computes something else
    head.set_weights(weights)
    x = np.random.default_rng(0).uniform(-4, 4, (300, 10)).astype(np.float32)
    report = design.compare(model, x, engine="emulator")
    assert report.bit_exact < 1.0 and report.first_divergent_layer == "head", report.format()


def test_the_verdict_reuses_the_assessment_made_before_converting(monkeypatch):
    """check_layers' assessment is the verdict's float parts unless the conversion made a table verdict (then,
    and only then, the model is assessed again with them)."""
    from types import SimpleNamespace

    from fpga_accel.layer_support import Assessment
    from fpga_accel.stages import convert

    before = Assessment((), ("fc1 (Dense) with a float activation: tanh",))
    walked = []
    monkeypatch.setattr(convert, "assess", lambda model, io, tables: walked.append(tables) or Assessment((), ()))
    plain = SimpleNamespace(layers=[{"name": "fc1", "types": {}}])
    assert convert.judged_parts(None, "io_parallel", plain, before) == list(before.judged) and walked == []
    tabled = SimpleNamespace(layers=[{"name": "fc1_tanh", "types": {"table_t": {"rule": "lookup table sized exact"}}}])
    assert convert.judged_parts(None, "io_parallel", tabled, before) == [] and walked == [{"fc1_tanh": None}]


def test_hard_sigmoid_rule_exact_without_ties_judged_with_them():
    """Keras' hard_sigmoid (float32 slope · x + 0.5) followed by a quantizer: exact when no input value lands on
    a rounding tie of the quantizer (the sum has no more fraction bits than the quantizer), else judged saying
    how many input values differ; the slope is the installed Keras' (Keras 3: 1/6, not hls4ml's 0.2)."""
    from fpga_accel.hls.exact_types import hard_sigmoid_rule, keras_hard_sigmoid_slope
    from fpga_accel.keras_compat import is_keras3

    slope = keras_hard_sigmoid_slope()
    assert slope == float(np.float32(1 / 6 if is_keras3() else 0.2))
    q = FixedType(8, 0, False, "RND_CONV", "SAT")  # quantized_relu(8, 0)
    assert hard_sigmoid_rule(FixedType(12, 8), q, slope) is None  # 4 fraction bits: no ties
    why = hard_sigmoid_rule(FixedType(18, 8), FixedType(6, 0, False, "RND_CONV", "SAT"), slope)
    assert why is not None and "would differ from QKeras" in why and "float32" in why
    assert hard_sigmoid_rule(FixedType(12, 8), None, slope).startswith("no quantizer follows it")


@pytest.mark.slow
def test_hard_sigmoid_in_csim(tmp_path):
    """Activation('hard_sigmoid') on a 4-fraction-bit sum, then quantized_relu(8, 0): csim == QKeras == emulator
    bit for bit on both stacks (Keras 3's slope is 1/6; hls4ml 1.3 writes 0.2), the verdict judging nothing."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    import fpga_accel as fa
    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(23)
    model = keras.Sequential([keras.Input((8,)), QActivation(quantized_bits(6, 3, alpha=1)),
                              QDense(6, kernel_quantizer=quantized_bits(4, 1, alpha=1),
                                     bias_quantizer=quantized_bits(4, 1, alpha=1)),
                              keras.layers.Activation("hard_sigmoid", name="hsig"), QActivation(quantized_relu(8, 0))])
    x = np.random.default_rng(0).uniform(-12, 12, (300, 8)).astype(np.float32)
    design = fa.convert(model, fa.ConvertConfig(name="hsig", output_dir=tmp_path, io_type="io_stream",
                                                verify_samples=0))
    csim, emulated = design.predict(x, engine="csim"), design.predict(x, engine="emulator")
    assert np.array_equal(csim, emulated)
    assert np.array_equal(csim, np.asarray(model.predict(x, verbose=0), dtype=np.float32))
    from fpga_accel.stages.convert import judged_parts

    assert judged_parts(model, "io_stream", design.meta) == []
