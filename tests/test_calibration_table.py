"""The calibration README's design table is generated from the JSON files: it must match them."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_calibration_readme_table_is_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibration_table.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, "calibration README table is stale: run `python benchmarks/calibration_table.py`"


def test_table_lists_every_design_with_its_source() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibration_table
    from fpga_accel.analysis.calibration import load_designs

    text = calibration_table.table()
    for d in load_designs():
        row = next(line for line in text.splitlines() if line.startswith(f"| {d.id}"))
        assert f"| {d.provenance.group} |" in row
