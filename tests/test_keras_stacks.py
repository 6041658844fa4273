"""Both host stacks: model files cross between them where the formats allow (and are refused with the
reason where not), and a TF-2.14-saved QKeras .h5 stays bit-exact when converted on Keras 3.

The fixtures in tests/fixtures/models were written by make_fixtures.py there, one per stack.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.keras_compat import (input_layer_name, input_shape, is_keras3, keras_module, layer_input_shape,
                                     output_layer, output_shape, quantizer_of, saved_keras_version, version_tuple)
from fpga_accel.model_io import load_model, save_model
from models import qmlp

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "models"
TF214_H5 = FIXTURES / "qmlp_tf214.h5"
KERAS3_H5 = FIXTURES / "qmlp_keras3.h5"

keras3_only = pytest.mark.skipif(not is_keras3(), reason="the Keras 3 stack reads TF 2.14 files; this is TF 2.14")


def non_grid_inputs(n: int, shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    """Float inputs off every fixed-point grid (plus exact half-way points of the input quantizer's
    2**-5 grid, where round-half-to-even matters), spanning past its ±4 range so it saturates."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, (n,) + shape).astype(np.float32)
    x[: n // 4] = (rng.integers(-160, 160, (n // 4,) + shape) + 0.5) * 2.0 ** -5
    return x


def test_versions_compare_as_numbers():
    assert version_tuple("3.15.1") > version_tuple("3.9.0")  # as strings '3.15' < '3.9'
    assert version_tuple("2.14.0rc1") == (2, 14, 0) and version_tuple("3") >= (3,)


def test_model_facts_on_this_stack():
    model = qmlp()
    assert input_layer_name(model) == "x"
    assert input_shape(model) == (16,) and output_shape(model) == (5,)
    assert layer_input_shape(model.get_layer("fc2")) == (None, 64)
    assert output_layer(model).name == "out"
    q = quantizer_of(model.get_layer("input_quant"))
    assert (type(q).__name__, q.bits, q.integer) == ("quantized_bits", 8, 2)


def test_fixtures_record_their_stack():
    assert saved_keras_version(TF214_H5)[:2] == (2, 14)
    assert saved_keras_version(KERAS3_H5)[0] == 3


def test_a_model_saved_here_loads_here_with_the_same_outputs(tmp_path):
    model = qmlp()
    path = save_model(model, tmp_path / "m.h5")
    x = non_grid_inputs(64, (16,))
    assert np.array_equal(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


def test_tf214_h5_loads_on_both_stacks_with_the_same_outputs():
    model = load_model(TF214_H5)
    x = non_grid_inputs(256, (8,))
    keras3_file = None if not is_keras3() else load_model(KERAS3_H5)
    y = model.predict(x, verbose=0)
    assert y.shape == (256, 4) and np.allclose(y.sum(axis=1), 1, atol=1e-5)
    if keras3_file is not None:  # the same architecture and weights, saved by each stack
        assert np.array_equal(keras3_file.predict(x, verbose=0), y)


@pytest.mark.skipif(is_keras3(), reason="Keras 3 reads its own files")
def test_keras3_files_are_refused_on_tf214_with_the_reason(tmp_path):
    with pytest.raises(fa.ConfigError, match=r"saved with Keras 3\.15\.1.*cannot read Keras 3 files"):
        load_model(KERAS3_H5)
    archive = tmp_path / "m.keras"  # what Keras 3 writes as .keras: a zip whose metadata names the version
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01"}))
        z.writestr("config.json", "{}")
    with pytest.raises(fa.ConfigError, match=r"saved with Keras 3\.15\.1"):
        load_model(archive)


@keras3_only
def test_keras3_format_round_trips_on_keras3(tmp_path):
    model = qmlp()
    path = save_model(model, tmp_path / "m.keras")
    assert saved_keras_version(path)[0] == 3
    x = non_grid_inputs(64, (16,))
    assert np.array_equal(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


@keras3_only
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_tf214_h5_converts_bit_exact_on_keras3(tmp_path, io_type):
    """The TF 2.14 / QKeras 0.9 file, loaded on Keras 3 and converted there: csim equals the QKeras-v3
    model bit for bit on float inputs off the grid (logits, and probabilities through the softmax)."""
    model = load_model(TF214_H5)
    assert {type(layer).__name__ for layer in model.layers} >= {"QActivation", "QDense", "QBatchNormalization"}
    config = fa.ConvertConfig(name="tf214", output_dir=tmp_path / "hls", io_type=io_type, verify_samples=0)
    design = fa.convert(model, config)
    x = non_grid_inputs(2000, (8,))
    report = design.compare(model, x)
    assert report.compared == "logits" and report.n_samples == 2000
    assert report.bit_exact == 1.0 and report.argmax_agreement == 1.0 and report.max_abs_diff == 0.0
    assert report.first_divergent_layer is None
    assert design.meta.uncovered_layers == []


@keras3_only
def test_keras3_parser_splits_quantizer_activations_like_keras2():
    """hls4ml's Keras-3 parser, with fpga_accel's handlers, yields the nodes its Keras-2 parser yields
    for QKeras layers: the quantizer activation of fc1 becomes its own node, named as on Keras 2."""
    import hls4ml

    from fpga_accel.keras_compat import hls4ml_parsing

    keras_module()
    model = load_model(TF214_H5)
    with hls4ml_parsing():
        nodes, inputs, outputs, _ = hls4ml.converters.parse_keras_v3_model(model)
    assert [(n["name"], n["class_name"]) for n in nodes] == [
        ("x", "InputLayer"), ("input_quant", "Activation"), ("fc1", "QDense"), ("fc1_quantized_relu", "Activation"),
        ("bn", "QBatchNormalization"), ("relu2", "Activation"), ("logits", "QDense"), ("softmax", "Softmax")]
    assert nodes[3]["activation_quantizer"]["class_name"] == "quantized_relu"
    assert {"scale_data", "bias_data"} <= set(nodes[4])  # the probed affine map of the Keras layer
    assert inputs == ["x"] and outputs == ["softmax"]


def test_host_extra_picks_the_stack_by_python_version():
    """`pip install "fpga-accel[host]"`: Keras 2 / TF 2.14 on 3.10–3.11, Keras 3 / qkeras-v3 on 3.12+."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def chosen(python: str) -> set[str]:
        return {extra for req in map(Requirement, extras["host"]) if req.marker.evaluate({"python_version": python})
                for extra in req.extras}

    assert chosen("3.10") == chosen("3.11") == {"host-keras2"}
    assert chosen("3.12") == chosen("3.13") == {"host-keras3"}
    keras2 = {Requirement(r).name for r in extras["host-keras2"]}
    keras3 = {Requirement(r).name for r in extras["host-keras3"]}
    assert {"qkeras", "tensorflow"} <= keras2 and "qkeras-v3" not in keras2
    assert {"qkeras-v3", "tensorflow", "keras"} <= keras3 and "qkeras" not in keras3 and "hgq2" not in keras3


def test_find_python_finds_a_running_interpreter_or_says_why():
    tool = str(ROOT / "tools" / "find-python")
    found = subprocess.run([tool, "--version", sys.executable], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "%d.%d" % sys.version_info[:2]
    missing = subprocess.run([tool, "python9.99"], capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no working 'python9.99'" in missing.stderr and "PYTHON=/path/to/python" in missing.stderr
