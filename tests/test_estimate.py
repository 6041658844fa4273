"""Resource/latency estimates, the auto reuse factor, and the estimate CLI."""
from __future__ import annotations

import json

import pytest

import fpga_accel as fa
from fpga_accel.analysis.estimate import choose_reuse_factors, estimate, estimate_layer, estimate_layers
from fpga_accel.boards import get_board
from models import qmlp

# The calibration design of shared/fixtures/vivado_reports: Dense(5) on 16 inputs, ap_fixed<16,6>, RF 1.
FIXTURE_LAYER = {"name": "dense", "class": "Dense", "shape": [5], "n_in": 16, "n_out": 5, "rf_n_in": 16,
                 "rf_n_out": 5, "reuse_factor": 1, "input_precision": "fixed<16,6>", "precision": "fixed<16,6>",
                 "weight_precision": "fixed<16,6>", "accum_precision": "fixed<16,6>", "n_weights": 80,
                 "n_nonzero_weights": 80, "strategy": "latency", "valid_reuse_factors": [1, 2, 4, 5, 8, 10, 16, 20, 40, 80]}


def test_reproduces_the_calibration_design():
    synth = estimate_layer(FIXTURE_LAYER, "io_stream", "synth")
    assert (round(synth.dsp), round(synth.lut), round(synth.ff)) == (66, 1526, 2428)  # vivado_synth.rpt
    hls = estimate_layer(FIXTURE_LAYER, "io_stream", "csynth")
    assert (round(hls.dsp), round(hls.lut), round(hls.ff)) == (73, 2532, 7969)  # myproject_csynth.xml
    assert (hls.latency_cycles, hls.interval) == (10, 8)
    assert synth.mapped_to == "DSP" and synth.multipliers == 80


def test_reuse_factor_divides_multipliers():
    one = estimate_layer(FIXTURE_LAYER, "io_parallel", reuse_factor=1)
    four = estimate_layer(FIXTURE_LAYER, "io_parallel", reuse_factor=4)
    assert four.multipliers == 20 and four.dsp == pytest.approx(one.dsp / 4)
    assert four.interval == 4 and four.latency_cycles > one.latency_cycles


def test_estimate_of_a_converted_design(tmp_path):
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path))
    est = estimate(design)
    names = [l.name for l in est.layers]
    assert names[:2] == ["x", "fc1"] and names[-1] == "axi_wrapper"
    fc1 = est.layers[1]
    assert fc1.mapped_to == "LUT" and fc1.dsp == 0  # 8-bit inputs x 6-bit weights: LUT multipliers
    assert fc1.multiplications == design.meta["layers"][1]["n_nonzero_weights"]
    assert est.interval >= 16  # the AXI wrapper reads one input word per cycle
    assert set(est.used_pct) == {"dsp", "lut", "ff", "bram36"}
    text = est.format()
    assert "predicts Vivado post-synthesis utilisation" in text and ("FITS" in text or "DOES NOT FIT" in text)


def _big_layers():
    big = dict(FIXTURE_LAYER, name="big", n_in=64, n_out=256, rf_n_in=64, rf_n_out=256, n_weights=16384,
               n_nonzero_weights=16384, valid_reuse_factors=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
               shape=[256])
    return [{"name": "in", "class": "Input", "shape": [64]}, big]


def test_auto_reuse_factor_picks_the_smallest_that_fits():
    board = get_board("pynq-z2")
    assert not estimate_layers(_big_layers(), name="b", board=board, io_type="io_parallel", clock_period=10).fits
    chosen, est = choose_reuse_factors(_big_layers(), board=board, io_type="io_parallel", clock_period=10)
    assert est.fits and chosen == {"big": 128}
    smaller = estimate_layers(_big_layers(), name="b", board=board, io_type="io_parallel", clock_period=10,
                              reuse_factors={"big": 64})
    assert not smaller.fits  # 128 is the smallest valid value that fits
    with pytest.raises(ValueError, match="does not fit pynq-z2 even at the largest reuse factors"):
        choose_reuse_factors(_big_layers(), board=board, io_type="io_parallel", clock_period=10, margin=0.001)


def test_convert_with_auto_reuse_factor(tmp_path, caplog):
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    inp = keras.Input((64,))
    t = QActivation(quantized_bits(16, 4, alpha=1), name="inq")(inp)
    t = QDense(256, kernel_quantizer=quantized_bits(16, 2, alpha=1), bias_quantizer=quantized_bits(16, 2, alpha=1),
               name="big")(t)
    t = QActivation(quantized_relu(16, 6), name="relu")(t)
    t = QDense(10, kernel_quantizer=quantized_bits(16, 2, alpha=1), bias_quantizer=quantized_bits(16, 2, alpha=1),
               name="out")(t)
    model = keras.Model(inp, t)
    with caplog.at_level("INFO", logger="fpga_accel"):
        design = fa.convert(model, fa.ConvertConfig(name="big", reuse_factor="auto", output_dir=tmp_path))
    layers = {l["name"]: l for l in design.meta["layers"]}
    rf = layers["big"]["reuse_factor"]
    assert rf > 1 and rf in layers["big"]["valid_reuse_factors"]
    assert "reuse factors chosen to fit pynq-z2" in caplog.text
    assert f"reuse_factor = {rf}" in (tmp_path / "big" / "firmware" / "parameters.h").read_text()
    assert estimate(design).fits
    with pytest.raises(fa.ConfigError, match="reuse_factor must be a positive integer or 'auto'"):
        fa.ConvertConfig(name="x", reuse_factor="fast")


def test_estimate_cli(tmp_path, capsys):
    from fpga_accel.cli import EXIT_DISAGREE, main

    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path))
    code = main(["estimate", str(design.root), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == (0 if data["fits"] else EXIT_DISAGREE)
    assert data["board"] == "pynq-z2" and data["figure"] == "synth" and data["latency_ns"] > 0
    assert main(["estimate", str(design.root), "--margin", "0.0001"]) == EXIT_DISAGREE
    assert "DOES NOT FIT" in capsys.readouterr().out
