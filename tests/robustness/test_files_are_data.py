"""A model file is data, never code: every command that loads a model refuses layers that carry Python
code (a Keras 2 ``Lambda`` marshals its bytecode into the .h5; a Keras 3 ``.keras`` names ``__lambda__``
or a Python module to import) before Keras deserializes anything, unless ``--trust-model-code`` says so.

Each hostile model's function would create a canary file when it runs; the canary must not appear.
CLI cases run ``fpga-accel`` as a separate process.
"""
from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

import fpga_accel as fa
from conftest import stand_in_bitstream
from robustness_helpers import run_cli, tree

FLAG = "--trust-model-code"


def error_line(proc) -> str:
    """The one error line: exit 1, no traceback, the message once."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "refused" in line or "neither Keras" in line]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def lambda_model(path, canary, wrap: str = "", inputs: int = 16):
    """A model whose Lambda layer creates ``canary`` when it is called (Keras calls it while loading).
    ``wrap``: "nested" puts it inside a nested Sequential, "time" inside TimeDistributed."""
    from fpga_accel.keras_compat import keras_module

    keras = keras_module()
    function = eval(f"lambda t: (open({str(canary)!r}, 'w').close(), t)[1]")  # a constant, no closure
    code = keras.layers.Lambda(function, name="evil")
    if wrap == "nested":
        inner = keras.Sequential([keras.Input((5,)), code], name="inner")
        model = keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(5), inner])
    elif wrap == "time":
        model = keras.Sequential([keras.Input((2, inputs)), keras.layers.TimeDistributed(code)])
    else:
        model = keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(5), code])
    model.save(path)
    assert canary.exists()  # building it ran the function: the file would run it again
    canary.unlink()
    return path


@pytest.fixture(scope="module")
def work(robust_project, tmp_path_factory):
    root, design = robust_project
    work = tmp_path_factory.mktemp("files_are_data")
    canary = work / "CANARY"
    lambda_model(work / "lam.h5", canary)
    lambda_model(work / "nested.h5", canary, wrap="nested")
    lambda_model(work / "time.h5", canary, wrap="time")
    shutil.copytree(design.root, work / "hls" / "mlp")
    np.save(work / "x.npy", np.random.default_rng(0).uniform(-1, 1, (8, 16)).astype(np.float32))
    np.savez(work / "d.npz", x=np.zeros((40, 16), np.float32), y=np.zeros(40, np.int64))
    stand_in_bitstream(work)
    # a project whose reference model (what `bundle` computes the test vectors with) was swapped
    shutil.copytree(design.root, work / "swapped" / "mlp")
    reference = fa.Design(work / "swapped" / "mlp").layout.keras_model
    shutil.copyfile(work / "lam.h5", reference)
    (work / "sweep.yml").write_text("name: s\nmodel: lam.h5\ndata: d.npz\ngrid: {reuse_factor: [1]}\n")
    # output_dir absolute: whether a relative one follows the file or the working folder is not this test's
    (work / "proj.yml").write_text(f"name: p\nmodel: lam.h5\ndata: d.npz\noutput_dir: {work / 'out'}\n")
    (work / "trusted.yml").write_text(f"name: t\nmodel: lam.h5\ndata: d.npz\noutput_dir: {work / 'out'}\n"
                                      "trust_model_code: true\n")
    return work


COMMANDS = {
    "convert": ["convert", "lam.h5", "--name", "c", "--output-dir", "hls"],
    "quantize": ["quantize", "lam.h5", "-o", "q_out.h5"],
    "csim-reference": ["csim", "hls/mlp", "--input", "x.npy", "--reference", "lam.h5"],
    "bundle-reference-model": ["bundle", "swapped/mlp", "--bit", "stand_in.bit", "--hwh", "stand_in.hwh",
                               "--output-dir", "bitstreams"],
    "flow": ["flow", "proj.yml"],
    "estimate-model": ["estimate", "--model", "lam.h5"],
    "sweep": ["sweep", "sweep.yml", "--workers", "1"],
    "convert-nested-model": ["convert", "nested.h5", "--name", "c", "--output-dir", "hls"],
    "convert-time-distributed": ["convert", "time.h5", "--name", "c", "--output-dir", "hls"],
}


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_every_command_refuses_a_model_that_carries_code(work, case):
    before = tree(work)
    proc = run_cli([work / a if a.endswith((".h5", ".yml", ".npy", ".bit", ".hwh")) or "/" in a
                    or a in ("hls", "bitstreams") else a for a in COMMANDS[case]])
    line = error_line(proc)
    assert "'evil'" in line and "Lambda" in line and FLAG in line
    assert not (work / "CANARY").exists()
    after = tree(work)
    assert {name: after.get(name) for name in before} == before  # every file as it was
    assert not (work / "bitstreams").exists() and not (work / "q_out.h5").exists()
    assert not (work / "hls" / "c").exists()


def test_the_flag_trusts_the_file(work):
    """With --trust-model-code the file's code runs (the canary shows it); convert then stops at the
    layer hls4ml cannot convert."""
    proc = run_cli(["convert", work / "lam.h5", "--name", "c", "--output-dir", work / "trusted_out", FLAG])
    try:
        assert (work / "CANARY").exists()
        assert "Traceback" not in proc.stderr and "refused" not in proc.stderr
    finally:
        (work / "CANARY").unlink(missing_ok=True)
        shutil.rmtree(work / "trusted_out", ignore_errors=True)


def test_a_project_file_can_trust_its_model(work):
    proc = run_cli(["flow", work / "trusted.yml", "--to", "convert"])
    try:
        assert (work / "CANARY").exists(), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "refused" not in proc.stderr
    finally:
        (work / "CANARY").unlink(missing_ok=True)
        shutil.rmtree(work / "out", ignore_errors=True)


def test_trust_model_code_must_be_true_or_false(work, tmp_path):
    spec = tmp_path / "p.yml"
    spec.write_text(f"name: p\nmodel: {work / 'lam.h5'}\ntrust_model_code: maybe\n")
    proc = run_cli(["flow", spec])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "trust_model_code" in proc.stderr
    assert not (work / "CANARY").exists()


def test_the_library_loader_refuses_too(work):
    from fpga_accel.model_io import load_model

    with pytest.raises(fa.ConfigError, match=r"layer 'evil' \(Lambda: Python code\).*--trust-model-code"):
        load_model(work / "lam.h5")
    assert not (work / "CANARY").exists()
    try:
        assert [type(layer).__name__ for layer in load_model(work / "lam.h5", trust_code=True).layers][-1] == "Lambda"
        assert (work / "CANARY").exists()
    finally:
        (work / "CANARY").unlink(missing_ok=True)


def test_the_trust_environment_variable_is_read_at_each_load(work, monkeypatch):
    from fpga_accel.model_io import TRUST_ENV, load_model

    monkeypatch.setenv(TRUST_ENV, "0")
    with pytest.raises(fa.ConfigError, match="refused"):
        load_model(work / "lam.h5")
    assert not (work / "CANARY").exists()


def keras3_archive(path, config) -> None:
    """A .keras file as Keras 3 writes it, with a hand-written config (this stack cannot write one)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "2.14.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"")


def functional(*layers) -> dict:
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "layers": list(layers)}}


KERAS3_CODE = {
    "lambda-source": {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                      "config": {"name": "evil", "function": {
                          "class_name": "__lambda__",
                          "config": {"code": "lambda x: __import__('os').system('touch CANARY')"}}}},
    "module-import": {"module": "os", "class_name": "system", "registered_name": None,
                      "config": {"name": "evil"}},
    "activation-from-module": {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                               "config": {"name": "evil", "units": 3, "activation": {
                                   "module": "subprocess", "class_name": "getoutput", "config": "touch CANARY",
                                   "registered_name": "getoutput"}}},
}


@pytest.mark.parametrize("case", sorted(KERAS3_CODE))
def test_keras3_files_with_code_are_refused_before_keras_reads_them(tmp_path, case):
    path = tmp_path / "m.keras"
    keras3_archive(path, functional(KERAS3_CODE[case]))
    proc = run_cli(["quantize", path, "-o", tmp_path / "out.h5"])
    line = error_line(proc)
    assert "'evil'" in line and FLAG in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_h5_config_naming_a_module_outside_keras_is_refused(tmp_path):
    import h5py

    path = tmp_path / "m.h5"
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
        {"class_name": "Dense", "config": {"name": "evil", "units": 2, "kernel_initializer": {
            "module": "os", "class_name": "system", "config": {}, "registered_name": None}}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.14.0"
    from fpga_accel.model_io import load_model

    with pytest.raises(fa.ConfigError, match=r"layer 'evil' \(system from Python module 'os'\)"):
        load_model(path)


def test_custom_classes_nobody_named_are_refused_before_loading(tmp_path):
    """A class that is neither Keras' nor QKeras' and not given with --custom-objects: one line naming
    it and the flag that names its module."""
    from fpga_accel.keras_compat import keras_module

    keras = keras_module()

    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential([keras.Input((4,)), Scale(name="scale")])
    model.save(tmp_path / "custom.h5")
    proc = run_cli(["convert", tmp_path / "custom.h5", "--name", "c", "--output-dir", tmp_path / "hls"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "uses 'Scale'" in proc.stderr and "--custom-objects" in proc.stderr
    assert not (tmp_path / "hls").exists()


def test_a_model_config_nested_without_end_is_one_line(tmp_path):
    import h5py

    path = tmp_path / "deep.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = "[" * 100_000 + "]" * 100_000
    proc = run_cli(["quantize", path, "-o", tmp_path / "out.h5"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nested too deeply" in proc.stderr
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("config", [
    {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"name": "d", "units": 2}}]}},
    {"class_name": "Functional", "config": {"layers": [
        {"class_name": "QDense", "config": {"name": "q", "kernel_quantizer": {
            "class_name": "quantized_bits", "config": {"bits": 4}}}}]}},
])
def test_plain_keras_and_qkeras_configs_carry_no_code(config):
    from fpga_accel.model_io import code_in_model, unknown_layers

    assert code_in_model(config) == [] and unknown_layers(config, {}) == []


@pytest.mark.parametrize("function", ["io.write_file", "math.add", "__operators__.getitem"])
def test_tensorflow_function_layers_are_code(tmp_path, function):
    """TF 2 writes tf.* calls as TFOpLambda layers that call any TensorFlow function the file names with
    arguments the file gives (io.write_file writes a file while the model loads)."""
    import h5py

    config = {"class_name": "Functional", "config": {"name": "f", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}, "name": "in",
         "inbound_nodes": []},
        {"class_name": "TFOpLambda", "config": {"name": "evil", "function": function}, "name": "evil",
         "inbound_nodes": [["in", 0, 0, {"filename": str(tmp_path / "CANARY")}]]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["evil", 0, 0]]}}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.14.0"
    proc = run_cli(["convert", tmp_path / "m.h5", "--name", "c", "--output-dir", tmp_path / "hls"])
    line = error_line(proc)
    assert "'evil' (TFOpLambda: calls the TensorFlow function" in line and function in line and FLAG in line
    assert not (tmp_path / "CANARY").exists() and not (tmp_path / "hls").exists()


def test_fixture_models_of_both_stacks_carry_no_code():
    from pathlib import Path

    from fpga_accel.model_io import code_in_model, model_config

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "models"
    for name in ("qmlp_tf214.h5", "qmlp_keras3.h5"):
        config = model_config(fixtures / name)
        assert config is not None and code_in_model(config) == []


def test_a_keras_archive_whose_config_unpacks_to_gigabytes_is_refused(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "2.14.0"}))
        with z.open("config.json", "w", force_zip64=True) as f:
            chunk = b" " * (1 << 20)
            for _ in range(80):
                f.write(chunk)
    proc = run_cli(["quantize", path, "-o", tmp_path / "out.h5"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "config.json unpacks to more than 64 MB" in proc.stderr.strip().splitlines()[-1]
