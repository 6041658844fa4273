"""Someone else's hls4ml project is data (issue 23): its sizes are parsed as C constant expressions and never
run; what cannot be read is reported NOT COSTED (verdict UNCERTAIN), never guessed; and projects of hls4ml
0.5/0.6 (sizes as ``#define`` macros) are costed through their macros."""
from __future__ import annotations

import builtins
import importlib.util
import re
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

import fpga_accel as fa
from fpga_accel.hls.foreign_project import read_hls4ml_project
from robustness_helpers import run_cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "hls4ml_06_project"
NARROW_MARGIN = 3.0  # the narrow copy fits this margin of the xc7z020 for sure (upper end of the band included)


def _copy(tmp_path: Path, narrow: bool = True) -> Path:
    """The fixture, with 6-bit weights when ``narrow`` (LUT products: a design that FITS with the margin)."""
    prj = shutil.copytree(FIXTURE, tmp_path / "prj")
    if narrow:
        defines = prj / "firmware" / "defines.h"
        text = re.sub(r"typedef \w+(<16,6>)? (weight\d+_t);", r"typedef ap_fixed<6,1> \2;", defines.read_text())
        defines.write_text(text)
    return prj


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _payloads(canary: Path) -> list[str]:
    return [f"__import__('os').system('touch {canary}')",
            f"os.system(\"touch {canary}\")",
            f"$(touch {canary})",
            f"`touch {canary}`",
            f"(lambda: __import__('os').system('touch {canary}'))()",
            f"16 + __import__('subprocess').call(['touch', '{canary}'])",
            f"eval(\"open('{canary}', 'w')\")",
            # out of an eval with no builtins, through object's subclasses
            "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
            f"._module.__builtins__['__import__']('os').system('touch {canary}')"]


def test_the_narrow_fixture_fits_so_uncertain_below_means_not_costed(tmp_path):
    est = fa.estimate(_copy(tmp_path), margin=NARROW_MARGIN)
    assert est.verdict == "FITS" and not est.unknown_layers


@pytest.mark.parametrize("where", ["field", "macro"])
def test_hostile_sizes_run_nothing_and_are_not_costed(tmp_path, monkeypatch, where):
    canary = tmp_path / "canary"

    class CalledEval(BaseException):  # not an Exception: a broad ``except Exception`` cannot hide it
        pass

    def refuse(*args, **kwargs):
        raise CalledEval("the parser called eval/exec")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    for i, payload in enumerate(_payloads(canary)):
        prj = _copy(tmp_path / str(i))
        if where == "field":
            _edit(prj / "firmware" / "parameters.h", "static const unsigned n_in = N_LAYER_2;",
                  f"static const unsigned n_in = {payload};")
        else:
            _edit(prj / "firmware" / "defines.h", "#define N_LAYER_2 32", f"#define N_LAYER_2 {payload}")
        layers = {l["name"]: l for l in read_hls4ml_project(prj)["layers"]}
        est = fa.estimate(prj, margin=NARROW_MARGIN)
        assert not canary.exists(), payload
        assert layers["fc2"]["not_costed"].startswith("size n_in = "), payload
        assert "fc2" in est.unknown_layers and est.verdict == "UNCERTAIN", payload
        if where == "macro":  # fc1's n_out names the same macro
            assert set(est.unknown_layers) == {"fc1", "fc2"}
        row = next(l for l in est.layers if l.name == "fc2")
        assert row.flag.startswith("not costed: size n_in = ")


def test_hostile_sizes_through_the_cli(tmp_path):
    canary = tmp_path / "canary"
    for i, payload in enumerate(_payloads(canary)[:4]):
        prj = _copy(tmp_path / str(i))
        _edit(prj / "firmware" / "parameters.h", "static const unsigned n_in = N_LAYER_2;",
              f"static const unsigned n_in = {payload};")
        result = run_cli(["estimate", prj, "--margin", NARROW_MARGIN])
        assert not canary.exists(), payload
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
        lines = result.stdout.splitlines()
        assert lines[-1].startswith("UNCERTAIN: "), lines[-1]
        flagged = [line for line in lines if "! not costed: size n_in = " in line]
        assert len(flagged) == 1 and flagged[0].startswith("fc2 ")
        assert sum(line.startswith("NOT COSTED: ") and "fc2" in line for line in lines) == 1


def _expected_products(prj: Path, index: str) -> tuple[int, int]:
    """(non-zero, non-zero ±2^k) weights of weights/w<index>.txt, read exactly (they are multiples of 1/16)."""
    values = [Fraction(v.strip()) for v in (prj / "firmware" / "weights" / f"w{index}.txt").read_text().split(",")]
    assert all((v * 16).denominator == 1 for v in values)
    nonzero = [abs(v * 16).numerator for v in values if v]
    return len(nonzero), sum(n & (n - 1) == 0 for n in nonzero)


def test_an_hls4ml_06_project_is_costed_through_its_macros(tmp_path):
    """hls4ml <= 0.6 wrote sizes as macros: every Dense used to be costed as one product (the macro names
    were not resolved) and the design said FITS; now each is costed with its real products."""
    prj = _copy(tmp_path, narrow=False)
    design = read_hls4ml_project(prj)
    layers = {l["name"]: l for l in design["layers"]}
    assert [l["name"] for l in design["layers"]] == ["fc1_input", "fc1", "relu1", "fc2", "relu2", "output", "softmax"]
    assert layers["fc1_input"]["shape"] == [16]
    est = fa.estimate(prj)
    rows = {l.name: l for l in est.layers}
    for name, index, n_in, n_out in (("fc1", "2", 16, 32), ("fc2", "5", 32, 16), ("output", "8", 16, 5)):
        assert (layers[name]["n_in"], layers[name]["n_out"], layers[name]["n_weights"]) == (n_in, n_out, n_in * n_out)
        nonzero, pow2 = _expected_products(prj, index)
        assert (layers[name]["n_nonzero_weights"], layers[name]["n_pow2_weights"]) == (nonzero, pow2)
        # 16-bit operands, RF 1: every non-zero weight is a product, all but the shifts on DSPs
        assert rows[name].multiplications == nonzero and rows[name].multipliers == nonzero - pow2
        assert rows[name].mapped_to == "DSP" and not rows[name].flag
    # ~1,000 16-bit products (a share of them built in LUTs by HLS, see estimate.TERMS): far from the one
    # product per layer the old parser costed (DSP 5, FITS) — DSP is now the resource that decides the
    # verdict, and its largest layer is the widest Dense
    assert est.total["dsp"] > 100
    assert "largest use is DSP, dominated by layer fc1" in est.format()


def test_the_older_style_without_layer_names_is_costed_the_same(tmp_path):
    """hls4ml 0.1–0.4: ``nnet::dense_latency`` calls, no layer-name comments (names come from the comment
    above the config struct, else the output variable); ``dense_large`` was the Resource strategy."""
    reference = fa.estimate(_copy(tmp_path / "ref", narrow=False))
    prj = _copy(tmp_path / "old", narrow=False)
    cpp = prj / "firmware" / "myproject.cpp"
    cpp.write_text(re.sub(r"\); // \w+", ");", cpp.read_text().replace("nnet::dense<", "nnet::dense_latency<")))
    assert fa.estimate(prj).total == reference.total
    params = prj / "firmware" / "parameters.h"
    params.write_text(re.sub(r"^// \w+\n", "", params.read_text(), flags=re.M))
    names = [l["name"] for l in read_hls4ml_project(prj)["layers"]]
    assert names == ["fc1_input", "layer2", "layer4", "layer5", "layer7", "layer8", "layer10"]
    assert fa.estimate(prj).total == reference.total
    cpp.write_text(cpp.read_text().replace("layer5_out, w5, b5);", 'layer5_out, w5, b5);\n#ifndef __SYNTHESIS__\n'
                                           '    nnet::save_layer_output<layer5_t>(layer5_out, "q_dense_1", N_LAYER_5);\n'
                                           '#endif'))
    assert [l["name"] for l in read_hls4ml_project(prj)["layers"]][3] == "q_dense_1"  # named by its csim trace
    cpp.write_text(cpp.read_text().replace("nnet::dense_latency<layer4_t", "nnet::dense_large<layer4_t"))
    assert {l["name"]: l.get("strategy") for l in read_hls4ml_project(prj)["layers"]}["q_dense_1"] == "resource"


def test_an_unknown_weight_type_through_the_cli(tmp_path):
    prj = _copy(tmp_path)
    _edit(prj / "firmware" / "defines.h", "typedef ap_fixed<6,1> weight5_t;", "typedef my_weird_t weight5_t;")
    result = run_cli(["estimate", prj, "--margin", NARROW_MARGIN])
    assert result.returncode == 0 and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("UNCERTAIN: ")
    assert any(line.startswith("fc2 ") and "! not costed: weight type 'my_weird_t' not understood" in line
               for line in lines)


# -- projects the model does not describe (the calibration set's scope rule, applied to a project) -------------

def _hls4ml_nnet_utils() -> Path:
    """The nnet_utils of the installed hls4ml (found without importing it: no TensorFlow start-up)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        pytest.skip("hls4ml not installed")
    return Path(spec.origin).parent / "templates" / "vivado" / "nnet_utils"


def _with_nnet_utils(tmp_path: Path) -> Path:
    prj = _copy(tmp_path)
    shutil.copytree(_hls4ml_nnet_utils(), prj / "firmware" / "nnet_utils")
    return prj


def test_released_nnet_utils_keep_the_fit(tmp_path):
    """Headers of a released hls4ml are in scope, also with comments, whitespace and line ends changed."""
    prj = _with_nnet_utils(tmp_path)
    assert "out_of_scope" not in read_hls4ml_project(prj)
    header = prj / "firmware" / "nnet_utils" / "nnet_dense_latency.h"
    header.write_bytes(b"// reformatted by an editor\r\n" + header.read_bytes().replace(b"\n", b"  \r\n"))
    est = fa.estimate(prj, margin=NARROW_MARGIN)
    assert est.verdict == "FITS" and est.out_of_scope == ""


def test_modified_nnet_utils_are_uncertain_with_the_reason(tmp_path):
    prj = _with_nnet_utils(tmp_path)
    reference = fa.estimate(prj, margin=NARROW_MARGIN)
    assert reference.verdict == "FITS"
    _edit(prj / "firmware" / "nnet_utils" / "nnet_dense_latency.h", "PIPELINE II=CONFIG_T::reuse_factor",
          "PIPELINE II=1")
    est = fa.estimate(prj, margin=NARROW_MARGIN)
    assert est.verdict == "UNCERTAIN" and est.total == reference.total
    assert est.out_of_scope.startswith("modified nnet_utils: nnet_dense_latency.h matches no commit of "
                                       "fastmachinelearning/hls4ml")
    result = run_cli(["estimate", prj, "--margin", NARROW_MARGIN])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("UNCERTAIN: ")
    assert sum(line.startswith("OUT OF SCOPE: modified nnet_utils: nnet_dense_latency.h ") for line in lines) == 1


def test_a_header_the_design_does_not_include_is_not_judged(tmp_path):
    prj = _with_nnet_utils(tmp_path)
    _edit(prj / "firmware" / "nnet_utils" / "nnet_garnet.h", "#pragma HLS", "#pragma HLS INLINE\n#pragma HLS")
    assert fa.estimate(prj, margin=NARROW_MARGIN).verdict == "FITS"


@pytest.mark.parametrize("call", ["dense_large", "dense_latency"])
def test_hls4ml_older_than_05_calls_are_uncertain(tmp_path, call):
    """hls4ml < 0.5 wrote the strategy into the kernel's name (``nnet::dense_large``, ``dense_latency``):
    kernels the model was not fitted on, even where the sizes are costed."""
    prj = _copy(tmp_path)
    cpp = prj / "firmware" / "myproject.cpp"
    cpp.write_text(cpp.read_text().replace("nnet::dense<layer4_t", f"nnet::{call}<layer4_t"))
    est = fa.estimate(prj, margin=NARROW_MARGIN)
    assert est.verdict == "UNCERTAIN" and not est.unknown_layers
    assert est.out_of_scope == (f"hls4ml older than 0.5: its layer calls (nnet::{call}) are the pre-0.5 kernels "
                                "the estimator was not fitted on")
    assert "OUT OF SCOPE: hls4ml older than 0.5" in est.format()


def test_hls4ml_older_than_05_headers_are_uncertain(tmp_path):
    prj = _with_nnet_utils(tmp_path)
    (prj / "firmware" / "nnet_utils" / "nnet_dense_large.h").write_text("#ifndef NNET_DENSE_LARGE_H_\n#endif\n")
    _edit(prj / "firmware" / "parameters.h", '#include "nnet_utils/nnet_dense.h"',
          '#include "nnet_utils/nnet_dense.h"\n#include "nnet_utils/nnet_dense_large.h"')
    est = fa.estimate(prj, margin=NARROW_MARGIN)
    assert est.verdict == "UNCERTAIN"
    assert est.out_of_scope == "hls4ml older than 0.5: it includes nnet_dense_large.h (the pre-0.5 'large' kernels)"


def test_out_of_scope_is_never_does_not_fit_either(tmp_path):
    """The fitted constants do not speak for an out-of-scope design: a large central estimate is no DOES NOT FIT."""
    prj = _copy(tmp_path, narrow=False)
    cpp = prj / "firmware" / "myproject.cpp"
    cpp.write_text(cpp.read_text().replace("nnet::dense<layer4_t", "nnet::dense_large<layer4_t"))
    est = fa.estimate(prj, margin=0.01)
    assert est.verdict == "UNCERTAIN" and est.out_of_scope
