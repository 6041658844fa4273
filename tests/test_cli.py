"""The CLI round trip from files: quantize → convert → csim, exit codes, --force, bad inputs."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fpga_accel.cli import EXIT_NOT_EXACT, EXIT_ERROR, main
import fpga_accel as fa
from models import float_mlp, qmlp


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A float model and data on disk, quantized and converted once through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (256, 64)).astype(np.float32)
    x[0, 0] = 1.0
    y = rng.integers(0, 10, 256)
    float_mlp().save(root / "float.h5")
    np.savez(root / "train.npz", x=x, y=y)
    np.save(root / "x.npy", x[:100])
    assert main(["quantize", str(root / "float.h5"), "-o", str(root / "q.h5"), "--data", str(root / "train.npz"),
                 "--epochs", "1", "--weight-bits", "5"]) == 0
    assert main(["convert", str(root / "q.h5"), "--name", "mlp", "--output-dir", str(root / "hls"),
                 "--io-type", "io_stream", "--calibration", str(root / "x.npy")]) == 0
    return root


def test_round_trip_is_bit_exact(files, capsys):
    out = files / "y.npy"
    report = files / "report.json"
    code = main(["csim", str(files / "hls" / "mlp"), "--input", str(files / "x.npy"), "--output", str(out),
                 "--reference", str(files / "q.h5"), "--report", str(report)])
    assert code == 0
    y = np.load(out)
    assert y.shape == (100, 10) and y.dtype == np.float32
    printed = capsys.readouterr().out
    assert "bit-exact (logits )   100.00% of samples" in printed
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["bit_exact"] == 1.0
    meta = json.loads((files / "hls" / "mlp" / "fpga_accel.json").read_text())
    assert meta["io_type"] == "io_stream"


def test_outputs_are_not_overwritten_without_force(files, caplog):
    out = files / "keep.npy"
    out.write_bytes(b"precious")
    args = ["csim", str(files / "hls" / "mlp"), "--input", str(files / "x.npy"), "--output", str(out)]
    assert main(args) == EXIT_ERROR
    assert out.read_bytes() == b"precious"
    assert "exists; pass --force" in caplog.text
    assert main(args + ["--force"]) == 0
    assert np.load(out).shape == (100, 10)


def test_convert_refuses_existing_project(files, caplog):
    code = main(["convert", str(files / "q.h5"), "--name", "mlp", "--output-dir", str(files / "hls")])
    assert code == EXIT_ERROR
    assert "exists and is not empty; pass --force" in caplog.text


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 63), np.float32), "input has shape (5, 63), the design expects (batch,) + (64,)"),
    (np.full((3, 64), np.nan, np.float32), "input holds NaN or inf in 3 sample(s), first at index 0"),
    (np.array([["a"] * 64]), "'x' has dtype <U1 and shape (1, 64); expected a numeric array"),
])
def test_bad_inputs_write_nothing(files, caplog, bad, message):
    np.save(files / "bad.npy", bad)
    out = files / "never.npy"
    code = main(["csim", str(files / "hls" / "mlp"), "--input", str(files / "bad.npy"), "--output", str(out)])
    assert code == EXIT_ERROR
    assert message in caplog.text
    assert not out.exists()


def test_disagreement_exits_non_zero(files, tmp_path):
    """A reference that is not the converted model: csim must gate CI with exit code 3."""
    other = tmp_path / "other.h5"
    assert main(["quantize", str(files / "float.h5"), "-o", str(other), "--weight-bits", "3",
                 "--data", str(files / "train.npz")]) == 0
    code = main(["csim", str(files / "hls" / "mlp"), "--input", str(files / "x.npy"), "--reference", str(other)])
    assert code == EXIT_NOT_EXACT


def test_missing_files_and_unsupported_layers(tmp_path, caplog):
    assert main(["quantize", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "q.h5")]) == EXIT_ERROR
    assert "model file" in caplog.text and "does not exist" in caplog.text
    assert main(["csim", str(tmp_path), "--input", "x.npy"]) == EXIT_ERROR
    assert "is not an fpga_accel HLS project" in caplog.text
    from tensorflow import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.GaussianNoise(0.1, name="noise")(inp))
    model.save(tmp_path / "noise.h5")
    assert main(["quantize", str(tmp_path / "noise.h5"), "-o", str(tmp_path / "q.h5")]) == EXIT_ERROR
    assert "noise (GaussianNoise)" in caplog.text
    assert not (tmp_path / "q.h5").exists()


def test_project_file_with_flag_override(files, tmp_path):
    config = tmp_path / "project.yml"
    config.write_text(f"model: {files / 'q.h5'}\nname: fromyaml\nio_type: io_stream\nreuse_factor: 4\n"
                      f"output_dir: {tmp_path / 'hls'}\n")
    assert main(["convert", "--config", str(config), "--reuse-factor", "2"]) == 0
    meta = json.loads((tmp_path / "hls" / "fromyaml" / "fpga_accel.json").read_text())
    assert meta["io_type"] == "io_stream" and meta["reuse_factor"] == 2
    assert meta["fidelity"]["source"] != "calibration data"
    # convert runs the flow's convert step: the project file's data: calibrates it, as `fpga-accel flow` does
    config.write_text(config.read_text() + f"data: {files / 'train.npz'}\nverify_samples: 50\n")
    assert main(["convert", "--config", str(config), "--force"]) == 0
    meta = json.loads((tmp_path / "hls" / "fromyaml" / "fpga_accel.json").read_text())
    assert meta["fidelity"]["source"] == "calibration data" and meta["fidelity"]["samples"] == 50
    assert not (tmp_path / "hls" / "fromyaml.flow").exists()  # convert alone keeps no flow records


def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "fpga_accel.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("demo", "quantize", "convert", "csim"):
        assert command in proc.stdout
    # the CLI and the package import nothing heavy until a stage runs
    probe = ("import sys, fpga_accel, fpga_accel.cli; fpga_accel.cli.build_parser(); "
             "heavy = [m for m in ('tensorflow', 'qkeras', 'hls4ml') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_output_is_written_at_the_path_checked(tmp_path):
    """`--output keep` writes `keep`, never a `keep.npy` beside an existing file; a missing folder is an
    error before any work."""
    import numpy as np

    from fpga_accel.cli import main

    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    np.save(tmp_path / "x.npy", np.zeros((4, 16), np.float32))
    keep = tmp_path / "keep"
    keep.write_text("precious")
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--output", str(keep)]) == 1
    assert keep.read_text() == "precious" and not (tmp_path / "keep.npy").exists()
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"), "--output", str(keep), "--force"]) == 0
    assert np.load(keep).shape == (4, 5)
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "missing" / "y.npy")]) == 1
    assert not (tmp_path / "missing").exists()
