"""g++ time of hls4ml 1.3's io_parallel csim library against the size of its convolutions: where
``fpga_accel.layer_support`` puts its warn and refuse thresholds for io_parallel CNNs.

In io_parallel hls4ml writes each convolution's im2col out as C++ (one assignment per output position x
kernel tap x input channel, ``fill_buffer_N``) and unrolls the per-position products; g++ -O3 then compiles
a function whose length grows with the layer. Each point below is one QConv2D (3x3, quantized_bits(6,0)
weights, an input quantizer, GlobalMaxPooling2D and a 4-unit QDense after it), converted with
``verify_samples=0`` and compiled cold with one g++ process (``Design(jobs=1)``).

Usage: python benchmarks/io_parallel_compile.py [side:channels:filters ...]   (one compile per point)
Results (the 2-core development machine, shared with other runs): benchmarks/io_parallel_compile.md
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POINTS = ["12:1:4", "24:2:4", "24:2:32", "40:3:4"]


def model(side: int, channels: int, filters: int):
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q = quantized_bits(6, 0, alpha=1)
    x = keras.Input((side, side, channels))
    t = QActivation(quantized_bits(8, 2), name="qin")(x)
    t = QConv2D(filters, 3, kernel_quantizer=q, bias_quantizer=q, name="conv")(t)
    t = QActivation(quantized_relu(6, 2), name="relu")(t)
    t = keras.layers.GlobalMaxPooling2D(name="pool")(t)
    y = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="fc")(t)
    return keras.Model(x, y, name=f"conv{side}x{channels}x{filters}")


def measure(point: str, out: Path) -> dict[str, float]:
    import fpga_accel as fa
    from fpga_accel.layer_support import unrolled_layers

    side, channels, filters = (int(v) for v in point.split(":"))
    m = model(side, channels, filters)
    (name, size), = unrolled_layers(m).items()
    config = fa.ConvertConfig(name=m.name, io_type="io_parallel", output_dir=out, verify_samples=0,
                              allow_slow_compile=True)
    t0 = time.perf_counter()
    design = fa.convert(m, config)
    t1 = time.perf_counter()
    fa.Design(design.root, jobs=1).compile()
    t2 = time.perf_counter()
    return {"point": point, "im2col": size.im2col, "products": size.products, "write_s": t1 - t0, "gxx_s": t2 - t1}


def main(points: list[str]) -> None:
    print("| side x side x channels, filters | im2col assignments | products | hls4ml writes (s) | g++ (s) |")
    print("|---|---:|---:|---:|---:|")
    for point in points or POINTS:
        with tempfile.TemporaryDirectory(prefix="fa-ioparallel-") as tmp:
            os.environ["FPGA_ACCEL_CACHE"] = str(Path(tmp) / "cache")  # cold: the library is built
            r = measure(point, Path(tmp))
        side, channels, filters = point.split(":")
        print(f"| {side}x{side}x{channels}, {filters} | {r['im2col']:,} | {r['products']:,} | {r['write_s']:.1f} "
              f"| {r['gxx_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
