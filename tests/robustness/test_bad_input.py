"""User mistakes in files and settings: one line naming the problem and the fix, exit 1 (2 for bad usage),
no traceback, nothing written or changed."""
from __future__ import annotations

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.cli import main
from models import qmlp


def _bad_files(root):
    """name → (writer) of data files that are not usable numeric arrays."""
    ok = np.zeros((4, 16), np.float32)
    np.save(root / "ok.npy", ok)
    raw = (root / "ok.npy").read_bytes()
    return {
        "empty.npy": lambda p: p.write_bytes(b""),
        "text.npy": lambda p: p.write_text("1,2,3\n"),
        "truncated.npy": lambda p: p.write_bytes(raw[:-12]),
        "object.npy": lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "strings.npy": lambda p: np.save(p, np.array(["a", "b"])),
        "corrupt.npz": lambda p: p.write_bytes(b"PK\x03\x04 not a zip"),
        "scalar.npy": lambda p: np.save(p, np.float32(1.0)),
    }


BAD = ["empty.npy", "text.npy", "truncated.npy", "object.npy", "strings.npy", "corrupt.npz", "scalar.npy"]


@pytest.mark.parametrize("bad", BAD)
def test_unreadable_input_files_are_one_line_errors(robust_project, tmp_path, bad, caplog):
    root, design = robust_project
    _bad_files(tmp_path)[bad](tmp_path / bad)
    out = tmp_path / "y.npy"
    assert main(["csim", str(design.root), "--input", str(tmp_path / bad), "--output", str(out)]) == 1
    assert "Traceback" not in caplog.text and bad in caplog.text
    assert not out.exists()
    assert main(["convert", str(root / "q.h5"), "--name", "other", "--output-dir", str(tmp_path / "hls"),
                 "--calibration", str(tmp_path / bad)]) == 1
    assert not (tmp_path / "hls" / "other").exists()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_calibration_with_nan_or_inf_is_refused(robust_project, tmp_path, value, caplog):
    root, _ = robust_project
    x = np.random.default_rng(0).uniform(-1, 1, (50, 16)).astype(np.float32)
    x[7, 3] = value
    np.save(tmp_path / "cal.npy", x)
    assert main(["convert", str(root / "q.h5"), "--name", "cal", "--output-dir", str(tmp_path / "hls"),
                 "--calibration", str(tmp_path / "cal.npy")]) == 1
    assert "calibration data holds NaN or inf in 1 sample(s), first at index 7" in caplog.text
    assert not (tmp_path / "hls" / "cal").exists()


@pytest.mark.parametrize("value", [2.7, True, "two", 0])
def test_reuse_factor_is_a_positive_whole_number(tmp_path, value):
    with pytest.raises(fa.ConfigError, match="reuse_factor must be"):
        fa.ConvertConfig(name="x", reuse_factor=value)


def test_reuse_factor_from_yaml_is_not_silently_truncated(robust_project, tmp_path, caplog):
    root, _ = robust_project
    (tmp_path / "p.yml").write_text(f"name: y\nreuse_factor: 2.7\noutput_dir: {tmp_path / 'hls'}\n")
    assert main(["convert", str(root / "q.h5"), "--config", str(tmp_path / "p.yml")]) == 1
    assert "reuse_factor must be a positive integer or 'auto', got 2.7" in caplog.text


@pytest.mark.parametrize("flag", ["--calls", "--batch"])
def test_bench_counts_must_be_positive(robust_project, flag, capsys):
    _, design = robust_project
    with pytest.raises(SystemExit) as info:
        main(["bench", str(design.root), flag, "0"])
    assert info.value.code == 2
    assert "must be at least 1, got 0" in capsys.readouterr().err


def test_cache_that_is_a_file_is_a_clear_error(robust_project, tmp_path, monkeypatch, caplog):
    _, design = robust_project
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(cache))
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy")]) == 1
    assert "is a file, not a folder" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("precision, message", [("ap_fixed<0,0>", "has width 0"), ("fixed<5000,6>", "has width 5000"),
                                                ("ap_fixed<16>", "is not an HLS precision")])
def test_precisions_that_would_abort_or_fail_in_hls4ml_are_refused(precision, message):
    with pytest.raises(fa.ConfigError, match=message):
        fa.ConvertConfig(name="x", input_precision=precision)


@pytest.mark.parametrize("name", ["d", "t"])
def test_project_names_that_break_hls4mls_bridge_are_refused(tmp_path, name):
    with pytest.raises(fa.ConfigError, match=f"project name '{name}' clashes with code in hls4ml's generated bridge"):
        fa.convert(qmlp(), fa.ConvertConfig(name=name, output_dir=tmp_path, verify_samples=0))
    assert list(tmp_path.iterdir()) == []  # nothing left behind
