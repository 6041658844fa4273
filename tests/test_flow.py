"""One flow: `fpga-accel flow project.yml` from quantize to bundle with stand-in vendor tools, steps that
are skipped when their inputs did not change, and stages that do not import each other."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.flow import STEPS, FlowConfig, select_steps



def _records(root: Path) -> dict:
    raw = json.loads((root / "hls" / "mlp.flow" / "flow.json").read_text())
    return {r["step"]: r for r in raw["steps"]}


@pytest.fixture
def project_file(tmp_path):
    """A float MLP, its data and a project file that quantizes it with 5-bit weights."""
    from tensorflow import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(12,), name="fc1"),
                              keras.layers.Dense(4, name="out")])
    model.save(tmp_path / "float.h5")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (300, 12)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=rng.integers(0, 4, 300))
    path = tmp_path / "project.yml"
    path.write_text(f"""name: mlp
model: float.h5
data: data.npz
output_dir: {tmp_path / 'hls'}
test_samples: 100
quantize: {{weight_bits: 5}}
build: {{bitstreams: {tmp_path / 'bits'}}}
""")
    return path


def test_flow_runs_quantize_to_bundle_then_skips_what_did_not_change(project_file, vivado, tmp_path, capsys):
    from fpga_accel.cli import main

    assert main(["flow", str(project_file)]) == 0
    records = _records(tmp_path)
    assert [records[s]["status"] for s in STEPS[:6]] == ["ran"] * 6
    assert "deploy" not in records  # reaches a board: only with --to deploy
    manifest = json.loads((tmp_path / "bits" / "mlp" / "manifest.json").read_text())
    assert manifest["name"] == "mlp" and manifest["bit_sha256"]
    record = json.loads((tmp_path / "hls" / "mlp" / "fpga_accel.json").read_text())  # one record of the project
    assert record["fidelity"]["passed"] and record["estimate"]["total"]["lut"] > 0
    assert record["build"]["report"]["hls"]["dsp"] == 73 and record["build"]["tool_versions"]["vivado"] == "2020.1"
    assert manifest["build"] == record["build"] and manifest["estimate"] == record["estimate"]
    assert json.loads((tmp_path / "hls" / "mlp.flow" / "csim_report.json").read_text())["bit_exact"] == 1.0
    with np.load(tmp_path / "bits" / "mlp" / "test_vectors.npz") as vectors:
        assert len(vectors["x"]) == 32 and "labels" in vectors.files
    bundle_mtime = (tmp_path / "bits" / "mlp" / "manifest.json").stat().st_mtime_ns

    assert main(["flow", str(project_file), "--from", "csim"]) == 0
    again = _records(tmp_path)
    assert [again[s]["status"] for s in ("csim", "estimate", "build", "bundle")] == ["skipped"] * 4
    assert again["quantize"]["status"] == again["convert"]["status"] == "ran"  # not in the range: kept
    assert (tmp_path / "bits" / "mlp" / "manifest.json").stat().st_mtime_ns == bundle_mtime
    out = capsys.readouterr().out
    assert "csim        skipped" in out

    # a changed setting re-runs its step and everything downstream whose inputs changed with it
    project_file.write_text(project_file.read_text().replace("weight_bits: 5", "weight_bits: 4"))
    assert main(["flow", str(project_file), "--to", "csim"]) == 0
    changed = _records(tmp_path)
    assert [changed[s]["status"] for s in ("quantize", "convert", "csim")] == ["ran"] * 3


def test_flow_without_vivado_stops_at_build_with_the_tool_message(project_file, tmp_path, monkeypatch, caplog):
    from fpga_accel.cli import main

    import shutil

    if shutil.which("vivado_hls"):
        pytest.skip("a real vivado_hls is on PATH")
    assert main(["flow", str(project_file)]) == 1
    records = _records(tmp_path)
    assert records["estimate"]["status"] == "ran"
    assert records["build"]["status"] == "failed" and "vivado_hls not on PATH" in records["build"]["detail"]
    assert "Traceback" not in caplog.text
    from fpga_accel.flow import FlowConfig, FlowProject

    project = FlowProject.open(FlowConfig.from_file(project_file))  # what run_flow returns renders in a notebook
    page = project._repr_html_()
    assert "<td>estimate</td><td>ran</td>" in page and "<td>build</td><td>failed</td>" in page
    assert ">failed at build</b>" in page and "vivado_hls not on PATH" in page
    assert str(project) == project.format() and project.format().splitlines()[0].startswith("quantize    ran")


def test_step_selection_and_project_file_errors(tmp_path):
    assert select_steps() == list(STEPS[:STEPS.index("bundle") + 1])
    assert select_steps("csim", "csim") == ["csim"]
    assert select_steps(subset="host") == ["quantize", "convert", "csim", "estimate"]
    assert select_steps(subset="board") == ["build", "bundle", "deploy"]
    with pytest.raises(fa.ConfigError, match="either a subset of steps or --from/--to"):
        select_steps("csim", subset="host")
    with pytest.raises(fa.ConfigError, match="unknown step 'synth'"):
        select_steps("synth")
    with pytest.raises(fa.ConfigError, match="--from bundle comes after --to csim"):
        select_steps("bundle", "csim")
    path = tmp_path / "p.yml"
    path.write_text("name: x\n")
    with pytest.raises(fa.ConfigError, match="no `model:`"):
        FlowConfig.from_file(path)
    path.write_text("name: x\nmodel: m.h5\nbuild: {step: synth}\n")
    with pytest.raises(fa.ConfigError, match="unknown build keys"):
        FlowConfig.from_file(path)


@pytest.mark.parametrize("flow", ["vitis", "vivado-hls"])
def test_the_project_file_chooses_the_build_flow(project_file, vitis, tmp_path, flow):
    """With both tool sets on PATH the default would be vitis: `build: {flow: ...}` decides, and the
    project records which flow built it."""
    from fpga_accel.cli import main

    project_file.write_text(project_file.read_text().replace("build: {", f"build: {{flow: {flow}, steps: 'csim,synth', "))
    code = main(["flow", str(project_file), "--to", "build"])
    record = json.loads((tmp_path / "hls" / "mlp" / "fpga_accel.json").read_text())
    if flow == "vitis":
        assert code == 0 and record["build"]["flow"] == "vitis"
        assert any("vitis-run" in line for line in vitis.read_text().splitlines())
    else:  # the stand-in vivado_hls is 2020.1, the stand-in Vivado 2023.2: both flows can run
        assert code == 0 and record["build"]["flow"] == "vivado-hls"


def test_an_unknown_build_flow_is_refused(project_file):
    project_file.write_text(project_file.read_text().replace("build: {", "build: {flow: quartus, "))
    with pytest.raises(fa.ConfigError, match="build flow 'quartus' is not 'vitis' or 'vivado-hls'"):
        FlowConfig.from_file(project_file)


def test_a_run_loads_each_model_file_once_and_again_when_it_changes(project_file, monkeypatch):
    """convert, csim and bundle all read the quantized model: one load per run while the file is as it was."""
    import os

    from fpga_accel import model_io
    from fpga_accel.flow import FlowProject

    loads = []
    real = model_io.load_model
    monkeypatch.setattr(model_io, "load_model", lambda path, custom=None: loads.append(path) or real(path, custom))
    project = FlowProject.open(FlowConfig.from_file(project_file))
    model = project.config.model
    assert project.load(model) is project.load(model) and len(loads) == 1
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # another model written there
    assert project.load(model) is not None and len(loads) == 2


def test_the_quantize_step_hands_its_model_to_the_later_steps(project_file, monkeypatch):
    """A run from quantize does not read back the quantized model it has just saved (in a sweep that reload
    was ~15 % of a point's CPU time with the emulator); a run that does read it from disk reports the same."""
    from fpga_accel import model_io
    from fpga_accel.flow import run_flow

    config = FlowConfig.from_file(project_file)
    loads = []
    real = model_io.load_model
    monkeypatch.setattr(model_io, "load_model",
                        lambda path, custom=None: loads.append(Path(path).name) or real(path, custom))
    project = run_flow(config, stop="csim", engine="emulator")
    assert loads == ["float.h5"]
    keys = ("reference_accuracy", "csim_accuracy", "bit_exact", "argmax_agreement", "max_abs_diff", "engine")
    first = json.loads(project.layout.csim_report.read_text())
    again = run_flow(config, start="convert", stop="csim", engine="emulator", force=True)
    assert loads == ["float.h5", project.quantized_model.name]
    second = json.loads(again.layout.csim_report.read_text())
    assert {k: first[k] for k in keys} == {k: second[k] for k in keys} and first["bit_exact"] == 1.0
