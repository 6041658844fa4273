"""Mutation check: each test in the table below can fail — it passes on the code as it is and fails when
the code it guards is broken by one literal source edit (issue 20: tests that could not fail).

Run with `make mutation-check` (or `.venv/bin/python benchmarks/mutation_check.py [--only TEXT ...]`).
The tree (fpga_accel/, tests/, notebooks/, pyproject.toml) is copied into a temporary folder; every run
happens there, so the working tree is never modified, even when a run is interrupted. In the copy:

1. every entry's ``old`` text must occur exactly once in its file (a stale entry is an error, not a pass);
2. the selected tests run once, unmutated, and must all pass;
3. per entry, ``old`` is replaced by ``new``, the one test runs and must FAIL — an assertion failure
   in the test itself, not an error in a fixture or at collection — and the file is put back.

Writes benchmarks/mutation_check.md (the table, with each failure's first line); exits 1 when an entry
does not behave. Each mutation is chosen to fail before a csim compile where the test allows it.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("fpga_accel", "tests", "notebooks", "pyproject.toml")
TIMEOUT = 1800
"""Seconds one pytest run may take (the notebook entry converts and compiles the quickstart design)."""


@dataclasses.dataclass(frozen=True)
class Mutation:
    test: str
    """pytest node id, from the repository root."""
    path: str
    """The file the edit applies to."""
    old: str
    """Text that occurs exactly once in ``path``."""
    new: str
    """What replaces it: a change that disables what the test guards."""
    guards: str
    """What the test guards (and why it could not fail before issue 20), in words."""


MUTATIONS = (
    Mutation("tests/test_compare.py::test_qdense_softmax_on_the_host_compares_logits",
             "fpga_accel/model_io.py",
             'if type(last).__name__ not in ("Softmax", "Activation", "QActivation"):',
             "if False:",
             "softmax='host' refuses a softmax inside a QDense (the test used to turn the refusal into a skip)"),
    Mutation("tests/robustness/test_settings_schema.py::test_convert_settings_are_valid_or_a_config_error[margin]",
             "fpga_accel/config.py",
             "        if not 0 < self.margin <= 1:\n",
             "        if False:\n",
             "every accepted convert setting is valid (a margin outside (0, 1] must be refused)"),
    Mutation("tests/robustness/test_settings_schema.py::test_quantize_settings_are_valid_or_a_config_error"
             "[weight_bits]",
             "fpga_accel/config.py",
             "            if not 2 <= getattr(self, key) <= 24:\n",
             "            if False:\n",
             "every accepted quantize setting is valid (bit widths 2..24)"),
    Mutation("tests/robustness/test_settings_schema.py::test_valid_convert_settings_are_accepted_as_given",
             "fpga_accel/config.py",
             '        if not isinstance(self.name, str) or not _NAME.match(self.name):\n',
             '        raise ConfigError("rejects everything")\n        if False:\n',
             "the property above returns on every ConfigError: a schema that rejects everything passed it"),
    Mutation("tests/robustness/test_settings_schema.py::test_valid_quantize_settings_are_accepted_as_given",
             "fpga_accel/config.py",
             '        for key in ("weight_bits", "weight_integer", "bias_bits", "bias_integer", "activation_bits",\n',
             '        raise ConfigError("rejects everything")\n'
             '        for key in ("weight_bits", "weight_integer", "bias_bits", "bias_integer", "activation_bits",\n',
             "the same for the quantize settings"),
    Mutation("tests/test_exact_types.py::test_hls4ml_flows_are_restored_after_convert",
             "fpga_accel/hls/exact_types.py",
             "remove_passes=_REPLACED_HLS4ML_PASSES,",
             "remove_passes={},",
             "the merge passes are out of hls4ml's flows during convert (it passed with a no-op exact_flows)"),
    Mutation("tests/test_exact_types.py::test_hls4ml_flows_are_restored_after_convert",
             "fpga_accel/hls/boundary.py",
             "undo.append(lambda f=flow, o=original: flows.__setitem__(f, o))",
             "undo.append(lambda: None)",
             "hls4ml's own flow objects are back after convert"),
    Mutation("tests/test_import_graph.py::test_analysis_never_imports_a_stage_and_no_stage_another",
             "fpga_accel/analysis/reports.py",
             "from __future__ import annotations\n",
             "from __future__ import annotations\n\n\ndef _mutant():\n    from ..stages.convert import convert\n",
             "analysis never imports a stage, lazily either (test_flow's old check missed analysis -> stages)"),
    Mutation("tests/test_import_graph.py::test_the_package_has_no_import_cycle",
             "fpga_accel/layout.py",
             "from .errors import ConfigError\n",
             "from .errors import ConfigError\n\n\ndef _mutant():\n    from .design import Design\n",
             "no import cycle, lazy imports included (issue 20 found two)"),
    Mutation("tests/robustness/test_every_command.py::test_a_mistake_is_one_line_and_changes_nothing"
             "[estimate-missing-project]",
             "fpga_accel/hls/foreign_project.py",
             'raise InputError(f"{root}: neither a project of this toolkit',
             'raise InputError(f"{root.name}: neither a project of this toolkit',
             "the message names the path given in full (the expected text 'none' is in any echoed path)"),
    Mutation("tests/robustness/test_every_command.py::test_a_mistake_is_one_line_and_changes_nothing"
             "[csim-wrong-input-shape]",
             "fpga_accel/runtime/validate.py",
             "the design expects (batch,) + {shape}{hint}",
             "the design expects (batch,) + {arr.shape[1:]}{hint}",
             "the message says the expected shape ('16' is in many a tmp path)"),
    Mutation("tests/test_fidelity.py::test_float_model_agrees_on_argmax[float_dense_softmax_arg-io_parallel]",
             "fpga_accel/design.py",
             'f"argmax agreement        {self.argmax_agreement:.2%}"',
             'f"argmax agreement        {self.bit_exact:.2%}"',
             "the report prints the measured argmax agreement (the test asserted a label the format always has)"),
    Mutation("tests/test_notebooks.py::test_board_notebook_falls_back_to_csim",
             "fpga_accel/runtime/accelerator.py",
             'backend = "pynq" if bundle.has_bitstream and pynq_available() else "csim"',
             'backend = "pynq"',
             "the board notebook off-board falls back to csim (run alone: it no longer depends on test order)"),
    Mutation("tests/robustness/test_security.py::test_batchmode_no_is_accepted_because_it_cannot_undo_batchmode_yes",
             "fpga_accel/stages/deploy.py",
             '        args = ["-o", "BatchMode=yes"]\n',
             "        args = []\n",
             "fpga_accel's BatchMode=yes comes first, so a user's BatchMode=no cannot undo it (ssh -G)"),
    Mutation("tests/test_hls_boundary.py::test_a_pass_renamed_upstream_stops_conversion_naming_it"
             "[convert-merge_linear_activation]",
             "fpga_accel/hls/boundary.py",
             "for p in removed if p not in present]",
             "for p in removed if False]",
             "a pass renamed upstream stops conversion with an error naming it"),
    Mutation("tests/test_hls_boundary.py::test_plain_hls4ml_after_convert_is_hls4mls_own",
             "fpga_accel/hls/boundary.py",
             "undo.append((lambda h=handlers, k=key, o=original: h.__setitem__(k, o)) if had",
             "undo.append((lambda: None) if had",
             "hls4ml's own layer handlers are back after convert"),
    Mutation("tests/test_layout_names.py::test_no_project_file_name_outside_layout",
             "fpga_accel/runtime/emulator.py",
             "axi_h = ProjectLayout(Path(root), project_name).axi_h",
             'axi_h = Path(root) / "firmware" / f"{project_name}_axi.h"',
             "every path of a project comes from layout (a file name written elsewhere is found)"),
    Mutation("tests/test_emulator.py::test_a_flow_asking_for_the_emulator_gets_csim_where_it_does_not_cover",
             "fpga_accel/engines.py",
             '        log.info("design %s: %s; running csim", name, exc.reason)\n        return run("csim")\n',
             "        raise\n",
             "a flow or sweep asking for the emulator gets csim for a design the emulator does not cover"),
    Mutation("tests/test_compare.py::test_model_without_softmax_compares_outputs",
             "fpga_accel/stages/csim.py",
             "    y, report = design.predict_compare(",
             "    design.predict(x, workers=workers, progress=progress, engine=engine)\n"
             "    y, report = design.predict_compare(",
             "csim --reference runs the design over the batch once (it predicted, then compare predicted again)"),
    Mutation("tests/test_hls_boundary.py::test_the_utilization_report_is_added_to_hls4mls_design_tcl_once_or_refused",
             "fpga_accel/hls/generated.py",
             "    if IMPLEMENTED_RUN not in text:\n",
             "    if False:\n",
             "the build's edit of hls4ml's design.tcl refuses a script that is not hls4ml 1.3's"),
    Mutation("tests/test_hls_boundary.py::test_a_node_key_renamed_upstream_stops_conversion_naming_it",
             "fpga_accel/hls/boundary.py",
             "        problems += key_problems(hls4ml.backends.get_backend(changes.backend))\n",
             "        problems += []\n",
             "a node key renamed upstream stops conversion with an error naming it (get_attr returned None silently)"),
    Mutation("tests/test_hls_boundary.py::test_every_node_key_is_checked_where_hls4ml_declares_it",
             "fpga_accel/hls/node_keys.py",
             """            elif f"'{key.name}'" not in text and f'"{key.name}"' not in text:\n""",
             "            elif False:\n",
             "a key hls4ml writes in its code (not a declared attribute) is checked there too"),
    Mutation("tests/test_hls_boundary.py::test_hls4ml_config_names_the_final_folder_however_the_path_is_written",
             "fpga_accel/hls/generated.py",
             "            real = os.path.realpath(node.value)\n",
             "            real = node.value\n",
             "hls4ml_config.yml names the final folder for a path through a symlink and '..', folded by YAML"),
    Mutation("tests/test_hls_boundary.py::test_fpga_accels_own_deprecations_fail_a_test_outside_pytest_warns",
             "pyproject.toml",
             '    "error::fpga_accel.errors.FpgaAccelDeprecationWarning",\n',
             "",
             "fpga_accel's own deprecations are errors in its test suite outside pytest.warns"),
    Mutation("tests/test_vitis_flow.py::test_a_top_prototype_it_cannot_read_is_refused_naming_the_header",
             "fpga_accel/runtime/axis_wrapper.py",
             '        raise ConfigError(f"{where} does not declare the top function',
             '        return "input_t", "result_t"\n        raise ConfigError(f"{where} does not declare the top function',
             "the hls::axis wrapper refuses a top prototype it cannot read (it guessed input_t/result_t)"),
    Mutation("tests/test_batchnorm_fold.py::test_batchnorm_class_names_are_one_tuple",
             "fpga_accel/stages/quantize.py",
             "and type(nxt).__name__ == KERAS_BATCHNORM_CLASS and",
             'and type(nxt).__name__ == "BatchNormalization" and',
             "the Keras batch-norm class names are one tuple (a module spelling one again is found)"),
    Mutation("tests/test_batchnorm_fold.py::test_batchnorm_class_names_are_one_tuple",
             "fpga_accel/hls/exact_types.py",
             "                                     for cls in BATCHNORM_CLASSES}",
             '                                     for cls in ("BatchNormalization", "QBatchNormalization")}',
             "the Keras-2 batch-norm handlers are changed for the one tuple (exact_types spelled its own)"),
    Mutation("tests/test_hls_boundary.py::test_node_keys_are_spelled_only_in_the_table",
             "fpga_accel/hls/exact_types.py",
             "        return int(node.get_attr(keys.N_IN))\n",
             '        return int(node.get_attr("n_in"))\n',
             "hls4ml node keys are read through the one table the boundary checks (exact_types spelled ~90)"),
    Mutation("tests/test_notebooks.py::test_a_notebook_using_deprecated_api_fails",
             "tests/test_notebooks.py",
             "    nb.cells = [nbformat.v4.new_code_cell(APPLY_FILTERS), *nb.cells,\n",
             "    nb.cells = [*nb.cells,\n",
             "a notebook's kernel gets the suite's warning filters (fpga_accel's deprecations are errors there too)"),
    Mutation("tests/test_profile.py::test_agreement_plot_of_a_bit_exact_design_shows_every_traced_layer",
             "fpga_accel/design.py",
             "        elif layers:  # bit-exact: every traced layer measured too",
             "        elif False:  # bit-exact: every traced layer measured too",
             "a bit-exact design's agreement plot shows every traced layer (it drew one 'outputs' bar)"),
    Mutation("tests/test_batchnorm_fold.py::test_keras_values_are_read_one_way_on_both_stacks",
             "fpga_accel/hls/values.py",
             "    return np.asarray(array, dtype=dtype)\n",
             "    return np.asarray(array)\n",
             "a Keras variable, a tensor and an array are read alike, as the dtype asked for"),
    Mutation("tests/test_conventions.py::test_every_logger_is_under_fpga_accel",
             "fpga_accel/cli.py",
             'log = logging.getLogger("fpga_accel.cli")',
             'log = logging.getLogger("fpga_accel.command_line")',
             "every logger is named after its module (the estimator's once was not)"),
)


def _copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.so", ".hypothesis", ".pytest_cache", ".ipynb_checkpoints")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copyfile(source, dest / name)


def _stale(tree: Path, mutations: list[Mutation]) -> list[str]:
    """Entries whose ``old`` text does not occur exactly once in their file."""
    problems = []
    for m in mutations:
        path = tree / m.path
        count = path.read_text().count(m.old) if path.is_file() else 0
        if count != 1:
            problems.append(f"{m.test}: {m.path} has the text {count} times, not once: {m.old!r}")
    return problems


@dataclasses.dataclass
class Outcome:
    passed: set[str]
    failed: dict[str, str]
    """node id → the failure's first line (assertion failures in the test only)."""
    errors: dict[str, str]
    """node id → an error at set-up, in a fixture or at collection (not the test failing)."""
    seconds: float


def _node_id(case: ET.Element) -> str:
    path = case.get("classname", "").replace(".", "/")  # tests.robustness.test_x → tests/robustness/test_x
    return f"{path}.py::{case.get('name')}"


def _first_line(text: str, tree: Path) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    line = re.sub(r"\b0x[0-9a-f]+\b", "0x…", line)  # object addresses differ from run to run
    return line.replace(str(tree) + "/", "").replace(str(tree), ".")[:200]


def _pytest(tree: Path, tests: list[str], python: str, tag: str) -> Outcome:
    report = tree / f"junit-{tag}.xml"
    (tree / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tree / 'tmp' / tag}",
           f"--junitxml={report}", "-o", "junit_family=xunit1", *tests]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - t0
    if not report.is_file():
        raise SystemExit(f"pytest wrote no report ({tag}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    outcome = Outcome(set(), {}, {}, seconds)
    for case in ET.parse(report).getroot().iter("testcase"):
        node = _node_id(case)
        failure, error = case.find("failure"), case.find("error")
        if failure is not None:
            outcome.failed[node] = _first_line(failure.get("message", "") or failure.text or "", tree)
        elif error is not None:
            outcome.errors[node] = _first_line(error.get("message", "") or error.text or "", tree)
        elif case.find("skipped") is None:
            outcome.passed.add(node)
    if not outcome.passed and not outcome.failed and not outcome.errors:
        outcome.errors.update({t: _first_line(proc.stdout[-500:], tree) for t in tests})
    return outcome


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "\\n")


def run(mutations: list[Mutation], python: str) -> tuple[list[dict], bool]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="fa_mutation_") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        stale = _stale(tree, mutations)
        if stale:
            raise SystemExit("stale mutation entries (the code moved on: update the table):\n" + "\n".join(stale))
        tests = sorted({m.test for m in mutations})
        print(f"clean run of {len(tests)} tests ...", flush=True)
        clean = _pytest(tree, tests, python, "clean")
        for i, m in enumerate(mutations):
            path = tree / m.path
            original = path.read_text()
            try:
                path.write_text(original.replace(m.old, m.new, 1))
                print(f"[{i + 1}/{len(mutations)}] {m.test} with {m.path} mutated ...", flush=True)
                mutated = _pytest(tree, [m.test], python, f"m{i}")
            finally:
                path.write_text(original)
            ok = m.test in clean.passed and m.test in mutated.failed
            rows.append({"mutation": m, "clean": "passes" if m.test in clean.passed else
                         f"does not pass: {clean.failed.get(m.test) or clean.errors.get(m.test, 'not run')}",
                         "mutated": "fails" if m.test in mutated.failed else "passes" if m.test in mutated.passed
                         else f"error, not a failure: {mutated.errors.get(m.test, 'not run')}",
                         "why": mutated.failed.get(m.test, ""), "seconds": mutated.seconds, "ok": ok})
            print(f"    {'ok' if ok else 'NOT OK'}: {rows[-1]['mutated']} ({mutated.seconds:.0f} s)", flush=True)
        print(f"clean run: {clean.seconds:.0f} s", flush=True)
    return rows, all(r["ok"] for r in rows)


def markdown(rows: list[dict]) -> str:
    lines = ["# Mutation check", "",
             "Made by `make mutation-check` (benchmarks/mutation_check.py): each test passes on the code as it is "
             "and fails when the code it guards is broken by the edit shown (one run per row, in a copy of the "
             "tree).", "",
             "| test | guards | edit | clean | mutated | how it fails | s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        m: Mutation = r["mutation"]
        edit = f"`{m.path}`: `{_cell(m.old.strip())}` → `{_cell(m.new.strip())}`"
        lines.append(f"| `{_cell(m.test.replace('tests/', ''))}` | {_cell(m.guards)} | {edit} | {r['clean']} | "
                     f"{'**' + r['mutated'] + '**' if r['ok'] else r['mutated']} | {_cell(r['why'])} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], help="entries whose test id contains any of these texts")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest")
    parser.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "mutation_check.md",
                        help="where the table goes ('-': nowhere)")
    parser.add_argument("--list", action="store_true", help="print the table's entries and stop")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or any(o in m.test for o in args.only)]
    if args.list or not chosen:
        for m in chosen or MUTATIONS:
            print(f"{m.test}\n    {m.path}: {m.old.strip()!r} -> {m.new.strip()!r}")
        return 0 if args.list else 1
    rows, ok = run(chosen, args.python)
    if str(args.markdown) != "-":
        args.markdown.write_text(markdown(rows))
        print(f"wrote {args.markdown}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
