"""Multi-input and multi-output models on the board: one DMA stream per direction, inputs (outputs) one
after another in model.inputs (model.outputs) order, each flattened in C order."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.errors import ConfigError, InputError
from fpga_accel.runtime import Accelerator
from fpga_accel.runtime.manifest import Manifest
from fpga_accel.runtime.selftest import selftest
from fpga_accel.runtime.streams import pack_inputs, split_stream
from fpga_accel.stages.bundle import make_bundle
from conftest import stand_in_bitstream
from models import two_input, two_output

TABLE = [{"name": "a", "shape": [2, 2]}, {"name": "b", "shape": [3]}]


def test_stream_order_is_inputs_then_c_order():
    a = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    b = 100 + np.arange(6, dtype=np.float32).reshape(2, 3)
    packed = pack_inputs([a, b], TABLE)
    assert packed.tolist() == [[0, 1, 2, 3, 100, 101, 102], [4, 5, 6, 7, 103, 104, 105]]
    back = split_stream(packed, TABLE)
    assert np.array_equal(back[0], a) and np.array_equal(back[1], b)


def test_inputs_refused_before_any_transfer():
    a, b = np.zeros((2, 2, 2)), np.zeros((2, 3))
    with pytest.raises(InputError, match=r"takes 2 inputs as a list \[a, b\]"):
        pack_inputs(a, TABLE)
    with pytest.raises(InputError, match="input 'b': input has shape"):
        pack_inputs([a, np.zeros((2, 4))], TABLE)
    with pytest.raises(InputError, match="different batch sizes"):
        pack_inputs([a, np.zeros((3, 3))], TABLE)


def _record(**changes):
    data = {"format": 2, "name": "m", "project_name": "m", "board": "pynq-z2", "part": "xc7z020clg400-1",
            "board_part": "tul.com.tw:pynq-z2:part0:1.0", "clock_period": 10.0, "io_type": "io_parallel",
            "strategy": "latency", "reuse_factor": 1, "default_precision": "fixed<16,6>",
            "input_precision": "fixed<8,2>", "output_precision": "fixed<16,6>", "softmax": "design",
            "input_shape": [7], "output_shape": [3]}
    return {**data, **changes}


def test_manifest_records_order_and_old_ones_stay_readable():
    old = Manifest.from_dict(_record(input_shape=[4], output_shape=[3]))
    assert old.inputs == [] and old.outputs == []
    new = Manifest.from_dict(_record(inputs=TABLE, outputs=[{"name": "y", "shape": [3]}]))
    assert new.inputs == TABLE
    with pytest.raises(ConfigError, match="inputs add up to 7 values per sample, input_shape \\[6\\] says 6"):
        Manifest.from_dict(_record(input_shape=[6], inputs=TABLE))
    with pytest.raises(ConfigError, match=r"inputs\[1\]"):
        Manifest.from_dict(_record(inputs=[TABLE[0], {"name": "b", "shape": [0]}]))


@pytest.mark.slow  # four csim libraries (two models, two io types)
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("kind", ["two_input", "two_output"])
def test_multi_port_models_bit_exact_on_simulated_board(tmp_path, io_type, kind):
    model = {"two_input": two_input, "two_output": two_output}[kind]()
    design = fa.convert(model, fa.ConvertConfig(name="mio", io_type=io_type, output_dir=tmp_path / "hls",
                                                verify_samples=64))
    assert design.meta.fidelity["bit_exact"] == 1.0
    bit, hwh = stand_in_bitstream(tmp_path)
    bundle = make_bundle(design, bit, hwh, tmp_path / "bitstreams", model=model)
    manifest = json.loads((bundle / "manifest.json").read_text())
    if kind == "two_input":
        assert manifest["inputs"] == [{"name": "a", "shape": [4]}, {"name": "b", "shape": [3]}]
        assert manifest["input_shape"] == [7] and manifest["outputs"] == [{"name": "head", "shape": [3]}]
    else:
        assert manifest["inputs"] == [{"name": "x", "shape": [6]}]
        assert manifest["outputs"] == [{"name": "y1", "shape": [3]}, {"name": "y2", "shape": [2]}]
        assert manifest["output_shape"] == [5]
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-5, 5, (300,) + tuple(t.shape[1:])).astype(np.float32) for t in model.inputs]
    x = xs if len(xs) > 1 else xs[0]
    ref = model.predict(x, verbose=0)
    refs = ref if isinstance(ref, list) else [ref]
    for backend in ("csim", "simulated"):
        with Accelerator.open(bundle, backend=backend, max_batch=64) as acc:
            y = acc.predict(x)  # 300 samples in DMA chunks of 64 on the simulated board
        ys = y if kind == "two_output" else [y]
        assert isinstance(y, list) == (kind == "two_output")
        assert [o.shape for o in ys] == [r.shape for r in refs]
        for ours, theirs in zip(ys, refs):
            assert np.array_equal(ours, theirs), backend
    design_y = design.predict(x)
    for ours, theirs in zip(design_y if kind == "two_output" else [design_y], refs):
        assert np.array_equal(ours, theirs)
    assert design.compare(model, x).bit_exact == 1.0
    result = selftest(bundle, backend="simulated")
    assert result.bit_exact == 1.0 and result.max_abs_diff == 0.0
