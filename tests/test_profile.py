"""fa.profile and AgreementReport.plot draw what the design holds: one axes per profiled distribution, the
type's min/max as vertical lines at exactly the type's bounds, the diverging layer marked; the CLI writes them."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.analysis.weight_stats import hls_type
from fpga_accel.cli import main
from models import qmlp


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    design = fa.convert(qmlp(), fa.ConvertConfig(name="p", output_dir=out / "hls_projects"))
    x = np.random.default_rng(0).uniform(-1, 1, (64, 16)).astype(np.float32)
    np.save(out / "x.npy", x)
    return design, x, out


def _bounds(ax):
    return sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() in ("type-min", "type-max"))


def test_profile_axes_per_layer_and_type_bounds(project):
    design, x, _ = project
    fig = fa.profile(design, x, engine="emulator")
    axes = fig.get_axes()
    layers = {entry["name"]: entry for entry in design.meta.layers}
    expected = [(name, kind) for name, entry in layers.items()
                for kind in (("weights",) if "weight_t" in entry["types"] else ()) + (("activations",) if entry.get("traced") else ())]
    assert [(p.layer, p.kind) for p in fig.profiles] == expected
    assert len(axes) == len(expected) == 11  # 4 Dense x (weights, outputs) + 3 ReLU outputs
    for ax, p in zip(axes, fig.profiles):
        entry = layers[p.layer]
        precision = entry["types"]["weight_t"]["precision"] if p.kind == "weights" else entry["precision"]
        low, high = hls_type(precision).value_range()
        assert _bounds(ax) == [low, high]
        assert p.layer in ax.get_title(loc="left") and precision in ax.get_title(loc="left")
    relu = next(p for p in fig.profiles if p.layer == "relu1")
    # its outputs are the design's own: on the type's grid, inside its range
    assert np.all(relu.values >= 0) and np.all(relu.values <= relu.high)
    assert np.all(np.mod(relu.values, relu.step) == 0)


def test_profile_counts_saturated_and_underflowed():
    from fpga_accel.analysis.profile import _value_profile

    p = _value_profile("l", "weights", "fixed<4,1,TRN,WRAP,0>", np.array([-1.0, 0.875, 0.01, 0.0, 0.5, -0.125, 0.001, 0.25]))
    assert (p.low, p.high, p.step) == (-1.0, 0.875, 0.125)
    assert p.saturated == 2 / 8 and p.underflowed == 2 / 8
    u = _value_profile("l", "activations", "ufixed<3,1,RND_CONV,SAT,0>", np.array([0.0, 1.75, 0.5, 2.0]))
    assert u.saturated == 2 / 4 and u.underflowed == 0.0  # zero is an unsigned type's floor, not a clip


def test_agreement_plot_marks_first_diverging_layer():
    report = fa.AgreementReport(n_samples=10, bit_exact=0.5, element_exact=0.9, argmax_agreement=1.0, max_abs_diff=0.25,
                                first_divergent_layer="fc2", layer_exact={"fc1": 1.0, "fc2": 0.5, "out": 0.5})
    fig = report.plot()
    (ax,) = fig.get_axes()
    bars = ax.patches
    assert [b.get_width() for b in bars] == [1.0, 0.5, 0.5]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["fc1", "fc2", "out"]
    marked = [i for i, b in enumerate(bars) if b.get_gid() == "first-diverging"]
    assert marked == [1]
    assert bars[1].get_facecolor() != bars[0].get_facecolor()
    assert "first diverging layer: fc2" in ax.get_title()


def test_cli_profile_writes_png_svg_and_refuses_overwrite(project, caplog):
    _, _, out = project
    png, svg = out / "profile.png", out / "profile.svg"
    args = [str(out / "hls_projects" / "p"), "--input", str(out / "x.npy"), "--engine", "emulator"]
    assert main(["profile", *args, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["profile", *args, "-o", str(svg)]) == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and text.count('id="type-min"') == 11
    before = png.stat().st_mtime_ns
    assert main(["profile", *args, "-o", str(png)]) == 1
    assert png.stat().st_mtime_ns == before
    assert main(["profile", *args, "-o", str(png), "--force"]) == 0
    assert main(["profile", *args, "-o", str(out / "profile.jpg")]) == 1
    assert "PNG or SVG" in caplog.text
    assert main(["profile", str(out / "nowhere"), "--input", str(out / "x.npy"), "-o", str(out / "n.png")]) == 1


def test_hls_model_rebuilt_matches_the_record(project, tmp_path):
    design, x, out = project
    graph = fa.Design(design.root).hls_model
    assert {name: str(layer.get_output_variable().type.precision) for name, layer in graph.graph.items()} \
        == {layer["name"]: layer["precision"] for layer in design.meta.layers}
    assert graph.config.get_output_dir() != str(design.root)  # write() would not overwrite the project
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(design.root, edited)
    record = edited / "fpga_accel.json"  # a record that no longer says what the project's files build
    data = json.loads(record.read_text())
    next(layer for layer in data["layers"] if layer["name"] == "fc1")["precision"] = "fixed<12,4,TRN,WRAP,0>"
    record.write_text(json.dumps(data))
    with pytest.raises(fa.ConfigError, match="differs from its record at fc1"):
        fa.Design(edited).hls_model
