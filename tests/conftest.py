"""Shared fixtures: a per-session csim cache, small QKeras models with random weights, a converter."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A fresh csim cache for the test session: tests see real builds, and reuse within the session.
os.environ["FPGA_ACCEL_CACHE"] = tempfile.mkdtemp(prefix="fpga_accel_cache_")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def build(tmp_path):
    """Convert a model into tmp_path and compile its csim: build(model, name, **ConvertConfig kwargs)."""
    import fpga_accel as fa

    def _build(model, name="design", calibration=None, **kwargs):
        config = fa.ConvertConfig(name=name, output_dir=tmp_path / "hls_projects", **kwargs)
        design = fa.convert(model, config, calibration=calibration)
        design.compile()
        return design

    return _build
