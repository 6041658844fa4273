"""Bundles are copied without following links, and the manifest hashes exactly the files pynq loads.

A link in a bundle (``firmware/notes.txt -> ~/.ssh/id_ed25519``) would carry its target's bytes into the
SD-card package and onto the board: it is refused, with one line naming it, and so is a link loop. pynq's
``Overlay("NAME.bit")`` reads ``NAME.hwh`` whatever the manifest says: a manifest naming another file is
refused, and the runtime hashes the .hwh pynq opens. CLI cases run ``fpga-accel`` as a separate process.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

import fpga_accel as fa
from conftest import stand_in_bitstream
from robustness_helpers import run_cli, tree

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not really\n"


@pytest.fixture(scope="module")
def made(robust_project, tmp_path_factory):
    """(work folder, a clean bundle) with a secret file outside it."""
    _, design = robust_project
    work = tmp_path_factory.mktemp("bundle_links")
    bundle = fa.make_bundle(design, *stand_in_bitstream(work), work / "bitstreams")
    (work / "secret").write_bytes(SECRET)
    return work, bundle


@pytest.fixture
def copy(made, tmp_path):
    """A copy of the clean bundle to damage."""
    _, bundle = made
    target = tmp_path / "bundles" / "mlp"
    shutil.copytree(bundle, target)
    return target


def one_error(proc) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # the error: one line, the last (others are progress)
    assert last.startswith("fpga-accel: ") and proc.stderr.count(last) == 1, proc.stderr
    return last


LINKS = {
    "file-to-a-secret": ("firmware/notes.txt", "{secret}"),
    "relative-escape": ("firmware/notes.txt", "../../../../secret"),
    "to-a-file-inside": ("firmware/copy.cpp", "../mlp_bridge.cpp"),
    "dangling": ("firmware/gone.h", "{tmp}/nowhere"),
    "folder": ("firmware/weights_elsewhere", "{tmp}"),
    "replaces-the-hwh": ("mlp.hwh.link", "{secret}"),
}


@pytest.mark.parametrize("case", sorted(LINKS))
def test_package_refuses_a_link_and_names_it(made, copy, tmp_path, case):
    work, _ = made
    name, target = LINKS[case]
    link = copy / name
    link.symlink_to(target.format(secret=work / "secret", tmp=tmp_path))
    out = tmp_path / "mlp.tar.gz"
    line = one_error(run_cli(["package", copy, "-o", out]))
    assert name in line and "symbolic link" in line
    assert not out.exists() and not list(tmp_path.glob(".mlp.tar.gz*"))


def test_a_link_loop_is_one_line(copy, tmp_path):
    (copy / "firmware" / "a").symlink_to("b")
    (copy / "firmware" / "b").symlink_to("a")
    (copy / "firmware" / "up").symlink_to("..")
    line = one_error(run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"]))
    assert "symbolic link" in line


def test_a_link_never_reaches_the_package(made, copy, tmp_path):
    """Even where the tar would have held the secret: nothing of it in any file package writes."""
    work, _ = made
    (copy / "firmware" / "notes.txt").symlink_to(work / "secret")
    run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"])
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert SECRET not in path.read_bytes()


def test_deploy_refuses_a_link_before_connecting(made, copy, tmp_path):
    work, _ = made
    (copy / "firmware" / "notes.txt").symlink_to(work / "secret")
    line = one_error(run_cli(["deploy", copy, "--host", "127.0.0.1", "--port", "1",
                              "--remote-dir", tmp_path / "board"]))
    assert "notes.txt" in line and "symbolic link" in line
    assert not (tmp_path / "board").exists()


def test_a_fifo_in_a_bundle_is_refused_not_read(copy, tmp_path):
    os.mkfifo(copy / "firmware" / "pipe")
    line = one_error(run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"], timeout=120))
    assert "pipe" in line and "not a regular file" in line


def test_bundle_refuses_a_link_in_the_project(robust_project, made, tmp_path):
    """The project's firmware is copied into the bundle the same way; the old bundle stays as it was."""
    _, design = robust_project
    work, _ = made
    project = tmp_path / "hls" / "mlp"
    shutil.copytree(design.root, project)
    (project / "firmware" / "notes.txt").symlink_to(work / "secret")
    out = tmp_path / "bitstreams"
    line = one_error(run_cli(["bundle", project, "--bit", work / "stand_in.bit", "--hwh", work / "stand_in.hwh",
                              "--output-dir", out]))
    assert "notes.txt" in line and "symbolic link" in line
    assert not (out / "mlp").exists() and not list(out.glob(".mlp*"))


def test_a_clean_bundle_packages_plain_files_only(made, tmp_path):
    _, bundle = made
    out = tmp_path / "mlp.tar.gz"
    proc = run_cli(["package", bundle, "-o", out])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert members and all(m.isfile() or m.isdir() for m in members)
    assert any(m.name.endswith("firmware/mlp.cpp") for m in members)


# ---- the manifest hashes what pynq loads ----------------------------------------------------------

def edit_manifest(bundle, **changes) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_manifest_naming_another_hwh_is_refused(copy, tmp_path):
    """The issue's example: hwhfile is the bridge .cpp with its true sha256, pynq would load mlp.hwh."""
    from fpga_accel.runtime.manifest import sha256_file

    (copy / "mlp.hwh").write_text("<anything at all/>\n")
    edit_manifest(copy, hwhfile="mlp_bridge.cpp", hwh_sha256=sha256_file(copy / "mlp_bridge.cpp"))
    before = tree(copy)
    line = one_error(run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"]))
    assert "hwhfile 'mlp_bridge.cpp' is not the file pynq loads with 'mlp.bit'" in line
    line = one_error(run_cli(["bench", copy, "--backend", "csim", "--calls", "1", "--batch", "1"]))
    assert "mlp_bridge.cpp" in line
    assert tree(copy) == before


class RecordingPynq:
    """Stands in for the pynq module: records which overlay would be loaded."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def Overlay(self, path, download=True):  # noqa: N802 — pynq's name
        self.loaded.append(path)
        raise RuntimeError("no FPGA here")


def test_the_hwh_pynq_opens_is_the_one_hashed(copy):
    """mlp.hwh replaced after the bundle was made: refused before pynq is asked to load anything."""
    from fpga_accel.runtime.manifest import Bundle
    from fpga_accel.runtime.pynq_backend import PynqBackend

    (copy / "mlp.hwh").write_text("<MODULES>something else</MODULES>\n")
    pynq = RecordingPynq()
    with pytest.raises(fa.BoardError, match="mlp.hwh does not match manifest.json"):
        PynqBackend(Bundle.open(copy), pynq=pynq)
    assert pynq.loaded == []


def test_verify_refuses_a_manifest_edited_in_memory(copy):
    from fpga_accel.runtime.manifest import Bundle

    bundle = Bundle.open(copy)
    bundle.manifest.hwhfile = "mlp_bridge.cpp"
    with pytest.raises(fa.BoardError, match="pynq loads mlp.hwh"):
        bundle.verify()


WRONG_TYPES = {
    "extra-text": ({"extra": "ab"}, "extra 'ab' is not an object"),
    "axi-type-number": ({"axi_input_type": 16}, "axi_input_type 16 is not text"),
    "axi-type-unknown": ({"axi_output_type": "int7"}, "unsupported AXI stream type 'int7'"),
    "clock-text": ({"clock_period": "fast"}, "clock_period 'fast' is not a number"),
    "bitfile-number": ({"bitfile": 5}, "bitfile 5 is not"),
    "hwh-without-bit": ({"bitfile": None}, "bitfile and hwhfile go together"),
    "bit-not-bit": ({"bitfile": "mlp.hwh"}, "is not the file pynq loads"),
    "sha-short": ({"bit_sha256": "abc"}, "bit_sha256 'abc' is not a sha256 digest"),
    "sha-missing": ({"hwh_sha256": None}, "hwh_sha256 None is not a sha256 digest"),
    "dma-list": ({"dma": ["hier_0"]}, "dma ['hier_0'] is not text"),
    "layers-text": ({"layers": "all"}, "layers 'all' is not a list"),
    "format-text": ({"format": "2"}, "format '2' is not a whole number"),
    "reuse-list": ({"reuse_factor": [1]}, "reuse_factor [1] is not"),
    "bool-as-number": ({"clock_period": True}, "clock_period True is not a number"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_manifest_fields_of_the_wrong_type_are_one_line(copy, tmp_path, case):
    changes, message = WRONG_TYPES[case]
    edit_manifest(copy, **changes)
    line = one_error(run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"]))
    assert message in line and "manifest.json" in line


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_manifests_are_one_line(copy, tmp_path, depth):
    data = json.loads((copy / "manifest.json").read_text())
    text = json.dumps(data)[:-1] + ', "extra": {"x": ' + "[" * depth + "]" * depth + "}}"
    (copy / "manifest.json").write_text(text)
    line = one_error(run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"]))
    assert "nested deeper than" in line


def test_brackets_inside_strings_are_not_nesting(copy, tmp_path):
    edit_manifest(copy, extra={"note": "[" * 1000 + "{" * 1000})
    proc = run_cli(["package", copy, "-o", tmp_path / "out.tar.gz"])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_manifest_module_stays_numpy_only():
    """runtime/manifest.py goes to the board: it imports nothing of the host stack."""
    import ast
    from pathlib import Path

    import fpga_accel.runtime.manifest as manifest

    tree_ = ast.parse(Path(manifest.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree_) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree_) if isinstance(node, ast.ImportFrom)
                 and node.level == 0}
    assert not imported & {"tensorflow", "keras", "qkeras", "hls4ml", "h5py", "yaml"}


# ---- the board's self-test reads its test vectors as data ------------------------------------------

def board_selftest(bundle):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "fpga_accel.runtime", "selftest", str(bundle), "--backend", "csim"],
                          capture_output=True, text=True, timeout=600)


VECTORS = {
    "no-y": (lambda x, y: {"x": x}, "is damaged (KeyError"),
    "pickled-objects": (lambda x, y: {"x": x.astype(object), "y": y}, "is damaged (ValueError"),
    "fewer-outputs": (lambda x, y: {"x": x, "y": y[:, :2]}, "are not test vectors of this design"),
    "fewer-rows": (lambda x, y: {"x": x, "y": y[:3]}, "are not test vectors of this design"),
    "text": (lambda x, y: {"x": x.astype(str), "y": y}, "are not test vectors of this design"),
}


@pytest.mark.parametrize("case", sorted(VECTORS))
def test_damaged_test_vectors_are_one_line_on_the_board(copy, case):
    import numpy as np

    make, message = VECTORS[case]
    with np.load(copy / "test_vectors.npz") as data:
        x, y = data["x"], data["y"]
    np.savez(copy / "test_vectors.npz", **make(x, y))
    line = one_error(board_selftest(copy))
    assert message in line


def test_garbage_test_vectors_are_one_line_on_the_board(copy):
    (copy / "test_vectors.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    line = one_error(board_selftest(copy))
    assert "test_vectors.npz is damaged" in line
