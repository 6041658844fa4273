from __future__ import annotations

import pytest

from fpga_accel.boards import get_board
from fpga_accel.config import ConvertConfig, IOType, QuantizeConfig, load_project_file, quantize_config_from
from fpga_accel.errors import ConfigError


def test_pynq_z2_defaults():
    board = get_board("pynq-z2")
    assert board.part == "xc7z020clg400-1"
    assert board.board_part == "tul.com.tw:pynq-z2:part0:1.0"
    config = ConvertConfig(name="m")
    assert config.resolved_clock_period == 10.0  # FCLK_CLK0 at 100 MHz, not hls4ml's 5 ns
    assert ConvertConfig(name="m", clock_period=8).resolved_clock_period == 8.0


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "my-model"}, "C identifier"),
    ({"name": "m", "io_type": "io_serial"}, "io_type must be one of io_parallel, io_stream"),
    ({"name": "m", "reuse_factor": 0}, "reuse_factor must be a positive integer or .auto., got 0"),
    ({"name": "m", "precision": "float"}, "not an HLS precision"),
    ({"name": "m", "board": "zcu999"}, "unknown board 'zcu999'"),
    ({"name": "m", "strategy": "fast"}, "strategy must be one of latency, resource"),
])
def test_bad_convert_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ConvertConfig(**kwargs)


def test_enums_from_strings():
    assert ConvertConfig(name="m", io_type="IO_STREAM").io_type is IOType.io_stream


def test_quantize_overrides():
    config = QuantizeConfig(layers={"fc1": {"weight_bits": 4}})
    assert config.for_layer("fc1").weight_bits == 4
    assert config.for_layer("fc2").weight_bits == 6
    with pytest.raises(ConfigError, match="unknown quantization keys"):
        QuantizeConfig(layers={"fc1": {"weight_bitz": 4}})
    with pytest.raises(ConfigError, match="weight_bits must be between 2 and 24"):
        QuantizeConfig(weight_bits=1)


def test_project_file(tmp_path):
    path = tmp_path / "project.yml"
    path.write_text("name: digits\nio_type: io_stream\nreuse_factor: 4\nquantize:\n  weight_bits: 4\n")
    data = load_project_file(path)
    assert data["io_type"] == "io_stream"
    assert quantize_config_from(data["quantize"]).weight_bits == 4
    path.write_text("name: digits\nclock: 10\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['clock'\]"):
        load_project_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_project_file(tmp_path / "missing.yml")
