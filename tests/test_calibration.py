"""The calibration set loads, is internally consistent, and feeds the estimator (fast: no hls4ml, no Vivado)."""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from fpga_accel.analysis.calibration import (DESIGNS_DIR, CalibrationError, estimator_layers, load_design,
                                             load_designs)
from fpga_accel.analysis.estimate import estimate_layers
from fpga_accel.boards import get_board

DESIGNS = load_designs()
IDS = [d.id for d in DESIGNS]


def test_every_file_loads():
    assert len(DESIGNS) == len(list(DESIGNS_DIR.glob("*.json"))) >= 12
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("design", DESIGNS, ids=IDS)
def test_provenance_is_complete(design):
    p = design.provenance
    assert re.fullmatch(r"[\w.-]+/[\w.-]+.*", p.repository)
    assert re.fullmatch(r"[0-9a-f]{40}", p.commit) or design.partial
    assert p.paths["csynth"].endswith(".rpt") and p.tool_version and p.part and p.clock_ns > 0
    if design.synth is not None:
        assert p.paths["synth"].endswith(".rpt") and p.synth_tool_version and design.synth.scope
    if design.partial:
        assert any("partial" in n for n in design.notes), "a partial design says what is missing"


@pytest.mark.parametrize("design", DESIGNS, ids=IDS)
def test_reported_numbers_are_consistent(design):
    c = design.csynth
    assert min(c.lut, c.ff, c.dsp, c.bram18) >= 0 and c.lut > 0 and c.ff > 0
    assert c.bram36 is None, "C-synthesis reports BRAM_18K"
    assert 0 <= c.latency_min <= c.latency_max
    if c.interval_min is not None:
        assert 0 <= c.interval_min <= c.interval_max
    assert sum(i["dsp"] for i in c.instances) <= c.dsp  # instances are part of the total
    if design.synth is not None:
        s = design.synth
        assert s.bram18 is None and s.bram36 >= 0 and s.lut > 0 and s.ff > 0


@pytest.mark.parametrize("design", DESIGNS, ids=IDS)
def test_layers_match_the_weight_statistics(design):
    for layer in design.layers:
        w = layer.get("weights") or {}
        if "n_weights" in w and layer["class"] != "BatchNormalization":  # BN: per-channel scale statistics
            assert w["n_weights"] == layer["n_in"] * layer["n_out"]
            assert w["n_zero_quantized"] + w["n_nonzero"] == w["n_weights"]
            if "n_zeros" in layer:  # hls4ml's own count of zero weights
                if layer["class"] == "Conv2DBatchnorm":
                    # hls4ml counts the zeros of the folded float kernel; folding then quantizing for the
                    # file can only add zeros (LeNet-5's second convolution: 649 counted, 671 in w6.txt)
                    assert layer["n_zeros"] <= w["n_zero"]
                else:
                    assert layer["n_zeros"] == w["n_zero"]


@pytest.mark.parametrize("design", DESIGNS, ids=IDS)
def test_adapter_feeds_the_estimator(design):
    layers = estimator_layers(design)
    assert layers[0]["class"] == "Input" and len(layers) == len(design.layers) + 1
    for figure in design.figures:
        est = estimate_layers(layers, name=design.id, board=get_board("pynq-z2"), io_type=design.io_type,
                              clock_period=design.provenance.clock_ns, figure=figure)
        assert math.isfinite(est.total["lut"]) and est.latency_cycles > 0


def test_a_bad_file_is_named(tmp_path):
    raw = json.loads((DESIGNS_DIR / f"{IDS[0]}.json").read_text())
    raw["reported"]["csynth"]["latency_min"] = raw["reported"]["csynth"]["latency_max"] + 1
    bad = tmp_path / f"{IDS[0]}.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(CalibrationError, match=re.escape(bad.name)):
        load_design(bad)
    raw = json.loads((DESIGNS_DIR / f"{IDS[0]}.json").read_text())
    raw["reported"]["csynth"]["bram36"] = 1
    bad.write_text(json.dumps(raw))
    with pytest.raises(CalibrationError, match="BRAM_18K"):
        load_design(bad)


@pytest.mark.parametrize("design", DESIGNS, ids=IDS)
def test_every_design_is_within_its_stated_band(design):
    """The shipped constants (fitted on the whole set) estimate each published figure within the band
    every estimate quotes (measured leave-one-design-out)."""
    from fpga_accel.analysis import fit
    from fpga_accel.analysis.estimate import load_constants

    c = load_constants()
    assert sorted(c["fitted_on"]) == sorted(IDS), "estimator_constants.json is stale: run make estimate-accuracy"
    for figure in design.figures:
        e = fit.predict(design, figure, c)
        for metric, published in fit.published(design, figure).items():
            band = c["bands"].get(f"{figure}/{metric}")
            if published is None or band is None or e[metric] == 0:
                continue
            assert e[metric] * band["low"] * 0.999 <= published <= e[metric] * band["high"] * 1.001, (figure, metric)


def test_instances_are_matched_to_layers():
    from fpga_accel.analysis.fit import instance_pairs

    mnist = next(d for d in DESIGNS if d.id.startswith("z020_mnist"))
    layers = estimator_layers(mnist)
    pairs = {layers[i]["name"]: inst["module"] for i, inst in instance_pairs(mnist)}
    assert "config2" in pairs["conv2d"] and "config9" in pairs["dense"] and len(pairs) == 8


def test_benchmark_cross_validates_every_comparison():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import estimate_accuracy as ea
    from fpga_accel.analysis import fit

    rows = ea.compare(DESIGNS, loo=True)
    assert len(rows) == sum(len(d.figures) for d in DESIGNS)
    s = ea.summary(rows)
    assert {"csynth/lut", "csynth/latency", "synth/lut"} <= set(s)
    # leave-one-out really holds the design out: its estimate changes when it is in the fit
    held_out = next(r for r in rows if r["id"] == IDS[0] and r["figure"] == "csynth")
    insample = fit.predict(DESIGNS[0], "csynth", fit.fit_constants(DESIGNS))
    assert held_out["estimate"] != insample
