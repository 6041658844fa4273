"""``fa.profile(design_or_model, x)``: the one entry for profiling, a design or a model not converted yet.

Why a module of its own: drawing and counting are analysis (``analysis.profile``, read-only, never a
stage), but a Keras model's types are the ones converting it derives — one in-memory conversion
(``stages.convert.probe_layers``, as ``fit`` uses: nothing written, nothing compiled). This joins the two.
"""
from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["profile", "profile_data"]


def _layers(design_or_model: Any, engine: Any, config: Any, calibration: Any) -> Any:
    """The per-layer records of converting a model (with ``config``/``calibration`` as convert would get
    them); None for a design, which has its own."""
    from .analysis.profile import is_model

    if not is_model(design_or_model):
        if config is not None or calibration is not None:
            raise ConfigError("config and calibration are for profiling a Keras model: a converted design has "
                              "its types already")
        return None
    if engine is not None:  # before the conversion
        raise ConfigError("engine is for a converted design: a Keras model's activations are its own")
    from .config import ConvertConfig
    from .stages.convert import probe_layers

    return probe_layers(design_or_model, config or ConvertConfig(name="profile"), calibration)


def profile(design_or_model: Any, x: Any, engine: str | None = None, *, config: Any = None,
            calibration: Any = None) -> Any:
    """One matplotlib Figure: per layer, weights and activations on ``x`` against the layer's type (see
    ``analysis.profile``). ``design_or_model``: a ``Design``, a project folder, or a Keras/QKeras model
    (``config``, a ``ConvertConfig``, and ``calibration``: what convert would be given; the types depend
    on them). ``engine`` (csim, emulator, auto) is for a design."""
    from .analysis.profile import profile as draw

    return draw(design_or_model, x, engine, layers=_layers(design_or_model, engine, config, calibration))


def profile_data(design_or_model: Any, x: Any, engine: str | None = None, *, config: Any = None,
                 calibration: Any = None) -> Any:
    """The numbers of :func:`profile` (a list of ``ValueProfile``), without drawing."""
    from .analysis.profile import profile_data as data

    return data(design_or_model, x, engine, layers=_layers(design_or_model, engine, config, calibration))
