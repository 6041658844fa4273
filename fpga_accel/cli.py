"""`fpga-accel` command line: argument parsing and presentation only; the work is in the stages.

Exit codes (one meaning each; README "Exit codes"): 0 success, 1 a user-facing error (one line, no
traceback), 2 bad usage, 3 not bit-exact (csim disagrees with the reference model: ``csim --reference``,
``convert --strict``, the flow's csim step — so CI can gate on it), 4 does not fit the board
(``estimate``, ``fit``, ``convert --fit``), 5 the board's self-test failed (``deploy``, the flow's deploy
step). ``FPGA_ACCEL_LEGACY_EXIT_CODES=1`` gives 3 for all three, as before, for one release (deprecated).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from .errors import FpgaAccelDeprecationWarning, FpgaAccelError, InputError, NotExactError, SelfTestError
from .layout import check_writable, refuse_overwrite, sole_writer, write_atomic
from .runtime.progress import ProgressBars

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_EXACT, EXIT_DOES_NOT_FIT, EXIT_SELFTEST_FAILED = 1, 2, 3, 4, 5
EXIT_DISAGREE = EXIT_NOT_EXACT
"""The old name of EXIT_NOT_EXACT."""
LEGACY_EXIT_CODES_ENV = "FPGA_ACCEL_LEGACY_EXIT_CODES"
log = logging.getLogger("fpga_accel.cli")


def _outcome(code: int) -> int:
    """``code``, or 3 for "does not fit" and "self-test failed" under FPGA_ACCEL_LEGACY_EXIT_CODES=1 (the
    earlier codes; deprecated, for one release)."""
    if code in (EXIT_DOES_NOT_FIT, EXIT_SELFTEST_FAILED) and os.environ.get(LEGACY_EXIT_CODES_ENV, "") == "1":
        warnings.warn(f"{LEGACY_EXIT_CODES_ENV}=1 is deprecated: 'does not fit' exits 4 and 'self-test failed' "
                      "5 from now on; the variable goes in the next release",
                      FpgaAccelDeprecationWarning, stacklevel=2)
        log.warning("%s=1 (deprecated): exit 3 instead of %d", LEGACY_EXIT_CODES_ENV, code)
        return EXIT_NOT_EXACT
    return code


def _setup_output(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # only the stack's import-time chatter is hidden; hls4ml's and fpga_accel's warnings (a deprecation of
    # something fpga_accel uses) reach the user as log lines
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(tensorflow|keras|qkeras|h5py|absl|numpy)(\..*)?$")
    warnings.filterwarnings("default", category=DeprecationWarning, module=r"(hls4ml|fpga_accel)(\..*)?$")
    logging.captureWarnings(True)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="fpga-accel: %(message)s",
                        stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


class _Progress(ProgressBars):
    """How the CLI shows every long step's updates (the one ``Progress`` interface): counts as a tqdm bar on
    a terminal; when stderr is not a terminal no bar at all, only a count's completion as a log line, so
    logs stay clean. Everything else is a log line (``runtime.progress.ProgressBars``)."""

    def __init__(self) -> None:
        super().__init__(log, terminal=True, prefix="fpga-accel: ")


def _out_path(path: str, force: bool) -> Path:
    """Checked before any work: the folder exists and nothing is overwritten without --force."""

    out = Path(path)
    if not out.parent.is_dir():
        raise FpgaAccelError(f"cannot write {out}: folder {out.parent} does not exist")
    refuse_overwrite(out, force)
    check_writable(out)
    return out


_TRUST_BEFORE: list[tuple[str, str | None]] = []
"""What ``_trust_model_code`` changed in the environment, for ``main`` to put back on return."""


def _trust_model_code(trusted: Any) -> None:
    """``--trust-model-code`` or ``trust_model_code: true``: model files may run their code, in this
    process and the workers it starts (``model_io.TRUST_ENV``)."""
    if trusted is True:
        from .model_io import TRUST_ENV

        _TRUST_BEFORE.append((TRUST_ENV, os.environ.get(TRUST_ENV)))
        os.environ[TRUST_ENV] = "1"


def _distinct(**outputs: Any) -> None:
    """Two outputs naming one file would overwrite each other: refused before any work."""
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        real = Path(path).resolve()
        if real in seen:
            raise FpgaAccelError(f"--{seen[real]} and --{flag} name the same file {path}: give each its own file")
        seen[real] = flag


def _os_error(exc: OSError) -> str:
    """A permission or disk error as one line (the file and the reason)."""
    import errno

    what = f"cannot write or read {exc.filename}" if exc.filename else "a file could not be written"
    full = " (the disk is full or a file size limit was reached)" if exc.errno in (errno.ENOSPC, errno.EFBIG) else ""
    return f"{what}: {exc.strerror or exc}{full}"


class _QuietUnflushableFiles:
    """After a full disk, a library that was writing (hls4ml's project writer) leaves open files whose
    buffers cannot be flushed either; they are finalized when the exception that holds them goes. While
    this is installed, their OSError on close is dropped instead of the interpreter printing an "Exception
    ignored" traceback for each (the error was already reported in one line); :meth:`restore` collects
    what is left and puts the previous hook back."""

    def __init__(self) -> None:
        self.previous = sys.unraisablehook
        sys.unraisablehook = self

    def __call__(self, unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, OSError):
            self.previous(unraisable)

    def restore(self) -> None:
        import gc

        gc.collect()
        sys.unraisablehook = self.previous


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _save_array(path: Path, array: Any) -> None:
    """Exactly at ``path`` (np.save would append .npy to another name), whole or not at all."""
    import numpy as np

    write_atomic(path, lambda f: np.save(f, array))


def _override(settings: dict[str, Any], args: argparse.Namespace, kind: type) -> dict[str, Any]:
    """Command-line flags win over the project file — one rule for every command, keyed by the settings
    dataclass's own fields (no second list of keys to keep in step)."""
    import dataclasses

    for f in dataclasses.fields(kind):
        value = getattr(args, f.name, None)
        if value is not None:
            settings[f.name] = value
    return settings


# ---- subcommands ----------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    check_writable(Path(args.output_dir), folder=True)
    result = run_demo(Path(args.output_dir), io_type=args.io_type, force=args.force, progress=_Progress())
    print(result.format())
    return 0 if result.report.passed else EXIT_NOT_EXACT


def _quantize_settings(path: str) -> dict[str, Any]:
    """``quantize --config``: a project file (its ``quantize:`` section is used), or a file holding just
    that section's keys (weight_bits: 6, ...); an hls4ml YAML is refused naming the commands that take it."""
    import dataclasses

    from .config import QuantizeConfig, is_hls4ml_config, load_project_file, read_yaml

    raw = read_yaml(path, "project file")
    if raw and set(raw) <= {f.name for f in dataclasses.fields(QuantizeConfig)}:
        return {"quantize": raw}  # the section itself
    if is_hls4ml_config(raw):
        raise FpgaAccelError(f"{path} is an hls4ml configuration (IOType, HLSConfig, ...): quantize --config takes "
                             "a project file with a `quantize:` section (weight_bits: 6, ...); hls4ml's YAML goes "
                             "to `fpga-accel convert --config` or `fpga-accel estimate --model M --config`")
    return load_project_file(path)


def cmd_quantize(args: argparse.Namespace) -> int:
    from .config import QuantizeConfig, load_project_file, quantize_config_from
    from .model_io import load_model, load_xy, save_model
    from .stages.quantize import quantize


    out = Path(args.output)
    refuse_overwrite(out, args.force)  # its folder is created when the model is saved
    check_writable(out)
    settings: dict[str, Any] = {}
    custom_objects = args.custom_objects
    if args.config:
        data = _quantize_settings(args.config)
        quantize_config_from(data.get("quantize"))  # a section of known, valid settings, before merging flags
        settings.update(data.get("quantize") or {})
        custom_objects = custom_objects or data.get("custom_objects")
        _trust_model_code(data.get("trust_model_code"))
    config = quantize_config_from(_override(settings, args, QuantizeConfig))
    x = y = None
    if args.data:
        x, y = load_xy(args.data)
    model = load_model(args.model, custom_objects)  # also validates before the long work
    log.info("quantizing %s (%d layers)%s", args.model, len(model.layers),
             f" with {config.epochs} QAT epochs" if config.epochs else "")
    qmodel = quantize(model, config, x, y)
    save_model(qmodel, out, force=args.force)
    log.info("wrote %s", out)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """The flow's convert step on one model: the project file's ``data:`` sizes the types unless
    ``--calibration`` is given (as in ``fpga-accel flow``)."""
    import dataclasses

    from .config import ConvertConfig
    from .design import Design
    from .flow import FlowConfig, FlowProject
    from .model_io import load_array

    flags = _override({}, args, ConvertConfig)
    flags.update(model=args.model and str(Path(args.model).resolve()), custom_objects=args.custom_objects)
    if args.config:
        project = FlowConfig.from_file(args.config, overrides=flags)
    else:
        project = FlowConfig.from_settings({}, Path.cwd(), "the command line (pass MODEL and --name)", flags)
    config, model_path = project.convert, project.model
    _trust_model_code(config.trust_model_code)
    calibration = load_array(args.calibration) if args.calibration else None

    check_writable(config.output_dir, folder=True)
    if config.project_dir.parent.is_dir():  # before loading the model: fail fast (under the writers' lock, after
        with sole_writer(config.project_dir, "convert", args.force):  # putting back what a cut-off convert moved
            pass  # aside: the flow's convert step below replaces the folder it owns)
    refuse_overwrite(config.project_dir, args.force)
    log.info("converting %s → %s (board %s, %s, reuse factor %s, clock %.3g ns)", model_path,
             config.project_dir, config.board, config.io_type.value, config.reuse_factor,
             config.resolved_clock_period)
    # the model as given (a `quantize:` section is the flow's business, not convert's)
    flow_project = FlowProject(dataclasses.replace(project, quantize=None), calibration=calibration)
    flow_project.step("convert").run(flow_project, _Progress())
    design = Design(flow_project.hls_project)
    log.info("input precision %s; wrote %s", design.meta.input_precision, design.root)
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Search per-layer settings; write them as a project file. Exit 4 when nothing fits."""
    import yaml

    from .config import ConvertConfig, load_project_file
    from .fit_search import default_name, project_settings
    from .stages.convert import fit
    from .flow import FlowConfig
    from .model_io import load_array, load_model

    out = _out_path(args.output, args.force)  # before any work: nothing overwritten without --force
    flags = _override({}, args, ConvertConfig)
    flags.pop("io_type", None)  # searched unless given: handled below
    carried: dict[str, Any] = load_project_file(args.config) if args.config else {}
    model_arg = args.model or carried.get("model")
    if not model_arg:
        raise InputError("fit needs a MODEL (or `model:` in --config)")
    base_dir = Path(args.config).resolve().parent if args.config and not args.model else Path.cwd()
    model_path = (base_dir / str(model_arg)).resolve()
    flags.setdefault("name", carried.get("name") or default_name(model_path))
    carried = {**carried, **flags}  # what convert must be given to build what fit estimated
    flags.update(model=str(model_path), custom_objects=args.custom_objects)
    settings = {k: v for k, v in carried.items() if k not in ("fit", "model", "io_type")}
    project = FlowConfig.from_settings(settings, base_dir, args.config or "the command line", flags)
    config = project.convert
    io_types = [args.io_type] if args.io_type else ([carried["io_type"]] if "io_type" in carried else None)
    calibration = load_array(args.calibration) if args.calibration else None
    model = load_model(model_path, project.custom_objects)
    result = fit(model, config, calibration=calibration, io_types=io_types, progress=_Progress())
    print(result.format())
    if result.chosen is None:
        log.error("%s", result.message)
        return _outcome(EXIT_DOES_NOT_FIT)
    data = project_settings(result, config, model_path, carried)
    head = [f"# written by `fpga-accel fit`: convert with `fpga-accel convert --config {out.name}` or run "
            f"`fpga-accel flow {out.name}`"]
    if args.calibration:
        head.append(f"# fitted with --calibration {args.calibration}: convert with the same data, so the types "
                    "(and the estimate) are the ones fit saw")
    write_atomic(out, "\n".join(head) + "\n" + yaml.safe_dump(json.loads(json.dumps(data, default=str)),
                                                               sort_keys=False))
    log.info("wrote %s", out)
    return 0


def cmd_csim(args: argparse.Namespace) -> int:
    import numpy as np

    from .design import Design
    from .model_io import load_array
    from .runtime.validate import check_input
    from .stages.csim import csim

    design = Design(args.project)
    _distinct(output=args.output, report=args.report, plot=args.plot)
    if args.plot and not args.reference:
        raise InputError("--plot draws the per-layer agreement with the reference model: pass --reference too")
    out = _out_path(args.output, args.force) if args.output else None
    report_out = _out_path(args.report, args.force) if args.report else None
    plot_out = _figure_path(args.plot, args.force, "--plot") if args.plot else None
    x = load_array(args.input)
    check_input(x, design.input_shape)  # before the model loads and the compiler runs
    labels = load_array(args.labels) if args.labels else None
    if labels is not None and not args.reference:
        raise InputError("--labels scores the design against the reference model: pass --reference too")
    if labels is not None and (labels.shape[:1] != x.shape[:1] or labels.ndim > 2):
        raise InputError(f"{args.labels} has shape {labels.shape}; expected ({len(x)},) class indices or "
                         f"({len(x)}, classes) one-hot rows, one per input sample")
    model = None
    if args.reference:
        from .model_io import load_model

        model = load_model(args.reference, args.custom_objects)
    result = csim(design, x, model, labels, workers=args.workers, progress=_Progress(), engine=args.engine)
    if out is not None:
        _save_array(out, result.outputs)
        log.info("wrote %s %s", out, result.outputs.shape)
    if result.report is None:
        return 0
    print(result.report.format())
    if report_out is not None:
        write_atomic(report_out, json.dumps(result.report.to_dict(), indent=2) + "\n")
    if plot_out is not None:  # the notebook's report.plot(), as a file
        result.report.plot().savefig(plot_out, dpi=80)
        log.info("wrote %s", plot_out)
    if not result.report.passed:
        log.error("csim is not bit-exact with %s", args.reference)
        return EXIT_NOT_EXACT
    return 0


def cmd_flow(args: argparse.Namespace) -> int:
    from .flow import FlowConfig, FlowProject, run_flow

    config = FlowConfig.from_file(args.project_file)
    _trust_model_code(config.convert.trust_model_code)
    failed: FpgaAccelError | None = None
    try:
        project = run_flow(config, start=args.start, stop=args.stop, force=args.force, progress=_Progress(),
                           subset=args.steps)
    except FpgaAccelError as exc:
        failed, project = exc, FlowProject.open(config)
    if project.records:
        print(project.format())
    if failed is not None:
        raise failed
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from .model_io import load_array
    from .design import Design
    from .stages.bundle import make_bundle

    design = Design(args.project)
    check_writable(Path(args.output_dir), folder=True)
    x = load_array(args.vectors) if args.vectors else None
    path = make_bundle(design, Path(args.bit), Path(args.hwh), Path(args.output_dir), x=x, force=args.force)
    print(path)
    return 0


def _estimate_config(path: str) -> None:
    """``estimate --config`` takes hls4ml's YAML; a project file of this toolkit is refused naming what
    estimates it."""
    from .config import is_hls4ml_config, read_yaml

    raw = read_yaml(path, "hls4ml configuration")
    if not is_hls4ml_config(raw) and set(raw) - {"HLSConfig"}:
        raise FpgaAccelError(f"{path} is a project file of fpga_accel ({', '.join(sorted(map(str, raw))[:4])}, ...), "
                             "not an hls4ml configuration: estimate what it builds with `fpga-accel fit --config "
                             f"{path}` (no project written), or convert it and run `fpga-accel estimate "
                             "hls_projects/NAME`; estimate --config takes hls4ml's YAML (HLSConfig, IOType, "
                             "ClockPeriod, Part)")


def cmd_estimate(args: argparse.Namespace) -> int:
    from .analysis.estimate import estimate

    if args.config:
        _estimate_config(args.config)
    if args.model or args.config:
        est = estimate(None, model=args.model or args.project, config=args.config, board=args.board,
                       figure=args.figure, margin=args.margin, part=args.part)
    else:
        est = estimate(args.project, board=args.board, figure=args.figure, margin=args.margin, part=args.part)
    print(json.dumps(est.to_dict(), indent=2) if args.json else est.format())
    return _outcome(EXIT_DOES_NOT_FIT) if est.verdict == "DOES NOT FIT" else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .analysis.design_report import design_report
    from .design import Design

    report = design_report(Design(args.project))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0


def _figure_path(path: str, force: bool, what: str) -> Path:
    """A figure's output file, checked before any work: PNG or SVG by its suffix, matplotlib installed (and
    told to draw to files: the CLI has no display)."""
    out = _out_path(path, force)
    if out.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"{out}: the figure is written as PNG or SVG; name it *.png or *.svg")
    try:
        import matplotlib
    except ImportError:
        raise InputError(f"{what} draws with matplotlib, which is not installed: pip install matplotlib "
                         "(it comes with fpga-accel[host])") from None
    matplotlib.use("Agg")  # the CLI draws to files only
    return out


def cmd_profile(args: argparse.Namespace) -> int:
    from .profiling import profile
    from .model_io import load_array

    out = _figure_path(args.output, args.force, "profile")
    x = load_array(args.input)
    target: Any = args.project
    if Path(args.project).is_file():  # a Keras/QKeras model: the types converting it would derive
        from .model_io import load_model

        if args.engine:
            raise InputError("--engine is for a converted project: a model's activations are its own (Keras)")
        target = load_model(args.project, args.custom_objects)
    elif args.custom_objects:
        raise InputError("--custom-objects is for a model file: a project's reference model is loaded as convert saved it")
    fig = profile(target, x, engine=args.engine)
    fig.savefig(out, dpi=args.dpi)
    for p in fig.profiles:
        if p.saturated or p.underflowed:
            log.info("%s %s (%s): %.1f%% saturated, %.1f%% underflowed", p.layer, p.kind, p.precision,
                     100 * p.saturated, 100 * (p.underflowed or 0.0))
    log.info("wrote %s (%d distributions)", out, len(fig.profiles))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import SweepSpec, run_sweep

    spec = SweepSpec.load(args.spec)
    from .model_io import model_config, refuse_code

    refuse_code(spec.model, model_config(spec.model))  # here, not as a failure of every point in a worker
    bar = _Progress()

    def show(update: Any) -> None:
        bar(update)
        row = update.result
        if row.get("failed"):
            log.warning("  %s %s: failed: %s", row["id"], row["params"], row["failed"])
            return
        log.info("  %s %s: csim accuracy %.2f%%, bit-exact %.0f%%, est. DSP %.0f LUT %.0f, %s", row["id"],
                 row["params"], 100 * row["csim_accuracy"], 100 * row["bit_exact"], row["est_dsp"], row["est_lut"],
                 "fits" if row["fits"] else "does not fit")

    result = run_sweep(spec, scheduler=args.scheduler, workers=args.workers, progress=show)
    print(f"{len(result.rows)} points ({result.ran} run, {result.skipped} already done): {result.table}"
          + (f", {result.plot}" if result.plot else ""))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .design import Design
    from .stages.build import build, plan

    if args.check:
        return cmd_doctor(args)
    if args.project is None:
        raise FpgaAccelError("build needs a project folder (hls_projects/NAME), or --check")
    from .stages.build import DEFAULT_STEPS, get_flow

    flow = None if args.flow == "auto" else get_flow(args.flow).name  # an unknown flow: before any work
    design = Design(args.project)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps else list(DEFAULT_STEPS)
    if args.dry_run:
        print(plan(design, steps, flow).describe())
        return 0
    from .stages.bundle import make_bundle

    if "bitfile" in steps:  # fail before an hour of Vivado, not after
        check_writable(Path(args.output_dir), folder=True)
        refuse_overwrite(Path(args.output_dir) / design.name, args.force)
    result = build(design, steps, progress=_Progress(), flow=flow)
    print(json.dumps(result.report, indent=2))
    if result.bit is not None and result.hwh is not None:
        bundle = make_bundle(design, result.bit, result.hwh, Path(args.output_dir), force=args.force)
        print(f"bundle: {bundle}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when at least one build flow can run here."""
    from .stages.build import check_machine

    report = check_machine()
    print(report.format())
    return 0 if any(check.runnable for check in report.flows) else EXIT_ERROR


def cmd_deploy(args: argparse.Namespace) -> int:
    from .stages.deploy import Remote, default_project, deploy

    remote = Remote(host=args.host, user=args.user, port=args.port,
                    identity=Path(args.identity) if args.identity else None, ssh_options=tuple(args.ssh_option),
                    python=args.python, remote_dir=args.remote_dir, connect_timeout=args.connect_timeout,
                    timeout=args.timeout)
    project = args.project
    if project is None and not args.dry_run:
        layout = default_project(Path(args.bundle))
        project = layout.root if layout is not None else None
        if project is None:
            log.info("the self-test is not recorded in a project (no hls_projects/NAME of this bundle here): "
                     "pass --project to show it in `fpga-accel report`")
    result = deploy(Path(args.bundle), remote, dry_run=args.dry_run, progress=_Progress(), project=project)
    print(result if isinstance(result, str) else result.format())
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from .board_payload import sd_card_package as package

    print(package(Path(args.bundle), Path(args.output), force=args.force))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from .model_io import load_array
    from .runtime import Accelerator

    out = _out_path(args.output, args.force)
    x = load_array(args.input)
    with Accelerator.open(args.bundle, backend=args.backend, max_batch=args.max_batch) as acc:
        log.info("backend: %s", acc.backend)
        y = acc.predict(x, progress=_Progress())
    _save_array(out, y)
    log.info("wrote %s %s", out, y.shape)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .runtime import Accelerator

    with Accelerator.open(args.bundle, backend=args.backend, max_batch=args.max_batch) as acc:
        print(acc.bench(batch=args.batch, calls=args.calls).format())
    return 0


# ---- parser ---------------------------------------------------------------------------------------

def _custom_objects_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--custom-objects", metavar="MODULE", help=(
        "module (dotted name or .py file) defining the model's custom layer classes: its `custom_objects` "
        "dict, else its Keras Layer subclasses, are used to load the model"))
    _trust_flag(p)


def _trust_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-model-code", action="store_true", default=None, help=(
        "load model files whose layers carry Python code (Lambda, classes from modules outside Keras): "
        "loading RUNS that code; refused by default. Only for files from someone you trust"))


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .flow import STEPS

    parser = argparse.ArgumentParser(prog="fpga-accel", description=(
        "Keras → QKeras → hls4ml HLS project for PYNQ-Z2, validated bit for bit in C simulation."))
    parser.add_argument("--version", action="version", version=f"fpga-accel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="digits: train, quantize (QAT), convert for pynq-z2, csim, report")
    p.add_argument("--output-dir", default="hls_projects")
    p.add_argument("--io-type", default="io_parallel", choices=["io_parallel", "io_stream"])
    p.add_argument("--force", action="store_true", help="overwrite hls_projects/digits")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("quantize", help="float Keras model → QKeras model (+ optional QAT)")
    p.add_argument("model", help="float Keras model (.h5/.keras)")
    p.add_argument("-o", "--output", required=True, help="QKeras model to write (.h5/.keras)")
    p.add_argument("--data", help=".npz with x (calibration) and y (for --epochs)")
    p.add_argument("--config", help="a project file (its `quantize:` section is read) or a YAML file of just "
                   "those keys; command-line flags override it")
    for key, what in (("weight-bits", "weight bits"), ("weight-integer", "weight integer bits"),
                      ("bias-bits", "bias bits"), ("bias-integer", "bias integer bits"),
                      ("activation-bits", "activation bits"), ("activation-integer", "activation integer bits"),
                      ("input-bits", "input quantizer bits (0: none)"),
                      ("input-integer", "input quantizer integer bits (default: from --data)"),
                      ("epochs", "QAT epochs (needs --data with y)"), ("batch-size", "QAT batch size")):
        p.add_argument(f"--{key}", type=int, help=what)
    _custom_objects_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("convert", help="QKeras model → hls4ml VivadoAccelerator project")
    p.add_argument("model", nargs="?", help="QKeras model (.h5/.keras); or `model:` in --config")
    p.add_argument("--name", help="project name (a C identifier)")
    p.add_argument("--config", help="a project file, or hls4ml's own YAML (KerasModel, HLSConfig, IOType, "
                   "ClockPeriod, Part...); command-line flags override it")
    p.add_argument("--board", help="target board (default pynq-z2)")
    p.add_argument("--io-type", choices=["io_parallel", "io_stream"])
    p.add_argument("--reuse-factor", help="an integer, or 'auto': per layer, the smallest that fits the board")
    p.add_argument("--margin", type=float, help="share of each resource --reuse-factor auto may use (default 0.8)")
    p.add_argument("--strategy", choices=["latency", "resource"])
    p.add_argument("--clock-period", type=float, help="ns (default: the board's, 10 ns on pynq-z2)")
    p.add_argument("--precision", help="default precision, e.g. 'ap_fixed<16,6>'")
    p.add_argument("--input-precision", help="override the design's input type")
    p.add_argument("--softmax", choices=["design", "host"], help="keep softmax in the design or run it on the host")
    p.add_argument("--calibration", help=".npy/.npz of representative inputs (sizes the input type)")
    p.add_argument("--output-dir", help="parent of the project folder (default hls_projects)")
    p.add_argument("--verify-samples", type=int, help="samples csim is checked on against the model "
                   "before convert returns (default 1000; 0 skips the check)")
    p.add_argument("--strict", action="store_true", default=None,
                   help="exit 3 unless that check finds csim bit-exact (logits for softmax models)")
    p.add_argument("--allow-inexact", action="store_true", default=None,
                   help="convert layers with no exact hls4ml counterpart (ternary activations, leaky "
                   "quantized_relu), or with a per-layer precision on a quantized model, instead of refusing")
    p.add_argument("--allow-slow-compile", action="store_true", default=None,
                   help="convert an io_parallel CNN too large for g++ to compile in minutes instead of refusing "
                   "it (io_stream compiles it in seconds)")
    p.add_argument("--fit", action="store_true", default=None,
                   help="first search per-layer reuse factor and strategy for the lowest latency that fits the "
                   "board (as `fpga-accel fit`, at this io type)")
    _custom_objects_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing project folder")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("fit", help="search per-layer reuse factor, strategy and io type for the lowest "
                       "estimated latency that fits the board; write a project file",
                       description="One in-memory hls4ml conversion per io type, then a search over the "
                       "estimator: the lowest latency whose upper estimate fits the board within the margin. "
                       "Prints the candidates it stepped through and writes the chosen settings as a project "
                       "file for `convert --config` / `flow`. Exit 4 when nothing fits.")
    p.add_argument("model", nargs="?", help="QKeras or Keras model (.h5/.keras); or `model:` in --config")
    p.add_argument("-o", "--output", default="fit.yml", help="project file to write (default fit.yml)")
    p.add_argument("--board", help="target board (default pynq-z2)")
    p.add_argument("--margin", type=float, help="share of each resource the upper estimate may use (default 0.8)")
    p.add_argument("--io-type", choices=["io_parallel", "io_stream"], help="fix the io type (default: search both)")
    p.add_argument("--name", help="project name written to the file (default: from the model file)")
    p.add_argument("--config", help="project file to start from: its settings are kept, per-layer ones fixed")
    p.add_argument("--clock-period", type=float, help="ns (default: the board's)")
    p.add_argument("--precision", help="default precision, e.g. 'ap_fixed<16,6>'")
    p.add_argument("--input-precision", help="the design's input type (default: the input quantizer's, else "
                   "32 bits sized from --calibration)")
    p.add_argument("--calibration", help=".npy/.npz of representative inputs (float models: sizes the types)")
    p.add_argument("--allow-slow-compile", action="store_true", default=None,
                   help="search io_parallel also for a CNN too large for g++ to compile in minutes (default: "
                   "io_stream only for those)")
    _custom_objects_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("csim", help="compile (cached) and run the C simulation; compare with the reference")
    p.add_argument("project", help="hls_projects/NAME")
    p.add_argument("--input", required=True, help=".npy (or .npz with x) of input samples")
    p.add_argument("--output", help=".npy to write the predictions to")
    p.add_argument("--reference", help="QKeras model: report agreement, exit 3 unless bit-exact")
    p.add_argument("--labels", help=".npy of labels: also report accuracy")
    p.add_argument("--report", help="write the agreement report as JSON")
    p.add_argument("--plot", help="with --reference: the per-layer agreement figure (report.plot()), *.png or *.svg")
    p.add_argument("--workers", type=_positive_int,
                   help="processes for csim prediction, from 1,024 samples on (default: 1)")
    p.add_argument("--engine", choices=["csim", "emulator", "auto"],
                   help="csim (compiled C++), emulator (numpy, bit-exact, no compiler) or auto (the emulator once "
                        "it matched csim on the first samples); default: auto from 256 samples, else csim")
    _custom_objects_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite --output/--report/--plot files")
    p.set_defaults(func=cmd_csim)

    p = sub.add_parser("estimate", help="resources and latency on the board, in seconds, without Vivado",
                       description="Estimate a design: a project of this toolkit (hls_projects/NAME), any hls4ml "
                                   "project directory (firmware/parameters.h), or a Keras model with --config "
                                   "(hls4ml YAML). Exit 4 when it does not fit; UNCERTAIN (the error band straddles "
                                   "the limit) exits 0.")
    p.add_argument("project", nargs="?", help="hls_projects/NAME, an hls4ml project directory, or a Keras model file")
    p.add_argument("--model", help="a Keras model file (with --config)")
    p.add_argument("--config", help="hls4ml YAML configuration for --model (HLSConfig, IOType, ClockPeriod, Part)")
    p.add_argument("--part", help="FPGA part (default: the project's, else the board's): 7-series or UltraScale DSP rules")
    p.add_argument("--board", help="board to check against (default: the project's, else pynq-z2)")
    p.add_argument("--figure", default="synth", choices=["synth", "csynth"],
                   help="predict post-synthesis utilisation (default) or the HLS csynth estimate")
    p.add_argument("--margin", type=float, default=0.8, help="share of each resource that counts as fitting")
    p.add_argument("--json", action="store_true")
    _trust_flag(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("report", help="estimate beside the build's reports (HLS C-synthesis, Vivado) and the "
                                      "convert-time csim verdict, with the estimate's error on this design")
    p.add_argument("project", help="hls_projects/NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("profile", help="per layer: weights and activations on --input against the layer's type "
                                       "(PNG/SVG figure)")
    p.add_argument("project", help="hls_projects/NAME, or a Keras/QKeras model file (.h5/.keras): its own values "
                                   "against the types converting it would derive (default settings)")
    p.add_argument("--input", required=True, help="samples (.npy/.npz) the activations are traced on")
    p.add_argument("-o", "--output", required=True, help="figure file: *.png or *.svg")
    p.add_argument("--engine", choices=["csim", "emulator", "auto"], default=None,
                   help="what computes the activations (default: as predict picks)")
    p.add_argument("--dpi", type=_positive_int, default=80)
    p.add_argument("--force", action="store_true", help="overwrite the figure")
    _custom_objects_flag(p)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("sweep", help="grid over bits x reuse factor x io_type x ... on Dask; table + Pareto plot")
    p.add_argument("spec", help="sweep.yml")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    p.add_argument("--workers", type=_positive_int, default=2, help="local cluster worker processes")
    _trust_flag(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("build", help="HLS + Vivado: reports, bitstream, bundle in bitstreams/NAME")
    p.add_argument("project", nargs="?", help="hls_projects/NAME")
    p.add_argument("--steps", help="of csim,synth,cosim,export,bitfile (default csim,synth,export,bitfile)")
    p.add_argument("--flow", default="auto", help="a build flow (`fpga-accel doctor` lists them): vitis: Vitis "
                   "HLS + Vivado 2023.1+; vivado-hls: hls4ml's flow, Vivado HLS <= 2020.1; auto (default): the "
                   "first whose tools are on PATH")
    p.add_argument("--check", action="store_true", help="say which flows this machine can run (as `doctor`)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--output-dir", default="bitstreams", help="where the bundle goes")
    p.add_argument("--force", action="store_true", help="overwrite an existing bundle")
    _trust_flag(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("doctor", help="which build flows this machine can run: tools, versions, board files")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("deploy", help="copy a bundle + runtime to a PYNQ board over ssh, install, self-test")
    p.add_argument("bundle", help="bitstreams/NAME")
    p.add_argument("--host", required=True)
    p.add_argument("--user", default="xilinx")
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--identity", help="private key file (key-based auth only; no passwords)")
    p.add_argument("--ssh-option", action="append", default=[], help="extra ssh -o option (repeatable)")
    p.add_argument("--python", default="python3", help="the board's Python")
    p.add_argument("--remote-dir", default="fpga_accel", help="folder on the board (relative to home)")
    p.add_argument("--connect-timeout", type=float, default=20, help="seconds to reach the board (default 20)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds each step (copy, install, self-test) "
                   "may take (default 1800)")
    p.add_argument("--project", help="hls_projects/NAME the bundle was made from: the self-test is recorded in "
                   "its fpga_accel.json for `fpga-accel report` (default: hls_projects/NAME when it is that design)")
    p.add_argument("--dry-run", action="store_true", help="print the ssh/scp commands, run nothing")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("package", help="bundle + runtime wheel + notebook as .tar.gz (for SD-card boards)")
    p.add_argument("bundle", help="bitstreams/NAME")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("flow", help="run the pipeline's steps from a project file: quantize, convert, csim, "
                       "estimate, build, bundle (deploy with --to deploy); unchanged steps are skipped")
    p.add_argument("project_file", help="YAML project file (model, data, convert keys, quantize:, build:, deploy:), "
                   "or hls4ml's own YAML")
    p.add_argument("--from", dest="start", choices=STEPS, help="first step to run (default quantize)")
    p.add_argument("--to", dest="stop", choices=STEPS, help="last step to run (default bundle)")
    p.add_argument("--steps", choices=["host", "board"], help="a named subset: host (quantize..estimate, no "
                   "vendor tools) or board (build..deploy)")
    p.add_argument("--force", action="store_true", help="run every selected step even if its inputs are unchanged")
    _trust_flag(p)
    p.set_defaults(func=cmd_flow)

    p = sub.add_parser("bundle", help="project + .bit/.hwh built elsewhere → deployment bundle bitstreams/NAME")
    p.add_argument("project", help="hls_projects/NAME")
    p.add_argument("--bit", required=True, help="the bitstream (e.g. design_1_wrapper.bit)")
    p.add_argument("--hwh", required=True, help="its hardware handoff (e.g. design_1.hwh)")
    p.add_argument("--vectors", help=".npy of test inputs to bundle (default: 32 random samples)")
    p.add_argument("--output-dir", default="bitstreams")
    p.add_argument("--force", action="store_true", help="overwrite an existing bundle")
    _trust_flag(p)
    p.set_defaults(func=cmd_bundle)

    backends = ["auto", "pynq", "csim", "simulated"]
    p = sub.add_parser("run", help="predict with a bundle or project: FPGA on a PYNQ board, else csim")
    p.add_argument("bundle", help="bitstreams/NAME or hls_projects/NAME")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--backend", default="auto", choices=backends)
    p.add_argument("--max-batch", type=int, default=1024, help="samples per DMA transfer (pynq)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bench", help="inferences/s and latency p50/p99 of a bundle or project")
    p.add_argument("bundle")
    p.add_argument("--batch", type=_positive_int, default=256)
    p.add_argument("--calls", type=_positive_int, default=20)
    p.add_argument("--backend", default="auto", choices=backends)
    p.add_argument("--max-batch", type=int, default=1024)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .fit_search import NoFitError  # light (settings and boards): exits 4 (does not fit)

    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_output(args.verbose)
    import signal

    _trust_model_code(getattr(args, "trust_model_code", None))

    def terminated(signum: int, frame: Any) -> None:  # SIGTERM unwinds like Ctrl-C: temp folders, compilers
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated) if _main_thread() else None
    quiet: _QuietUnflushableFiles | None = None
    try:
        return int(args.func(args))
    except InputError as exc:
        log.error("bad input: %s", exc)
        return EXIT_ERROR
    except NotExactError as exc:
        log.error("not exact: %s", exc)
        return EXIT_NOT_EXACT
    except NoFitError as exc:
        log.error("%s", exc)
        return _outcome(EXIT_DOES_NOT_FIT)
    except SelfTestError as exc:
        if exc.result is not None:
            print(exc.result.format())
        log.error("%s", exc)
        return _outcome(EXIT_SELFTEST_FAILED)
    except FpgaAccelError as exc:
        log.error("%s", exc)
        return EXIT_ERROR
    except OSError as exc:  # a full disk or a permission met despite the checks before the work
        log.error("%s", _os_error(exc))
        quiet = _QuietUnflushableFiles()
        return EXIT_ERROR
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    finally:
        if quiet is not None:
            quiet.restore()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        while _TRUST_BEFORE:  # a library caller's environment is as it was
            name, before = _TRUST_BEFORE.pop()
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
