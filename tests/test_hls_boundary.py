"""The hls4ml boundary (fpga_accel.hls.boundary): every change it makes is checked against the installed
hls4ml first — a renamed or missing pass, flow or handler stops conversion with an error naming it — and
undone on exit, so plain hls4ml afterwards is hls4ml's own, object by object."""
from __future__ import annotations

import logging

import pytest

import fpga_accel as fa
from fpga_accel.errors import Hls4mlChangedError
from fpga_accel.hls import boundary
from fpga_accel.keras_compat import is_keras3
from models import qmlp, qmlp_bn


def _hls4ml_state() -> dict[str, dict[str, tuple]]:
    """Every registry fpga_accel may change, as (object identity, contents) per entry."""
    import hls4ml

    hls4ml.backends.get_backend("VivadoAccelerator")
    state = {
        "flows": {name: (id(flow), type(flow), tuple(flow.optimizers), tuple(flow.requires))
                  for name, flow in boundary.flow_registry().items()},
        "passes": {name: (id(opt), type(opt)) for name, opt in boundary.pass_registry().items()},
        "keras2": {name: (id(h),) for name, h in boundary.keras2_handler_registry().items()},
    }
    if is_keras3():
        state["keras3"] = {name: (id(h),) for name, h in boundary.keras3_handler_registry().items()}
    return state


def _renamed(flow_name: str, old: str, new: str):
    """A copy of hls4ml's flow with one pass renamed, as an upstream rename would leave it."""
    from hls4ml.model.flow.flow import Flow

    flow = boundary.flow_registry()[flow_name]
    return Flow(flow_name, [new if p == old else p for p in flow.optimizers], requires=list(flow.requires))


@pytest.mark.parametrize("flow, name", [("convert", "merge_linear_activation"),
                                        ("vivado:quantization", "vivado:merge_batch_norm_quantized_tanh")])
def test_a_pass_renamed_upstream_stops_conversion_naming_it(tmp_path, monkeypatch, flow, name):
    import hls4ml

    hls4ml.backends.get_backend("VivadoAccelerator")
    monkeypatch.setitem(boundary.flow_registry(), flow, _renamed(flow, name, f"{name}_renamed"))
    before = _hls4ml_state()
    with pytest.raises(Hls4mlChangedError) as error:
        fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=0))
    assert f"pass {name!r} is not in flow {flow!r}" in str(error.value)
    assert f"hls4ml {hls4ml.__version__}" in str(error.value)
    assert not (tmp_path / "mlp").exists() and list(tmp_path.iterdir()) == []  # stopped: nothing written
    assert _hls4ml_state() == before  # nothing half-changed either


def test_a_missing_flow_pass_or_handler_is_named(monkeypatch):
    """Each kind of thing the boundary touches, taken away in a copy of hls4ml's registry."""
    from fpga_accel.hls.exact_types import hls4ml_changes

    changes = hls4ml_changes("VivadoAccelerator")
    monkeypatch.delitem(boundary.flow_registry(), "vivado:optimize")  # required by fpga_accel's flow
    with pytest.raises(Hls4mlChangedError, match=r"flow 'vivado:optimize' \(required by 'fpga_accel:exact_types'\)"):
        with boundary.patched(changes):
            pass
    monkeypatch.undo()
    if not is_keras3():  # the Keras-2 batch-norm probe
        monkeypatch.delitem(boundary.keras2_handler_registry(), "QBatchNormalization")
        with pytest.raises(Hls4mlChangedError, match="no Keras-2 layer handler for 'QBatchNormalization'"):
            with boundary.patched(changes):
                pass
    else:  # a Keras-3 registry entry fpga_accel requires
        required = boundary.Changes(keras3_handlers={"keras.layers.Gone": boundary.HandlerChange(lambda h: h)})
        with pytest.raises(Hls4mlChangedError, match="no Keras-3 layer handler for 'keras.layers.Gone'"):
            with boundary.patched(required):
                pass


def test_a_handler_with_another_signature_is_refused(monkeypatch):
    monkeypatch.setitem(boundary.keras2_handler_registry(), "BatchNormalization", lambda layer, names, shapes: None)
    changes = boundary.Changes(keras2_handlers={"BatchNormalization": boundary.HandlerChange(lambda h: h)})
    with pytest.raises(Hls4mlChangedError, match="'BatchNormalization' takes 3 arguments, not 4"):
        with boundary.patched(changes):
            pass


def test_a_method_change_is_checked_made_and_put_back():
    """multi_io's change to VivadoAcceleratorConfig.__init__: made inside, hls4ml's own outside; a method
    that moved or takes other parameters is named before anything changes."""
    from hls4ml.backends.vivado_accelerator.vivado_accelerator_config import VivadoAcceleratorConfig

    from fpga_accel.hls.multi_io import FIRST_PORTS_ONLY, first_ports_only

    original = VivadoAcceleratorConfig.__dict__["__init__"]
    with first_ports_only():
        assert VivadoAcceleratorConfig.__dict__["__init__"] is not original
    assert VivadoAcceleratorConfig.__dict__["__init__"] is original
    for change, message in (
            (boundary.MethodChange(FIRST_PORTS_ONLY.where, ("config", "inputs"), FIRST_PORTS_ONLY.wrap),
             r"VivadoAcceleratorConfig.__init__ does not take \(config, inputs\)"),
            (boundary.MethodChange("hls4ml.backends:Gone.__init__", (), FIRST_PORTS_ONLY.wrap),
             r"hls4ml.backends.Gone does not exist")):
        with pytest.raises(Hls4mlChangedError, match=message):
            with boundary.patched(boundary.Changes(methods=(change,))):
                pass
        assert VivadoAcceleratorConfig.__dict__["__init__"] is original


def test_plain_hls4ml_after_convert_is_hls4mls_own(tmp_path):
    """Flows, passes and layer handlers compared object by object, after a conversion that used all of
    them (a batch norm: the handler probe; a quantized activation: the flows)."""
    before = _hls4ml_state()
    fa.convert(qmlp_bn(qbn=True), fa.ConvertConfig(name="bn", output_dir=tmp_path, verify_samples=0))
    assert _hls4ml_state() == before


def test_a_dynamic_flow_loses_passes_for_the_duration_only(monkeypatch):
    """hls4ml 1.3's update_flow fails on a DynamicFlow (and #1481's fix would leave "remove all, re-add"
    with an empty flow): the boundary stands a static copy in for it and puts the original back."""
    from hls4ml.model.flow.flow import DynamicFlow, get_flow

    dynamic = DynamicFlow("fa_test:dynamic", optimizer_func=lambda: ["a", "b", "c"])
    monkeypatch.setitem(boundary.flow_registry(), "fa_test:dynamic", dynamic)
    with boundary.patched(boundary.Changes(remove_passes={"fa_test:dynamic": ("b",)})):
        assert get_flow("fa_test:dynamic").optimizers == ["a", "c"]
    assert get_flow("fa_test:dynamic") is dynamic and dynamic.optimizers == ["a", "b", "c"]


def test_everything_is_put_back_when_the_conversion_fails():
    from fpga_accel.hls.exact_types import hls4ml_changes

    before = _hls4ml_state()
    with pytest.raises(RuntimeError, match="inside"):
        with boundary.patched(hls4ml_changes("VivadoAccelerator")):
            assert "fpga_accel:exact_types" in boundary.flow_registry()
            raise RuntimeError("inside")
    assert _hls4ml_state() == before


def test_an_unsupported_hls4ml_release_is_refused_clearly(monkeypatch, caplog):
    import hls4ml

    monkeypatch.setattr(hls4ml, "__version__", "1.4.0")
    monkeypatch.delenv(boundary.ANY_VERSION_ENV, raising=False)
    with pytest.raises(Hls4mlChangedError, match=r"hls4ml 1\.4\.0 is installed; fpga_accel is written for hls4ml 1\.3 "
                                                 r".*install 'hls4ml==1\.3\.\*', or set FPGA_ACCEL_ANY_HLS4ML=1"):
        boundary.check_version()
    monkeypatch.setenv(boundary.ANY_VERSION_ENV, "1")
    with caplog.at_level(logging.WARNING, logger="fpga_accel"):
        boundary.check_version()
    assert any("hls4ml 1.4.0 is installed" in r.message and "converting anyway" in r.message for r in caplog.records)


def _pytest_with_the_projects_settings(tmp_path, source: str) -> str:
    """pytest's output for a test file of ``source`` run under this project's pyproject.toml settings."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "test_w.py").write_text(source)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(root / "pyproject.toml"),
                           "--rootdir", str(tmp_path), str(tmp_path / "test_w.py")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env).stdout


def test_hls4ml_deprecations_are_visible_in_the_test_suite(tmp_path):
    """pyproject's filterwarnings hide TensorFlow's noise but not a deprecation raised in hls4ml (or here)."""
    out = _pytest_with_the_projects_settings(tmp_path,
        "import warnings\n"
        "def test_w():\n"
        "    warnings.warn_explicit('VivadoAccelerator is deprecated', DeprecationWarning, 'b.py', 1, module='hls4ml.backends')\n"
        "    warnings.warn_explicit('tf noise', DeprecationWarning, 't.py', 1, module='tensorflow.python')\n")
    assert "1 passed" in out and "VivadoAccelerator is deprecated" in out and "tf noise" not in out


def test_fpga_accels_own_deprecations_fail_a_test_outside_pytest_warns(tmp_path):
    """A deprecated spelling of fpga_accel taken by code a test runs is an error (so fpga_accel's own code is
    caught using one); a test of the old spelling says so with pytest.warns and passes."""
    out = _pytest_with_the_projects_settings(tmp_path,
        "import warnings, pytest\n"
        "from fpga_accel.errors import FpgaAccelDeprecationWarning\n"
        "def old():\n"
        "    warnings.warn('old spelling', FpgaAccelDeprecationWarning, stacklevel=2)\n"
        "def test_uses_it():\n"
        "    old()\n"
        "def test_tests_it():\n"
        "    with pytest.warns(DeprecationWarning, match='old spelling'):\n"
        "        old()\n")
    assert "1 failed, 1 passed" in out and "FAILED test_w.py::test_uses_it" in out
    assert "E       fpga_accel.errors.FpgaAccelDeprecationWarning: old spelling" in out


def test_the_utilization_report_is_added_to_hls4mls_design_tcl_once_or_refused(tmp_path):
    """The build's one edit of hls4ml's design.tcl: after the run hls4ml opens, once; a script that opens no
    run is not hls4ml 1.3's (refused before Vivado runs, not after an hour of it)."""
    from fpga_accel.hls.generated import add_flat_utilization
    from fpga_accel.layout import ProjectLayout

    layout = ProjectLayout(tmp_path, "p")
    script = "launch_runs impl_1 -to_step write_bitstream\nopen_run impl_1\nreport_utilization -file util.rpt -hierarchical\n"
    layout.design_tcl.write_text(script)
    add_flat_utilization(layout)
    add_flat_utilization(layout)
    assert layout.design_tcl.read_text() == script + f"report_utilization -file {layout.flat_utilization.name}\n"
    layout.design_tcl.write_text(script.replace("open_run impl_1\n", ""))
    with pytest.raises(Hls4mlChangedError, match="open_run impl_1"):
        add_flat_utilization(layout)


def test_weight_loading_calls_written_another_way_are_refused_not_skipped(tmp_path):
    """csim's weight check reads hls4ml 1.3's load calls; a call it cannot read used to go unchecked (and a
    missing file then exit(1)s the Python process inside csim). Now the check says so."""
    from fpga_accel.errors import BuildError
    from fpga_accel.layout import ProjectLayout
    from fpga_accel.runtime.csim_build import check_weights

    layout = ProjectLayout(tmp_path, "p")
    layout.weights.mkdir(parents=True)
    (layout.weights / "w2.txt").write_text("1, 2, 3")
    ours = '    nnet::load_weights_from_txt<weight2_t, 3>(w2, "w2.txt");\n'
    layout.top_cpp.write_text(ours)
    check_weights(layout)
    layout.top_cpp.write_text(ours + '    nnet::load_weights_from_txt<bias2_t, 3>(b2, WEIGHTS_DIR "/b2.txt");\n')
    with pytest.raises(BuildError, match="1 of its 2 weight-loading calls are not as hls4ml 1.3 writes them"):
        check_weights(layout)


def test_build_options_hls4ml_no_longer_declares_are_refused(tmp_path):
    """build_prj.tcl ignores a NAME=1 it does not declare: an option renamed upstream is named before Vivado runs."""
    from fpga_accel.hls.generated import check_build_options
    from fpga_accel.layout import ProjectLayout
    from fpga_accel.stages.build import BUILD_PRJ_OPTIONS

    layout = ProjectLayout(tmp_path, "p")
    declared = "".join(f"    {name} 0\n" for name in BUILD_PRJ_OPTIONS)
    layout.build_tcl.write_text(f"array set opt {{\n{declared}}}\nforeach arg $::argv {{}}\n")
    check_build_options(layout, BUILD_PRJ_OPTIONS)
    layout.build_tcl.write_text(layout.build_tcl.read_text().replace("    export 0\n", "    export_ip 0\n"))
    with pytest.raises(Hls4mlChangedError, match=r"does not declare the options export as hls4ml 1.3's"):
        check_build_options(layout, BUILD_PRJ_OPTIONS)


def test_a_node_key_renamed_upstream_stops_conversion_naming_it(tmp_path, monkeypatch):
    """Dense's n_in renamed in a copy of hls4ml's attribute list: get_attr("n_in") would return None without a
    word (the estimator's record then lacks the size); the boundary names the key before anything is written."""
    from hls4ml.model import layers
    from hls4ml.model.attributes import Attribute

    renamed = [Attribute("n_inputs") if a.name == "n_in" else a for a in layers.Dense._expected_attributes]
    monkeypatch.setattr(layers.Dense, "_expected_attributes", renamed)
    with pytest.raises(Hls4mlChangedError, match=r"node key 'n_in' is not an attribute of Dense"):
        fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path, verify_samples=0))
    assert list(tmp_path.iterdir()) == []


def test_every_node_key_is_checked_where_hls4ml_declares_it(monkeypatch):
    """Both kinds of declaration: a key hls4ml writes in a module's code (strategy, in its backend), a class
    that is gone — and the table as it is matches the installed hls4ml."""
    import hls4ml

    from fpga_accel.hls import node_keys

    backend = hls4ml.backends.get_backend("VivadoAccelerator")
    assert node_keys.key_problems(backend) == []
    assert node_keys.NODE_KEYS[node_keys.STRATEGY].module == "hls4ml.backends.vivado.vivado_backend"
    moved = {"strategy": node_keys.NodeKey("strategy", module="hls4ml.converters.keras.merge"),
             "n_in": node_keys.NodeKey("n_in", classes=("Gone",)),
             "x": node_keys.NodeKey("x", module="hls4ml.gone")}
    assert node_keys.key_problems(backend, moved) == [
        "node key 'n_in': hls4ml.model.layers.Gone does not exist",
        "node key 'strategy' is not written by hls4ml.converters.keras.merge",
        "node key 'x': module hls4ml.gone does not exist"]


def _spelled_node_keys(path, names: bool = True) -> list[str]:
    """Where ``path`` names an hls4ml node key with a string of its own instead of ``hls.node_keys``: a literal
    (or f-string) passed to ``get_attr``/``set_attr`` or indexing/tested against ``.types``, ``.weights`` or
    ``.attributes``; with ``names``, also any literal of a key only hls4ml's nodes have (a type, quantizer,
    data or tensor-names key of the table)."""
    import ast

    from fpga_accel.hls.node_keys import NODE_KEYS

    own = {k for k in NODE_KEYS if k.endswith(("_t", "_quantizer", "_data", "_tensor_names"))} if names else set()
    mappings = ("types", "weights", "attributes")

    def literal(node) -> bool:
        return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("get_attr", "set_attr") and node.args and literal(node.args[0]):
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr in mappings and literal(node.slice):
            key = node.slice
        elif isinstance(node, ast.Compare) and literal(node.left) and isinstance(node.ops[0], (ast.In, ast.NotIn)) \
                and isinstance(node.comparators[0], ast.Attribute) and node.comparators[0].attr in mappings:
            key = node.left
        elif isinstance(node, ast.Constant) and node.value in own:
            key = node
        if key is not None:
            found.append(f"{path.name}:{key.lineno}: {ast.unparse(key)}")
    return sorted(set(found))


def test_node_keys_are_spelled_only_in_the_table():
    """A key hls4ml renames is changed in one place: no module reads or writes a ModelGraph node through a key
    of its own, and the modules on hls4ml's side of the boundary (hls/, stages/) spell no type, quantizer or
    data key either: they go through ``hls.node_keys``, the table the boundary checks against hls4ml.
    (Outside: the layer records' "types" and the emulator name the C++ typedefs of fpga_accel.json, the runtime
    wheel has no hls4ml; foreign_project reads the field names of the C++ structs hls4ml writes.)"""
    from pathlib import Path

    package = Path(fa.__file__).parent
    spelled = []
    for path in sorted(package.rglob("*.py")):
        if path.name != "node_keys.py":
            boundary = path.parent.name in ("hls", "stages") and path.name != "foreign_project.py"
            spelled += _spelled_node_keys(path, names=boundary)
    assert spelled == []


def test_the_node_key_check_finds_a_key_spelled_again(tmp_path):
    mutant = tmp_path / "mutant.py"
    mutant.write_text('n = node.get_attr("n_in")\nnode.set_attr(f"{w}_t", 1)\nt = node.types["result_t"]\n'
                      'ok = "bias" in node.weights\nq = {"weight_quantizer": 1}\nfine = node.get_attr(keys.N_IN)\n')
    assert _spelled_node_keys(mutant) == [
        "mutant.py:1: 'n_in'", "mutant.py:2: f'{w}_t'", "mutant.py:3: 'result_t'", "mutant.py:4: 'bias'",
        "mutant.py:5: 'weight_quantizer'"]


def test_hls4ml_config_names_the_final_folder_however_the_path_is_written(tmp_path):
    """hls4ml_config.yml records the (staging) output folder; PyYAML folds a long path at its spaces onto a
    second line, where a text replace did not find it and the deleted staging folder stayed recorded. The
    folder here is long, has spaces and is reached through a symlink and a '..'."""
    from fpga_accel.hls.generated import fix_output_dir
    from fpga_accel.hls.rebuild import _read_config
    from fpga_accel.layout import ProjectLayout

    real = tmp_path / "a folder with spaces" / "whose path is long enough for yaml to fold it"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real.parent)
    output_dir = tmp_path / "link" / ".." / "link" / real.name
    fa.convert(qmlp(), fa.ConvertConfig(name="jet_tagger_mlp", output_dir=output_dir, verify_samples=0))
    config_file = ProjectLayout.under(real, "jet_tagger_mlp").hls4ml_config
    recorded = _read_config(config_file)
    assert recorded["OutputDir"] == str(real / "jet_tagger_mlp")
    assert ".convert-" not in config_file.read_text()
    staging = tmp_path / "staging"
    staging.mkdir()
    config_file.replace(staging / config_file.name)  # as hls4ml would not write it: another folder recorded
    with pytest.raises(Hls4mlChangedError, match=r"does not record the output folder .*staging as 'OutputDir'"):
        fix_output_dir(staging, tmp_path / "final")
