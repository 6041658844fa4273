"""csim reproduces QKeras bit for bit on arbitrary float inputs (the pipeline issue's acceptance)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from models import float_inputs, qcnn, qcnn_mixed, qmlp, qmlp_bn


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("make", [qmlp, qcnn], ids=["mlp", "cnn"])
def test_bit_exact_on_float_inputs(build, rng, make, io_type):
    model = make()
    x = float_inputs(rng, model.input_shape[1:])
    design = build(model, io_type=io_type)
    report = design.compare(model, x)
    assert report.compared == "outputs"
    assert report.bit_exact == 1.0, report.format()
    assert report.max_abs_diff == 0.0
    # the design's input type is the input quantizer's grid, rounded like QKeras rounds
    assert design.meta.input_precision == "fixed<8,3,RND_CONV,SAT>"


@pytest.mark.parametrize("make", [qmlp, qcnn], ids=["mlp", "cnn"])
def test_model_without_input_quantizer_gets_wide_input_and_a_warning(build, rng, make, caplog):
    model = make(input_quantizer=False)
    x = float_inputs(rng, model.input_shape[1:])
    with caplog.at_level(logging.WARNING, logger="fpga_accel"):
        design = build(model, calibration=x, io_type="io_stream")
    precision = design.meta.input_precision
    assert precision == "fixed<32,3,RND_CONV,SAT>"  # |x| < 3 → 2 integer bits + sign
    assert any("no input quantizer" in r.message and precision in r.message for r in caplog.records)
    report = design.compare(model, x)
    assert report.bit_exact == 1.0, report.format()


@pytest.mark.parametrize("qbn", [False, True], ids=["BatchNormalization", "QBatchNormalization"])
def test_batchnorm_in_a_qkeras_model(build, rng, qbn):
    model = qmlp_bn(qbn)
    x = float_inputs(rng, (16,), n=2000)
    report = build(model).compare(model, x)
    # Keras computes a float BN in float32 (x*a rounded, then + b rounded): where that rounding moves a
    # value across the next quantizer's rounding point, the exact fixed-point map differs by one step.
    # Measured: 1 of these 2,000 samples for BatchNormalization, none for QBatchNormalization.
    assert report.bit_exact >= (1.0 if qbn else 0.999), report.format()
    assert report.argmax_agreement == 1.0


def test_po2_symmetric_inner_relu_dropout_softmax(build, rng):
    model = qcnn_mixed()
    x = float_inputs(rng, (8, 8, 1), n=1000)
    design = build(model, io_type="io_stream")
    report = design.compare(model, x)
    assert report.compared == "logits"
    assert report.bit_exact == 1.0, report.format()
    assert report.argmax_agreement == 1.0
    assert report.output_max_abs_diff < 0.005  # the softmax tables' own error (README)
    assert report.passed


def test_softmax_on_the_host(build, rng):
    model = qcnn(softmax=True)
    x = float_inputs(rng, (8, 8, 1), n=300)
    design = build(model, softmax="host")
    assert design.meta.output_precision.startswith("fixed<")  # the design ends at the logits
    y = design.predict(x)
    ref = model.predict(x, verbose=0)
    assert np.allclose(y.sum(axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(y - ref)) < 1e-5
    report = design.compare(model, x)
    assert report.compared == "logits" and report.bit_exact == 1.0


def test_report_points_at_first_diverging_layer(build, rng):
    model = qmlp(input_quantizer=False)
    x = float_inputs(rng, (16,), n=200)
    design = build(model, input_precision="ap_fixed<6,3>")  # deliberately too coarse for float inputs
    report = design.compare(model, x)
    assert not report.passed
    assert report.first_divergent_layer == "fc1"
    assert report.layer_exact["fc1"] < 1.0
    assert "first diverging layer   fc1" in report.format()
