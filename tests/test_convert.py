from __future__ import annotations

import json
import re

import pytest

import fpga_accel as fa
from models import qmlp


def test_project_layout_and_board_settings(tmp_path):
    model = qmlp()
    design = fa.convert(model, fa.ConvertConfig(name="mlp", output_dir=tmp_path, reuse_factor=2,
                                                strategy="resource"))
    root = tmp_path / "mlp"
    for name in ("firmware/mlp.cpp", "firmware/mlp_axi.cpp", "mlp_bridge.cpp", "build_prj.tcl", "project.tcl",
                 "design.tcl", "axi_stream_driver.py", "fpga_accel.json", "reference_model.h5"):
        assert (root / name).is_file(), name
    project_tcl = (root / "project.tcl").read_text()
    assert re.search(r"set part \"xc7z020clg400-1\"", project_tcl)
    assert re.search(r"set clock_period 10\b", project_tcl)
    assert "processing_system7" in (root / "design.tcl").read_text()  # the Zynq block design
    params = (root / "firmware" / "parameters.h").read_text()
    assert "reuse_factor = 2" in params and "strategy = nnet::resource" in params
    meta = json.loads((root / "fpga_accel.json").read_text())
    assert meta["part"] == "xc7z020clg400-1" and meta["clock_period"] == 10.0
    assert meta["input_shape"] == [16] and meta["output_shape"] == [5]
    assert meta["axi_input_type"] == "float32"
    assert len(meta["model_sha256"]) == 64
    assert design.root == root


def test_existing_project_is_not_overwritten_without_force(tmp_path):
    model = qmlp()
    config = fa.ConvertConfig(name="mlp", output_dir=tmp_path)
    fa.convert(model, config)
    marker = tmp_path / "mlp" / "notes.txt"
    marker.write_text("mine")
    with pytest.raises(fa.ConfigError, match="exists and is not empty; pass --force"):
        fa.convert(model, config)
    assert marker.read_text() == "mine"
    fa.convert(model, config, force=True)
    assert not marker.exists()


def test_unsupported_layer_fails_before_writing(tmp_path):
    from tensorflow import keras

    inp = keras.Input((4,))
    t = keras.layers.GaussianNoise(0.1, name="noise")(inp)
    t = keras.layers.Dense(2)(t)
    model = keras.Model(inp, t)
    with pytest.raises(fa.ConfigError, match=r"cannot convert layers: noise \(GaussianNoise\)"):
        fa.convert(model, fa.ConvertConfig(name="bad", output_dir=tmp_path))
    assert not (tmp_path / "bad").exists()


def test_softmax_host_needs_a_softmax(tmp_path):
    with pytest.raises(fa.ConfigError, match="does not end in a softmax"):
        fa.convert(qmlp(), fa.ConvertConfig(name="m", output_dir=tmp_path, softmax="host"))


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_failed_force_convert_leaves_the_old_project_as_it_was(tmp_path, monkeypatch):
    """--force replaces a project only once the new one is complete: hls4ml failing (or Ctrl-C) midway
    loses nothing and leaves no half-written folder."""
    import fpga_accel.stages.convert as convert_stage

    config = fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=0)
    fa.convert(qmlp(), config)
    before = _snapshot(tmp_path / "mlp")

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert_stage, "_meta", broken)  # after hls4ml has written half a project
    with pytest.raises(KeyboardInterrupt):
        fa.convert(qmlp(seed=1), config, force=True)
    assert _snapshot(tmp_path / "mlp") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp"]  # no staging or old folder left
    monkeypatch.undo()
    design = fa.convert(qmlp(seed=1), config, force=True)  # and a working --force still replaces it
    assert _snapshot(design.root) != before
    assert "/." not in (design.root / "hls4ml_config.yml").read_text().split("OutputDir:")[1].splitlines()[0]
