"""What goes onto a board: the bundle, the runtime-only wheel and the board notebook — staged in a folder
for ``deploy``, or packed as a .tar.gz for boards reached by SD card (``fpga-accel package``)."""
from __future__ import annotations

import logging
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Tuple

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


def plain_tree(source: Path) -> Iterator[Tuple[Path, bool]]:
    """Every entry under the folder ``source`` as (path relative to it, is a folder), folders before what
    they hold; anything but folders and regular files is refused.

    A bundle goes into a .tar.gz and onto a board: a symbolic link in it (``notes.txt -> ~/.ssh/id_ed25519``)
    would carry its target's bytes there, so links are refused, never followed — which also makes a link
    loop one line, not 40 levels of recursion. FIFOs and devices are refused too (reading one can block
    forever)."""
    source = Path(source)
    pending = [Path(".")]
    while pending:  # iterative: no nesting depth raises RecursionError
        relative = pending.pop()
        folder = source / relative
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise ConfigError(f"cannot read {folder}: {exc.strerror or exc}") from None
        for entry in entries:
            path = Path(entry.path)
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise ConfigError(f"{path} is a symbolic link (to {os.readlink(path)!r}): a bundle holds plain "
                                  "files only, links are refused; put the file itself there")
            if stat.S_ISDIR(mode):
                pending.append(relative / entry.name)
                yield relative / entry.name, True
            elif stat.S_ISREG(mode):
                yield relative / entry.name, False
            else:
                raise ConfigError(f"{path} is not a regular file or folder (a FIFO, socket or device): refused")


def check_plain_tree(source: Path) -> None:
    """Refuse, before any work, a folder ``copy_plain_tree`` would refuse."""
    for _ in plain_tree(source):
        pass


def copy_plain_tree(source: Path, target: Path, skip: Iterable[str] = (".so", ".o")) -> None:
    """Copy the folder ``source`` to ``target`` (created) without following links: ``plain_tree``.
    Files ending in ``skip`` (build products) are left out."""
    source, target, skip = Path(source), Path(target), tuple(skip)
    target.mkdir(parents=True, exist_ok=False)
    for relative, is_folder in plain_tree(source):
        if is_folder:
            (target / relative).mkdir()
        elif not relative.name.endswith(skip):
            shutil.copyfile(source / relative, target / relative, follow_symlinks=False)


def stage_board_files(bundle: Bundle, staging: Path) -> None:
    """Copy the bundle (plain files only: ``copy_plain_tree``), a freshly built runtime wheel and the board
    notebook into ``staging``."""
    copy_plain_tree(bundle.root, staging / bundle.manifest.name)
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


__all__ = ["NOTEBOOK", "check_plain_tree", "copy_plain_tree", "plain_tree", "open_bundle", "sd_card_package", "stage_board_files"]
