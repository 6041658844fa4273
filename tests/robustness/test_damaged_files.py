"""Trust nothing read back: a project record, cached library or weight file that is truncated, edited or
stale is detected and refused (or rebuilt) before native code can crash or read at the wrong stride."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.cli import main
from models import qmlp


def test_edited_project_record_is_refused_by_every_command(robust_project, tmp_path, caplog):
    _, design = robust_project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    meta = json.loads((copy / "fpga_accel.json").read_text())
    meta["output_shape"] = "5"
    (copy / "fpga_accel.json").write_text(json.dumps(meta))
    for argv in (["csim", str(copy), "--input", str(tmp_path / "none.npy")], ["estimate", str(copy)],
                 ["build", str(copy), "--dry-run"]):
        caplog.clear()
        assert main(argv) == 1
        assert "output_shape '5' is not a list of positive integers" in caplog.text
        assert "Traceback" not in caplog.text


def test_damaged_cached_library_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    """A truncated .so in the cache would crash (SIGBUS) the process that loads it: its digest is
    checked on every cache hit and a damaged one is rebuilt."""
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    first = design.compile()  # built, not loaded: truncating a library this process maps would crash it too
    first.library.write_bytes(first.library.read_bytes()[:4096])
    again = fa.Design(design.root)
    build = again.compile()
    assert not build.cached and build.library == first.library
    x = np.random.default_rng(0).uniform(-1, 1, (50, 16)).astype(np.float32)
    assert again.compare(qmlp(), x).bit_exact == 1.0


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_missing_or_short_weights_are_an_error_not_an_exit(robust_project, tmp_path, damage):
    """hls4ml's csim calls exit(1) inside the Python process when a weight file is missing or short."""
    _, design = robust_project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    weights = sorted((copy / "firmware" / "weights").glob("w*.txt"))[0]
    if damage == "delete":
        weights.unlink()
    else:
        weights.write_text(",".join(weights.read_text().split(",")[:-3]))
    with pytest.raises(fa.BuildError, match="re-convert the project") as info:
        fa.Design(copy).predict(np.zeros((2, 16), np.float32))
    assert weights.name in str(info.value)


def test_edited_but_consistent_shapes_are_caught_by_the_compiled_design(robust_project, tmp_path):
    """A record saying [8] where the design takes 16 values would make csim read at the wrong stride: the
    library's own AXI sizes are compared with the record before any sample is run."""
    _, design = robust_project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    meta = json.loads((copy / "fpga_accel.json").read_text())
    meta["input_shape"] = [8]
    (copy / "fpga_accel.json").write_text(json.dumps(meta))
    with pytest.raises(fa.ConfigError, match="takes 16 values and returns 5 per sample, but its record says 8 and 5"):
        fa.Design(copy).predict(np.zeros((2, 8), np.float32))


@pytest.mark.parametrize("crash", ["std::abort();", "std::exit(1);"])
def test_a_design_that_crashes_fails_its_build_not_the_caller(robust_project, tmp_path, monkeypatch, crash):
    """C++ that aborts (an ap_fixed assertion) or exits inside csim would take the Python process with it:
    a new library runs its first sample in a child process, and one that dies is neither cached nor loaded."""
    _, design = robust_project
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    top = copy / "firmware" / "mlp.cpp"
    text = top.read_text()
    body = text.index("{", text.index("void mlp("))
    top.write_text("#include <cstdlib>\n" + text[:body + 1] + f"\n    {crash}\n" + text[body + 1:])
    with pytest.raises(fa.BuildError, match="on its first sample, so it was not cached or loaded") as info:
        fa.Design(copy).predict(np.zeros((2, 16), np.float32))
    assert ("SIGABRT" if "abort" in crash else "exited with status 1") in str(info.value)
    assert list((tmp_path / "cache" / "csim").glob("*.so")) == []
