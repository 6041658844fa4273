"""fpga_accel: Keras → QKeras → hls4ml → PYNQ-Z2, with bit-exact C simulation everywhere.

Imports nothing heavy: TensorFlow, QKeras and hls4ml load inside the stages that need them, so the
CLI starts fast and ``fpga_accel.runtime`` runs on a PYNQ board with numpy + pynq only.

The runtime-only wheel that ``deploy`` installs on a board ships this file, ``errors``, ``layout`` and
``runtime/`` (``runtime_wheel.py``): there ``__all__`` and ``dir()`` list only the names whose modules it
ships, and a host-pipeline name raises an ImportError that says to use the host install.
"""
from __future__ import annotations

from importlib import import_module
from importlib.machinery import PathFinder
from typing import Any

from .errors import (BoardError, BuildError, ConfigError, FpgaAccelDeprecationWarning, FpgaAccelError,
                     Hls4mlChangedError, InputError, NotExactError, SelfTestError, ToolNotFoundError)

__version__ = "0.1.0"

_HOST_INSTALL = "pip install 'fpga-accel[host]'"

_LAZY = {
    "quantize": "fpga_accel.stages.quantize",
    "convert": "fpga_accel.stages.convert",
    "Design": "fpga_accel.design",
    "AgreementReport": "fpga_accel.design",
    "Trace": "fpga_accel.design",
    "QuantizeConfig": "fpga_accel.config",
    "ConvertConfig": "fpga_accel.config",
    "LayerSetting": "fpga_accel.config",
    "fit": "fpga_accel.stages.convert",
    "FitResult": "fpga_accel.fit_search",
    "load_project_file": "fpga_accel.config",
    "BOARDS": "fpga_accel.boards",
    "Board": "fpga_accel.boards",
    "get_board": "fpga_accel.boards",
    "register_board": "fpga_accel.boards",
    "register_build_flow": "fpga_accel.stages.build",
    "load_model": "fpga_accel.model_io",
    "save_model": "fpga_accel.model_io",
    "estimate": "fpga_accel.analysis.estimate",
    "profile": "fpga_accel.profiling",
    "build": "fpga_accel.stages.build",
    "make_bundle": "fpga_accel.stages.bundle",
    "csim": "fpga_accel.stages.csim",
    "run_flow": "fpga_accel.flow",
    "FlowConfig": "fpga_accel.flow",
    "Step": "fpga_accel.flow",
    "STEP_TABLE": "fpga_accel.flow",
    "deploy": "fpga_accel.stages.deploy",
    "Remote": "fpga_accel.stages.deploy",
    "sd_card_package": "fpga_accel.board_payload",
    "run_sweep": "fpga_accel.sweep",
    "SweepSpec": "fpga_accel.sweep",
    "Accelerator": "fpga_accel.runtime.accelerator",
    "SelfTestResult": "fpga_accel.runtime.selftest",
    "Progress": "fpga_accel.runtime.progress",
    "Update": "fpga_accel.runtime.progress",
}


def _ships(module: str) -> bool:
    """Whether this install has ``module``'s file. Found by path, without importing it or its parent
    packages, so ``import fpga_accel`` stays as light on the board as on the host."""
    search: list[str] | None = list(__path__)
    parts = module.split(".")
    for depth in range(2, len(parts) + 1):
        if search is None:  # a plain module where a package was expected
            return False
        spec = PathFinder.find_spec(".".join(parts[:depth]), search)
        if spec is None:
            return False
        search = spec.submodule_search_locations
    return True


_SHIPPED: dict[str, bool] = {module: _ships(module) for module in set(_LAZY.values())}

__all__ = sorted([*(name for name, module in _LAZY.items() if _SHIPPED[module]), "BoardError", "BuildError",
                  "ConfigError", "FpgaAccelDeprecationWarning", "FpgaAccelError", "Hls4mlChangedError", "InputError",
                  "NotExactError", "SelfTestError", "ToolNotFoundError",
                  "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fpga_accel' has no attribute {name!r}")
    if not _SHIPPED[module]:
        # an ImportError, not AttributeError: `from fpga_accel import convert` keeps this message
        raise ModuleNotFoundError(
            f"fpga_accel.{name} belongs to the host pipeline, which this runtime-only install of fpga_accel "
            f"does not ship (no {module}): run it on a host with {_HOST_INSTALL}; on the board use "
            f"fpga_accel.Accelerator", name=module)
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
