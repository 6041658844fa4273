"""What goes onto a board: the bundle, the runtime-only wheel and the board notebook — staged in a folder
for ``deploy``, or packed as a .tar.gz for boards reached by SD card (``fpga-accel package``)."""
from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError
from .layout import refuse_overwrite, write_atomic
from .runtime.manifest import Bundle
from .runtime_wheel import build_runtime_wheel

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_pynq_z2.ipynb"


def open_bundle(path: Path) -> Bundle:
    """A bundle for the board: an HLS project (which ``Bundle.open`` also reads, for csim) has no bitstream."""
    bundle = Bundle.open(path)
    if bundle.manifest.bitfile is None:
        raise ConfigError(f"{path} is an HLS project, not a bundle: build one with `fpga-accel build` "
                          "(or `fpga-accel bundle` with a .bit/.hwh built elsewhere)")
    return bundle


def stage_board_files(bundle: Bundle, staging: Path) -> None:
    """Copy the bundle, a freshly built runtime wheel and the board notebook into ``staging``."""
    shutil.copytree(bundle.root, staging / bundle.manifest.name, ignore=shutil.ignore_patterns("*.so", "*.o"))
    build_runtime_wheel(staging)
    if NOTEBOOK.is_file():
        shutil.copyfile(NOTEBOOK, staging / NOTEBOOK.name)
    else:
        log.warning("board notebook %s not found (installed without the source tree): not copied", NOTEBOOK)


def sd_card_package(bundle_path: Path, output: Path, force: bool = False) -> Path:
    """A .tar.gz with the bundle, the runtime wheel and the board notebook, for boards reached by SD card."""
    bundle = open_bundle(bundle_path)
    refuse_overwrite(output, force)
    with tempfile.TemporaryDirectory(prefix="fpga_accel_pkg_") as tmp:
        staging = Path(tmp)
        stage_board_files(bundle, staging)
        (staging / "INSTALL.txt").write_text(
            "On the PYNQ board:\n"
            "  python3 -m pip install --no-deps fpga_accel-*.whl\n"
            f"  python3 -m fpga_accel.runtime selftest {bundle.manifest.name}\n")
        def pack(f: BinaryIO) -> None:
            with tarfile.open(fileobj=f, mode="w:gz") as tar:
                for item in sorted(staging.iterdir()):
                    tar.add(item, arcname=f"{bundle.manifest.name}/{item.name}")

        write_atomic(output, pack)
    return output


__all__ = ["NOTEBOOK", "open_bundle", "sd_card_package", "stage_board_files"]
