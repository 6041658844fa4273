"""User mistakes and hostile files: one line naming the problem, exit 1 (2 for bad usage), no traceback,
nothing written or changed. (A start on the robustness suite of the 'Nothing lost' issue.)"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.cli import main
from models import qmlp


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    design = fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=root / "hls", verify_samples=0))
    np.save(root / "x.npy", np.random.default_rng(0).uniform(-1, 1, (8, 16)).astype(np.float32))
    qmlp().save(root / "q.h5")
    return root, design


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
def test_unreadable_input_files_are_one_line_errors(project, tmp_path, bad, caplog):
    root, design = project
    _bad_files(tmp_path)[bad](tmp_path / bad)
    out = tmp_path / "y.npy"
    assert main(["csim", str(design.root), "--input", str(tmp_path / bad), "--output", str(out)]) == 1
    assert "Traceback" not in caplog.text and bad in caplog.text
    assert not out.exists()
    assert main(["convert", str(root / "q.h5"), "--name", "other", "--output-dir", str(tmp_path / "hls"),
                 "--calibration", str(tmp_path / bad)]) == 1
    assert not (tmp_path / "hls" / "other").exists()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_calibration_with_nan_or_inf_is_refused(project, tmp_path, value, caplog):
    root, _ = project
    x = np.random.default_rng(0).uniform(-1, 1, (50, 16)).astype(np.float32)
    x[7, 3] = value
    np.save(tmp_path / "cal.npy", x)
    assert main(["convert", str(root / "q.h5"), "--name", "cal", "--output-dir", str(tmp_path / "hls"),
                 "--calibration", str(tmp_path / "cal.npy")]) == 1
    assert "calibration data holds NaN or inf in 1 sample(s), first at index 7" in caplog.text
    assert not (tmp_path / "hls" / "cal").exists()


@pytest.mark.parametrize("edit, message", [
    ({"name": "../../somewhere"}, "name '../../somewhere' is not a C identifier"),
    ({"project_name": "x; rm -rf ~"}, "is not a C identifier"),
    ({"input_shape": [-16]}, "input_shape [-16] is not a list of positive integers"),
    ({"bitfile": "../../evil.bit"}, "bitfile '../../evil.bit' is not a plain file name"),
])
def test_hostile_bundle_manifests_are_refused(project, tmp_path, edit, message):
    from fpga_accel.runtime.manifest import MANIFEST, Bundle

    _, design = project
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = dict(design.meta.to_dict(), bitfile="mlp.bit", hwhfile="mlp.hwh")
    manifest.update(edit)
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(fa.ConfigError) as info:
        Bundle.open(bundle)
    assert message in str(info.value)


def test_edited_project_record_is_refused_by_every_command(project, tmp_path, caplog):
    _, design = project
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


@pytest.mark.parametrize("value", [2.7, True, "two", 0])
def test_reuse_factor_is_a_positive_whole_number(tmp_path, value):
    with pytest.raises(fa.ConfigError, match="reuse_factor must be"):
        fa.ConvertConfig(name="x", reuse_factor=value)


def test_reuse_factor_from_yaml_is_not_silently_truncated(project, tmp_path, caplog):
    root, _ = project
    (tmp_path / "p.yml").write_text(f"name: y\nreuse_factor: 2.7\noutput_dir: {tmp_path / 'hls'}\n")
    assert main(["convert", str(root / "q.h5"), "--config", str(tmp_path / "p.yml")]) == 1
    assert "reuse_factor must be a positive integer or 'auto', got 2.7" in caplog.text


@pytest.mark.parametrize("flag", ["--calls", "--batch"])
def test_bench_counts_must_be_positive(project, flag, capsys):
    _, design = project
    with pytest.raises(SystemExit) as info:
        main(["bench", str(design.root), flag, "0"])
    assert info.value.code == 2
    assert "must be at least 1, got 0" in capsys.readouterr().err


def test_cache_that_is_a_file_is_a_clear_error(project, tmp_path, monkeypatch, caplog):
    _, design = project
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    monkeypatch.setenv("FPGA_ACCEL_CACHE", str(cache))
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    assert main(["csim", str(design.root), "--input", str(tmp_path / "x.npy")]) == 1
    assert "is a file, not a folder" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("remote_dir", ["", "/", "  "])
def test_remote_dir_must_name_a_folder(remote_dir):
    from fpga_accel.stages.deploy import Remote

    with pytest.raises(fa.ConfigError, match="would be the board's home or root folder"):
        Remote(host="pynq", remote_dir=remote_dir)


@pytest.mark.parametrize("option, weakened", [
    ("StrictHostKeyChecking=off", "stricthostkeychecking false"),       # not the spelling `=no`
    ("stricthostkeychecking false", "stricthostkeychecking false"),
    ("StrictHostKeyChecking accept-new", "stricthostkeychecking accept-new"),
    ("UserKnownHostsFile=/dev/null", "userknownhostsfile /dev/null"),
    ("ForwardAgent=yes", "forwardagent yes"),
    ("PasswordAuthentication = yes", "passwordauthentication yes"),
])
def test_ssh_options_are_judged_by_what_ssh_resolves(option, weakened):
    from fpga_accel.stages.deploy import Remote

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client here")
    with pytest.raises(fa.ConfigError) as info:
        Remote(host="pynq", ssh_options=(option,))
    assert weakened in str(info.value)


@pytest.mark.parametrize("option", ["ConnectTimeout=5", "UserKnownHostsFile=/tmp/known_hosts",
                                    "StrictHostKeyChecking=yes", "BatchMode=no"])
def test_harmless_ssh_options_pass(option):
    """BatchMode=no cannot undo fpga_accel's own BatchMode=yes: ssh keeps the first value it is given."""
    from fpga_accel.stages.deploy import Remote

    assert Remote(host="pynq", ssh_options=(option,)).ssh_options == (option,)


def test_ssh_rejects_nonsense_options_before_anything_runs():
    from fpga_accel.stages.deploy import Remote

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client here")
    with pytest.raises(fa.ConfigError, match="ssh rejects the options"):
        Remote(host="pynq", ssh_options=("Bogus=1",))


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
def test_missing_or_short_weights_are_an_error_not_an_exit(project, tmp_path, damage):
    """hls4ml's csim calls exit(1) inside the Python process when a weight file is missing or short."""
    _, design = project
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


def test_sweep_points_are_identified_by_what_produced_them(tmp_path):
    """The same sweep name and grid over another model or other data is new work: the old results are
    not reported as "already done" for it."""
    from fpga_accel.sweep import SweepSpec, inputs_identity, point_id

    for name, content in (("a.h5", b"model A"), ("b.h5", b"model B"), ("d1.npz", b"data 1"), ("d2.npz", b"data 2")):
        (tmp_path / name).write_bytes(content)

    def spec(model, data, test_samples=300):
        return SweepSpec(name="s", model=tmp_path / model, data=tmp_path / data, grid={"weight_bits": [4, 6]},
                         output_dir=tmp_path / "sweeps", test_samples=test_samples)

    params = spec("a.h5", "d1.npz").points()[0]
    ids = {point_id(params, inputs_identity(s)) for s in
           (spec("a.h5", "d1.npz"), spec("b.h5", "d1.npz"), spec("a.h5", "d2.npz"), spec("a.h5", "d1.npz", 100))}
    assert len(ids) == 4
    assert point_id(params, inputs_identity(spec("a.h5", "d1.npz"))) == \
        point_id(params, inputs_identity(spec("a.h5", "d1.npz")))  # and stable for the same inputs


def test_edited_but_consistent_shapes_are_caught_by_the_compiled_design(project, tmp_path):
    """A record saying [8] where the design takes 16 values would make csim read at the wrong stride: the
    library's own AXI sizes are compared with the record before any sample is run."""
    _, design = project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    meta = json.loads((copy / "fpga_accel.json").read_text())
    meta["input_shape"] = [8]
    (copy / "fpga_accel.json").write_text(json.dumps(meta))
    with pytest.raises(fa.ConfigError, match="takes 16 values and returns 5 per sample, but its record says 8 and 5"):
        fa.Design(copy).predict(np.zeros((2, 8), np.float32))


@pytest.mark.parametrize("precision, message", [("ap_fixed<0,0>", "has width 0"), ("fixed<5000,6>", "has width 5000"),
                                                ("ap_fixed<16>", "is not an HLS precision")])
def test_precisions_that_would_abort_or_fail_in_hls4ml_are_refused(precision, message):
    with pytest.raises(fa.ConfigError, match=message):
        fa.ConvertConfig(name="x", input_precision=precision)


def test_a_second_convert_of_the_same_project_is_refused_while_one_runs(tmp_path):
    import fcntl

    (tmp_path / "hls").mkdir()
    with open(tmp_path / "hls" / ".mlp.lock", "w") as held:  # what a running convert holds
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(fa.ConfigError, match="another convert is writing"):
            fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    assert not (tmp_path / "hls" / "mlp").exists()
    fa.convert(qmlp(), fa.ConvertConfig(name="mlp", output_dir=tmp_path / "hls", verify_samples=0))
    assert sorted(p.name for p in (tmp_path / "hls").iterdir()) == ["mlp"]  # lock file gone


def test_sigterm_during_a_compile_leaves_no_compiler_and_no_build_folder(project, tmp_path):
    """`fpga-accel csim` killed with SIGTERM while g++ runs: the compilers are stopped and the cache has
    no half-built folder."""
    import signal
    import subprocess
    import sys
    import time

    _, design = project
    copy = tmp_path / "mlp"
    shutil.copytree(design.root, copy)
    cache = tmp_path / "cache"
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "fpga_accel.cli", "csim", str(copy), "--input",
                             str(tmp_path / "x.npy")], env={**__import__("os").environ, "FPGA_ACCEL_CACHE": str(cache)},
                            stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # wait for the compilers to start
        if list(cache.glob("csim/.build-*")):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the compile never started")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert "Traceback" not in proc.stderr.read()
    assert list(cache.glob("csim/.build-*")) == []
    left = subprocess.run(["pgrep", "-f", str(copy / "firmware")], capture_output=True, text=True).stdout.split()
    assert left == []


@pytest.mark.parametrize("name", ["d", "t"])
def test_project_names_that_break_hls4mls_bridge_are_refused(tmp_path, name):
    with pytest.raises(fa.ConfigError, match=f"project name '{name}' clashes with code in hls4ml's generated bridge"):
        fa.convert(qmlp(), fa.ConvertConfig(name=name, output_dir=tmp_path, verify_samples=0))
    assert list(tmp_path.iterdir()) == []  # nothing left behind
