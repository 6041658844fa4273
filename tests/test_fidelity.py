"""The fidelity zoo (tests/fidelity_zoo.py): every QKeras model, in both io types, must run in csim bit for bit
like QKeras on arbitrary float inputs — or be refused up front with a ConfigError saying why. A third
oracle on the same projects: the emulator equals csim bit for bit, outputs and every traced layer, on
those inputs and on inputs 4x beyond them (saturation), and so QKeras where csim does.

Marked ``fidelity`` (about 90 conversions): run with ``pytest -m fidelity``, skip with ``-m 'not fidelity'``.
``make fidelity`` measures the same models and writes the table (benchmarks/fidelity.py).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from fidelity_zoo import FLOAT_MODELS, N_SAMPLES, ZOO

IO_TYPES = ["io_parallel", "io_stream"]

pytestmark = pytest.mark.fidelity


def _convert(entry, io_type, tmp_path, seed=0):
    import fpga_accel as fa

    model = entry.model(seed)
    x = entry.inputs(model, seed, n=N_SAMPLES)
    config = fa.ConvertConfig(name=entry.id, output_dir=tmp_path / "hls_projects", io_type=io_type)
    return model, x, (lambda: fa.convert(model, config, calibration=x))


@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("entry", list(ZOO.values()), ids=list(ZOO))
def test_zoo_model_is_bit_exact_or_refused(entry, io_type, tmp_path):
    import fpga_accel as fa

    model, x, convert = _convert(entry, io_type, tmp_path)
    if entry.refusal is not None:
        with pytest.raises(fa.ConfigError) as info:
            convert()
        assert entry.refusal in str(info.value)
        return
    design = convert()
    design.compile()
    report = design.compare(model, x, engine="csim")
    assert report.bit_exact == 1.0, f"{entry.id} ({entry.kind}), {io_type}:\n{report.format()}"
    _third_oracle(entry, model, x, design)


def _third_oracle(entry, model, x, design):
    """The emulator == csim bit for bit (outputs and every traced layer) on the same inputs and on inputs
    4x beyond them (saturation); == QKeras where csim is (compare with engine="emulator")."""
    beyond = entry.inputs(model, seed=1, n=200) * np.float32(4)
    xs = np.concatenate([x, beyond])
    emulated, compiled = design.predict(xs, engine="emulator"), design.predict(xs, engine="csim")
    exact = np.mean(np.all(emulated.reshape(len(xs), -1) == compiled.reshape(len(xs), -1), axis=1))
    assert exact == 1.0, f"{entry.id}, {design.meta.io_type}: emulator == csim on {exact:.2%} of samples"
    traces, csim_traces = design.trace(xs, engine="emulator").layers, design.trace(xs, engine="csim").layers
    assert sorted(traces) == sorted(csim_traces)
    for layer, values in csim_traces.items():
        assert np.array_equal(traces[layer], values), f"{entry.id}, {design.meta.io_type}: layer {layer} differs"
    report = design.compare(model, x, engine="emulator")
    assert report.bit_exact == 1.0, f"{entry.id}, emulator vs QKeras:\n{report.format()}"


@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("entry", list(FLOAT_MODELS.values()), ids=list(FLOAT_MODELS))
def test_float_model_agrees_on_argmax(entry, io_type, tmp_path):
    model, x, convert = _convert(entry, io_type, tmp_path)
    design = convert()
    design.compile()
    report = design.compare(model, x, engine="csim")
    text = report.format()  # the printed figure is the measured one (not only its label)
    shown = re.search(r"argmax agreement\s+([0-9.]+)%", text)
    assert shown is not None and shown[1] == f"{report.argmax_agreement * 100:.2f}", text
    assert report.argmax_agreement >= 0.99, f"{entry.id} ({entry.kind}), {io_type}:\n{text}"
    xs = np.concatenate([x, entry.inputs(model, seed=1, n=200) * np.float32(4)])
    from fpga_accel.runtime.emulator import NotEmulated

    try:  # a float model's derived types can exceed float64's 53 bits: then the emulator refuses, loudly
        emulated = design.predict(xs, engine="emulator")
    except NotEmulated as exc:
        assert "53 bits" in exc.reason or "beyond float64" in exc.reason, exc.reason
        assert np.array_equal(design.predict(xs), design.predict(xs, engine="csim"))  # auto falls back to csim
    else:
        assert np.array_equal(emulated, design.predict(xs, engine="csim"))
