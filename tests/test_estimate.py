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
    assert names == ["x", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "out", "axi_wrapper"]
    nonzero = {l["name"]: l["n_nonzero_weights"] for l in design.meta.layers if l["class"] == "Dense"}
    for layer in est.layers:
        if layer.name in nonzero:  # 8-bit inputs x 6-bit weights: LUT multipliers, one per non-zero weight at RF 1
            assert (layer.mapped_to, layer.dsp, layer.multiplications, layer.multipliers) == \
                ("LUT", 0, nonzero[layer.name], nonzero[layer.name])
    assert est.interval == 16 == est.layers[-1].interval  # the AXI wrapper reads one of the 16 input words per cycle
    assert est.total["lut"] == pytest.approx(sum(l.lut for l in est.layers), abs=0.05)
    assert est.used_pct["lut"] == round(100 * est.total["lut"] / get_board("pynq-z2").lut, 1)
    assert est.fits and (est.dominant_resource, est.dominant_layer) == ("lut", "fc2")
    text = est.format()
    assert text.splitlines()[0] == ("estimate for mlp on pynq-z2 (io_parallel, 10 ns): "
                                    "predicts Vivado post-synthesis utilisation")
    assert text.splitlines()[-1] == "FITS: largest use is LUT, dominated by layer fc2"


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


def _big_dense_model(tail=True):
    """64 → Dense(256) at 16 bits (→ relu → Dense(10)): 16,384 DSP products at reuse factor 1, far beyond the
    xc7z020's 220 DSP48E1. Weights 0.25 (exact in quantized_bits(16, 2)): every product is non-zero."""
    import numpy as np
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    inp = keras.Input((64,))
    t = QActivation(quantized_bits(16, 4, alpha=1), name="inq")(inp)
    big = QDense(256, kernel_quantizer=quantized_bits(16, 2, alpha=1), bias_quantizer=quantized_bits(16, 2, alpha=1),
                 name="big")
    t = big(t)
    if tail:
        t = QActivation(quantized_relu(16, 6), name="relu")(t)
        t = QDense(10, kernel_quantizer=quantized_bits(16, 2, alpha=1),
                   bias_quantizer=quantized_bits(16, 2, alpha=1), name="out")(t)
    big.set_weights([np.full((64, 256), 0.25, np.float32), np.zeros(256, np.float32)])
    return keras.Model(inp, t)


def test_convert_with_auto_reuse_factor(tmp_path, caplog):
    model = _big_dense_model()
    with caplog.at_level("INFO", logger="fpga_accel"):
        design = fa.convert(model, fa.ConvertConfig(name="big", reuse_factor="auto", output_dir=tmp_path))
    layers = {l["name"]: l for l in design.meta.layers}
    rf, valid = layers["big"]["reuse_factor"], layers["big"]["valid_reuse_factors"]
    assert rf > 1 and rf in valid
    one_step_less = estimate_layers(design.meta.layers, name="big", board=get_board("pynq-z2"),
                                    io_type="io_parallel", clock_period=10,
                                    reuse_factors={"big": valid[valid.index(rf) - 1]})
    assert not one_step_less.fits  # the smallest valid reuse factor that fits
    assert "reuse factors chosen to fit pynq-z2" in caplog.text
    assert f"reuse_factor = {rf}" in (tmp_path / "big" / "firmware" / "parameters.h").read_text()
    assert estimate(design).fits
    with pytest.raises(fa.ConfigError, match="reuse_factor must be a positive integer or 'auto'"):
        fa.ConvertConfig(name="x", reuse_factor="fast")


def test_estimate_cli(tmp_path, capsys):
    from fpga_accel.cli import EXIT_DISAGREE, main

    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path))
    assert main(["estimate", str(design.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:-5]}
    fc1 = next(l for l in design.meta.layers if l["name"] == "fc1")
    #                      kind    RF   mults                         map    DSP
    assert rows["fc1"][:5] == ["Dense", "1", str(fc1["n_nonzero_weights"]), "LUT", "0"]
    assert rows["axi_wrapper"][-1] == "16"  # II: one input word per cycle, 16 inputs
    assert lines[-3:] == ["board use: DSP 0.0%, LUT 58.7%, FF 15.5%, BRAM36 1.4%  (margin 80% of each resource)",
                          "latency 55 cycles = 550 ns, interval 16 cycles",
                          "FITS: largest use is LUT, dominated by layer fc2"]
    assert main(["estimate", str(design.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["board"], data["figure"], data["fits"], data["dominant_layer"]) == ("pynq-z2", "synth", True, "fc2")
    assert (data["latency_cycles"], data["latency_ns"], data["interval"]) == (55, 550.0, 16)
    assert main(["estimate", str(design.root), "--margin", "0.0001"]) == EXIT_DISAGREE  # LUT 58.7% > 0.01%
    assert capsys.readouterr().out.splitlines()[-1] == "DOES NOT FIT: largest use is LUT, dominated by layer fc2"

    # 16,384 16-bit products at reuse factor 1: DSP-mapped, at the calibration design's 66 DSP per 80 products
    big = fa.convert(_big_dense_model(tail=False), fa.ConvertConfig(name="big", reuse_factor=1, output_dir=tmp_path,
                                                                    verify_samples=0))
    assert main(["estimate", str(big.root)]) == EXIT_DISAGREE
    lines = capsys.readouterr().out.splitlines()
    row = next(line.split() for line in lines if line.startswith("big "))
    assert row[1:6] == ["Dense", "1", "16384", "DSP", str(round(16384 * 66 / 80))]
    assert lines[-1] == "DOES NOT FIT: largest use is DSP, dominated by layer big"
