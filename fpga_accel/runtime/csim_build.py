"""Build the csim shared library of an hls4ml project with g++, cached by content.

hls4ml's ``compile()`` reruns g++ (~5 s, mostly parsing ap_types) even when nothing changed. Here the
library is keyed by a hash of every source the compiler reads, the compiler's version and the flags, so
an unchanged design is a cache hit and a changed one is always rebuilt. numpy-free and hls4ml-free: the
board runtime's csim backend builds through this too.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from ..errors import BuildError, ConfigError, ToolNotFoundError
from ..layout import ProjectLayout, check_writable
from .axis_wrapper import HEADERS as AXIS_HEADERS, AxisWrapper

log = logging.getLogger(__name__)

CXX_FLAGS = ("-O3", "-fPIC", "-std=c++11", "-fno-gnu-unique")
AXI_SIM = Path(__file__).with_name("axi_stream_sim.cpp")
"""Compiled in place of the bridge (which it includes): adds the AXI-stream entry of the simulated board."""
WEIGHTS_DIR_H = Path(__file__).with_name("weights_dir.h")
"""Included first in every translation unit: hls4ml's WEIGHTS_DIR becomes a folder set when the library
is loaded, so one library serves every copy of a design (a project's staging folder, the project once
renamed into place, a bundle) and its identity does not depend on where the project lives."""
SOURCE_SUFFIXES = {".h", ".hpp", ".cpp", ".cc", ".txt"}
""".txt: csim reads the weights from firmware/weights/*.txt at its first call (hls4ml's csim-only loader)."""


@dataclass(frozen=True)
class CsimBuild:
    library: Path
    key: str
    cached: bool
    """True when the library came from the cache without running the compiler."""
    weights_dir: Path
    """The folder csim loads the weights from at its first call (see ``CsimLibrary``)."""


def cache_dir() -> Path:
    """``$FPGA_ACCEL_CACHE`` or ``~/.cache/fpga_accel``; shared by all projects and processes."""
    root = Path(os.environ.get("FPGA_ACCEL_CACHE") or Path.home() / ".cache" / "fpga_accel")
    for above in (root, *root.parents):
        if above.exists() and not above.is_dir():
            raise ConfigError(f"the csim cache {root} cannot be created: {above} is a file, not a folder "
                              "(set FPGA_ACCEL_CACHE or HOME to a folder)")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"the csim cache {root} (FPGA_ACCEL_CACHE) is a file, not a folder: point it at a folder")
    return root / "csim"


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise ToolNotFoundError(f"{cxx} not on PATH: csim needs a C++ compiler (apt-get install g++)")
    return cxx


def _compiler_id(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, errors="replace", check=False,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFoundError(f"the C++ compiler {cxx} (CXX) does not run: {exc}") from None
    if out.returncode != 0 or not out.stdout.strip():
        raise ToolNotFoundError(f"the C++ compiler {cxx} (CXX) fails `{cxx} --version` (exit {out.returncode}): "
                                "it is not a working compiler; set CXX to g++ or unset it")
    return out.stdout.splitlines()[0]


def sources(layout: ProjectLayout) -> list[Path]:
    """Every file g++ may read for this design, in a stable order."""
    files = [p for p in layout.firmware.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES]
    files.append(layout.bridge_cpp)
    return sorted(files) + [AXI_SIM, WEIGHTS_DIR_H, AXIS_HEADERS / "ap_axi_sdata.h"]


def axis_wrapper(layout: ProjectLayout) -> Optional[AxisWrapper]:
    """The vitis flow's hls::axis wrapper of this design, compiled into every csim library beside
    hls4ml's (None for AXI types it does not stream: the library then lacks ``fpga_accel_axis_run``)."""
    try:
        return AxisWrapper.for_layout(layout)
    except ConfigError as exc:
        log.debug("csim without the hls::axis wrapper: %s", exc)
        return None


def build_key(layout: ProjectLayout, cxx: str) -> str:
    digest = hashlib.sha256()
    digest.update(_compiler_id(cxx).encode())
    where_free = _defines(ProjectLayout(Path("/project"), layout.project_name), Path(WEIGHTS_DIR_H.name))
    digest.update(" ".join(CXX_FLAGS + where_free).encode())  # contents are hashed below, not locations
    digest.update(layout.project_name.encode())
    for path in sources(layout):
        name = path.relative_to(layout.root) if layout.root in path.parents else path.name
        digest.update(str(name).encode() + b"\0")
        digest.update(path.read_bytes())
    wrapper = axis_wrapper(layout)
    digest.update(wrapper.source().encode() if wrapper else b"no axis wrapper")
    return digest.hexdigest()[:32]


def _defines(layout: ProjectLayout, weights_dir_h: Path = WEIGHTS_DIR_H) -> tuple[str, ...]:
    """The bridge's path only locates a source whose content is hashed; the weights folder is set at load time."""
    # The bridge is found through -iquote, so the project's path never becomes C++ text: a folder named
    # with a quote, a backslash or bytes that are not UTF-8 compiles like any other.
    return ("-include", str(weights_dir_h), "-DWEIGHTS_DIR=fpga_accel_weights_dir()",
            "-iquote", str(layout.root.resolve()), f'-DFPGA_ACCEL_BRIDGE="{layout.bridge_cpp.name}"',
            f"-DFPGA_ACCEL_AXI_TOP={layout.project_name}_axi")


_LOAD_WEIGHTS = re.compile(r'load_(exponent_)?weights_from_txt<.*?,\s*(\d+)>\(\w+,\s*"([^"]+)"\)')
_LOAD_CALLS = re.compile(r"load_(?:exponent_)?weights_from_txt<")


def check_weights(layout: ProjectLayout) -> None:
    """hls4ml's csim loads every weight file at the first call and calls ``exit(1)`` when one is missing or
    short — inside the Python process that loaded it. Check them first."""
    weights = layout.weights
    text = layout.top_cpp.read_text()
    found = _LOAD_WEIGHTS.findall(text)
    calls = len(_LOAD_CALLS.findall(text))
    if calls != len(found):  # a call written another way would go unchecked: csim's exit(1) is what this prevents
        raise BuildError(f"{layout.top_cpp}: {calls - len(found)} of its {calls} weight-loading calls are not as "
                         "hls4ml 1.3 writes them, so their files cannot be checked; re-convert the project with "
                         "hls4ml 1.3")
    for exponent, size, name in found:
        path = weights / name
        if not path.is_file():
            raise BuildError(f"{path} is missing: the design cannot load its weights; re-convert the project")
        if not exponent:
            count = len(path.read_text().replace(",", " ").split())
            if count != int(size):
                raise BuildError(f"{path} holds {count} values, the design expects {size}: it is damaged; "
                                 "re-convert the project")


_TRACE_ENTRY = re.compile(r'trace_outputs->insert\(\s*std::pair<std::string,\s*void\s*\*>\(\s*"([^"]+)"\s*,'
                          r'\s*\(void\s*\*\)\s*malloc\(([^;]*?)\s*\*\s*element_size\)\s*\)\s*\)')
_INSERTS = re.compile(r"trace_outputs->insert\(")


def trace_sizes(layout: ProjectLayout) -> dict[str, int]:
    """Values per sample of every layer the compiled library traces (one trace entry per name), read from
    the bridge it is built from (the library's cache key covers the bridge's bytes, so this is what the
    library allocates). A bridge whose trace table cannot be read exactly is refused: trace would
    otherwise read past its buffers."""
    try:
        text = layout.bridge_cpp.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read {layout.bridge_cpp}: {exc}; re-convert the project") from None
    found = _TRACE_ENTRY.findall(text)
    sizes: dict[str, int] = {}
    for name, expr in found:
        factors = [f.strip() for f in expr.split("*")]
        if not all(f.isdigit() for f in factors):
            raise BuildError(f"{layout.bridge_cpp}: the trace size of {name!r} ({expr}) is not a number; "
                             "re-convert the project")
        size = 1
        for f in factors:
            size *= int(f)
        sizes.setdefault(name, size)  # std::map::insert keeps the first of a name (a layer with two variables)
    if len(found) != len(_INSERTS.findall(text)):
        raise BuildError(f"{layout.bridge_cpp}: its trace table is not hls4ml's; re-convert the project")
    return sizes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _intact(library: Path) -> bool:
    """A cached library is used only if it is the file that was built (a truncated or damaged .so
    would crash the process that loads it)."""
    digest = library.with_name(library.name + ".sha256")
    return digest.is_file() and digest.read_text().strip() == _sha256(library)


def build_library(layout: ProjectLayout, force: bool = False, jobs: Optional[int] = None) -> CsimBuild:
    """Return the csim library for ``layout``, compiling only when its sources changed."""
    layout = ProjectLayout(layout.root.resolve(), layout.project_name)
    for needed in (layout.top_cpp, layout.axi_cpp, layout.bridge_cpp, layout.ap_types):
        if not needed.exists():
            raise BuildError(f"{needed} is missing: {layout.root} is not a complete hls4ml project")
    check_weights(layout)
    cxx = _compiler()
    key = build_key(layout, cxx)  # layout.root is resolved above, so relative names are stable
    target = cache_dir() / f"{layout.project_name}-{key}.so"
    if target.is_file() and not force:
        if _intact(target):
            log.debug("csim library up to date (%s)", target.name)
            return CsimBuild(target, key, cached=True, weights_dir=layout.weights)
        log.warning("cached csim library %s is damaged: rebuilding it", target)
    check_writable(target.parent, folder=True)  # before the compiler runs, not after
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("compiling csim library for %s with %s", layout.root, cxx)
    remove_stale_builds(target.parent)
    with _build_folder(target.parent) as tmp:
        objects = _compile_objects(layout, cxx, Path(tmp), jobs or COMPILE_JOBS)
        tmp_lib = Path(tmp) / target.name
        _run([cxx, *CXX_FLAGS, "-shared", *map(str, objects), "-o", str(tmp_lib)], layout.root)
        _first_call_survives(tmp_lib, layout)
        # The digest lands first, then the library: a reader never sees a library without its digest.
        # Atomic: a concurrent build of the same design writes the same bytes under the same name.
        tmp_digest = Path(tmp) / (target.name + ".sha256")
        tmp_digest.write_text(_sha256(tmp_lib) + "\n")
        os.replace(tmp_digest, target.with_name(target.name + ".sha256"))
        os.replace(tmp_lib, target)
    return CsimBuild(target, key, cached=False, weights_dir=layout.weights)


BUILD_PREFIX = ".build-"
_OWNER = ".owner"
"""A lock file inside each build folder, held by the process compiling there (it dies with the process)."""


@contextlib.contextmanager
def _build_folder(cache: Path) -> Iterator[str]:
    """A private folder for one compile, owned (locked) by this process while it lives and removed after;
    one left by a process killed outright is removed by the next build (``remove_stale_builds``)."""
    import fcntl

    tmp = tempfile.mkdtemp(dir=cache, prefix=BUILD_PREFIX)
    try:
        with open(Path(tmp) / _OWNER, "w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX)
            yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


STALE_UNOWNED_SECONDS = 600
"""A build folder without its owner file (cut off in the instant after it was made) counts as stale after this."""


def remove_stale_builds(cache: Path) -> list[Path]:
    """Remove build folders whose process is gone (SIGKILL, power loss): their owner lock can be taken.
    Folders of builds still running (in any process) are left alone."""
    import fcntl
    import time

    removed = []
    for folder in cache.glob(BUILD_PREFIX + "*"):
        lock = folder / _OWNER
        try:
            if not lock.exists():
                if time.time() - folder.stat().st_mtime < STALE_UNOWNED_SECONDS:
                    continue
            else:
                with open(lock) as owner:
                    try:
                        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its build is running
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except OSError as exc:
            log.debug("left %s: %s", folder, exc)
    if removed:
        log.info("removed %d build folder(s) left by interrupted builds in %s", len(removed), cache)
    return removed


_FIRST_CALL = """
import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1])
lib.fpga_accel_set_weights_dir(os.fsencode(sys.argv[2]))
n_in, n_out = lib.fpga_accel_axi_n_in(), lib.fpga_accel_axi_n_out()
getattr(lib, sys.argv[3] + "_float")((ctypes.c_float * n_in)(), (ctypes.c_float * n_out)())
"""


def _first_call_survives(library: Path, layout: ProjectLayout) -> None:
    """Load a new library and run one sample in a child process first: C++ that aborts or exits (an
    ap_fixed assertion, hls4ml's exit(1) on a weight file) then fails the build with a message instead of
    killing the caller, and such a library never enters the cache."""
    import sys

    proc = subprocess.run([sys.executable, "-c", _FIRST_CALL, str(library), str(layout.weights),
                           layout.project_name], capture_output=True, text=True, errors="replace", check=False,
                          timeout=300)
    if proc.returncode == 0:
        return
    how = (f"was killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
           else f"exited with status {proc.returncode}")
    raise BuildError(f"the compiled csim of {layout.root} {how} on its first sample, so it was not cached or "
                     f"loaded here; the design or its weights are broken (re-convert it): {_tail(proc.stderr, 8)}")


COMPILE_JOBS = 3
"""g++ processes at once by default: one per translation unit. A sweep worker passes ``jobs`` = the
cores it has to itself, so that parallelism comes from design points instead of oversubscribing cores."""


def _compile_objects(layout: ProjectLayout, cxx: str, out_dir: Path, limit: int) -> list[Path]:
    """Compile the design, its AXI wrapper and bridge + AXI simulation, in parallel by default (parsing
    ap_types dominates each of them)."""
    include = ["-I", str(layout.ap_types), "-I", str(layout.firmware)]
    pending = []
    for src in (layout.top_cpp, layout.axi_cpp, AXI_SIM):
        obj = out_dir / (src.stem + ".o")
        pending.append((obj, [cxx, *CXX_FLAGS, *_defines(layout), *include, *_axis_flags(layout, src, out_dir),
                              "-c", str(src), "-o", str(obj)]))
    failures, running = [], []
    try:
        for i, (obj, cmd) in enumerate(pending):
            running.append((cmd, subprocess.Popen(cmd, cwd=layout.root, stderr=subprocess.PIPE, text=True,
                                                  errors="replace", start_new_session=True)))  # g++ and its cc1plus: one group
            if len(running) == limit or i == len(pending) - 1:
                for cmd_done, proc in running:
                    try:
                        _, err = proc.communicate(timeout=compile_timeout())
                    except subprocess.TimeoutExpired:
                        raise BuildError(f"the C++ compiler ran longer than {compile_timeout():g} s on "
                                         f"{cmd_done[-3]} and was stopped (${TIMEOUT_ENV} sets the limit)") from None
                    if proc.returncode != 0:
                        failures.append(f"$ {' '.join(cmd_done)}\n{_tail(err)}")
                running = []
    except BaseException:  # Ctrl-C / SIGTERM: no compiler is left running behind us
        for _, proc in running:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        raise
    if failures:
        raise BuildError("csim compilation failed:\n" + "\n".join(failures))
    for obj, _ in pending:
        _made_by_compiler(obj, cxx)
    return [obj for obj, _ in pending]


def _made_by_compiler(output: Path, cxx: str) -> None:
    """A compiler that exits 0 without writing its output is not one (``CXX=true``): say so, instead of
    blaming the design when the library fails later."""
    if not output.is_file() or output.stat().st_size == 0:
        raise ToolNotFoundError(f"the C++ compiler {cxx} (CXX) exited 0 but wrote no {output.name}: it is not a "
                                "working compiler; set CXX to g++ or unset it")


def _axis_flags(layout: ProjectLayout, src: Path, out_dir: Path) -> list[str]:
    """The simulation of the board's stream compiles the hls::axis wrapper too, from the very text the
    vitis flow gives Vitis HLS (written next to the objects: the project is not touched)."""
    wrapper = axis_wrapper(layout) if src == AXI_SIM else None
    if wrapper is None:
        return []
    path = out_dir / wrapper.file_name
    path.write_text(wrapper.source())
    return ["-I", str(AXIS_HEADERS), f'-DFPGA_ACCEL_AXIS_WRAPPER="{path}"', f"-DFPGA_ACCEL_AXIS_TOP={wrapper.top}"]


TIMEOUT_ENV = "FPGA_ACCEL_CXX_TIMEOUT"


def compile_timeout() -> float:
    """Seconds one compiler or linker run may take before it is stopped (``$FPGA_ACCEL_CXX_TIMEOUT``, default
    2 h: a ResNet's csim takes minutes, a compiler that hangs must not hang the CI gate with it)."""
    try:
        value = float(os.environ.get(TIMEOUT_ENV, "") or 7200)
    except ValueError:
        value = 7200.0
    return value if value > 0 else 7200.0


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace", check=False,
                              timeout=compile_timeout())
    except subprocess.TimeoutExpired:
        raise BuildError(f"the csim link ran longer than {compile_timeout():g} s and was stopped "
                         f"(${TIMEOUT_ENV} sets the limit)") from None
    if proc.returncode != 0:
        raise BuildError(f"csim link failed:\n$ {' '.join(cmd)}\n{_tail(proc.stderr)}")
    _made_by_compiler(Path(cmd[-1]), cmd[0])


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
