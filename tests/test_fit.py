"""Per-layer settings in convert (flat ``layers:`` and hls4ml's ``HLSConfig``) and `fpga-accel fit`: the search
for per-layer reuse factor, strategy and io type whose upper estimate fits the board, its project file, and
what convert and estimate make of it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import fpga_accel as fa
from fpga_accel.analysis.estimate import estimate
from fpga_accel.cli import EXIT_DOES_NOT_FIT, EXIT_ERROR, main
from fpga_accel.config import LayerSetting, layer_settings_from
from models import jet_tagger


def small_mlp(seed: int = 0):
    """16 → QDense(32) → relu → QDense(5), 6 bits: fits the PYNQ-Z2 many ways."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((16,), name="x")
    t = QActivation(quantized_bits(8, 2, alpha=1), name="input_quant")(inp)
    t = QDense(32, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
               name="fc1")(t)
    t = QActivation(quantized_relu(6, 0), name="relu1")(t)
    t = QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
               name="out")(t)
    return keras.Model(inp, t, name="small")


def huge_model():
    """1024 → Dense(512) at 16 bits: 524,288 weights, 8.4 Mbit — more than all the xc7z020's BRAM holds."""
    from qkeras import QActivation, QDense, quantized_bits
    from tensorflow import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((1024,), name="x")
    t = QActivation(quantized_bits(16, 4, alpha=1), name="inq")(inp)
    t = QDense(512, kernel_quantizer=quantized_bits(16, 2, alpha=1), bias_quantizer=quantized_bits(16, 2, alpha=1),
               name="wide")(t)
    return keras.Model(inp, t, name="huge")


def per_layer_params(project: Path) -> dict:
    """{layer: {reuse_factor, strategy}} from the firmware hls4ml wrote (``// name`` then its config struct)."""
    text = (project / "firmware" / "parameters.h").read_text()
    out = {}
    for name, body in re.findall(r"^// (\w+)\n(struct config\w+ : nnet::\w+ \{.*?\n\};)", text, re.M | re.S):
        rf = re.search(r"reuse_factor = (\d+);", body)
        strategy = re.search(r"strategy = nnet::(\w+);", body)
        out[name] = {"reuse_factor": int(rf.group(1)) if rf else None,
                     "strategy": strategy.group(1) if strategy else None}
    return out


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


# ---- the settings themselves ----------------------------------------------------------------------


def test_layer_settings_are_typed_and_checked():
    s = layer_settings_from({"fc1": {"reuse_factor": 16, "strategy": "Resource", "precision": "ap_fixed<16,6>"}})
    assert s["fc1"] == LayerSetting(reuse_factor=16, strategy=fa.config.Strategy.resource, precision="ap_fixed<16,6>")
    assert s["fc1"].to_flat() == {"reuse_factor": 16, "strategy": "resource", "precision": "ap_fixed<16,6>"}
    for bad, message in (({"fc1": {"reuse_factor": 0}}, "reuse_factor must be a positive integer"),
                         ({"fc1": {"reuse_factor": 2.5}}, "reuse_factor must be a positive integer"),
                         ({"fc1": {"strategy": "fast"}}, "strategy must be one of latency, resource"),
                         ({"fc1": {"precision": "float"}}, "not an HLS precision"),
                         ({"fc1": {"reuse": 4}}, r"unknown keys \['reuse'\]"),
                         ({"fc1": 4}, "needs a mapping"), ([1], "must map layer names")):
        with pytest.raises(fa.ConfigError, match=message):
            layer_settings_from(bad)
    with pytest.raises(fa.ConfigError, match="layer 'fc1': strategy must be one of"):
        fa.ConvertConfig(name="m", layers={"fc1": {"strategy": "fast"}})


def test_both_config_forms_give_identical_projects(tmp_path):
    model = _save(small_mlp(), tmp_path / "small.h5")
    flat = tmp_path / "flat.yml"
    flat.write_text(f"name: p\nmodel: {model}\nverify_samples: 0\nlayers:\n"
                    "  fc1: {reuse_factor: 16, strategy: resource}\n  out: {reuse_factor: 4}\n")
    hls = tmp_path / "hls.yml"
    hls.write_text(f"name: p\nmodel: {model}\nverify_samples: 0\nHLSConfig:\n  LayerName:\n"
                   "    fc1: {ReuseFactor: 16, Strategy: Resource}\n    out: {ReuseFactor: 4, Precision: {result: auto}}\n")
    records = {}
    for form in (flat, hls):
        out = tmp_path / form.stem
        assert main(["convert", "--config", str(form), "--output-dir", str(out)]) == 0
        params = per_layer_params(out / "p")
        assert params["fc1"] == {"reuse_factor": 16, "strategy": "resource"}
        assert params["out"] == {"reuse_factor": 4, "strategy": "latency"}
        meta = json.loads((out / "p" / "fpga_accel.json").read_text())
        layers = {l["name"]: l for l in meta["layers"]}
        assert (layers["fc1"]["reuse_factor"], layers["fc1"]["strategy"]) == (16, "resource")
        assert layers["fc1"]["setting"] == {"reuse_factor": 16, "strategy": "resource", "source": "settings"}
        est = estimate(out / "p")  # the estimator sees the per-layer settings
        assert {l.name: l.reuse_factor for l in est.layers}["fc1"] == 16
        records[form.stem] = (meta["config_sha256"], meta["layers"], (out / "p" / "firmware" / "parameters.h").read_text())
    assert records["flat"] == records["hls"]


def test_per_layer_precision_reaches_a_float_model_and_is_refused_on_a_quantized_one(tmp_path):
    from tensorflow import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name="x")
    t = keras.layers.Dense(4, name="fc1")(inp)
    floaty = keras.Model(inp, keras.layers.Dense(3, name="out")(keras.layers.Activation("relu", name="r")(t)))
    design = fa.convert(floaty, fa.ConvertConfig(name="floaty", output_dir=tmp_path, verify_samples=0,
                                                 layers={"fc1": {"precision": "ap_fixed<12,4>"}}))
    fc1 = next(l for l in design.meta.layers if l["name"] == "fc1")
    assert fc1["weight_precision"].startswith("fixed<12,4") and fc1["precision"].startswith("fixed<12,4")
    with pytest.raises(fa.ConfigError, match="per-layer precision on fc1: in a quantized .QKeras. model"):
        fa.convert(small_mlp(), fa.ConvertConfig(name="quant", output_dir=tmp_path, layers={"fc1": {"precision": "ap_fixed<8,2>"}}))
    assert not (tmp_path / "quant").exists()


@pytest.mark.parametrize("layers, message", [
    ("{fc9: {reuse_factor: 2}}", r"name layers the model does not have: fc9; its layers: x, input_quant, fc1, (fc1_linear, )?relu1, out(, out_linear)?$"),
    ("{fc1: {reuse_factor: 3}}", r"layer fc1: hls4ml cannot use reuse factor 3 for its 16x32 products; valid: 1, 2, 4, 8, 16, 32, "),
    ("{fc1: {strategy: fastest}}", r"layer 'fc1': strategy must be one of latency, resource, got 'fastest'"),
])
def test_bad_per_layer_settings_are_one_line_exit_1_and_nothing_written(tmp_path, capsys, caplog, layers, message):
    model = _save(small_mlp(), tmp_path / "small.h5")
    project = tmp_path / "p.yml"
    project.write_text(f"name: p\nmodel: {model}\nlayers: {layers}\n")
    assert main(["convert", "--config", str(project), "--output-dir", str(tmp_path / "out")]) == EXIT_ERROR
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and re.search(message, errors[0].getMessage()) and "Traceback" not in caplog.text
    assert not (tmp_path / "out" / "p").exists()


# ---- fit ------------------------------------------------------------------------------------------


def _fit_and_convert(tmp_path, model, calibration=None, extra=()):
    """fit → fit.yml → convert --config fit.yml → the project, with what fit printed."""
    path = _save(model, tmp_path / f"{model.name}.h5")
    cal = []
    if calibration is not None:
        np.save(tmp_path / "cal.npy", calibration)
        cal = ["--calibration", str(tmp_path / "cal.npy")]
    out = tmp_path / "fit.yml"
    code = main(["fit", str(path), "--board", "pynq-z2", "-o", str(out), *cal, *extra])
    return code, out


def _check_fit_reaches_the_project(tmp_path, capsys, model, calibration=None, extra=()):
    code, out = _fit_and_convert(tmp_path, model, calibration, extra)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "fit on pynq-z2" in printed and re.search(r"^\s+\d+\*", printed, re.M)  # the chosen row is marked
    settings = yaml.safe_load(out.read_text())
    assert settings["board"] == "pynq-z2" and settings["io_type"] in ("io_parallel", "io_stream")
    assert Path(settings["model"]).is_file() and set(settings["layers"]) >= {"fc1", "output"} if \
        "output" in settings["layers"] else True
    predicted = re.search(r"upper estimate (.*?); latency (\d+) cycles .*?, (FITS|UNCERTAIN)$", printed, re.M)
    assert predicted, printed
    cal = ["--calibration", str(tmp_path / "cal.npy")] if calibration is not None else []
    assert main(["convert", "--config", str(out), "--output-dir", str(tmp_path / "hls"), *cal]) == 0
    project = tmp_path / "hls" / settings["name"]
    params = per_layer_params(project)
    chosen = {name: s for name, s in settings["layers"].items() if "reuse_factor" in s}
    assert chosen
    for name, setting in chosen.items():  # every chosen setting reached hls4ml's firmware
        assert params[name] == {"reuse_factor": setting["reuse_factor"], "strategy": setting["strategy"]}, name
    capsys.readouterr()
    assert main(["estimate", str(project), "--json"]) in (0, EXIT_DOES_NOT_FIT)
    est = json.loads(capsys.readouterr().out)
    assert est["io_type"] == settings["io_type"] and est["latency_cycles"] == int(predicted.group(2))
    assert est["verdict"] == predicted.group(3) == "FITS"
    pct = {k.lower(): float(v) for k, v in re.findall(r"(LUT|FF|DSP|BRAM36) (\d+)%", predicted.group(1))}
    for k, v in pct.items():  # what fit predicted is what estimate says of the converted project
        assert round(100 * est["high"][k] / {"lut": 53200, "ff": 106400, "dsp": 220, "bram36": 140}[k]) == v, k
        assert est["high"][k] <= 0.8 * {"lut": 53200, "ff": 106400, "dsp": 220, "bram36": 140}[k]
    return settings, project


def test_fit_chooses_settings_convert_and_estimate_agree_with(tmp_path, capsys):
    _check_fit_reaches_the_project(tmp_path, capsys, small_mlp())


TUTORIAL_TYPES = {"weight": "ap_fixed<16,6>", "bias": "ap_fixed<16,6>", "result": "ap_fixed<16,6>",
                  "accum": "ap_fixed<16,6>"}
"""hls4ml's default configuration, as the tutorial's float jet tagger is built: every type ap_fixed<16,6>."""


@pytest.mark.parametrize("quantized", [True, False], ids=["qkeras_6bit", "float"])
def test_fit_the_jet_tagger_to_the_pynq_z2(tmp_path, capsys, quantized):
    extra = ()
    if not quantized:  # the float design with hls4ml's ap_fixed defaults, given as per-layer settings
        start = tmp_path / "tutorial.yml"
        layers = {**{n: {"precision": TUTORIAL_TYPES} for n in ("fc1", "fc2", "fc3", "output")},
                  **{f"relu{i}": {"precision": "ap_fixed<16,6>"} for i in (1, 2, 3)}}
        start.write_text(yaml.safe_dump({"input_precision": "ap_fixed<16,6>", "layers": layers}))
        extra = ("--config", str(start))
    settings, project = _check_fit_reaches_the_project(tmp_path, capsys, jet_tagger(quantized), extra=extra)
    assert {"fc1", "fc2", "fc3", "output"} <= set(settings["layers"])
    if not quantized:  # the given types are kept beside the chosen reuse factors and strategies
        assert settings["layers"]["fc1"]["precision"] == TUTORIAL_TYPES
        assert settings["input_precision"] == "ap_fixed<16,6>"
        fc1 = next(l for l in json.loads((project / "fpga_accel.json").read_text())["layers"] if l["name"] == "fc1")
        assert fc1["weight_precision"].startswith("fixed<16,6") and fc1["accum_precision"].startswith("fixed<16,6")


def test_fit_result_matches_the_search_in_python(tmp_path):
    result = fa.fit(small_mlp(), fa.ConvertConfig(name="small"), io_types=["io_parallel"])
    assert result.chosen is not None and result.chosen.fits and result.chosen.io_type == "io_parallel"
    assert result.evaluated >= len(result.candidates) >= 1
    config = result.convert_config(fa.ConvertConfig(name="small", output_dir=tmp_path, verify_samples=0))
    design = fa.convert(small_mlp(), config)
    assert estimate(design).total == result.chosen.estimate.total


def test_nothing_fits_exits_4_saying_by_how_much_and_which_layer(tmp_path, capsys, caplog):
    code, out = _fit_and_convert(tmp_path, huge_model(), extra=["--io-type", "io_parallel"])
    assert code == EXIT_DOES_NOT_FIT and not out.exists()
    message = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"][-1]
    assert re.search(r"nothing fits pynq-z2 within 80% of each resource: the closest candidate \(io_parallel, "
                     r"wide [LR]/\d+\) needs (LUT|FF|DSP|BRAM36) at \d+% of the part .*x the limit; its largest "
                     r"layer is wide", message), message
    assert "fit on pynq-z2" in capsys.readouterr().out


def test_fit_refuses_to_overwrite_and_checks_before_work(tmp_path, caplog):
    out = tmp_path / "fit.yml"
    out.write_text("mine\n")
    assert main(["fit", str(tmp_path / "missing.h5"), "-o", str(out)]) == EXIT_ERROR
    assert out.read_text() == "mine\n" and "pass --force" in caplog.text


def test_fit_as_a_flow_option_is_recorded_in_flow_json(tmp_path):
    from fpga_accel.flow import FlowConfig, run_flow

    model = _save(small_mlp(), tmp_path / "small.h5")
    project = tmp_path / "p.yml"
    project.write_text(f"name: small\nmodel: {model}\nfit: true\nverify_samples: 0\noutput_dir: {tmp_path / 'hls'}\n")
    run_flow(FlowConfig.from_file(project), start="convert", stop="convert")
    records = json.loads((tmp_path / "hls" / "small.flow" / "flow.json").read_text())["steps"]
    convert = next(r for r in records if r["step"] == "convert")
    assert convert["status"] == "ran" and convert["detail"].startswith("fit chose (io_parallel): fc1 ")
    meta = json.loads((tmp_path / "hls" / "small" / "fpga_accel.json").read_text())
    assert all(l["setting"]["source"] == "fit" for l in meta["layers"] if l["name"] in ("fc1", "out"))
    assert estimate(tmp_path / "hls" / "small").verdict == "FITS"
