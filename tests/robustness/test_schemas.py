"""One schema per file kind — project file, sweep spec, flow.json, fpga_accel.json — every field's type and
range checked before use: a wrong one is one line naming the field (exit 1, no traceback, nothing
written), never a traceback, a hang or a silently wrong value. YAML is read with a budget (no alias
bombs), JSON records with a depth limit."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fpga_accel as fa
from fpga_accel.config import read_yaml
from fpga_accel.flow import FlowConfig
from fpga_accel.layout import META_FILE, ProjectMeta
from robustness_helpers import run_cli, tree

GOOD = "name: p\nmodel: m.h5\n"


def _refused(proc: subprocess.CompletedProcess, message: str) -> None:
    """Exit 1, one line (the last stderr line) saying ``message``, no traceback."""
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert message in last, proc.stderr[-2000:]


def _flow(tmp_path: Path, text: str, timeout: float = 120) -> subprocess.CompletedProcess:
    (tmp_path / "m.h5").write_bytes(b"not read: the project file is refused first")
    (tmp_path / "p.yml").write_text(text)
    before = tree(tmp_path)
    proc = run_cli(["flow", tmp_path / "p.yml"], timeout=timeout)
    assert tree(tmp_path) == before  # nothing written, nothing changed
    return proc


# ---- the project file ----------------------------------------------------------------------------

@pytest.mark.parametrize("section, message", [
    ("test_samples: 2.9", "test_samples must be a whole number from 1 to"),
    ("test_samples: -30", "test_samples must be a whole number from 1 to"),
    ("test_samples: abc", "test_samples must be a whole number from 1 to"),
    ("test_samples: 0", "test_samples must be a whole number from 1 to"),
    ("test_samples: true", "test_samples must be a whole number from 1 to"),
    ("build: steps", "build must be a section"),
    ("build: {steps: 5}", "build steps must be a list of step names"),
    ("build: {steps: [csim, bogus]}", "unknown build step 'bogus'"),
    ("build: {bitstreams: [a]}", "build bitstreams ['a'] must be a folder path"),
    ("build: {flow: quartus}", "build flow 'quartus' is not"),
    ("deploy: [host, h]", "deploy must be a section"),
    ("deploy: {bogus: 1}", "unknown deploy keys ['bogus']"),
    ("deploy: {user: me}", "deploy needs a `host:`"),
    ("deploy: {host: 5}", "deploy host must be text"),
    ("deploy: {host: h, port: '22'}", "deploy port must be a whole number"),
    ("deploy: {host: h, port: 70000}", "deploy port must be 1 to 65535"),
    ("deploy: {host: h, ssh_options: [1]}", "deploy ssh_options must be a list of text"),
    ("quantize: fast", "quantize must be a section of settings"),
    ("quantize: [1, 2]", "quantize must be a section of settings"),
    ("quantize: {input_integer: 300}", "input_integer must be between -63 and 63"),
    ("quantize: {weight_integer: -100}", "weight_integer must be between -63 and 63"),
    ("quantize: {layers: {fc1: 3}}", "layers must map layer names to settings"),
    ("quantize: {layers: {fc1: {weight_bits: 99}}}", "layer 'fc1': weight_bits must be between 2 and 24"),
    ("quantize: {layers: {fc1: {input_integer: 300}}}", "layer 'fc1': input_integer must be between"),
    ("quantize: {layers: {fc1: {layers: {}}}}", "layer 'fc1': unknown quantization keys ['layers']"),
    ("output_dir: ''", "output_dir must be a folder path"),
    ("output_dir: [a]", "output_dir must be a folder path"),
    ("reuse_factor: -1", "reuse_factor must be a positive integer or 'auto'"),
    ("clock_period: .nan", "clock_period must be a number"),
    ("custom_objects: 3", "custom_objects 3 must be a module name or a .py file"),
    ("data: [1]", "data [1] must be a file path"),
    ("input_precision: 'fixed<1024,10>'", "is 1024 bits wide"),
    ("1: 2", "setting names must be text"),
])
def test_a_wrong_field_of_a_project_file_is_one_line_naming_it(tmp_path, section, message):
    _refused(_flow(tmp_path, GOOD + section + "\n"), message)


@pytest.mark.parametrize("section", ["quantize: fast", "quantize: [1]"])
def test_quantize_with_a_project_file_checks_its_section(tmp_path, section):
    (tmp_path / "p.yml").write_text(GOOD + section + "\n")
    (tmp_path / "m.h5").write_bytes(b"m")
    proc = run_cli(["quantize", tmp_path / "m.h5", "-o", tmp_path / "q.h5", "--config", tmp_path / "p.yml"])
    _refused(proc, "quantize must be a section of settings")
    assert not (tmp_path / "q.h5").exists()


def test_a_model_that_is_not_a_path_is_named(tmp_path):
    _refused(_flow(tmp_path, "name: p\nmodel: 5\n"), "model 5 must be a file path")


def test_yaml_alias_bomb_is_refused_not_expanded(tmp_path):
    """391 bytes that expand to 10^9 values: the first str() of them ran until killed."""
    level = "[x, x, x, x, x, x, x, x, x, x]"
    anchors = [f"&l0 {level}"] + [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = GOOD + "build: {steps: [" + ", ".join(anchors) + "]}\n"
    assert len(text) < 600
    _refused(_flow(tmp_path, text, timeout=60), "expands to more than 100000 values")


def test_yaml_python_tags_are_data_errors_never_run(tmp_path):
    marker = tmp_path / "ran"
    proc = _flow(tmp_path, GOOD + f"data: !!python/object/apply:os.system ['touch {marker}']\n")
    _refused(proc, "is not valid YAML")
    assert not marker.exists()


def test_a_yaml_alias_loop_is_refused(tmp_path):
    _refused(_flow(tmp_path, GOOD + "build: &b {steps: [*b]}\n", timeout=60), "a YAML loop")


def test_few_aliases_are_fine(tmp_path):
    (tmp_path / "p.yml").write_text("name: p\nmodel: m.h5\nquantize: &q {weight_bits: 4}\nbuild: {steps: [csim]}\n"
                                    "custom_objects: &c mod\n")
    assert read_yaml(tmp_path / "p.yml", "project file")["quantize"] == {"weight_bits": 4}


def test_an_oversized_settings_file_is_refused_unread(tmp_path):
    _refused(_flow(tmp_path, GOOD + "#" + "x" * (1 << 20) + "\n"), "a project file is at most")


def test_a_settings_file_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "p.yml").mkdir()
    with pytest.raises(fa.ConfigError, match="is a folder, not a file"):
        read_yaml(tmp_path / "p.yml", "project file")


def test_every_path_in_a_project_file_is_relative_to_the_file(tmp_path, monkeypatch):
    """output_dir was relative to the working folder while model/data were relative to the file: run from
    elsewhere, everything was redone into another folder."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "p.yml").write_text("name: p\nmodel: m.h5\ndata: d.npz\noutput_dir: out\ncustom_objects: layers.py\n"
                                  "build: {bitstreams: bits}\ndeploy: {host: h, identity: keys/id}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = FlowConfig.from_file(Path("..") / "proj" / "p.yml")
    base = folder.resolve()
    assert (config.model, config.data) == (base / "m.h5", base / "d.npz")
    assert config.convert.output_dir == base / "out" and config.bitstreams == base / "bits"
    assert config.custom_objects == str(base / "layers.py") and config.deploy["identity"] == base / "keys" / "id"


def test_default_folders_of_a_project_file_are_beside_it_too(tmp_path, monkeypatch):
    (tmp_path / "p.yml").write_text("name: p\nmodel: m.h5\ncustom_objects: my_layers\n")
    monkeypatch.chdir("/")
    config = FlowConfig.from_file(tmp_path / "p.yml")
    assert config.convert.output_dir == tmp_path.resolve() / "hls_projects"
    assert config.bitstreams == tmp_path.resolve() / "bitstreams"
    assert config.custom_objects == "my_layers"  # a module name is not a path


# ---- the sweep spec ------------------------------------------------------------------------------

SWEEP = "model: m.h5\ndata: d.npz\noutput_dir: out\n"


def _sweep(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    (tmp_path / "m.h5").write_bytes(b"m")
    (tmp_path / "d.npz").write_bytes(b"d")
    (tmp_path / "s.yml").write_text(text)
    before = tree(tmp_path)
    proc = run_cli(["sweep", tmp_path / "s.yml"], timeout=120)
    assert tree(tmp_path) == before and not (tmp_path / "out").exists()
    return proc


@pytest.mark.parametrize("spec, message", [
    ("name: 5\ngrid: {weight_bits: [4]}", "name 5 must be a plain folder name"),
    ("name: /tmp/escaped\ngrid: {weight_bits: [4]}", "name '/tmp/escaped' must be a plain folder name"),
    ("name: ../x\ngrid: {weight_bits: [4]}", "name '../x' must be a plain folder name"),
    ("name: ..\ngrid: {weight_bits: [4]}", "name '..' must be a plain folder name"),
    ("name: s\ngrid: [1, 2]", "grid must map each swept key to a non-empty list"),
    ("name: s\ngrid: {weight_bits: 4}", "grid: give each swept key a non-empty list of values ('weight_bits'"),
    ("name: s\ngrid: {weight_bits: []}", "grid: give each swept key a non-empty list"),
    ("name: s\ngrid: {bogus: [1]}", "unknown sweep keys ['bogus']"),
    ("name: s\ngrid: {weight_bits: [4, 99]}", "weight_bits must be between 2 and 24, got 99"),
    ("name: s\ngrid: {weight_bits: [4]}\nfixed: 3", "fixed must map keys to one value each"),
    ("name: s\ngrid: {weight_bits: [4]}\ntest_samples: -1", "test_samples must be a whole number >= 1"),
    ("name: s\ngrid: {weight_bits: [4]}\ntest_samples: 2.5", "test_samples must be a whole number >= 1"),
    ("name: s\ngrid: {reuse_factor: [0]}", "reuse_factor must be a positive integer or 'auto'"),
])
def test_a_wrong_field_of_a_sweep_spec_is_one_line_naming_it(tmp_path, spec, message):
    _refused(_sweep(tmp_path, SWEEP + spec + "\n"), message)


def test_a_sweep_path_that_is_not_text_is_named(tmp_path):
    _refused(_sweep(tmp_path, "name: s\nmodel: [1]\ndata: d.npz\ngrid: {weight_bits: [4]}\n"),
             "model must be a path")


def test_sweep_data_naming_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "data").mkdir()
    _refused(_sweep(tmp_path, "name: s\nmodel: m.h5\ndata: data\ngrid: {weight_bits: [4]}\n"), "is a folder, not a file")


# ---- flow.json -----------------------------------------------------------------------------------

@pytest.mark.parametrize("record", [
    "[]", '{"steps": "x"}', '{"steps": [1]}', '{"steps": [{"step": "csim", "status": 5}]}',
    '{"steps": [{"step": "csim", "status": "ran", "outputs": []}]}',
    '{"steps": [{"step": "../$(x)", "status": "ran"}]}', '{"steps": [{"step": "csim", "status": "ran", "x": 1}]}',
    "[" * 100_000 + "]" * 100_000, "{\"steps\": [", "\xff\xfe",
])
def test_a_damaged_flow_record_is_one_line_saying_delete_it(tmp_path, record):
    (tmp_path / "m.h5").write_bytes(b"m")
    (tmp_path / "p.yml").write_text(GOOD)
    work = tmp_path / "hls_projects" / "p.flow"  # output_dir defaults to a folder beside the file
    work.mkdir(parents=True)
    (work / "flow.json").write_bytes(record.encode("latin-1"))
    before = tree(tmp_path)
    proc = run_cli(["flow", tmp_path / "p.yml"], timeout=120)
    _refused(proc, "delete it to run every step again")
    assert tree(tmp_path) == before


# ---- fpga_accel.json -----------------------------------------------------------------------------

@pytest.fixture
def record_copy(robust_project, tmp_path):
    _, design = robust_project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    return copy


def _edit(copy: Path, change) -> None:
    meta = json.loads((copy / META_FILE).read_text())
    change(meta)
    (copy / META_FILE).write_text(json.dumps(meta))


def test_deeply_nested_record_is_damaged_not_a_recursion_error(record_copy, robust_project):
    root, _ = robust_project
    (record_copy / META_FILE).write_text('{"layers": ' + "[" * 200_000 + "]" * 200_000 + "}")
    proc = run_cli(["csim", record_copy, "--input", root / "x.npy"])
    _refused(proc, "is damaged (nested too deeply)")


def test_moderately_nested_record_is_refused_by_the_depth_limit(record_copy):
    _edit(record_copy, lambda m: m.update(fidelity=json.loads("{\"a\": " * 100 + "1" + "}" * 100)))
    with pytest.raises(fa.ConfigError, match="nested deeper than 64 levels"):
        ProjectMeta.read(record_copy)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(layers="x"), "layers is not a list of layer entries"),
    (lambda m: m["layers"][1].update(traced="yes"), "traced 'yes' is not true or false"),
    (lambda m: m["layers"][1].update(shape=[0]), "shape [0] is not a list of positive integers"),
    (lambda m: m["layers"][1].update(shape=[1 << 40]), "is not a list of positive integers (at most"),
    (lambda m: m["layers"][1].pop("name"), "layer 1 has no name"),
    (lambda m: m.update(clock_period="fast"), "clock_period 'fast' is not a period in ns"),
    (lambda m: m.update(reuse_factor=0), "reuse_factor 0 is not a positive integer or 'auto'"),
    (lambda m: m.update(axi_input_type=16), "axi_input_type 16 is not text"),
    (lambda m: m.update(fidelity=3), "fidelity 3 is not a JSON object"),
    (lambda m: m.update(io_type="io_serial"), "io_type 'io_serial' is not one of io_parallel, io_stream"),
    (lambda m: m.update(softmax=None), "softmax None is not text"),
    (lambda m: m.update(layers=[{"name": "x", "class": 5}]), "layer 'x' class 5 is not text"),
    (lambda m: m.update(input_shape=[1 << 30, 1 << 30]), "input_shape"),
])
def test_an_edited_record_field_is_refused_by_name(record_copy, change, message):
    _edit(record_copy, change)
    with pytest.raises(fa.ConfigError) as info:
        fa.Design(record_copy)
    assert message in str(info.value)


TRACE = """
import sys, numpy as np, fpga_accel as fa
try:
    fa.Design(sys.argv[1]).trace(np.zeros((2, 16), np.float32))
except fa.ConfigError as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.mark.parametrize("change, message", [
    (lambda m: m["layers"][1].update(shape=[4000000]), "has shape [4000000] (4000000 values) but the compiled design traces 64"),
    (lambda m: [layer.update(traced=False) for layer in m["layers"]], "its traced layers [] are not the ones"),
    (lambda m: m["layers"][0].update(traced=True), "its traced layers"),
    (lambda m: m["layers"][2].update(name="renamed"), "its traced layers"),
])
def test_edited_trace_shapes_and_flags_are_checked_against_the_library(record_copy, change, message):
    """An edited shape or traced flags made trace read past the library's buffers: SIGSEGV."""
    _edit(record_copy, change)
    proc = subprocess.run([sys.executable, "-c", TRACE, str(record_copy)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert message in proc.stdout


def test_csim_on_a_record_with_no_traced_layers_is_refused_before_it_runs(record_copy, robust_project):
    root, _ = robust_project
    _edit(record_copy, lambda m: [layer.update(traced=False) for layer in m["layers"]])
    proc = run_cli(["csim", record_copy, "--input", root / "x.npy", "--reference", root / "q.h5"])
    _refused(proc, "its traced layers [] are not the ones the compiled design traces")
