"""fpga_accel.json has one typed reader and one writer: damaged, edited or old files are refused with a
message that says what to do, never a traceback or a wrong number."""
from __future__ import annotations

import json

import pytest

import fpga_accel as fa
from fpga_accel.layout import META_FILE, ProjectMeta

VALID = {"format": 2, "name": "mlp", "project_name": "mlp", "board": "pynq-z2", "part": "xc7z020clg400-1",
         "board_part": "tul.com.tw:pynq-z2:part0:1.0", "clock_period": 10.0, "io_type": "io_parallel",
         "strategy": "latency", "reuse_factor": 1, "default_precision": "ap_fixed<16,6>",
         "input_precision": "fixed<8,3,RND_CONV,SAT>", "output_precision": "fixed<16,6>", "softmax": "design",
         "input_shape": [16], "output_shape": [5]}


def _write(tmp_path, data):
    (tmp_path / META_FILE).write_text(data if isinstance(data, str) else json.dumps(data))
    return tmp_path


def test_round_trip_is_exact_and_atomic(tmp_path):
    meta = ProjectMeta.from_dict(dict(VALID, fidelity={"passed": True}))
    meta.write(tmp_path)
    assert ProjectMeta.read(tmp_path) == meta
    assert [p.name for p in tmp_path.iterdir()] == [META_FILE]  # no temporary file left


def test_format_1_projects_still_load(tmp_path):
    meta = ProjectMeta.read(_write(tmp_path, dict(VALID, format=1)))
    assert meta.fidelity is None and meta.uncovered_layers == []


@pytest.mark.parametrize("data, message", [
    ("{\"name\": \"mlp\", ", "is damaged"),
    ("[1, 2]", "not a JSON object"),
    (dict(VALID, format=7), "has format 7, this fpga_accel reads 2: re-convert"),
    ({k: v for k, v in VALID.items() if k != "input_shape"}, "lacks ['input_shape']"),
    (dict(VALID, name="../../etc"), "name '../../etc' is not a C identifier"),
    (dict(VALID, project_name="a b"), "project_name 'a b' is not a C identifier"),
    (dict(VALID, input_shape=["16"]), "input_shape ['16'] is not a list of positive integers"),
    (dict(VALID, output_shape=[0]), "output_shape [0] is not a list of positive integers"),
])
def test_damaged_or_edited_files_are_refused(tmp_path, data, message):
    with pytest.raises(fa.ConfigError) as info:
        ProjectMeta.read(_write(tmp_path, data))
    assert message in str(info.value)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(fa.ConfigError, match="not an fpga_accel HLS project .* `fpga-accel convert`"):
        fa.Design(tmp_path)
