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
                for kind in (("weights",) if "weight_t" in entry["types"] else ())
                + (("activations",) if entry.get("traced") or entry["class"] == "Input" else ())]
    assert [(p.layer, p.kind) for p in fig.profiles] == expected
    assert len(axes) == len(expected) == 12  # the input, 4 Dense x (weights, outputs) + 3 ReLU outputs
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

    before = np.array([-1.0, 0.875, 0.01, 0.0, 0.5, -0.125, 0.001, 0.25])
    p = _value_profile("l", "weights", "fixed<4,1,TRN,WRAP,0>", before, before)
    assert (p.low, p.high, p.step) == (-1.0, 0.875, 0.125)
    assert p.saturated == 2 / 8 and p.underflowed == 2 / 8
    u = _value_profile("l", "activations", "ufixed<3,1,RND_CONV,SAT,0>", np.array([0.0, 1.75, 0.5, 2.0]))
    assert u.saturated == 2 / 4  # zero is an unsigned type's floor, not a clip
    assert u.underflowed is None  # values after the cast say nothing about what rounded to zero
    cast = _value_profile("l", "activations", "ufixed<3,1,RND_CONV,SAT,0>", np.array([0.0, 0.0, 0.5]),
                          np.array([0.1, 0.2, 0.5]))
    assert cast.underflowed == 2 / 3


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


def test_agreement_plot_of_a_bit_exact_design_shows_every_traced_layer(project):
    """A bit-exact design is drawn per layer too (it was one "outputs" bar): every traced layer, csim against the
    reference's same layer, at 100 %, named on the axis in graph order; none marked."""
    design, x, _ = project
    report = design.compare(qmlp(), x)
    assert report.passed and report.first_divergent_layer is None
    fig = report.plot()
    (ax,) = fig.get_axes()
    layers = ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "out"]
    assert [label.get_text() for label in ax.get_yticklabels()] == layers == list(report.layer_exact)
    assert [b.get_width() for b in ax.patches] == [1.0] * len(layers)
    assert not [b for b in ax.patches if b.get_gid() == "first-diverging"]
    assert ax.get_title() == "bit-exact 100.0% of 64 samples"


def test_cli_profile_writes_png_svg_and_refuses_overwrite(project, caplog):
    _, _, out = project
    png, svg = out / "profile.png", out / "profile.svg"
    args = [str(out / "hls_projects" / "p"), "--input", str(out / "x.npy"), "--engine", "emulator"]
    assert main(["profile", *args, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["profile", *args, "-o", str(svg)]) == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and text.count('id="type-min"') == 12
    before = png.stat().st_mtime_ns
    assert main(["profile", *args, "-o", str(png)]) == 1
    assert png.stat().st_mtime_ns == before
    assert main(["profile", *args, "-o", str(png), "--force"]) == 0
    assert main(["profile", *args, "-o", str(out / "profile.jpg")]) == 1
    assert "PNG or SVG" in caplog.text
    assert main(["profile", str(out / "nowhere"), "--input", str(out / "x.npy"), "-o", str(out / "n.png")]) == 1


def test_cli_csim_writes_the_agreement_plot(project, tmp_path, monkeypatch):
    """`fpga-accel csim --reference M --plot F` writes report.plot(): a design against another model's weights
    diverges at fc1, drawn as the marked bar; without --reference, --plot is refused before any work."""
    import matplotlib

    design, _, out = project
    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # text as text: the labels can be read
    qmlp(seed=1).save(tmp_path / "other.h5")
    args = ["csim", str(design.root), "--input", str(out / "x.npy"), "--engine", "emulator"]
    assert main([*args, "--reference", str(tmp_path / "other.h5"), "--plot", str(tmp_path / "agree.svg")]) == 3
    svg = (tmp_path / "agree.svg").read_text()
    assert svg.count('id="first-diverging"') == 1 and "first diverging layer: fc1" in svg
    assert all(f">{layer}<" in svg for layer in ("fc1", "relu1", "out"))
    assert main([*args, "--plot", str(tmp_path / "b.svg")]) == 1 and not (tmp_path / "b.svg").exists()
    assert main([*args, "--reference", str(tmp_path / "other.h5"), "--plot", str(tmp_path / "a.jpg")]) == 1


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


def test_underflow_is_counted_before_the_cast_where_it_really_happens(project):
    """Small inputs against the input type's step and the ReLUs' 6-bit grid: what rounds away is counted on
    the values before the cast (x; relu of the sum before it; the weights' float kernel in the project)."""
    design, _, _ = project
    x = np.random.default_rng(1).uniform(-0.05, 0.05, (32, 16)).astype(np.float32)
    fig = fa.profile(design, x, engine="emulator")
    got = {(p.layer, p.kind): p for p in fig.profiles}
    step_in = got[("x", "activations")].step
    assert step_in == 2.0 ** -5
    assert got[("x", "activations")].underflowed == np.count_nonzero(np.abs(x) < step_in) / x.size > 0.5
    _, traced = design.trace(x, engine="emulator")
    relu_in = np.maximum(traced["fc1"], 0)
    relu = got[("relu1", "activations")]
    expected = np.count_nonzero((relu_in != 0) & (relu_in < relu.step)) / relu_in.size
    assert relu.underflowed == expected > 0
    assert np.count_nonzero(relu.values) < np.count_nonzero(relu_in)  # they did round to zero
    assert got[("fc1", "activations")].underflowed == 0.0  # an exact sum: nothing rounds
    kernel = qmlp().get_layer("fc1").get_weights()[0]  # the same seed: the reference model's float kernel
    weights = got[("fc1", "weights")]  # counted on the float kernel the written weights were cast from
    assert weights.underflowed == np.count_nonzero((kernel != 0) & (np.abs(kernel) < weights.step)) / kernel.size > 0
    assert f"under {weights.underflowed:.1%}" in [t.get_text() for t in fig.get_axes()[1].texts
                                                  if t.get_gid() == "fractions"][0]


def test_weight_underflow_na_where_the_kernel_is_not_what_was_written(project, tmp_path):
    """A project without its reference model, or whose written weights are not its kernel cast to the weight
    type (as after a fold or a scale), says n/a for weight underflow rather than a count off other values."""
    import shutil

    from fpga_accel.analysis.profile import _written_from

    design, x, _ = project
    kernel = np.array([0.3, -0.02, 0.51, -1.7])
    assert _written_from(kernel, np.array([-1.0, 0.25, 0.5, 0.0]), "fixed<4,1,TRN,WRAP,0>")  # order free, clipped
    assert not _written_from(kernel, np.array([-1.0, 0.25, 0.5, 0.25]), "fixed<4,1,TRN,WRAP,0>")  # -0.02 -> 0.25
    assert not _written_from(kernel, np.array([-1.0, 0.25, 0.5]), "fixed<4,1,TRN,WRAP,0>")
    assert not _written_from(kernel, np.zeros(4), "float")
    bare = tmp_path / "bare"
    shutil.copytree(design.root, bare)
    fa.Design(bare).layout.keras_model.unlink()
    got = {(p.layer, p.kind): p for p in fa.profile(bare, x, engine="emulator").profiles}
    assert [got[(name, "weights")].underflowed for name in ("fc1", "fc2", "fc3", "out")] == [None] * 4


def test_reference_kernels_read_from_the_h5_without_keras(project, tmp_path):
    """The profile of a project reads its reference model's kernels as arrays (h5py): the same float kernels
    Keras holds, nothing for layers without one or a file that is not a model, and no TensorFlow import —
    `fpga-accel profile PROJECT` does not pay ~4 s (or run a model's code) to count weight underflow."""
    import subprocess
    import sys

    from fpga_accel.model_io import h5_kernels

    design, _, out = project
    model = qmlp()
    kernels = h5_kernels(design.layout.keras_model)
    assert sorted(kernels) == ["fc1", "fc2", "fc3", "out"]
    for name, kernel in kernels.items():
        assert kernel.dtype == np.float64 and np.array_equal(kernel, model.get_layer(name).get_weights()[0])
    (tmp_path / "not_a_model.h5").write_bytes(b"print('hello')\n")
    assert h5_kernels(tmp_path / "not_a_model.h5") == {}
    code = ("import sys, numpy as np, fpga_accel as fa\n"
            f"fig = fa.profile({str(design.root)!r}, np.load({str(out / 'x.npy')!r}), engine='emulator')\n"
            "w = {p.layer: p.underflowed for p in fig.profiles if p.kind == 'weights'}\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'qkeras') if m in sys.modules), w['fc1'] is not None)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[-2] == "[] True"


def test_before_cast_only_where_known():
    from fpga_accel.analysis.profile import _before_cast

    layers = [{"name": "x", "class": "Input"},
              {"name": "d", "class": "Dense", "types": {"result_t": {"precision": "fixed<8,2>", "rule": "the configuration"}}},
              {"name": "r", "class": "Activation", "activation": "relu"},
              {"name": "e", "class": "Dense", "types": {"result_t": {"precision": "fixed<20,8>", "rule": "exact sum: ..."}}},
              {"name": "s", "class": "Activation", "activation": "sigmoid"}]
    values = {n: np.array([[-0.5, 0.25]]) for n in ("d", "r", "e", "s")}
    before = _before_cast(layers, values, {"x": np.array([[0.1, 0.2]])})
    assert set(before) == {"x", "r", "e"}  # d: a configured type rounds, values before it unknown; s: a table
    assert before["r"].tolist() == [[0.0, 0.25]] and before["e"] is values["e"]


def test_profile_of_a_keras_model_uses_the_types_convert_would_derive(project):
    """No project, no compile: the types of one in-memory conversion, the model's own values — float kernels
    before the kernel quantizer, so their underflow is the quantizer's."""
    design, x, _ = project
    model = qmlp()
    fig = fa.profile(model, x)
    got = {(p.layer, p.kind): p for p in fig.profiles}
    ours = {(p.layer, p.kind): p for p in fa.profile(design, x, engine="emulator").profiles}
    assert list(got) == list(ours)
    for key, p in got.items():
        assert p.precision == ours[key].precision
    kernel = model.get_layer("fc1").kernel.numpy().astype(np.float64)
    w = got[("fc1", "weights")]
    assert np.array_equal(w.values, kernel.ravel())
    assert w.underflowed == np.count_nonzero((kernel != 0) & (np.abs(kernel) < w.step)) / kernel.size > 0
    for layer in ("relu1", "relu2", "relu3"):  # the model's ReLU inputs are the design's exact sums
        assert got[(layer, "activations")].underflowed == ours[(layer, "activations")].underflowed
    for layer in ("fc1", "fc2", "fc3", "out"):  # the design's weights: the same float kernels, kept in the project
        assert got[(layer, "weights")].underflowed == ours[(layer, "weights")].underflowed
    assert "the types converting it would derive" in fig._suptitle.get_text()
    _, _, out = project  # the CLI takes the model file in place of a project
    model.save(out / "qmlp.h5")
    assert main(["profile", str(out / "qmlp.h5"), "--input", str(out / "x.npy"), "-o", str(out / "model.svg")]) == 0
    assert (out / "model.svg").read_text().count('id="type-min"') == len(got)
    assert main(["profile", str(out / "qmlp.h5"), "--input", str(out / "x.npy"), "-o", str(out / "m2.svg"),
                 "--engine", "csim"]) == 1
    with pytest.raises(fa.ConfigError, match="config and calibration are for profiling a Keras model"):
        fa.profile(design, x, config=fa.ConvertConfig(name="p"))
    with pytest.raises(fa.ConfigError, match="a Keras/QKeras model, got int"):
        fa.profile(3, x)
