"""fpga_accel: Keras → QKeras → hls4ml → PYNQ-Z2, with bit-exact C simulation everywhere.

Imports nothing heavy: TensorFlow, QKeras and hls4ml load inside the stages that need them, so the
CLI starts fast and ``fpga_accel.runtime`` runs on a PYNQ board with numpy + pynq only.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import (BoardError, BuildError, ConfigError, FpgaAccelError, InputError, NotExactError,
                     ToolNotFoundError)

__version__ = "0.1.0"

_LAZY = {
    "quantize": "fpga_accel.stages.quantize",
    "convert": "fpga_accel.stages.convert",
    "Design": "fpga_accel.stages.csim",
    "AgreementReport": "fpga_accel.stages.csim",
    "QuantizeConfig": "fpga_accel.config",
    "ConvertConfig": "fpga_accel.config",
    "load_project_file": "fpga_accel.config",
    "BOARDS": "fpga_accel.boards",
    "get_board": "fpga_accel.boards",
    "load_model": "fpga_accel.model_io",
    "save_model": "fpga_accel.model_io",
    "estimate": "fpga_accel.analysis.estimate",
    "build": "fpga_accel.stages.build",
    "make_bundle": "fpga_accel.stages.package",
    "deploy": "fpga_accel.stages.deploy",
    "Remote": "fpga_accel.stages.deploy",
    "package": "fpga_accel.stages.deploy",
    "run_sweep": "fpga_accel.sweep",
    "SweepSpec": "fpga_accel.sweep",
    "Accelerator": "fpga_accel.runtime.accelerator",
}

__all__ = sorted([*_LAZY, "BoardError", "BuildError", "ConfigError", "FpgaAccelError",
                  "InputError", "NotExactError", "ToolNotFoundError", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fpga_accel' has no attribute {name!r}")
