"""The end-to-end demo: digits → float Keras → QKeras (QAT) → hls4ml project for PYNQ-Z2 → csim report."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .analysis.estimate import Estimate
from .config import ConvertConfig, IOType, QuantizeConfig
from .design import AgreementReport
from .runtime.progress import Progress, Update, default_progress

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    float_accuracy: float
    report: AgreementReport
    project_dir: Path
    input_precision: str
    estimate: Estimate
    """The flow's estimate step's own Estimate: its progress line and this summary say one verdict."""
    settings: str = ""
    """What fit chose for the design (per-layer strategy and reuse factor)."""

    def format(self) -> str:
        r, e = self.report, self.estimate
        return "\n".join([
            "digits demo: float → QKeras → hls4ml (pynq-z2) → csim",
            f"accuracy float / QKeras / csim  {self.float_accuracy:.2%} / {r.reference_accuracy:.2%} / "
            f"{r.csim_accuracy:.2%}",
            f"csim == QKeras bit for bit      {r.bit_exact:.2%} of {r.n_samples} samples ({r.compared})",
            f"max |csim - QKeras|             {r.max_abs_diff:.3g}",
            f"argmax agreement                {r.argmax_agreement:.2%}",
            *([f"softmax outputs max abs error  {r.output_max_abs_diff:.3g}"] if r.output_max_abs_diff is not None else []),
            f"design input precision          {self.input_precision}",
            *([f"settings chosen by fit          {self.settings.split(': ', 1)[-1]}"] if self.settings else []),
            f"estimate on the PYNQ-Z2          DSP {e.total['dsp']:.0f}, LUT {e.total['lut']:.0f} ({e.used_pct['lut']:.0f}%"
            + (f"; expected {e.low['lut']:.0f}-{e.high['lut']:.0f}" if e.high else "")
            + f"), latency {e.latency_ns:g} ns: {e.verdict} (`fpga-accel estimate {self.project_dir}`)",
            f"HLS project                     {self.project_dir}",
        ])

    __str__ = format

    def _repr_html_(self) -> str:
        from .runtime.tables import html_report

        r = self.report
        return html_report("digits demo: float → QKeras → hls4ml (pynq-z2) → csim", [
            ("accuracy float / QKeras / csim", f"{self.float_accuracy:.2%} / {r.reference_accuracy:.2%} / "
                                               f"{r.csim_accuracy:.2%}"),
            ("csim == QKeras bit for bit", f"{r.bit_exact:.2%} of {r.n_samples} samples ({r.compared})"),
            ("design input precision", self.input_precision),
            ("settings chosen by fit", self.settings.split(": ", 1)[-1] or "-"),
            ("estimate", f"{self.estimate.verdict} on {self.estimate.board}"),
            ("HLS project", str(self.project_dir))], verdict=("bit-exact" if r.passed else "not bit-exact", r.passed))


def float_model(n_in: int, n_classes: int):  # noqa: ANN201 (keras type)
    from .keras_compat import keras_module

    keras = keras_module()

    inp = keras.Input((n_in,), name="pixels")
    x = keras.layers.Dense(32, name="fc1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Activation("relu", name="relu1")(x)
    x = keras.layers.Dense(32, activation="relu", name="fc2")(x)
    x = keras.layers.Dense(n_classes, name="logits")(x)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inp, x, name="digits_mlp")


def run_demo(output_dir: Path = Path("hls_projects"), io_type: str = "io_parallel", epochs: int = 40,
             qat_epochs: int = 20, force: bool = False,
             progress: Optional[Progress] = None) -> DemoResult:
    """Train a float MLP on digits, then run the flow's steps on it: quantize (QAT), convert, csim, estimate."""
    from .data import load_digits_split
    from .design import Design
    from .flow import FlowConfig, run_flow
    from .keras_compat import keras_module
    from .layout import FlowLayout, refuse_overwrite
    from .model_io import save_model

    progress = progress or default_progress(log)
    output_dir = Path(output_dir)
    paths = FlowLayout(output_dir, "digits", FlowConfig.bitstreams)
    refuse_overwrite(paths.project.root, force)
    keras = keras_module()
    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = load_digits_split()
    progress(Update(f"training a float MLP on digits ({len(x_train)} train / {len(x_test)} test samples)",
                    "start", 1, 5, "train"))
    model = float_model(x_train.shape[1], 10)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    float_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    inputs = paths.inputs
    inputs.mkdir(parents=True, exist_ok=True)
    save_model(model, inputs / "float.h5", force=True)
    np.savez(inputs / "digits.npz", x=x_train, y=y_train, x_test=x_test, y_test=y_test)
    # fit: per-layer reuse factor and strategy chosen at run time, by the estimator as it is, for the lowest
    # latency whose upper estimate fits the PYNQ-Z2 (a hard-coded reuse factor would go stale with the model)
    config = FlowConfig(model=inputs / "float.h5", data=inputs / "digits.npz", test_samples=len(x_test),
                        quantize=QuantizeConfig(epochs=qat_epochs),
                        convert=ConvertConfig(name="digits", io_type=IOType(io_type), output_dir=output_dir, fit=True))
    titles = {"quantize": f"quantizing with QKeras + {qat_epochs} QAT epochs (float accuracy {float_acc:.2%})",
              "convert": f"fitting per-layer settings to the pynq-z2 and converting with hls4ml ({io_type}); "
                         "convert checks csim itself",
              "csim": "csim: comparing with QKeras on the test set", "estimate": "estimating the PYNQ-Z2 build"}

    def relay(update: Update) -> None:
        """The flow's steps as the demo's stages 2-5."""
        if update.event == "start" and update.step in titles:
            progress(Update(titles[update.step], "start", 2 + list(titles).index(update.step), 5, update.step))
        elif update.event in ("done", "skipped"):
            progress(Update(f"      {update.what}", step=update.step))
        else:
            progress(update)

    project = run_flow(config, stop="estimate", force=True, progress=relay)
    report = AgreementReport.from_dict(json.loads(project.layout.csim_report.read_text()))
    design = Design(project.hls_project)
    progress(Update(f"done in {time.perf_counter() - t0:.0f} s"))
    assert project.estimate is not None  # the estimate step ran: its Estimate is the one the summary shows
    return DemoResult(float_acc, report, design.root, design.meta.input_precision, project.estimate,
                      project.records["convert"].detail)
