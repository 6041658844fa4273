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
    # the design is chosen by fit at run time: its upper estimate fits, and the progress line of the
    # estimate step and the summary give the one verdict of one Estimate
    est = result.estimate
    assert est.verdict == "FITS" and all(est.high[k] <= 0.8 * cap for k, cap in
                                         (("lut", 53200), ("ff", 106400), ("dsp", 220), ("bram36", 140)))
    progress_verdicts = [str(s) for s in stages if "estimate: " in str(s) and " on the pynq-z2" in str(s)]
    assert len(progress_verdicts) == 1 and f"estimate: {est.verdict} on the pynq-z2" in progress_verdicts[0]
    assert text.count("FITS") == 1 and f": {est.verdict} (`fpga-accel estimate" in text
    assert "settings chosen by fit" in text and "fc1 " in result.settings
    page = result._repr_html_()  # in a notebook: the same figures as a table
    assert "100.00% of 359 samples (logits)" in page and "FITS on pynq-z2" in page and ">bit-exact</b>" in page
    assert str(result) == text
