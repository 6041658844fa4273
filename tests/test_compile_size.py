"""io_parallel CNNs too large for g++ (issue 24 item 5): refused before hls4ml writes any C++, warned below
that, never in io_stream; `fit` leaves io_parallel out for them. Nothing here runs g++."""
from __future__ import annotations

import logging

import pytest

import fpga_accel as fa
from fpga_accel.cli import EXIT_ERROR, main
from fpga_accel.layer_support import REFUSE_IM2COL, WARN_IM2COL, check_compile_size, unrolled_layers


def cnn(side: int, channels: int = 3, filters: int = 4, name: str = "cnn"):
    """An input quantizer, a 3x3 QConv2D with `side`-2 squared output positions, a second 1x1 one, a small
    QDense: the first convolution's im2col is (side-2)^2 x 9 x channels."""
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    from fpga_accel.keras_compat import keras_module

    keras = keras_module()

    q = quantized_bits(6, 0, alpha=1)
    x = keras.Input((side, side, channels))
    t = QActivation(quantized_bits(8, 2), name="qin")(x)
    t = QConv2D(filters, 3, kernel_quantizer=q, bias_quantizer=q, name="big_conv")(t)
    t = QActivation(quantized_relu(6, 2))(t)
    t = QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name="small_conv")(t)
    t = keras.layers.GlobalMaxPooling2D()(t)
    return keras.Model(x, QDense(3, kernel_quantizer=q, bias_quantizer=q, name="fc")(t), name=name)


def test_sizes_count_positions_taps_and_channels() -> None:
    sizes = unrolled_layers(cnn(12, channels=2, filters=5))
    assert sizes["big_conv"].im2col == 10 * 10 * 9 * 2 and sizes["big_conv"].products == 10 * 10 * 9 * 2 * 5
    assert sizes["small_conv"].im2col == 10 * 10 * 5 and sizes["small_conv"].products == 10 * 10 * 5 * 2
    assert "fc" not in sizes  # a Dense is loops in C++, not written out


def test_above_the_refuse_threshold_convert_stops_before_writing(tmp_path) -> None:
    model = cnn(40)  # 38 x 38 x 27 = 38,988 assignments in big_conv
    assert sum(s.im2col for s in unrolled_layers(model).values()) > REFUSE_IM2COL
    config = fa.ConvertConfig(name="big", output_dir=tmp_path / "p", io_type="io_parallel")
    with pytest.raises(fa.ConfigError) as info:
        fa.convert(model, config)
    message = str(info.value)
    assert "big_conv with 38,988" in message and "(155,952 products)" in message
    assert "io_type: io_stream" in message and "--allow-slow-compile" in message
    assert not (tmp_path / "p" / "big").exists()
    check_compile_size(model, "io_stream", allow_slow_compile=False)  # io_stream: loops, any size


def test_between_the_thresholds_a_warning_names_the_layer_and_io_stream(caplog) -> None:
    model = cnn(24)  # 22 x 22 x 27 = 13,068 assignments
    total = sum(s.im2col for s in unrolled_layers(model).values())
    assert WARN_IM2COL < total <= REFUSE_IM2COL
    with caplog.at_level(logging.WARNING, logger="fpga_accel.layer_support"):
        check_compile_size(model, "io_parallel", allow_slow_compile=False)
    assert "big_conv with 13,068" in caplog.text and "io_type: io_stream" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fpga_accel.layer_support"):
        check_compile_size(cnn(12), "io_parallel", allow_slow_compile=False)  # well below: silent
    assert caplog.text == ""


def test_allow_slow_compile_converts_it_anyway(tmp_path, caplog) -> None:
    """Just under the threshold one still converts (verify_samples=0: hls4ml writes the project, no g++);
    above it, allow_slow_compile lets it through with the warning."""
    config = fa.ConvertConfig(name="ok", output_dir=tmp_path, io_type="io_parallel", verify_samples=0)
    design = fa.convert(cnn(33), config)  # 31 x 31 x 27 + 961 x 4 = 29,791, just under
    assert design.meta.io_type == "io_parallel" and design.meta.fidelity is None
    with caplog.at_level(logging.WARNING, logger="fpga_accel.layer_support"):
        fa.convert(cnn(40), fa.ConvertConfig(name="big", output_dir=tmp_path, io_type="io_parallel", verify_samples=0,
                                             allow_slow_compile=True))
    assert "big_conv with 38,988" in caplog.text


def test_cli_refuses_with_the_reason_and_no_traceback(tmp_path, caplog, capsys) -> None:
    cnn(40).save(tmp_path / "big.h5")
    code = main(["convert", str(tmp_path / "big.h5"), "--name", "big", "--output-dir", str(tmp_path / "hls")])
    assert code == EXIT_ERROR
    assert "big_conv with 38,988" in caplog.text and "io_type: io_stream" in caplog.text
    assert "Traceback" not in caplog.text + capsys.readouterr().err
    assert not (tmp_path / "hls" / "big").exists()


def test_fit_searches_io_stream_only_for_a_cnn_too_large(caplog) -> None:
    from fpga_accel.stages.convert import fit

    with caplog.at_level(logging.WARNING):
        result = fit(cnn(40), fa.ConvertConfig(name="big"))
    assert {c.io_type for c in result.candidates} == {"io_stream"}
    assert "io_parallel not searched" in caplog.text and "big_conv with 38,988" in caplog.text


def test_a_sweep_point_in_io_parallel_is_not_built_and_says_why(tmp_path) -> None:
    """A sweep point over a CNN too large for io_parallel fails at convert (before g++), its reason in the
    results; the same point in io_stream is built."""
    import numpy as np

    from fpga_accel.keras_compat import keras_module
    from fpga_accel.sweep import SweepSpec, run_point

    keras = keras_module()

    keras.utils.set_random_seed(0)
    x = keras.Input((40, 40, 3))
    t = keras.layers.Conv2D(4, 3, activation="relu", name="big_conv")(x)
    t = keras.layers.GlobalMaxPooling2D()(t)
    keras.Model(x, keras.layers.Dense(3, name="fc")(t)).save(tmp_path / "cnn.h5")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-1, 1, (24, 40, 40, 3)).astype(np.float32), y=rng.integers(0, 3, 24))
    spec = SweepSpec(name="s", model=tmp_path / "cnn.h5", data=tmp_path / "d.npz", output_dir=tmp_path / "out",
                     grid={"io_type": ["io_parallel"]}, test_samples=8)
    result = run_point(spec, {"io_type": "io_parallel"}, str(tmp_path / "out" / "p"))
    assert "big_conv with 38,988" in result["failed"] and "io_type: io_stream" in result["failed"]
    assert not (tmp_path / "out" / "p" / "design").exists()
