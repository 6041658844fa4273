"""A runtime-only wheel of fpga_accel: the package root, errors, layout and runtime/ — numpy (and pynq on
the board) as its only dependencies. Built with zipfile: no build backend or network needed on the host.

The package root's ``__all__`` follows what is installed, so on the board it lists the runtime's names only
and a host-pipeline name (``fpga_accel.convert``) says it needs the host install."""
from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import List, Tuple

import fpga_accel

PACKAGE = Path(fpga_accel.__file__).resolve().parent
RUNTIME_FILES = ("__init__.py", "errors.py", "layout.py", "py.typed")
DIST = "fpga_accel"


def _files() -> List[Tuple[str, bytes]]:
    files = [(f"fpga_accel/{name}", (PACKAGE / name).read_bytes()) for name in RUNTIME_FILES]
    for path in sorted((PACKAGE / "runtime").rglob("*")):  # with hls_csim/, the csim's hls::axis header
        if path.suffix in (".py", ".cpp", ".h") and "__pycache__" not in path.parts:
            files.append((f"fpga_accel/runtime/{path.relative_to(PACKAGE / 'runtime').as_posix()}", path.read_bytes()))
    return files


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_runtime_wheel(out_dir: Path) -> Path:
    version = fpga_accel.__version__
    dist_info = f"{DIST}-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1", "Name: fpga-accel", f"Version: {version}",
        "Summary: fpga_accel board runtime (numpy + pynq only)", "Requires-Python: >=3.8",
        "Requires-Dist: numpy (>=1.19,<2)", "Provides-Extra: board",
        "Requires-Dist: pynq (>=2.7,<4) ; extra == 'board'", "", ""])
    wheel = "Wheel-Version: 1.0\nGenerator: fpga_accel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries = _files() + [(f"{dist_info}/METADATA", metadata.encode()), (f"{dist_info}/WHEEL", wheel.encode())]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DIST}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
        zf.writestr(f"{dist_info}/RECORD", record)
    return path
