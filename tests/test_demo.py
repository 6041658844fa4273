"""The one-command demo: digits → QKeras (QAT) → hls4ml → csim, bit-exact, with a readable report."""
from __future__ import annotations

from fpga_accel.demo import run_demo


def test_demo_end_to_end(tmp_path):
    stages = []
    result = run_demo(tmp_path / "hls_projects", epochs=15, qat_epochs=5, progress=stages.append)
    report = result.report
    assert report.passed and report.compared == "logits" and report.bit_exact == 1.0
    assert report.csim_accuracy > 0.85 and report.csim_accuracy == report.reference_accuracy
    assert result.project_dir == tmp_path / "hls_projects" / "digits"
    assert [str(s)[:5] for s in stages if s.event == "start"] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    text = result.format()
    assert "csim == QKeras bit for bit      100.00% of 359 samples (logits)" in text
    assert "estimate on the PYNQ-Z2" in text and "hls_projects/digits" in text
