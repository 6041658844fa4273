"""Deploy over a real OpenSSH server on 127.0.0.1: this machine plays the board (csim self-test)."""
from __future__ import annotations

import json
import shutil
import tarfile
import zipfile

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.board_payload import sd_card_package as package
from fpga_accel.stages.deploy import Remote, deploy
from fpga_accel.stages.bundle import make_bundle
from fpga_accel.runtime_wheel import build_runtime_wheel
from conftest import BOARD_PYTHON, board_remote as _remote, stand_in_bitstream
from models import qcnn



@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    model = qcnn()
    design = fa.convert(model, fa.ConvertConfig(name="cnn", io_type="io_stream", output_dir=root / "hls"))
    x = np.random.default_rng(0).uniform(-3, 3, (8, 8, 8, 1)).astype(np.float32)
    return make_bundle(design, *stand_in_bitstream(root), root / "bitstreams", model=model, x=x)


@pytest.mark.skipif(not BOARD_PYTHON, reason="needs the numpy + pynq board venv (FPGA_ACCEL_BOARD_PYTHON, set by .ci/run)")
def test_deploy_installs_and_self_tests(bundle, sshd, tmp_path):
    remote = _remote(sshd, tmp_path)
    result = deploy(bundle, remote)
    assert result.passed and result.bit_exact == 1.0 and result.n == 8  # the board's SelfTestResult
    assert "bit-exact with QKeras  100.00%" in result.output and "inferences/s" in result.output
    deployed = tmp_path / "board" / "bundles" / "cnn"
    assert json.loads((deployed / "manifest.json").read_text())["name"] == "cnn"
    assert not list((tmp_path / "board").glob(".incoming-*"))  # temporary folder removed
    # a deploy that fails after the copy (here: no such Python) leaves the previous bundle as it was
    before = (deployed / "manifest.json").read_text()
    with pytest.raises(fa.BoardError, match="install the runtime wheel failed"):
        deploy(bundle, _remote(sshd, tmp_path, python="/nonexistent/python3"))
    assert (deployed / "manifest.json").read_text() == before
    assert not list((tmp_path / "board").glob(".incoming-*"))
    # a bundle that fails its self-test on the board is taken out again and the previous one put back
    broken = tmp_path / "broken" / "cnn"
    shutil.copytree(bundle, broken)
    with np.load(broken / "test_vectors.npz") as vectors:
        data = dict(vectors)
    data["y"] = data["y"] + 1.0  # expected outputs the design does not produce
    np.savez(broken / "test_vectors.npz", **data)
    files_before = {p.name: p.read_bytes() for p in deployed.iterdir() if p.is_file()}
    with pytest.raises(fa.SelfTestError, match="self-test of cnn failed") as failed:
        deploy(broken, remote)
    assert failed.value.result is not None and not failed.value.result.passed
    assert {p.name: p.read_bytes() for p in deployed.iterdir() if p.is_file()} == files_before
    assert not (tmp_path / "board" / "bundles" / "cnn.previous").exists()


def test_unknown_host_key_is_refused(bundle, sshd, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    remote = _remote(sshd, tmp_path, python="python3", known_hosts=tmp_path / "known_hosts")
    with pytest.raises(fa.BoardError, match="host key is unknown or changed"):
        deploy(bundle, remote)
    assert not (tmp_path / "board").exists()


def test_insecure_options_and_dry_run(bundle, sshd, tmp_path):
    with pytest.raises(fa.ConfigError, match="refused"):
        Remote(host="h", ssh_options=("StrictHostKeyChecking=no",))
    text = deploy(bundle, _remote(sshd, tmp_path, python="python3"), dry_run=True)
    assert "BatchMode=yes" in text and "scp -r -P" in text and "selftest bundles/cnn" in text
    assert not (tmp_path / "board").exists()


def test_runtime_wheel_is_runtime_only(tmp_path):
    wheel = build_runtime_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "fpga_accel/runtime/accelerator.py" in names and "fpga_accel/runtime/axi_stream_sim.cpp" in names
    assert "fpga_accel/runtime/hls_csim/ap_axi_sdata.h" in names  # csim compiles the vitis wrapper on the board too
    assert not any(n.startswith(("fpga_accel/stages", "fpga_accel/cli")) for n in names)
    assert "Requires-Dist: numpy" in metadata and "tensorflow" not in metadata and "hls4ml" not in metadata


def test_package_for_sd_card(bundle, tmp_path):
    out = package(bundle, tmp_path / "cnn.tar.gz")
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "cnn/cnn/manifest.json" in names and "cnn/INSTALL.txt" in names
    assert any(n.startswith("cnn/fpga_accel-") and n.endswith(".whl") for n in names)
    with pytest.raises(fa.ConfigError, match="exists; pass --force"):
        package(bundle, out)


def test_deploy_returns_the_boards_self_test_result_or_raises_it_failed(bundle, monkeypatch):
    """Without a board venv: the ssh steps stubbed, the board's printed result line is what comes back."""
    from fpga_accel.runtime.accelerator import BenchResult
    from fpga_accel.runtime.selftest import EXIT_FAILED, SelfTestResult, result_line
    from fpga_accel.stages import deploy as deploy_stage

    def board(bit_exact):
        return SelfTestResult("pynq", 8, bit_exact, 1.0, 1.0 - bit_exact, BenchResult("pynq", 8, 10, 1e5, 0.1, 0.2))

    def ssh(answer):
        def run(cmd, what, stream, timeout):
            if "selftest" not in " ".join(cmd):
                return ""
            if isinstance(answer, Exception):
                raise answer
            return answer
        return run

    monkeypatch.setattr(deploy_stage.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(deploy_stage.subprocess, "run", lambda *a, **k: None)
    monkeypatch.setattr(deploy_stage, "_run", ssh("PASS\n" + result_line(board(1.0)) + "\n"))
    result = deploy(bundle, Remote(host="board"))
    assert result == board(1.0) and result.passed and result.output.startswith("PASS")
    failed = fa.BoardError("deploy to board: swap failed (exit 5): ...")
    failed.output, failed.returncode = "FAIL\n" + result_line(board(0.25)), EXIT_FAILED
    monkeypatch.setattr(deploy_stage, "_run", ssh(failed))
    with pytest.raises(fa.SelfTestError, match=r"self-test of cnn failed on xilinx@board \(bit-exact 25.00%") as info:
        deploy(bundle, Remote(host="board"))
    assert info.value.result == board(0.25)
    monkeypatch.setattr(deploy_stage, "_run", ssh("an old runtime's text\n"))
    with pytest.raises(fa.BoardError, match="printed no result"):
        deploy(bundle, Remote(host="board"))


def test_deploy_records_the_self_test_in_the_project_and_report_shows_it(bundle, monkeypatch, tmp_path, capsys):
    """The board's result (passed or failed) lands in the project's fpga_accel.json, where `fpga-accel
    report` (text, --json, HTML) shows it; a project that is not the bundle's design is refused first."""
    from fpga_accel.analysis.design_report import design_report
    from fpga_accel.cli import main
    from fpga_accel.runtime.accelerator import BenchResult
    from fpga_accel.runtime.selftest import EXIT_FAILED, SelfTestResult, result_line
    from fpga_accel.stages import deploy as deploy_stage

    project = bundle.parent.parent / "hls" / "cnn"
    board = SelfTestResult("pynq", 8, 1.0, 1.0, 0.0, BenchResult("pynq", 8, 10, 12345.0, 0.65, 0.9))
    calls = []

    def run(cmd, what, stream, timeout):
        calls.append(what)
        return "PASS\n" + result_line(board) + "\n" if "selftest" in " ".join(cmd) else ""

    monkeypatch.setattr(deploy_stage.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(deploy_stage.subprocess, "run", lambda *a, **k: None)
    monkeypatch.setattr(deploy_stage, "_run", run)
    other = tmp_path / "other"
    shutil.copytree(project, other)
    record = json.loads((other / "fpga_accel.json").read_text())
    record["model_sha256"] = "0" * 64
    (other / "fpga_accel.json").write_text(json.dumps(record))
    with pytest.raises(fa.ConfigError, match="was not made from the project .*model_sha256"):
        deploy(bundle, Remote(host="board"), project=other)
    assert calls == []  # refused before anything reached the board
    try:
        seen = []
        deploy(bundle, Remote(host="board"), project=project, progress=seen.append)
        assert [(u.done, u.total) for u in seen if u.event == "count"] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        saved = fa.Design(project).meta.selftest
        assert saved["board"] == "xilinx@board" and saved["passed"] is True and saved["result"] == board.to_dict()
        report = design_report(fa.Design(project))
        text = report.format()
        assert "board self-test on xilinx@board" in text and ": PASS" in text
        assert "bit-exact 100.00%, argmax 100.00% on 8 test vectors; 12,345 inferences/s" in text
        csynth = fa.estimate(fa.Design(project), figure="csynth")
        ceiling = 1e9 / (csynth.interval * csynth.clock_period_ns)
        assert report.ceiling == ceiling and f"the IP alone by the estimate: {ceiling:,.0f}/s" in text
        assert "no board self-test recorded" not in text
        assert "12,345 inferences/s" in report._repr_html_()
        assert main(["report", str(project), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["selftest"]["result"]["bench"]["inferences_per_s"] == 12345.0
        # a failed self-test is recorded too, and the design's hash (what the flow's steps read) is unchanged
        before = fa.Design(project).meta.design_sha256()
        failed = fa.BoardError("swap failed")
        failed.output = "FAIL\n" + result_line(SelfTestResult("pynq", 8, 0.5, 1.0, 0.25, board.bench))
        failed.returncode = EXIT_FAILED

        def fail(cmd, what, stream, timeout):
            if "selftest" in " ".join(cmd):
                raise failed
            return ""

        monkeypatch.setattr(deploy_stage, "_run", fail)
        with pytest.raises(fa.SelfTestError):
            deploy(bundle, Remote(host="board"), project=project)
        meta = fa.Design(project).meta
        assert meta.selftest["passed"] is False and meta.selftest["result"]["bit_exact"] == 0.5
        assert meta.design_sha256() == before
        assert "bit-exact 50.00%" in design_report(fa.Design(project)).format()
        # the bundle made from a project does not carry what a board said about it
        assert json.loads((bundle / "manifest.json").read_text()).get("selftest") is None
    finally:
        meta = fa.Design(project).meta
        meta.selftest = None
        meta.write(project)


def test_cli_deploy_records_in_hls_projects_name_by_default(bundle, monkeypatch, tmp_path):
    from fpga_accel.cli import main
    from fpga_accel.runtime.accelerator import BenchResult
    from fpga_accel.runtime.selftest import SelfTestResult, result_line
    from fpga_accel.stages import deploy as deploy_stage

    board = SelfTestResult("pynq", 8, 1.0, 1.0, 0.0, BenchResult("pynq", 8, 10, 1e4, 0.8, 0.9))
    monkeypatch.setattr(deploy_stage.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(deploy_stage.subprocess, "run", lambda *a, **k: None)
    monkeypatch.setattr(deploy_stage, "_run", lambda cmd, what, stream, timeout: result_line(board) + "\n"
                        if "selftest" in " ".join(cmd) else "")
    (tmp_path / "hls_projects").mkdir()
    shutil.copytree(bundle.parent.parent / "hls" / "cnn", tmp_path / "hls_projects" / "cnn")
    shutil.copytree(bundle, tmp_path / "bitstreams" / "cnn")
    monkeypatch.chdir(tmp_path)
    assert main(["deploy", "bitstreams/cnn", "--host", "board"]) == 0
    assert fa.Design(tmp_path / "hls_projects" / "cnn").meta.selftest["passed"] is True
