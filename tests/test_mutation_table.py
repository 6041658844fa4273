"""The mutation check's table (benchmarks/mutation_check.py) still fits the code: each entry's edit text occurs
exactly once in its file and its test exists. The check itself (one pytest run per entry, ~7 min) runs in .ci/run
after both suites; this keeps the table from going stale between those runs at no cost to the suite."""
from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _mutation_check():
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / "benchmarks" / "mutation_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_entry_edits_text_that_is_there_once():
    check = _mutation_check()
    assert check._stale(ROOT, list(check.MUTATIONS)) == []


def test_every_entry_names_a_test_that_exists():
    missing = []
    for m in _mutation_check().MUTATIONS:
        path, _, name = m.test.partition("::")
        function = name.split("[")[0]
        tree = ast.parse((ROOT / path).read_text()) if (ROOT / path).is_file() else ast.Module(body=[], type_ignores=[])
        if function not in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}:
            missing.append(m.test)
    assert missing == []


def test_a_stale_entry_is_found(tmp_path):
    check = _mutation_check()
    (tmp_path / "a.py").write_text("x = 1\nx = 1\n")
    entry = check.Mutation("tests/t.py::test_x", "a.py", "x = 1", "x = 2", "")
    assert len(check._stale(tmp_path, [entry])) == 1
    (tmp_path / "a.py").write_text("x = 1\n")
    assert check._stale(tmp_path, [entry]) == []
