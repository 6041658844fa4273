"""Every command, a mistake a user makes with it: exit 1 (2 for usage errors argparse catches), one line
naming the problem, no traceback, and every file in the working folder byte for byte as it was.

Each case runs ``fpga-accel`` as a separate process, as a user's shell or CI would.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import stand_in_bitstream
from robustness_helpers import run_cli, tree


@pytest.fixture(scope="module")
def folder(robust_project, tmp_path_factory):
    """A working folder with a project, a bundle, data files and a few broken files."""
    import fpga_accel as fa

    root, design = robust_project
    work = tmp_path_factory.mktemp("every_command")
    shutil.copytree(design.root, work / "hls" / "mlp")
    shutil.copyfile(root / "q.h5", work / "q.h5")
    np.save(work / "x.npy", np.random.default_rng(0).uniform(-1, 1, (8, 16)).astype(np.float32))
    np.save(work / "y.npy", np.zeros((8, 5), np.float32))
    np.save(work / "x3.npy", np.zeros((8, 3), np.float32))
    np.save(work / "x16.npy", np.zeros((16,), np.int64))
    np.save(work / "nan.npy", np.full((4, 16), np.nan, np.float32))
    bit, hwh = stand_in_bitstream(work)
    fa.make_bundle(fa.Design(work / "hls" / "mlp"), bit, hwh, work / "bitstreams")
    (work / "not_a_model.h5").write_bytes(b"plain text, not HDF5")
    (work / "bad.yml").write_text("name: [unclosed\n")
    (work / "types.yml").write_text("name: mlp\nclock_period: fast\n")
    (work / "latin1.yml").write_bytes(b"name: caf\xe9\n")
    (work / "sweep.yml").write_text("name: s\nmodel: missing.h5\ndata: x.npy\ngrid: {weight_bits: [4]}\n")
    (work / "flow.yml").write_text("name: mlp\nmodel: q.h5\nreuse_factor: 2.7\n")
    (work / "good_flow.yml").write_text("name: mlp\nmodel: q.h5\n")
    return work


def W(name):  # noqa: N802 — a path inside the working folder
    return ("W", name)


CASES = {
    # id: (argv, exit code, text the one-line error contains)
    "quantize-missing-model": (["quantize", W("none.h5"), "-o", W("out.h5")], 1, "none.h5"),
    "quantize-not-a-model": (["quantize", W("not_a_model.h5"), "-o", W("out.h5")], 1, "not_a_model.h5"),
    "quantize-existing-output": (["quantize", W("q.h5"), "-o", W("x.npy")], 1, "pass --force"),
    "quantize-zero-bits": (["quantize", W("q.h5"), "-o", W("out.h5"), "--weight-bits", "0"], 1, "weight_bits"),
    "convert-invalid-yaml": (["convert", W("q.h5"), "--config", W("bad.yml")], 1, "bad.yml"),
    "convert-wrong-yaml-types": (["convert", W("q.h5"), "--config", W("types.yml")], 1, "clock_period"),
    "convert-non-utf8-yaml": (["convert", W("q.h5"), "--config", W("latin1.yml")], 1, "latin1.yml"),
    "convert-existing-project": (["convert", W("q.h5"), "--name", "mlp", "--output-dir", W("hls")], 1,
                                 "pass --force"),
    "convert-bad-name": (["convert", W("q.h5"), "--name", "9 lives", "--output-dir", W("hls")], 1, "9 lives"),
    "convert-bad-precision": (["convert", W("q.h5"), "--name", "p", "--output-dir", W("hls"),
                               "--precision", "ap_fixed<16>"], 1, "ap_fixed<16>"),
    "convert-calibration-wrong-shape": (["convert", W("q.h5"), "--name", "c", "--output-dir", W("hls"),
                                         "--calibration", W("x3.npy")], 1, "sample shape"),
    "csim-not-a-project": (["csim", W("bitstreams"), "--input", W("x.npy")], 1, "fpga_accel.json"),
    "csim-wrong-input-shape": (["csim", W("hls/mlp"), "--input", W("x3.npy")], 1, "+ (16,)"),
    "csim-output-in-missing-folder": (["csim", W("hls/mlp"), "--input", W("x.npy"), "--output",
                                       W("nowhere/y.npy")], 1, "does not exist"),
    "csim-existing-output": (["csim", W("hls/mlp"), "--input", W("x.npy"), "--output", W("y.npy")], 1,
                             "pass --force"),
    "csim-labels-without-reference": (["csim", W("hls/mlp"), "--input", W("x.npy"), "--labels", W("y.npy")], 1,
                                      "pass --reference too"),
    "csim-labels-do-not-match": (["csim", W("hls/mlp"), "--input", W("x.npy"), "--labels", W("x16.npy"),
                                  "--reference", W("q.h5")], 1, "expected (8,) class indices"),
    "csim-zero-workers": (["csim", W("hls/mlp"), "--input", W("x.npy"), "--workers", "0"], 2, "at least 1"),
    "estimate-unknown-board": (["estimate", W("hls/mlp"), "--board", "zcu999"], 1, "zcu999"),
    "estimate-missing-project": (["estimate", W("hls/none")], 1, "none"),
    "build-without-vivado": (["build", W("hls/mlp")], 1, "vivado_hls"),
    "bundle-missing-bitstream": (["bundle", W("hls/mlp"), "--bit", W("none.bit"), "--hwh", W("stand_in.hwh"),
                                  "--output-dir", W("bitstreams2")], 1, "none.bit"),
    "bundle-existing": (["bundle", W("hls/mlp"), "--bit", W("stand_in.bit"), "--hwh", W("stand_in.hwh"),
                         "--output-dir", W("bitstreams")], 1, "pass --force"),
    "bundle-nan-test-vectors": (["bundle", W("hls/mlp"), "--bit", W("stand_in.bit"), "--hwh", W("stand_in.hwh"),
                                 "--output-dir", W("bitstreams2"), "--vectors", W("nan.npy")], 1, "NaN or inf"),
    "package-existing-output": (["package", W("bitstreams/mlp"), "-o", W("x.npy")], 1, "pass --force"),
    "package-not-a-bundle": (["package", W("hls/mlp"), "-o", W("p.tar.gz")], 1, "bundle"),
    "deploy-empty-remote-dir": (["deploy", W("bitstreams/mlp"), "--host", "pynq", "--remote-dir", ""], 1,
                                "home or root folder"),
    "deploy-weakened-host-keys": (["deploy", W("bitstreams/mlp"), "--host", "pynq", "--ssh-option",
                                   "StrictHostKeyChecking=off", "--dry-run"], 1, "stricthostkeychecking"),
    "run-missing-input": (["run", W("bitstreams/mlp"), "--input", W("none.npy"), "--output", W("out.npy")], 1,
                          "none.npy"),
    "run-existing-output": (["run", W("bitstreams/mlp"), "--input", W("x.npy"), "--output", W("y.npy"),
                             "--backend", "csim"], 1, "pass --force"),
    "bench-zero-calls": (["bench", W("bitstreams/mlp"), "--calls", "0"], 2, "at least 1"),
    "bench-not-a-bundle": (["bench", W("x.npy")], 1, "x.npy"),
    "flow-truncating-reuse-factor": (["flow", W("flow.yml"), "--to", "convert"], 1, "reuse_factor"),
    "flow-unknown-step": (["flow", W("good_flow.yml"), "--from", "synthesise"], 2, "synthesise"),
    "sweep-missing-model": (["sweep", W("sweep.yml")], 1, "missing.h5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_mistake_is_one_line_and_changes_nothing(folder, case):
    argv, code, text = CASES[case]
    args = [str(folder / a[1]) if isinstance(a, tuple) else a for a in argv]
    before = tree(folder)
    proc = run_cli(args, env={"PATH": "/usr/bin:/bin"} if case == "build-without-vivado" else None)
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    echoed = [a for a in args if text in a]
    if echoed:  # the text is (part of) an argument: the message must name that argument in full
        assert any(a in proc.stderr for a in echoed), proc.stderr[-3000:]
    else:  # else it must be in what the message says beside the paths it echoes ("16" is in many a tmp path)
        said = proc.stderr.replace(str(folder), "<work>")
        for a in args:
            said = said.replace(a, "<arg>") if len(a) > 2 else said
        assert text in said, proc.stderr[-3000:]
    assert tree(folder) == before
