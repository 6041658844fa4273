"""Load and save Keras/QKeras models and .npz/.npy data, with errors that say what is wrong."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, InputError
from .layout import refuse_overwrite

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_model(path: str | Path) -> Any:
    """Load a float Keras or a QKeras model (.h5/.keras) with QKeras' custom objects registered."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist")
    if path.suffix not in (".h5", ".keras", ".hdf5"):
        raise ConfigError(f"{path}: expected a Keras model file (.h5 or .keras)")
    from qkeras.utils import load_qmodel

    try:
        return load_qmodel(str(path), compile=False)
    except Exception as exc:  # Keras raises many kinds here; keep the cause
        raise ConfigError(f"cannot load Keras model {path}: {exc}") from exc


def save_model(model: Any, path: str | Path, force: bool = False) -> Path:
    path = Path(path)
    refuse_overwrite(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path), include_optimizer=False)
    return path


def ends_in_softmax(model: Any) -> bool:
    """The model's last layer is a softmax (a Softmax layer, or any layer with activation='softmax')."""
    last = model.layers[-1]
    return type(last).__name__ == "Softmax" or last.get_config().get("activation") == "softmax"


def model_hash(model: Any) -> str:
    """sha256 over architecture and weights: identifies the model a design came from."""
    digest = hashlib.sha256(model.to_json().encode())
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def load_array(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise InputError(f"{path}: expected an array named 'x' (found {sorted(data.files)})")
            return data["x"]
    raise InputError(f"{path}: expected a .npy or .npz file")


def load_xy(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Training/calibration data: an .npz with ``x`` (and ``y`` for fine-tuning) or an .npy of x."""
    path = Path(path)
    x = load_array(path)
    y = None
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            y = data["y"] if "y" in data else None
    return x, y
