"""Conventions an hls4ml / PYNQ user expects: exit codes with one meaning each, deploy's SelfTestResult,
InputError as a ValueError, --config taking what a user would pass (hls4ml's YAML included)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel import cli
from fpga_accel.flow import FlowConfig
from fpga_accel.runtime.accelerator import BenchResult
from fpga_accel.runtime.selftest import SelfTestResult, parse_result, result_line
from fpga_accel.runtime.validate import check_input


def test_exit_codes_are_distinct_and_the_legacy_switch_is_deprecated(monkeypatch):
    codes = (cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_NOT_EXACT, cli.EXIT_DOES_NOT_FIT, cli.EXIT_SELFTEST_FAILED)
    assert codes == (1, 2, 3, 4, 5) and cli.EXIT_DISAGREE == cli.EXIT_NOT_EXACT
    assert cli._outcome(cli.EXIT_DOES_NOT_FIT) == 4
    monkeypatch.setenv(cli.LEGACY_EXIT_CODES_ENV, "1")
    with pytest.warns(DeprecationWarning, match="'does not fit' exits 4"):
        assert cli._outcome(cli.EXIT_DOES_NOT_FIT) == 3
    with pytest.warns(DeprecationWarning):
        assert cli._outcome(cli.EXIT_SELFTEST_FAILED) == 3
    assert cli._outcome(cli.EXIT_ERROR) == 1


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError, match="expects"):
        check_input(np.zeros((2, 3), np.float32), (4,))


def _result(bit_exact: float = 1.0) -> SelfTestResult:
    return SelfTestResult("pynq", 32, bit_exact, 1.0, 1.0 - bit_exact, BenchResult("pynq", 32, 10, 1e5, 0.3, 0.4))


def test_the_boards_result_line_comes_back_as_a_self_test_result():
    printed = "self-test ...\nPASS\n" + result_line(_result(0.5))
    result = parse_result(printed)
    assert result == _result(0.5) and result.output == printed and not result.passed
    assert parse_result("PASS\n") is None and parse_result("fpga-accel-selftest-result: {bad\n") is None
    with pytest.warns(DeprecationWarning, match="returns a SelfTestResult"):
        assert "PASS" in result  # the text deploy() used to return
    with pytest.warns(DeprecationWarning):
        assert result.splitlines()[1] == "PASS"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert result.format().endswith("FAIL")
    with pytest.raises(AttributeError):
        result.no_such_thing


def test_accelerator_open_passes_download_to_pynq(monkeypatch):
    import inspect

    from fpga_accel.runtime import accelerator

    seen = {}

    class Backend:
        name = "pynq"

        def __init__(self, bundle, pynq=None, max_batch=1024, timeout=5.0, download=True):
            seen["download"] = download

    monkeypatch.setattr("fpga_accel.runtime.pynq_backend.PynqBackend", Backend)
    monkeypatch.setattr(accelerator.Bundle, "open", staticmethod(lambda path: object()))
    accelerator.Accelerator.open("b", backend="pynq", pynq=object(), download=False)
    assert seen == {"download": False}
    assert inspect.signature(accelerator.Accelerator.open).parameters["download"].default is True


HLS4ML_YAML = """\
KerasModel: q.h5
ProjectName: mlp
OutputDir: {out}/mlp
IOType: io_stream
ClockPeriod: 8
Part: xc7z020clg400-1
Backend: VivadoAccelerator
HLSConfig:
  Model: {{ReuseFactor: 4, Strategy: Resource}}
"""


def test_convert_and_flow_read_hls4mls_own_yaml(tmp_path):
    path = tmp_path / "hls4ml.yml"
    path.write_text(HLS4ML_YAML.format(out=tmp_path / "prj"))
    config = FlowConfig.from_file(path)
    assert (config.name, config.convert.io_type.value, config.convert.clock_period) == ("mlp", "io_stream", 8)
    assert config.convert.board == "pynq-z2" and config.model == tmp_path / "q.h5"
    assert config.convert.project_dir == tmp_path / "prj" / "mlp" and config.convert.reuse_factor == 4
    for bad, message in (("Backend: VivadoAccelerator", "Backend: Quartus"), ("Part: xc7z020clg400-1", "Part: xcvu9p")):
        path.write_text(HLS4ML_YAML.format(out=tmp_path).replace(bad, message))
        with pytest.raises(fa.ConfigError, match=message.split(": ")[1]):
            FlowConfig.from_file(path)
    path.write_text(HLS4ML_YAML.format(out=tmp_path) + "InputData: x.dat\n")
    with pytest.raises(fa.ConfigError, match=r"hls4ml keys \['InputData'\] are not used by fpga_accel"):
        FlowConfig.from_file(path)


def test_quantize_and_estimate_config_take_what_a_user_passes_or_name_the_right_option(tmp_path, caplog):
    section = tmp_path / "q.yml"
    section.write_text("weight_bits: 4\nactivation_bits: 5\n")
    assert cli._quantize_settings(str(section)) == {"quantize": {"weight_bits": 4, "activation_bits": 5}}
    hls = tmp_path / "hls4ml.yml"
    hls.write_text(HLS4ML_YAML.format(out=tmp_path))
    assert cli.main(["quantize", "m.h5", "-o", str(tmp_path / "o.h5"), "--config", str(hls)]) == cli.EXIT_ERROR
    assert "quantize --config takes a project file with a `quantize:` section" in caplog.text
    project = tmp_path / "project.yml"
    project.write_text("name: mlp\nmodel: q.h5\nio_type: io_stream\n")
    assert cli.main(["estimate", "--model", "q.h5", "--config", str(project)]) == cli.EXIT_ERROR
    assert "not an hls4ml configuration: estimate what it builds with `fpga-accel fit --config" in caplog.text


def test_every_result_prints_with_str_and_shows_in_a_notebook(tmp_path):
    """What the public functions return prints as its report (``print(result)``) and renders as HTML in a
    notebook — csim's and build's results included."""
    from fpga_accel.analysis.design_report import DesignReport
    from fpga_accel.analysis.estimate import Estimate
    from fpga_accel.analysis.types_table import TypesTable
    from fpga_accel.demo import DemoResult
    from fpga_accel.design import AgreementReport
    from fpga_accel.fit_search import FitResult
    from fpga_accel.stages.build import BuildResult
    from fpga_accel.stages.csim import CsimResult
    from fpga_accel.sweep import SweepResult

    for cls in (AgreementReport, BenchResult, BuildResult, CsimResult, DemoResult, DesignReport, Estimate, FitResult,
                SelfTestResult, SweepResult, TypesTable):
        own = {name for c in cls.__mro__[:-1] for name in vars(c)}
        assert {"__str__", "_repr_html_"} <= own, cls.__name__
    report = AgreementReport(8, 1.0, 1.0, 1.0, 0.0)
    csim = CsimResult(np.zeros((8, 5), np.float32), cached=False, compile_seconds=12.5, report=report)
    assert str(csim).splitlines()[0] == "csim (csim): 8 samples -> outputs of shape (5,), C library compiled (12.5 s)"
    assert str(csim).endswith(report.format()) and report._repr_html_() in csim._repr_html_()
    assert "C library cached" in str(CsimResult(np.zeros((2, 5)), cached=True, compile_seconds=0.0))
    two = CsimResult([np.zeros((2, 5)), np.zeros((2, 3, 4))], cached=True, compile_seconds=0.0)  # a multi-output design
    assert str(two).startswith("csim (csim): 2 samples -> outputs of shape (5,), (3, 4),")
    build = BuildResult({"board": "pynq-z2", "hls": {"lut": 1234, "dsp": 7}}, tmp_path / "build.log",
                        tool_versions={"vivado_hls": "2020.1"})
    assert str(build).splitlines()[0] == "board              pynq-z2"
    assert "hls                lut 1234  dsp 7" in str(build) and "vivado_hls 2020.1" in str(build)
    assert "<td>hls</td><td>1234</td>" in build._repr_html_()


def test_made_up_inputs_follow_one_policy():
    """convert's check, the flow's csim step and a bundle's test vectors take made-up inputs from one function:
    ±1.25 × the input quantizer's range (saturation exercised), the same samples every run; several inputs ±4."""
    from tensorflow import keras

    from fpga_accel.keras_compat import random_model_inputs
    from fpga_accel.stages.convert import verification_inputs
    from models import qmlp

    model = qmlp()  # input quantizer quantized_bits(8, 2): range ±4
    x, words = random_model_inputs(model, 500)
    assert x.shape == (500, 16) and words == "uniform samples in ±5" and 4.5 < np.abs(x).max() <= 5.0
    again, _ = verification_inputs(model, None, 500)
    assert np.array_equal(x, again)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    two = keras.Model([a, b], keras.layers.Concatenate()([a, b]))
    (xa, xb), words = random_model_inputs(two, 100)
    assert (xa.shape, xb.shape, words) == ((100, 3), (100, 2), "uniform samples in ±4") and not np.array_equal(xa[:, :2], xb)


def test_each_commands_help_says_what_its_config_takes():
    """--config means a different file per command (README "--config takes what a user has"): each help says which."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.choices and "convert" in a.choices).choices
    helps = {name: next(a.help for a in commands[name]._actions if "--config" in a.option_strings)
             for name in ("quantize", "convert", "fit", "estimate")}
    assert "`quantize:` section" in helps["quantize"] and "hls4ml's own YAML" in helps["convert"]
    assert "project file to start from" in helps["fit"] and helps["estimate"].startswith("hls4ml YAML")


def test_every_logger_is_under_fpga_accel():
    """A user silences or raises the library with one logger, "fpga_accel", or one module by its name: every logger
    a module keeps is named after it (the estimator once kept "fpga_accel.estimate", not its module's name)."""
    import ast
    from pathlib import Path

    package = Path(fa.__file__).parent
    outside = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.value if isinstance(node, ast.Assign) else None  # `log = logging.getLogger(...)`
            if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("getLogger") and call.args:
                name = call.args[0]
                module = ".".join(("fpga_accel", *path.relative_to(package).with_suffix("").parts))
                if not (isinstance(name, ast.Constant) and name.value == module or ast.unparse(name) == "__name__"):
                    outside.append(f"{path.relative_to(package)}:{node.lineno}: {ast.unparse(name)}")
    assert outside == []
