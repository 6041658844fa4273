"""Benchmarks: csim build cache, process-parallel predict, board-runtime overhead, fit, estimator, sweep.

Run with `make bench` (or `.venv/bin/python benchmarks/run.py`). Prints a table; README quotes it.
Goals (from the issues): unchanged rebuild ≥ 10x faster than the first build, < 0.5 s for re-convert +
compile; 2 workers ≥ 1.7x one worker on 4,000 samples with bit-identical outputs.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as one csim worker (benchmarks/emulator.py)
os.environ["FPGA_ACCEL_CACHE"] = tempfile.mkdtemp(prefix="fpga_accel_bench_")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test models

import logging  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

import fpga_accel as fa  # noqa: E402
from models import jet_tagger, qcnn, qmlp  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_cache(root: Path) -> None:
    model = qmlp()
    config = fa.ConvertConfig(name="mlp", output_dir=root, verify_samples=0)  # no compile inside convert
    design, t_convert = timed(lambda: fa.convert(model, config))
    first, t_first = timed(design.compile)
    assert not first.cached

    def reconvert_and_compile():
        d = fa.convert(model, config, force=True)
        return d.compile()

    again, t_again = timed(reconvert_and_compile)
    assert again.cached
    hit, t_hit = timed(fa.Design(root / "mlp").compile)
    print("csim build cache (16-64-32-32-5 MLP)")
    print(f"  first compile                     {t_first:6.2f} s   (convert {t_convert:.2f} s)")
    print(f"  unchanged re-convert + compile    {t_again:6.2f} s   ratio {t_first / t_again:5.1f}x  (goal < 0.5 s)")
    print(f"  unchanged compile alone           {t_hit:6.3f} s   ratio {t_first / t_hit:5.0f}x  (goal >= 10x)")


def bench_parallel(root: Path) -> None:
    rng = np.random.default_rng(0)
    print("process-parallel predict, 4,000 samples")
    for make, io_type in ((qmlp, "io_parallel"), (qcnn, "io_stream")):
        model = make()
        design = fa.convert(model, fa.ConvertConfig(name=f"{model.name}_{io_type}", io_type=io_type, output_dir=root))
        design.compile()
        x = rng.uniform(-3, 3, (4000,) + model.input_shape[1:]).astype(np.float32)
        design.predict(x[:10], workers=1)  # load the library (and csim's weights) once
        design.predict(x[:100], workers=2)  # start the worker pool, which the Design keeps
        y1, t1 = timed(lambda: design.predict(x, workers=1))
        y2, t2 = timed(lambda: design.predict(x, workers=2))
        same = "bit-identical" if np.array_equal(y1, y2) else "DIFFERENT"
        print(f"  {model.name:5s} {io_type:11s} 1 worker {t1:5.2f} s ({t1 / len(x) * 1e6:4.0f} us/sample)"
              f"  2 workers {t2:5.2f} s  speed-up {t1 / t2:4.2f}x  (goal >= 1.7x)  {same}")
        design.close()


def bench_fit() -> None:
    """`fpga-accel fit` on the tutorial's 16-64-32-32-5 jet tagger (goal: search < 2 s; the hls4ml
    conversions it starts from, one per io type, are timed apart, as is building the Keras model)."""
    from fpga_accel.stages.convert import fit

    print("fit on the 16-64-32-32-5 jet tagger, pynq-z2 (search goal < 2 s)")
    # the float design as the tutorial builds it: hls4ml's ap_fixed<16,6> for every type, as per-layer settings
    tutorial = dict.fromkeys(("weight", "bias", "result", "accum"), "ap_fixed<16,6>")
    float_layers = {**{n: {"precision": tutorial} for n in ("fc1", "fc2", "fc3", "output")},
                    **{f"relu{i}": {"precision": "ap_fixed<16,6>"} for i in (1, 2, 3)}}
    for quantized in (True, False):
        model, t_model = timed(lambda: jet_tagger(quantized))
        config = fa.ConvertConfig(name="jet") if quantized else \
            fa.ConvertConfig(name="jet", input_precision="ap_fixed<16,6>", layers=float_layers)
        result, t_all = timed(lambda: fit(model, config))
        chosen = result.chosen
        what = (f"{chosen.io_type}, {chosen.latency} cycles, {chosen.summary()}" if chosen is not None
                else "nothing fits")
        print(f"  {'6-bit QKeras' if quantized else 'float':12s} search {result.search_seconds:5.2f} s "
              f"({result.evaluated} configurations)  hls4ml conversions {result.probe_seconds:5.2f} s  "
              f"Keras model {t_model:4.2f} s (the first: TensorFlow import)  total {t_all:5.2f} s  -> {what}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_cache(Path(tmp) / "cache")
        bench_parallel(Path(tmp) / "parallel")
    from runtime_overhead import bench_runtime_overhead
    from sweep_estimate import bench_estimator, bench_sweep

    bench_runtime_overhead()
    from emulator import main as bench_emulator

    print("emulator vs one csim worker (benchmarks/emulator.py)")
    bench_emulator([])
    bench_fit()
    bench_estimator()
    bench_sweep()


if __name__ == "__main__":
    main()
