"""Models with custom layer classes: `--custom-objects MODULE` (CLI), `load_model(path, custom_objects=...)`
(API) and `custom_objects:` in a project file load them; without it the error names the class and the flag."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fpga_accel import ConfigError
from fpga_accel.cli import EXIT_ERROR, main
from fpga_accel.model_io import load_custom_objects, load_model
from models import q

LAYER_SOURCE = '''
"""A Dense with a fixed output scale, and an hls4ml parser for it (scale 1 only): a custom layer class
hls4ml supports once this module is imported."""
from tensorflow import keras


class ScaledDense(keras.layers.Dense):
    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        return super().call(inputs) * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def parse_scaled_dense(keras_layer, input_names, input_shapes, data_reader):
    from hls4ml.converters.keras.core import parse_dense_layer

    if keras_layer["config"]["scale"] != 1.0:
        raise ValueError("ScaledDense: hls4ml parser supports scale 1.0 only")
    layer, shape = parse_dense_layer(keras_layer, input_names, input_shapes, data_reader)
    layer["class_name"] = "Dense"
    return layer, shape


def _register_with_hls4ml():
    from hls4ml.converters import get_supported_keras_layers, register_keras_v2_layer_handler

    if "ScaledDense" not in get_supported_keras_layers():
        register_keras_v2_layer_handler("ScaledDense", parse_scaled_dense)


_register_with_hls4ml()
'''


@pytest.fixture(autouse=True, scope="module")
def _hls4ml_as_it_was():
    """The user module registers its layer with hls4ml for the process, as a user's would; hls4ml's handler
    table is put back after this file so later tests (test_layer_support's census of what hls4ml parses)
    see hls4ml's own."""
    from hls4ml.converters.keras_v2_to_hls import layer_handlers

    before = dict(layer_handlers)
    yield
    layer_handlers.clear()
    layer_handlers.update(before)


def write_module(folder, with_dict=True):
    path = folder / "my_layers.py"
    path.write_text(LAYER_SOURCE + ('custom_objects = {"ScaledDense": ScaledDense}\n' if with_dict else ""))
    return path


def custom_model(module_path, seed=0):
    """input quantizer → ScaledDense(scale 1, relu) with weights on a 1/16 grid → QDense: csim is exact."""
    from qkeras import QActivation, QDense
    from tensorflow import keras

    layers = load_custom_objects(module_path)
    inp = keras.Input((8,), name="x")
    t = QActivation(q(8, 2), name="input_quant")(inp)
    t = layers["ScaledDense"](8, scale=1.0, activation="relu", name="fc1")(t)
    t = QDense(4, kernel_quantizer=q(), bias_quantizer=q(), name="out")(t)
    model = keras.Model(inp, t, name="custom")
    rng = np.random.default_rng(seed)
    model.set_weights([np.round(rng.uniform(-0.5, 0.5, w.shape) * 16) / 16 for w in model.get_weights()])
    return model


@pytest.fixture
def saved(tmp_path):
    module = write_module(tmp_path)
    model = custom_model(module)
    model.save(tmp_path / "custom.h5")
    x = np.random.default_rng(1).uniform(-3, 3, (100, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path, module, model, x


def test_load_needs_the_custom_objects_and_says_which(saved):
    root, module, model, x = saved
    with pytest.raises(ConfigError, match=r"uses 'ScaledDense'.*--custom-objects"):
        load_model(root / "custom.h5")
    for spec in (str(module), module, {"ScaledDense": load_custom_objects(module)["ScaledDense"]}):
        loaded = load_model(root / "custom.h5", custom_objects=spec)
        assert type(loaded.get_layer("fc1")).__name__ == "ScaledDense"
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_dotted_module_name_and_layer_classes_without_a_dict(saved, tmp_path_factory, monkeypatch):
    root, _, model, x = saved
    package = tmp_path_factory.mktemp("pkg")
    (package / "userlayers").mkdir()
    (package / "userlayers" / "__init__.py").write_text("")
    write_module(package / "userlayers", with_dict=False)  # no custom_objects dict: its Layer classes count
    monkeypatch.syspath_prepend(str(package))
    objects = load_custom_objects("userlayers.my_layers")
    assert "ScaledDense" in objects
    loaded = load_model(root / "custom.h5", custom_objects="userlayers.my_layers")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_custom_objects_modules_say_what_is_wrong(saved, tmp_path):
    root = saved[0]
    with pytest.raises(ConfigError, match="'no_such_module_xyz' not found"):
        load_model(root / "custom.h5", custom_objects="no_such_module_xyz")
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(root / "custom.h5", custom_objects=str(tmp_path / "missing.py"))
    empty = tmp_path / "empty_mod.py"
    empty.write_text("VALUE = 1\n")
    with pytest.raises(ConfigError, match="no `custom_objects` dict and no Keras Layer subclasses"):
        load_model(root / "custom.h5", custom_objects=empty)
    broken = tmp_path / "broken_mod.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="failed to import: RuntimeError: boom"):
        load_model(root / "custom.h5", custom_objects=broken)
    other = tmp_path / "other_mod.py"
    other.write_text("from tensorflow import keras\n\nclass Unrelated(keras.layers.Layer):\n    pass\n\n"
                     "custom_objects = {'Unrelated': Unrelated}\n")
    with pytest.raises(ConfigError, match=r"uses 'ScaledDense'.*hold \['Unrelated'\]"):
        load_model(root / "custom.h5", custom_objects=other)


def test_cli_convert_and_csim_with_custom_objects(saved, caplog, capsys):
    root, module, _, _ = saved
    convert = ["convert", str(root / "custom.h5"), "--name", "custom", "--output-dir", str(root / "hls")]
    assert main(convert) == EXIT_ERROR
    assert "uses 'ScaledDense'" in caplog.text and "--custom-objects" in caplog.text
    assert not (root / "hls" / "custom").exists()
    assert main(convert + ["--custom-objects", str(module)]) == 0
    csim = ["csim", str(root / "hls" / "custom"), "--input", str(root / "x.npy"),
            "--reference", str(root / "custom.h5")]
    caplog.clear()
    assert main(csim) == EXIT_ERROR
    assert "uses 'ScaledDense'" in caplog.text
    capsys.readouterr()
    assert main(csim + ["--custom-objects", str(module)]) == 0
    assert "bit-exact (outputs)   100.00% of samples" in capsys.readouterr().out


def test_cli_quantize_and_project_file_take_custom_objects(saved, caplog):
    root, module, _, _ = saved
    quantize = ["quantize", str(root / "custom.h5"), "-o", str(root / "q.h5")]
    assert main(quantize) == EXIT_ERROR
    assert "uses 'ScaledDense'" in caplog.text
    caplog.clear()
    # loading works; quantize itself does not know the class (listed by name, before any work)
    assert main(quantize + ["--custom-objects", str(module)]) == EXIT_ERROR
    assert "uses 'ScaledDense'" not in caplog.text and "fc1" in caplog.text
    project = root / "project.yml"
    project.write_text(f"model: {root / 'custom.h5'}\nname: fromyaml\ncustom_objects: {module}\n"
                       f"output_dir: {root / 'hls'}\n")
    assert main(["convert", "--config", str(project)]) == 0
    meta = json.loads((root / "hls" / "fromyaml" / "fpga_accel.json").read_text())
    assert meta["input_precision"] == "fixed<8,3,RND_CONV,SAT>"
