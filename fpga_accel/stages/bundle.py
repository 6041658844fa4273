"""Project + bitstream → deployment bundle (bitstreams/NAME/) that the board runtime opens.

The bundle is self-contained: NAME.bit/NAME.hwh (pynq wants one base name), manifest.json, the design's
C++ (csim fallback and self-test work from the bundle alone) and test vectors with their QKeras outputs.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..board_payload import check_plain_tree, copy_plain_tree
from ..boards import get_board
from ..errors import ConfigError
from ..layout import ProjectLayout, refuse_overwrite, replace_dir, sole_writer
from ..runtime.manifest import MANIFEST, TEST_VECTORS, Manifest, sha256_file
from ..runtime.validate import check_input
from ..design import Design

log = logging.getLogger(__name__)

N_TEST_VECTORS = 32


def make_bundle(design: Design, bit: Path, hwh: Path, output_dir: Path = Path("bitstreams"),
                model: Any = None, x: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
                force: bool = False, extra: Optional[dict] = None) -> Path:
    """Write ``output_dir/NAME/``. Test vectors: ``x`` (default random) with ``model``'s outputs (default:
    the project's reference model) and, when given, the true ``labels`` so the board can report accuracy."""
    name = design.name
    for path in (bit, hwh):
        if not Path(path).is_file():
            raise ConfigError(f"{path} does not exist")
    target = Path(output_dir) / name
    refuse_overwrite(target, force)
    check_plain_tree(design.layout.firmware)  # a link would carry its target into the bundle: before the work
    if model is None:
        from ..model_io import load_model

        model = load_model(design.layout.keras_model)
    if len(design.meta.inputs) > 1 or len(design.meta.outputs) > 1:
        x, y = _port_vectors(design, model, x)
    else:
        if x is None:
            from ..keras_compat import random_model_inputs

            x, _ = random_model_inputs(model, N_TEST_VECTORS)
        x = check_input(x, design.input_shape)[:N_TEST_VECTORS].reshape((-1,) + design.input_shape)  # the board's self-test refuses NaN
        y = np.asarray(model.predict(x, verbose=0), dtype=np.float32)

    manifest = Manifest.for_project(design.meta, bitfile=f"{name}.bit", hwhfile=f"{name}.hwh",
                                    bit_sha256=sha256_file(Path(bit)), hwh_sha256=sha256_file(Path(hwh)),
                                    dma=get_board(design.meta.board).dma_path, extra=dict(extra or {}))

    target.parent.mkdir(parents=True, exist_ok=True)
    with sole_writer(target, "bundle", force):
        _write_bundle(design, bit, hwh, target, manifest, x, y, labels)
    log.info("wrote bundle %s", target)
    return target


def _port_vectors(design: Design, model: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Test vectors of a multi-input/output design as its streams carry them: x (n, stream length in),
    y (n, stream length out) — inputs (outputs) one after another in the manifest's order."""
    from ..runtime.streams import pack_inputs, split_stream

    inputs, outputs = design.meta.inputs, design.meta.outputs
    if x is None:
        from ..keras_compat import random_model_inputs

        x, _ = random_model_inputs(model, N_TEST_VECTORS)
        x = x if isinstance(x, list) else [x]
    elif len(inputs) == 1:
        x = [x]
    packed = pack_inputs(x, inputs)[:N_TEST_VECTORS]
    xs = split_stream(packed, inputs)
    ref = model.predict(xs if len(inputs) > 1 else xs[0], verbose=0)
    ys = ref if isinstance(ref, list) else [ref]
    return packed, np.concatenate([np.asarray(r, dtype=np.float32).reshape(len(packed), -1) for r in ys], axis=1)


def _write_bundle(design: Design, bit: Path, hwh: Path, target: Path, manifest: Manifest, x: np.ndarray,
                  y: np.ndarray, labels: Optional[np.ndarray]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.bundle-", dir=target.parent))
    try:
        shutil.copyfile(bit, staging / manifest.bitfile)
        shutil.copyfile(hwh, staging / manifest.hwhfile)
        firmware = ProjectLayout(staging, design.layout.project_name).firmware  # a bundle reads as a project
        copy_plain_tree(design.layout.firmware, firmware)  # links refused, never followed
        bridge = design.layout.bridge_cpp
        if bridge.is_symlink():
            raise ConfigError(f"{bridge} is a symbolic link: a bundle holds plain files only; put the file itself there")
        shutil.copyfile(bridge, staging / bridge.name)
        vectors = {"x": x, "y": y}
        if labels is not None:
            vectors["labels"] = np.asarray(labels)[:len(x)]
        np.savez(staging / TEST_VECTORS, **vectors)

        manifest.write_file(staging / MANIFEST)
        replace_dir(staging, target)  # the bundle appears whole or not at all; the old one stays until then
    finally:
        if staging.exists():
            shutil.rmtree(staging)
