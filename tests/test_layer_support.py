"""The layer table (fpga_accel/layer_support.py) against hls4ml's parser, the breadth zoo and README.

Fast part: every class hls4ml parses has a status, the zoo covers every class, README's table is current,
and every model the table refuses is refused by convert before hls4ml writes anything, naming the layer.
Slow part (``slow``): the zoo's models the table calls exact are bit-exact in csim, both io types.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from breadth_zoo import BREADTH, NOT_BUILT, NotOnThisStack

ROOT = Path(__file__).resolve().parents[1]
IO_TYPES = ["io_parallel", "io_stream"]


def _model(entry):
    try:
        return entry.model(0)
    except NotOnThisStack as exc:
        pytest.skip(str(exc))


def test_every_parsed_class_has_a_status_and_a_zoo_model() -> None:
    from hls4ml.converters.keras_v2_to_hls import get_supported_keras_layers

    from fpga_accel.layer_support import TABLE

    parsed = set(get_supported_keras_layers())  # Keras 3's extra classes are judged (layer_support.UNKNOWN)
    assert parsed - set(TABLE) == set(), "classes hls4ml parses without a status in layer_support.TABLE"
    covered = {cls for entry in BREADTH.values() for cls in entry.covers} | set(NOT_BUILT)
    assert parsed - covered - {"Dropout"} == set(), "parsed classes the breadth zoo does not build"


def test_every_class_the_keras3_parser_adds_has_a_status() -> None:
    """hls4ml 1.3's Keras 3 parser accepts more classes (3-D pooling, EinsumDense, Keras 3's noise and preprocessing
    layers, HGQ2's): none is left to the catch-all 'judged' (held-out models: a traceback, 83.7 % exact)."""
    from fpga_accel.keras_compat import is_keras3
    from fpga_accel.layer_support import UNKNOWN, parsed_classes, support

    if not is_keras3():
        pytest.skip("the Keras 3 parser runs on the Keras 3 stack")
    assert [cls for cls in parsed_classes() if support(cls) is UNKNOWN] == []


def test_readme_layer_table_is_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "layer_table.py"), "--check"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, "README layer table is stale: run `python benchmarks/layer_table.py`"


REFUSED = ["merge_dot", "qdense_3d_input", "nested_functional", "time_distributed", "float_lstm",
           "global_average_2d_keepdims", "float_layernorm", "embedding", "qconv1d_dilated",
           "relu_max_value", "depthwise1d_multiplier", "upsampling_bilinear", "swish_gelu_activation",
           "float_simple_rnn", "global_max_keepdims", "conv2d_groups", "hard_tanh_activation"]


@pytest.mark.parametrize("entry_id", REFUSED)
def test_refused_before_hls4ml_writes(entry_id, tmp_path) -> None:
    import fpga_accel as fa

    model = _model(BREADTH[entry_id])
    config = fa.ConvertConfig(name=entry_id, output_dir=tmp_path / "p", io_type="io_parallel")
    with pytest.raises(fa.ConfigError) as info:
        fa.convert(model, config)
    message = str(info.value)
    assert "--allow-inexact" in message
    from fpga_accel.layer_support import assess

    assert assess(model, "io_parallel").refused[0].split(" ")[0] in message  # names the layer
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


def test_activations_without_an_nnet_function_are_refused_each_named() -> None:
    from fpga_accel.layer_support import assess

    refused = assess(_model(BREADTH["swish_gelu_activation"]), "io_parallel").refused
    assert [r.split(" ")[0] for r in refused] == ["swish", "gelu"] and "is not a member of nnet" in refused[0]


def test_symmetric_quantized_sigmoid_refused_naming_the_layer(tmp_path) -> None:
    import fpga_accel as fa

    model = _model(BREADTH["quantized_sigmoid_symmetric"])
    with pytest.raises(fa.ConfigError, match=r"qsig: quantized_sigmoid\(symmetric=True\) clips its low end"):
        fa.convert(model, fa.ConvertConfig(name="qsig", output_dir=tmp_path / "p"))


def test_same_pooling_refused_in_io_stream_only() -> None:
    from fpga_accel.layer_support import assess

    model = _model(BREADTH["maxpool2d_same"])
    assert assess(model, "io_parallel").refused == ()
    (reason,) = assess(model, "io_stream").refused
    assert "padding='same'" in reason and "io_parallel" in reason


def test_overlapping_2d_pooling_refused_in_io_stream_only() -> None:
    from fpga_accel.layer_support import assess

    model = _model(BREADTH["maxpool2d_overlap"])
    assert assess(model, "io_parallel").refused == ()
    (reason,) = assess(model, "io_stream").refused
    assert reason.startswith("pool (MaxPooling2D)") and "strides = pool_size" in reason


def test_softmax_along_a_strided_axis_refused_in_io_stream_only() -> None:
    """io_parallel normalises along any one axis (hls4ml's softmax_multidim); io_stream one stream word."""
    from fpga_accel.layer_support import assess

    assert assess(_model(BREADTH["softmax_multidim"]), "io_stream").refused == ()
    model = _model(BREADTH["softmax_axis1"])
    assert assess(model, "io_parallel").refused == ()
    (reason,) = assess(model, "io_stream").refused
    assert "(Softmax) over several axes at once, or in io_stream along an axis other than the last" in reason


def test_softmax_outputs_beyond_the_tables_tolerance_fail_the_verdict_naming_the_layer() -> None:
    """Exact logits do not pass a design whose softmax outputs are off by more than table rounding explains
    (a softmax normalised over other values than Keras': what hls4ml 1.3 did on a (3, 4) tensor)."""
    from types import SimpleNamespace

    import numpy as np

    from fpga_accel.design import AgreementReport
    from fpga_accel.runtime.validate import softmax_tolerance
    from fpga_accel.stages.convert import verify

    tolerance = softmax_tolerance(4, 10)
    assert round(tolerance, 4) == 0.0048  # README
    report = AgreementReport(n_samples=8, bit_exact=1.0, element_exact=1.0, argmax_agreement=0.55, max_abs_diff=0.0,
                             compared="logits", output_bit_exact=0.0, output_max_abs_diff=0.31,
                             output_tolerance=tolerance, first_divergent_layer="softmax",
                             layer_exact={"softmax": 0.0})
    assert not report.passed and "MORE than the tables' tolerance" in report.format()
    verdict = verify(_StubDesign(report), SimpleNamespace(layers=[QStub()]), (np.zeros((8, 4)), "uniform"), [])
    assert not verdict["passed"] and verdict["softmax_max_abs_diff"] == 0.31
    assert "softmax outputs of softmax differ by up to 0.31" in verdict["message"]
    within = AgreementReport(**{**report.__dict__, "output_max_abs_diff": tolerance / 2})
    assert within.passed


def test_relu6_refused_in_io_stream_only() -> None:
    from fpga_accel.layer_support import assess

    model = _model(BREADTH["relu6_activation"])
    assert assess(model, "io_parallel").refused == () and assess(model, "io_parallel").judged[0].startswith("act ")
    (reason,) = assess(model, "io_stream").refused
    assert reason.startswith("act (Activation) io_stream with a relu6") and "quantized_relu" in reason


def test_flatten_at_the_input_refused_in_io_stream_only() -> None:
    from fpga_accel.layer_support import assess

    model = _model(BREADTH["qdense_chain"])
    assert assess(model, "io_parallel").refused == ()
    reason, into_activation = assess(model, "io_stream").refused  # its last Flatten feeds a QActivation
    assert reason.startswith("flatten") and "input_t" in reason
    assert "(Flatten) in io_stream, to one axis from a tensor whose last axis is shorter, directly followed by an " \
        "activation layer" in into_activation


def test_activation_after_flatten_refused_in_io_stream_only() -> None:
    from fpga_accel.layer_support import assess

    model = _model(BREADTH["flatten_into_activation"])
    assert assess(model, "io_parallel") == assess(model, "io_parallel").__class__((), ())
    (reason,) = assess(model, "io_stream").refused
    assert reason.startswith("flat (Flatten) in io_stream, to one axis from a tensor whose last axis is shorter, "
                             "directly followed by an activation layer: ")
    assert "put the activation before the Flatten/Reshape" in reason


def test_layernorm_judged_in_io_parallel_refused_in_io_stream() -> None:
    from fpga_accel.layer_support import assess

    from fpga_accel.keras_compat import is_keras3

    model = _model(BREADTH["layernorm_sequence"])
    found = assess(model, "io_parallel")
    if is_keras3():  # its config says axis -1, which hls4ml 1.3's parser stops on (found on a held-out model)
        (reason,) = found.refused
        assert reason.startswith("ln (LayerNormalization) with an axis other than [2]") and "axis=[2]" in reason
    else:
        assert found.refused == () and found.judged[0].startswith("ln (LayerNormalization): ")
    (reason,) = assess(model, "io_stream").refused
    assert reason.startswith("ln (LayerNormalization) in io_stream: ") and "no match for operator=" in reason


def test_grouped_convolution_refused_naming_the_layer() -> None:
    from fpga_accel.layer_support import assess

    for io_type in IO_TYPES:
        (reason,) = assess(_model(BREADTH["conv2d_groups"]), io_type).refused
        assert reason.startswith("grouped (Conv2D) with groups > 1: ") and "ignores groups" in reason


def test_a_model_keras_cannot_run_is_refused_before_hls4ml_writes(tmp_path) -> None:
    """qkeras-v3's causal QConv1D fails inside Keras: refused first, naming the layer (Keras 2 runs it: exact)."""
    import fpga_accel as fa
    from fpga_accel.keras_compat import is_keras3

    model = _model(BREADTH["qconv1d_causal"])
    config = fa.ConvertConfig(name="causal", output_dir=tmp_path / "p", verify_samples=0)
    if not is_keras3():
        from fpga_accel.stages.convert import check_keras_runs

        check_keras_runs(model)  # nothing to refuse
        return
    with pytest.raises(fa.ConfigError, match=r"^Keras cannot run this model itself in causal \(QConv1D\): .*CAUSAL"):
        fa.convert(model, config)
    assert not (tmp_path / "p").exists()


def test_global_max_pooling_keepdims_refused_naming_the_layer() -> None:
    from fpga_accel.layer_support import assess

    for io_type in IO_TYPES:
        (reason,) = assess(_model(BREADTH["global_max_keepdims"]), io_type).refused
        assert reason.startswith("gmax (GlobalMaxPooling2D) keepdims=True: ") and "IndexError" in reason


def test_a_judged_float_activation_names_its_function() -> None:
    from fpga_accel.layer_support import assess

    from breadth_zoo import _k, _q, _qdense

    for function, part in (("sigmoid", "its sigmoid is a lookup table"),
                           ("hard_sigmoid", "its hard_sigmoid is float32 arithmetic in Keras")):
        inp = _k().Input((8,))
        model = _k().Model(inp, _q(8, 3)(_qdense(4, name="fc", activation=function)(_q()(inp))))
        (judged,) = assess(model, "io_parallel").judged
        assert judged.startswith("fc (QDense) with a float activation") and part in judged, judged


def test_float_activation_and_rnn_are_judged_with_the_layer_named() -> None:
    from fpga_accel.layer_support import assess

    found = assess(_model(BREADTH["qkeras_float_tanh"]), "io_parallel")
    assert found.refused == () and found.judged[0].startswith("activation")
    found = assess(_model(BREADTH["float_gru"]), "io_stream")
    assert found.refused == () and "(GRU)" in found.judged[0]


EXACT = ["qconv1d_pooling", "qconv2d_pooling", "global_average_1d", "global_average_2d",
         "merge_average", "merge_max_min_concat", "qbatchnorm", "qdense_batchnorm",  # qkeras-v3 only
         "softmax_multidim",  # logits exact, softmax outputs within the tables' tolerance (report.passed)
         "relu_layer_wide_sum", "concat_mixed_types", "crop_unsigned_asym", "pool1d_overlap_flatten",
         "qdepthwise_batchnorm", "thresholded_relu_offgrid", "reshape_into_activation"]


@pytest.mark.slow
@pytest.mark.parametrize("entry_id,io_type", [(e, io) for e in EXACT for io in IO_TYPES]
                         + [("qdense_chain", "io_parallel"),  # io_stream: refused (Flatten at the input)
                            ("softmax_axis1", "io_parallel"),  # io_stream: refused (a strided axis)
                            ("conv1d_padded_branches", "io_stream"),  # io_parallel pads inside the conv
                            ("flatten_into_activation", "io_parallel"),  # io_stream: refused
                            ("qconv1d_causal", "io_parallel"), ("qconv1d_causal", "io_stream")])  # Keras 2 only
def test_exact_classes_are_bit_exact(entry_id, io_type, tmp_path) -> None:
    import fpga_accel as fa
    from fpga_accel.layer_support import assess

    from fpga_accel.keras_compat import is_keras3

    if entry_id == "qconv1d_causal" and is_keras3():
        pytest.skip("qkeras-v3's causal QConv1D does not run in Keras (refused: see the test above)")
    entry = BREADTH[entry_id]
    model = _model(entry)
    assert assess(model, io_type) == assess(model, io_type).__class__((), ())
    x = entry.inputs(model)
    design = fa.convert(model, fa.ConvertConfig(name=entry_id, output_dir=tmp_path / "p", io_type=io_type,
                                                verify_samples=0), calibration=x)
    report = design.compare(model, x)
    assert report.bit_exact == 1.0 and report.passed, report.format()


class QStub:  # a layer whose class name marks the model as quantized (is_float_model)
    pass


class _StubDesign:
    def __init__(self, report) -> None:
        self.report = report

    def compare(self, reference, x, progress=None, layers=True):
        return self.report


def _stub_report(bit_exact: float):
    from types import SimpleNamespace

    return SimpleNamespace(n_samples=8, compared="outputs", bit_exact=bit_exact, argmax_agreement=0.9,
                           max_abs_diff=0.25, first_divergent_layer="dense_1", passed=bit_exact == 1.0, engine="csim")


def test_verdict_names_the_judged_layers_when_not_exact() -> None:
    """A QKeras model with a float tanh: the verdict that is not bit-exact names the judged layer and why,
    records them, and an exact verdict still records them without blaming them."""
    from types import SimpleNamespace

    import numpy as np

    from fpga_accel.layer_support import assess
    from fpga_accel.stages.convert import verify

    judged = assess(_model(BREADTH["qkeras_float_tanh"]), "io_parallel").judged
    reference = SimpleNamespace(layers=[QStub()])
    inputs = (np.zeros((8, 4)), "uniform samples in ±1")
    verdict = verify(_StubDesign(_stub_report(0.5)), reference, inputs, [], judged)
    assert not verdict["passed"] and verdict["judged_layers"] == list(judged)
    assert "first diverging layer dense_1" in verdict["message"]
    assert f"float parts (judged, not exact by design): {judged[0]}" in verdict["message"]
    exact = verify(_StubDesign(_stub_report(1.0)), reference, inputs, [], judged)
    assert exact["passed"] and "judged" not in exact["message"] and exact["judged_layers"] == list(judged)



def test_a_class_the_installed_parser_lacks_is_refused_with_the_tables_reason(monkeypatch) -> None:
    """Where the installed hls4ml parses no handler for a class the table knows, convert's first check names
    the layer with the table's reason and what to do (here: Dot, as if its handler were gone)."""
    import fpga_accel as fa
    from fpga_accel.stages import convert as stage

    model = _model(BREADTH["merge_dot"])
    parsed = stage.hls4ml_supported_layers() - {"Dot"}
    monkeypatch.setattr(stage, "hls4ml_supported_layers", lambda: parsed)
    dot = next(layer for layer in model.layers if type(layer).__name__ == "Dot")
    with pytest.raises(fa.ConfigError, match=rf"cannot convert layers: {dot.name} \(Dot: hls4ml 1.3's Dot parser "
                                             r"asserts.*Multiply followed by a Dense of ones\)"):
        stage.check_supported(model)
