"""Board runtime: one Accelerator API; the pynq backend's own code on a simulated board backed by csim."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fpga_accel as fa
from fpga_accel.data import load_digits_split
from fpga_accel.runtime import Accelerator
from fpga_accel.runtime.fixed_point import Codec
from fpga_accel.stages.bundle import make_bundle
from conftest import stand_in_bitstream
from models import float_mlp, qcnn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, digits):
    """Digits MLP (io_parallel) and CNN (io_stream) bundles with placeholder bit/hwh files.

    No Vivado here: the .bit/.hwh are stand-ins whose hashes the manifest records; the simulated board
    never reads them, the real pynq backend would program them.
    """
    root = tmp_path_factory.mktemp("runtime")
    x_train, y_train, x_test, _ = digits
    bit, hwh = stand_in_bitstream(root)
    mlp = fa.quantize(float_mlp(), fa.QuantizeConfig(), x_train)
    cnn = qcnn()
    out = {}
    for name, model, io_type, x in (("mlp", mlp, "io_parallel", x_test), ("cnn", cnn, "io_stream",
                                                                          x_test.reshape(-1, 8, 8, 1))):
        design = fa.convert(model, fa.ConvertConfig(name=name, io_type=io_type, output_dir=root / "hls"),
                            calibration=x)
        bundle = make_bundle(design, bit, hwh, root / "bitstreams", model=model, x=x)
        out[name] = (bundle, design, model, x)
    return out


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_simulated_board_equals_csim_and_qkeras(bundles, name):
    bundle, design, model, x = bundles[name]
    ref = model.predict(x, verbose=0)
    with Accelerator.open(bundle, backend="simulated", max_batch=64) as acc:
        assert acc.backend == "simulated"
        y_sim = acc.predict(x)  # 359 samples in chunks of 64: larger than the buffers
        assert acc.last_call_seconds > 0
        y_one = acc.predict(x[:1])
    with Accelerator.open(bundle, backend="csim") as acc:
        y_csim = acc.predict(x)
    assert np.array_equal(y_sim, y_csim)
    assert np.array_equal(y_csim, design.predict(x))
    logits_exact = design.compare(model, x).bit_exact
    assert logits_exact == 1.0
    if name == "cnn":  # no softmax: outputs themselves are bit-exact with QKeras
        assert np.array_equal(y_sim, ref)
    assert y_one.shape == (1,) + ref.shape[1:] and np.array_equal(y_one, y_sim[:1])


def test_buffers_allocated_once_and_freed(bundles):
    from fpga_accel.runtime.manifest import Bundle
    from fpga_accel.runtime.sim_board import SimulatedPynq

    bundle, _, _, x = bundles["mlp"]
    board = SimulatedPynq(Bundle.open(bundle))
    with Accelerator.open(bundle, backend="simulated", pynq=board, max_batch=16) as acc:
        for n in (1, 16, 17, 100):
            acc.predict(x[:n])
        assert len(board.allocated) == 2  # one input, one output buffer, reused across calls
        assert all(not buf.freed for buf in board.allocated)
    assert all(buf.freed for buf in board.allocated)
    with pytest.raises(fa.BoardError, match="closed"):
        acc.predict(x[:1])


def test_chunks_respect_the_dma_length_register(bundles):
    from fpga_accel.runtime.manifest import Bundle
    from fpga_accel.runtime.sim_board import SimulatedPynq

    bundle, _, _, x = bundles["mlp"]
    board = SimulatedPynq(Bundle.open(bundle), buffer_max_size=64 * 4 * 10)  # room for 10 samples
    with Accelerator.open(bundle, backend="simulated", pynq=board, max_batch=1024) as acc:
        assert acc._backend.chunk == 10
        assert np.array_equal(acc.predict(x[:95]), Accelerator.open(bundle, backend="csim").predict(x[:95]))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 63), np.float32), "expects (batch,) + (64,)"),
    (np.zeros(64, np.float32), "add a batch axis"),
    (np.array([[np.inf] * 64]), "NaN or inf in 1 sample"),
    (np.zeros((2, 64), dtype=complex), "not numeric"),
])
def test_bad_input_is_refused_before_any_transfer(bundles, bad, message):
    bundle, _, _, _ = bundles["mlp"]
    with Accelerator.open(bundle, backend="simulated") as acc:
        dma = acc._backend.dma
        with pytest.raises(fa.InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
            acc.predict(bad)
        assert dma.sendchannel.transferred == 0 and not dma.ip.inq


@pytest.mark.parametrize("which", ["bit", "hwh"])
def test_corrupt_bitstream_is_refused(bundles, tmp_path, which):
    bundle, _, _, _ = bundles["mlp"]
    copy = tmp_path / "mlp"
    shutil.copytree(bundle, copy)
    target = copy / f"mlp.{which}"
    target.write_bytes(target.read_bytes() + b"\x00")
    with pytest.raises(fa.BoardError, match=f"mlp.{which} does not match manifest.json"):
        Accelerator.open(copy, backend="simulated")
    Accelerator.open(copy, backend="csim").close()  # csim does not need the bitstream


def test_hung_stream_times_out_naming_tlast(bundles):
    """A transfer that splits a sample leaves the IP waiting: no output TLAST, the receive never ends."""
    bundle, _, _, _ = bundles["mlp"]
    with Accelerator.open(bundle, backend="simulated", timeout=0.2) as acc:
        b = acc._backend
        b.dma.recvchannel.transfer(b.outbuf, 0, 4 * b.n_out)
        b.dma.sendchannel.transfer(b.inbuf, 0, 4 * (b.n_in - 1))
        with pytest.raises(fa.BoardError, match="did not finish within 0.2 s.*TLAST"):
            b._wait(b.dma.recvchannel, "receive (S2MM)", 1)


def test_dma_lookup_in_the_overlay():
    from types import SimpleNamespace

    from fpga_accel.runtime.pynq_backend import find_dma

    dma = object()
    hls4ml_layout = SimpleNamespace(ip_dict={"hier_0/axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"}},
                                    hier_0=SimpleNamespace(axi_dma_0=dma))
    assert find_dma(hls4ml_layout, "hier_0/axi_dma_0") is dma
    elsewhere = SimpleNamespace(ip_dict={"dma_x": {"type": "xilinx.com:ip:axi_dma:7.1"},
                                         "gpio": {"type": "xilinx.com:ip:axi_gpio:2.0"}}, dma_x=dma)
    assert find_dma(elsewhere, "hier_0/axi_dma_0") is dma  # the only DMA there is
    none = SimpleNamespace(ip_dict={"gpio": {"type": "xilinx.com:ip:axi_gpio:2.0"}})
    with pytest.raises(fa.BoardError, match=r"no unique AXI DMA .*found: gpio \(xilinx.com:ip:axi_gpio:2.0\)"):
        find_dma(none, "hier_0/axi_dma_0")


def test_backend_selection(bundles, caplog):
    bundle, design, _, _ = bundles["mlp"]
    with caplog.at_level("INFO", logger="fpga_accel"):
        with Accelerator.open(bundle) as acc:
            assert acc.backend == "csim"
    assert "backend auto → csim (no PYNQ device)" in caplog.text
    with pytest.raises(fa.BoardError, match="needs a PYNQ board"):
        Accelerator.open(bundle, backend="pynq")
    with pytest.raises(fa.BoardError, match="no bitstream"):
        Accelerator.open(design.root, backend="simulated")  # an HLS project has no .bit
    with Accelerator.open(design.root) as acc:
        assert acc.backend == "csim"
    with pytest.raises(fa.ConfigError, match="backend must be one of"):
        Accelerator.open(bundle, backend="fpga")


def test_manifest_contents(bundles):
    bundle, _, _, _ = bundles["cnn"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["bitfile"] == "cnn.bit" and manifest["hwhfile"] == "cnn.hwh"
    assert manifest["input_shape"] == [8, 8, 1] and manifest["output_shape"] == [10]
    assert manifest["axi_input_type"] == "float32" and manifest["dma"] == "hier_0/axi_dma_0"
    for key in ("bit_sha256", "hwh_sha256", "model_sha256", "config_sha256", "hls4ml_version", "created"):
        assert manifest[key], key
    assert (bundle / "firmware" / "cnn_axi.cpp").is_file() and (bundle / "test_vectors.npz").is_file()


def test_selftest_module(bundles):
    bundle, _, _, _ = bundles["cnn"]
    proc = subprocess.run([sys.executable, "-m", "fpga_accel.runtime", "selftest", str(bundle),
                           "--backend", "simulated"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "bit-exact with QKeras  100.00%" in proc.stdout and "PASS" in proc.stdout
    from fpga_accel.runtime.selftest import parse_result

    result = parse_result(proc.stdout)  # the line deploy reads back on the host
    assert result is not None and result.passed and result.bit_exact == 1.0 and result.n == 32


def test_run_and_bench_cli(bundles, tmp_path, capsys):
    from fpga_accel.cli import main

    bundle, design, _, x = bundles["mlp"]
    np.save(tmp_path / "x.npy", x[:20])
    assert main(["run", str(bundle), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                 "--backend", "simulated", "--max-batch", "8"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), design.predict(x[:20]))
    assert main(["bench", str(bundle), "--batch", "32", "--calls", "3", "--backend", "csim"]) == 0
    assert "backend csim, batch 32, 3 calls" in capsys.readouterr().out


@pytest.mark.parametrize("text, x, words", [
    ("ap_fixed<8,3>", [1.0, -1.0, 0.03, 100.0], [32, -32, 0, -128 + ((3200 + 128) % 256)]),
    ("ap_fixed<8,3,AP_RND_CONV,AP_SAT>", [0.046875, 0.078125, 100.0, -100.0], [2, 2, 127, -128]),
    ("ap_ufixed<8,2,AP_RND,AP_SAT>", [0.5, -1.0, 10.0, 0.0078125], [32, 0, 255, 1]),
])
def test_fixed_point_codec(text, x, words):
    codec = Codec.parse(text)
    got = codec.encode(np.array(x, dtype=np.float32))
    assert got.dtype == np.int32 and got.tolist() == words
    back = codec.decode(got)
    assert np.array_equal(codec.encode(back), got)  # values on the grid survive a round trip


def test_float_codec_is_identity():
    codec = Codec.parse("float32")
    x = np.array([0.1, -3.5], np.float32)
    words = codec.encode(x.astype(np.float64))
    assert words.dtype == np.float32 and np.array_equal(words, x)  # float32 AXI words: the values themselves
    assert codec.decode(words).dtype == np.float32 and np.array_equal(codec.decode(words), x)
    with pytest.raises(fa.ConfigError, match="unsupported AXI stream type"):
        Codec.parse("half")


BOARD_PYTHON = os.environ.get("FPGA_ACCEL_BOARD_PYTHON")


@pytest.mark.skipif(not BOARD_PYTHON, reason="set FPGA_ACCEL_BOARD_PYTHON to a numpy + pynq venv (.ci/run does)")
def test_board_environment_runs_without_host_stack(bundles):
    """In a venv with only numpy and the real pynq 3.x: import the runtime, run the simulated board end to
    end, and fail if TensorFlow, QKeras or hls4ml were imported."""
    bundle, _, _, _ = bundles["cnn"]
    script = f"""
import sys, importlib.util
import numpy as np
assert importlib.util.find_spec("pynq") is not None, "pynq missing from the board env"
for host in ("tensorflow", "qkeras", "hls4ml"):
    assert importlib.util.find_spec(host) is None, host + " installed in the board env"
from fpga_accel.runtime import Accelerator
from fpga_accel.runtime.selftest import selftest
r = selftest({str(bundle)!r}, backend="simulated")
print(r.format())
assert r.passed and r.bit_exact == 1.0
with Accelerator.open({str(bundle)!r}) as acc:
    print("auto backend:", acc.backend)
try:
    Accelerator.open({str(bundle)!r}, backend="pynq")
except Exception as exc:
    print("pynq backend:", type(exc).__name__, exc)
import pynq
print("pynq", pynq.__version__)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "qkeras", "hls4ml", "keras"))
assert not loaded, loaded
"""
    proc = subprocess.run([BOARD_PYTHON, "-c", script], capture_output=True, text=True, cwd=str(ROOT / "tests"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
    assert "auto backend: csim" in proc.stdout
    assert "pynq backend: BoardError" in proc.stdout
    assert "pynq 3." in proc.stdout


RUNTIME_WHEEL_ALL = ["Accelerator", "BoardError", "BuildError", "ConfigError", "FpgaAccelDeprecationWarning",
                     "FpgaAccelError", "Hls4mlChangedError",
                     "InputError",
                     "NotExactError", "Progress", "SelfTestError", "SelfTestResult", "ToolNotFoundError", "Update",
                     "__version__"]


def test_host_install_lists_and_resolves_the_whole_api():
    assert set(RUNTIME_WHEEL_ALL) | {"convert", "quantize", "Design", "run_sweep"} <= set(fa.__all__)
    assert set(fa.__all__) <= set(dir(fa))
    for name in fa.__all__:
        getattr(fa, name)  # no stale entry in the lazy table
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        fa.nonexistent


def _pyenv_python38() -> str | None:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    found = sorted(Path(root).glob("versions/3.8*/bin/python")) if root else []
    return str(found[-1]) if found else None


def _install_runtime_wheel(tmp_path: Path) -> tuple[str, dict, Path]:
    """(python, env, root of the installed fpga_accel) for a Python with numpy and the runtime wheel only.

    The board venv of .ci/run is reused when there is one: the wheel goes into a --target folder put
    first on its PYTHONPATH (that venv holds a full `pip install .` of fpga_accel, left as it is).
    Elsewhere a Python 3.8 (the oldest board Python) venv gets numpy<2 and the wheel, nothing else.
    """
    from fpga_accel.runtime_wheel import build_runtime_wheel

    wheel = build_runtime_wheel(tmp_path / "dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if BOARD_PYTHON:
        target = tmp_path / "wheel_site"
        proc = subprocess.run([BOARD_PYTHON, *pip, "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return BOARD_PYTHON, {**env, "PYTHONPATH": str(target)}, target
    base = _pyenv_python38()
    if base is None:
        pytest.skip("no board Python: set FPGA_ACCEL_BOARD_PYTHON or install Python 3.8 with pyenv")
    venv = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run([str(venv / "bin" / "python"), *pip, "numpy<2", str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(venv / "bin" / "python"), env, venv


def test_runtime_wheel_lists_only_what_it_ships(bundles, tmp_path):
    """The wheel deploy installs on the board: it imports with numpy alone, lists only the names it ships,
    says that a host-pipeline name needs the host install, and runs a bundle's self-test through csim."""
    bundle, _, _, _ = bundles["cnn"]
    python, env, root = _install_runtime_wheel(tmp_path)
    script = f"""
import site, sys
started = set(sys.modules)  # .pth files of the environment may import things at start-up
import fpga_accel
assert fpga_accel.__file__.startswith({str(root)!r}), fpga_accel.__file__
assert fpga_accel.__all__ == {RUNTIME_WHEEL_ALL!r}, fpga_accel.__all__
assert "Accelerator" in dir(fpga_accel) and not {{"convert", "quantize", "Design"}} & set(dir(fpga_accel))
from fpga_accel import *  # every listed name resolves
try:
    fpga_accel.convert
except ImportError as exc:
    print("convert:", type(exc).__name__, exc)
else:
    sys.exit("fpga_accel.convert resolved on the runtime wheel")
try:
    from fpga_accel import Design
except ImportError as exc:
    print("Design:", type(exc).__name__, exc)
else:
    sys.exit("fpga_accel.Design resolved on the runtime wheel")
from fpga_accel.runtime.selftest import selftest
r = selftest({str(bundle)!r}, backend="csim")
assert r.passed and r.bit_exact == 1.0, r.format()
installed = tuple(site.getsitepackages())
loaded = {{name.split(".")[0] for name, module in list(sys.modules.items())
          if name not in started and (getattr(module, "__file__", None) or "").startswith(installed)}}
assert loaded <= {{"numpy", "fpga_accel"}}, sorted(loaded)  # the board's pynq is loaded only by its backend
print("python", sys.version_info[0], sys.version_info[1])
"""
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    for name, module in (("convert", "stages.convert"), ("Design", "design")):
        assert lines[name] == (f"ModuleNotFoundError fpga_accel.{name} belongs to the host pipeline, which this "
                               f"runtime-only install of fpga_accel does not ship (no fpga_accel.{module}): run it "
                               "on a host with pip install 'fpga-accel[host]'; on the board use fpga_accel.Accelerator")
    if not BOARD_PYTHON:
        assert "python 3 8" in proc.stdout


def test_fixed_point_axi_words_through_the_simulated_board(bundles, tmp_path):
    """A wrapper streaming ap_fixed words: the driver encodes/decodes from the manifest's types."""
    bundle, design, _, x = bundles["cnn"]
    copy = tmp_path / "cnn"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.update(axi_input_type="ap_fixed<16,6>", axi_output_type="ap_fixed<32,16>")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    codec_in = Codec.parse("ap_fixed<16,6>")
    with Accelerator.open(copy, backend="simulated", max_batch=32) as acc:
        assert acc._backend.inbuf.dtype == np.int32
        y = acc.predict(x[:100])
    on_grid = codec_in.decode(codec_in.encode(x[:100]))  # what 16-bit words can carry
    assert np.array_equal(y, design.predict(on_grid))


PYNQ_Z2_IMAGES = {(3, 8): "2.7.", (3, 10): "3.0."}
"""The PYNQ-Z2 images' Python and pynq (v2.7: 3.8 + pynq 2.7; v3.0.1/v3.1: 3.10 + pynq 3.0): .ci/run makes one
venv of each with numpy<2 and that pynq from the package index, and lists them in FPGA_ACCEL_BOARD_IMAGES."""
BOARD_IMAGES = [p for p in os.environ.get("FPGA_ACCEL_BOARD_IMAGES", "").split(os.pathsep) if p]


def test_ci_provides_the_board_images():
    """In CI the image venvs must be there: a missing one fails here instead of skipping the tests below."""
    if os.environ.get("CI") != "true":
        pytest.skip("outside CI the board-image venvs are optional (FPGA_ACCEL_BOARD_IMAGES)")
    versions = set()
    for python in BOARD_IMAGES:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, check=True).stdout
        versions.add(tuple(int(v) for v in out.split()))
    assert versions == set(PYNQ_Z2_IMAGES), f"FPGA_ACCEL_BOARD_IMAGES={BOARD_IMAGES} gives Pythons {versions}"


@pytest.mark.parametrize("python", BOARD_IMAGES or [pytest.param(None, marks=pytest.mark.skip(
    reason="set FPGA_ACCEL_BOARD_IMAGES to the Python 3.8 / 3.10 board-image venvs (.ci/run does)"))])
def test_runtime_wheel_on_a_board_image(bundles, tmp_path, python):
    """The runtime-only wheel on a PYNQ-Z2 image's Python and pynq: every file byte-compiles, every runtime
    module imports (no 3.9+ syntax or names at import time), and the simulated board's self-test passes
    bit-exact through the pynq backend's code."""
    from fpga_accel.runtime_wheel import build_runtime_wheel

    bundle, _, _, _ = bundles["cnn"]
    wheel = build_runtime_wheel(tmp_path / "dist")
    target = tmp_path / "site"
    proc = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                           "--no-index", "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = f"""
import compileall, importlib, pkgutil, sys, warnings
warnings.simplefilter("ignore")  # pynq: "No devices found"
import fpga_accel, fpga_accel.runtime as runtime
assert fpga_accel.__file__.startswith({str(target)!r}), fpga_accel.__file__
assert compileall.compile_dir(fpga_accel.__path__[0], quiet=1, force=True), "a runtime file does not compile"
for module in pkgutil.walk_packages(runtime.__path__, "fpga_accel.runtime."):
    importlib.import_module(module.name)
from fpga_accel.runtime.selftest import selftest
r = selftest({str(bundle)!r}, backend="simulated")
print(r.format())
assert r.passed and r.bit_exact == 1.0
import pynq
print("image", *sys.version_info[:2], "pynq", pynq.__version__)
"""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(target)}
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
    _, major, minor, _, pynq_version = proc.stdout.splitlines()[-1].split()
    assert pynq_version.startswith(PYNQ_Z2_IMAGES[(int(major), int(minor))]), proc.stdout


def _run_cli(args: list, tty: bool) -> tuple:
    """(exit code, what the command wrote to stderr) with stderr a pseudo-terminal or a pipe."""
    command = [sys.executable, "-m", "fpga_accel.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    if not tty:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stderr
    import pty

    main_fd, child_fd = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child_fd, env=env)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_not_in_logs(bundles, tmp_path):
    """`fpga-accel run` in chunks of 16: a tqdm bar on a pseudo-terminal; piped, one log line and no bar."""
    bundle, _, _, x = bundles["mlp"]
    np.save(tmp_path / "x.npy", x[:64])
    args = ["run", str(bundle), "--input", str(tmp_path / "x.npy"), "--backend", "simulated", "--max-batch", "16"]
    code, shown = _run_cli(args + ["--output", str(tmp_path / "a.npy")], tty=True)
    assert code == 0, shown
    assert "fpga-accel: predicting: 100%|" in shown and "64/64" in shown and "\r" in shown, shown
    code, logged = _run_cli(args + ["--output", str(tmp_path / "b.npy")], tty=False)
    assert code == 0, logged
    assert "%|" not in logged and "\r" not in logged, logged
    assert "fpga-accel: predicting 64/64 (100%)" in logged
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
