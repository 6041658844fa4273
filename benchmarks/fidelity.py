"""Fidelity benchmark: how often csim reproduces QKeras bit for bit, model by model (tests/fidelity_zoo.py).

Run with `make fidelity` (or `.venv/bin/python benchmarks/fidelity.py [--only ID ...] [--io-type T ...]
[--readme]`). Every zoo model is converted in each io type into a temporary folder, compiled, and compared
with its QKeras reference on uniform float32 inputs: bit-exact % of samples (logits for softmax models),
argmax agreement, max |csim - QKeras|, the first diverging layer — or the ConfigError that refused it, or the
error that broke it. Writes the Markdown table to benchmarks/fidelity.md; with --readme also replaces the
text between `<!-- fidelity:start -->` and `<!-- fidelity:end -->` in README.md (if both markers exist).

The models run in a worker process, one after the other: a model whose csim crashes the process or runs
longer than --timeout is recorded as an error and the run goes on with a fresh worker.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the zoo

from fidelity_zoo import ALL, FLOAT_MODELS, N_SAMPLES, ZOO  # noqa: E402

IO_TYPES = ("io_parallel", "io_stream")
START, END = "<!-- fidelity:start -->", "<!-- fidelity:end -->"


# ------------------------------------------------------------------------------------------ worker


def short(text: str, limit: int = 240) -> str:
    """One line, file paths cut to their base names, at most ``limit`` characters."""
    text = re.sub(r"(?:/[^\s:/'\"]+)+/([^\s/:'\"]+)", r"\1", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(exc: BaseException, limit: int = 240) -> str:
    text = str(exc)
    errors = [line for line in text.splitlines() if "error:" in line]
    if errors:  # a failed g++ run: its first error says more than the command line
        text = text.splitlines()[0] + " " + errors[0]
    return short(f"{type(exc).__name__}: {text or '(no message)'}", limit)


def measure(entry_id: str, io_type: str, workdir: Path, n: int, seed: int) -> dict:
    """Convert, compile and compare one zoo model in one io type; never raises."""
    import fpga_accel as fa

    entry = ALL[entry_id]
    result: dict = {"id": entry_id, "io_type": io_type, "status": "error", "message": None}
    t0 = time.perf_counter()
    try:
        model = entry.model(seed)
        x = entry.inputs(model, seed, n=n)
        config = fa.ConvertConfig(name=entry_id, output_dir=workdir / io_type, io_type=io_type)
        try:
            design = fa.convert(model, config, calibration=x)
        except fa.ConfigError as exc:
            result.update(status="refused", message=short(str(exc), 400),
                          expected=bool(entry.refusal and entry.refusal in str(exc)))
            return result
        design.compile()
        report = design.compare(model, x)
        result.update(
            status="ok", bit_exact=report.bit_exact, element_exact=report.element_exact,
            argmax=report.argmax_agreement, max_abs_diff=report.max_abs_diff, compared=report.compared,
            output_max_abs_diff=report.output_max_abs_diff, first_divergent_layer=report.first_divergent_layer,
            layer_exact=report.layer_exact, n_samples=report.n_samples,
            expected_refusal=entry.refusal)
        design.close()
    except Exception as exc:  # noqa: BLE001 — one model's failure must not stop the run
        result.update(status="error", message=one_line(exc))
    finally:
        result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def worker(jobs_file: Path, results_file: Path, workdir: Path, n: int, seed: int) -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("fpga_accel").setLevel(logging.ERROR)
    jobs = json.loads(jobs_file.read_text())
    with results_file.open("a") as out:
        for entry_id, io_type in jobs:
            out.write(json.dumps({"start": [entry_id, io_type], "t": time.time()}) + "\n")
            out.flush()
            result = measure(entry_id, io_type, workdir, n, seed)
            out.write(json.dumps({"result": result}) + "\n")
            out.flush()
            try:
                from tensorflow import keras

                keras.backend.clear_session()
            except Exception:  # noqa: BLE001
                pass


# ------------------------------------------------------------------------------------------ parent


def run_jobs(jobs: list[tuple[str, str]], tmp: Path, n: int, seed: int, timeout: float) -> dict:
    """Run jobs in worker processes; a crash or a timeout costs one job and a worker restart."""
    results: dict[tuple[str, str], dict] = {}
    pending = list(jobs)
    env = dict(os.environ, FPGA_ACCEL_CACHE=str(tmp / "csim_cache"), TF_CPP_MIN_LOG_LEVEL="3")
    total, round_no = len(jobs), 0
    while pending:
        round_no += 1
        jobs_file, results_file = tmp / f"jobs{round_no}.json", tmp / f"results{round_no}.jsonl"
        jobs_file.write_text(json.dumps(pending))
        cmd = [sys.executable, __file__, "--worker", "--jobs-file", str(jobs_file), "--results-file",
               str(results_file), "--workdir", str(tmp / "projects"), "--n", str(n), "--seed", str(seed)]
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=open(tmp / f"worker{round_no}.log", "w"))
        seen = 0
        current: tuple[tuple[str, str], float] | None = None
        timed_out = False
        while True:
            done = proc.poll() is not None
            lines = results_file.read_text().splitlines() if results_file.exists() else []
            for line in lines[seen:]:
                if not line.endswith("}"):
                    break  # partially written
                seen += 1
                record = json.loads(line)
                if "start" in record:
                    current = (tuple(record["start"]), time.monotonic())
                else:
                    r = record["result"]
                    results[(r["id"], r["io_type"])] = r
                    current = None
                    print(f"[{len(results):3d}/{total}] {progress_line(r)}", flush=True)
            if done:
                break
            if current is not None and time.monotonic() - current[1] > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.5)
        pending = [job for job in pending if job not in results]
        if not pending:
            break
        # the worker died (or was killed) during `current`, or before it started anything
        crashed = current[0] if current is not None else pending[0]
        if timed_out:
            message = f"timed out after {timeout:.0f} s (worker killed)"
        else:
            code = proc.returncode
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            log = (tmp / f"worker{round_no}.log").read_text().strip().splitlines()
            last = next((line for line in reversed(log) if "Assertion" in line or "rror" in line), log[-1] if log else "")
            message = short(f"worker process died ({how})" + (f": {last}" if last else ""))
        r = {"id": crashed[0], "io_type": crashed[1], "status": "error", "message": message}
        results[crashed] = r
        print(f"[{len(results):3d}/{total}] {progress_line(r)}", flush=True)
        pending = [job for job in pending if job != crashed]
    return results


def progress_line(r: dict) -> str:
    head = f"{r['id']:34s} {r['io_type']:11s}"
    if r["status"] == "ok":
        extra = f"  first diverging layer {r['first_divergent_layer']}" if r.get("first_divergent_layer") else ""
        return (f"{head} bit-exact {pct(r['bit_exact']):>7s}  argmax {pct(r['argmax']):>7s}  "
                f"max|diff| {r['max_abs_diff']:.3g}  ({r.get('seconds', 0):.1f} s){extra}")
    return f"{head} {r['status']}: {r['message']}"


# ------------------------------------------------------------------------------------------ report


def pct(v: float | None) -> str:
    """Percent, never rounded up to 100 % (or down to 0 %) when not exactly there."""
    if v is None:
        return "–"
    if v >= 1.0:
        return "100 %"
    if v <= 0.0:
        return "0 %"
    return f"{min(max(math.floor(v * 1000) / 10, 0.1), 99.9):.1f} %"


def cell(r: dict | None, key: str = "bit_exact", limit: int = 90) -> str:
    if r is None:
        return "–"
    if r["status"] == "ok":
        return pct(r[key])
    text = f"{r['status']}: {r['message']}"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def esc(text: str) -> str:
    return text.replace("|", "\\|")


def render(results: dict, io_types: tuple[str, ...], n: int) -> tuple[str, str]:
    """(table for README, full Markdown for benchmarks/fidelity.md)."""
    ids_q = [i for i in ZOO if any((i, io) in results for io in io_types)]
    ids_f = [i for i in FLOAT_MODELS if any((i, io) in results for io in io_types)]
    lines: list[str] = []
    if ids_q:
        per_io = {io: sum(1 for i in ids_q if results.get((i, io), {}).get("bit_exact") == 1.0) for io in io_types}
        both = sum(1 for i in ids_q if all(results.get((i, io), {}).get("bit_exact") == 1.0 for io in io_types))
        refused = sum(1 for i in ids_q if all(results.get((i, io), {}).get("status") == "refused" for io in io_types))
        summary = ", ".join(f"{io} {k}/{len(ids_q)}" for io, k in per_io.items())
        lines += [f"QKeras models bit-exact in csim on {n} uniform float32 inputs each: **{both} of {len(ids_q)}** "
                  f"in {' and '.join(io_types)} ({summary}); refused up front: {refused}. Softmax models compare "
                  "logits; argmax is over the final outputs.", ""]
        head = "| model | kind | " + " | ".join(f"{io} bit-exact" for io in io_types) + " | argmax |"
        lines += [head, "|" + "---|" * (3 + len(io_types))]
        for i in ids_q:
            rs = [results.get((i, io)) for io in io_types]
            argmax = " / ".join(pct(r["argmax"]) if r and r["status"] == "ok" else "–" for r in rs)
            lines.append(f"| `{i}` | {esc(ZOO[i].kind)} | " + " | ".join(cell(r) for r in rs) + f" | {argmax} |")
        lines.append("")
    if ids_f:
        lines += ["Float (non-QKeras) models: argmax agreement (goal ≥ 99 %).", ""]
        head = "| model | kind | " + " | ".join(f"{io} argmax" for io in io_types) + " | max \\|diff\\| |"
        lines += [head, "|" + "---|" * (3 + len(io_types))]
        for i in ids_f:
            rs = [results.get((i, io)) for io in io_types]
            diffs = [r["max_abs_diff"] for r in rs if r and r["status"] == "ok"]
            diff = f"{max(diffs):.3g}" if diffs else "–"
            lines.append(f"| `{i}` | {esc(FLOAT_MODELS[i].kind)} | " + " | ".join(cell(r, "argmax") for r in rs)
                         + f" | {diff} |")
        lines.append("")
    table = "\n".join(lines).rstrip() + "\n"

    details = ["| model | io_type | result | max \\|diff\\| | first diverging layer | note |", "|---|---|---|---|---|---|"]
    for i in ids_q + ids_f:
        for io in io_types:
            r = results.get((i, io))
            if r is None:
                continue
            if r["status"] == "ok":
                exact = r["bit_exact"] == 1.0 if i in ZOO else r["argmax"] >= 0.99
                if exact and not r.get("expected_refusal"):
                    continue
                layer = r.get("first_divergent_layer")
                layer_txt = f"`{layer}` ({pct(r['layer_exact'][layer])} exact)" if layer else "–"
                note = f"expected refusal ({r['expected_refusal']!r}) but converted" if r.get("expected_refusal") else ""
                if r.get("compared") == "logits":
                    note = (note + "; " if note else "") + (f"logits compared; softmax outputs max error "
                                                            f"{r['output_max_abs_diff']:.3g}")
                res = f"{pct(r['bit_exact'])} bit-exact, argmax {pct(r['argmax'])}"
                details.append(f"| `{i}` | {io} | {res} | {r['max_abs_diff']:.3g} | {layer_txt} | {esc(note)} |")
            else:
                note = "expected" if r.get("expected") else ""
                details.append(f"| `{i}` | {io} | {r['status']} | – | – | {esc(r['message'] or '')}"
                               f"{' (' + note + ')' if note else ''} |")
    import hls4ml

    doc = ["# Fidelity zoo: csim vs QKeras", "",
           f"Generated by `make fidelity` (`benchmarks/fidelity.py`), hls4ml {hls4ml.__version__}, "
           f"{n} samples per model from `np.random.default_rng(0).uniform(low, high)`; models in "
           "`tests/fidelity_zoo.py`, tested by `tests/test_fidelity.py` (`pytest -m fidelity`).", "",
           table, "## Models that are not bit-exact", ""]
    doc += details if len(details) > 2 else ["None."]
    return table, "\n".join(doc).rstrip() + "\n"


def update_readme(table: str, readme: Path = ROOT / "README.md") -> bool:
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        print(f"{readme}: no {START} ... {END} markers; not updated", file=sys.stderr)
        return False
    new = text[: start + len(START)] + "\n" + table + text[end:]
    if new != text:
        readme.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", metavar="ID", help="zoo id to run (repeatable); default: all")
    p.add_argument("--io-type", action="append", choices=IO_TYPES, help="io type to run (repeatable); default: both")
    p.add_argument("--n", type=int, default=N_SAMPLES, help="samples per model (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600, help="seconds per model and io type before it is killed")
    p.add_argument("--output", type=Path, help="Markdown report (default: benchmarks/fidelity.md on a full run; "
                   "a run filtered by --only/--io-type writes one only when given)")
    p.add_argument("--json", type=Path, help="also write the raw results as JSON")
    p.add_argument("--readme", action="store_true", help="replace the table between the fidelity markers in README.md")
    p.add_argument("--list", action="store_true", help="list the zoo and exit")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--jobs-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--results-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        worker(args.jobs_file, args.results_file, args.workdir, args.n, args.seed)
        return 0
    if args.list:
        for i, e in ALL.items():
            print(f"{i:34s} {'float ' if i in FLOAT_MODELS else 'qkeras'} {e.kind}")
        return 0
    ids = args.only or list(ALL)
    unknown = [i for i in ids if i not in ALL]
    if unknown:
        p.error(f"unknown zoo id(s): {', '.join(unknown)} (see --list)")
    io_types = tuple(io for io in IO_TYPES if io in (args.io_type or IO_TYPES))
    filtered = bool(args.only or args.io_type)
    if args.readme and filtered:
        p.error("--readme needs the full run (no --only / --io-type)")
    output = args.output or (None if filtered else ROOT / "benchmarks" / "fidelity.md")
    jobs = [(i, io) for i in dict.fromkeys(ids) for io in io_types]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fpga_accel_fidelity_") as tmp:
        results = run_jobs(jobs, Path(tmp), args.n, args.seed, args.timeout)
    table, doc = render(results, io_types, args.n)
    print()
    print(table)
    print(f"{len(jobs)} conversions in {time.perf_counter() - t0:.0f} s")
    if output is not None:
        output.write_text(doc)
        print(f"wrote {output}")
    if args.json:
        args.json.write_text(json.dumps([results[j] for j in jobs if j in results], indent=1))
    if args.readme:
        if update_readme(table):
            print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
