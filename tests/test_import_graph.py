"""The package's import graph, read with ast (no hls4ml or TensorFlow import): no cycles — lazy imports
inside functions count, they close a circle at run time all the same — analysis never imports a stage,
and no stage imports another. Imports under ``if TYPE_CHECKING:`` are left out (never run)."""
from __future__ import annotations

import ast
from pathlib import Path

import fpga_accel as fa

PACKAGE = Path(fa.__file__).parent


def _module(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from . import x`` resolved to submodule x)."""
    modules = {_module(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.add(sub if sub in modules else source)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph(PACKAGE)) == []


def test_analysis_never_imports_a_stage_and_no_stage_another():
    graph = import_graph(PACKAGE)
    stages = {m for m in graph if m.startswith("fpga_accel.stages.")}
    assert {"fpga_accel.stages.convert", "fpga_accel.stages.build"} <= stages
    bad = [(m, t) for m, targets in graph.items() for t in targets if t in stages
           and (m.startswith("fpga_accel.analysis") or m in stages)]
    assert bad == []


def test_the_checks_see_lazy_cycles_and_analysis_to_stage_imports(tmp_path):
    """The two circles issue 20 found, in a toy package: a lazy (in-function) import closing one, and
    analysis importing a stage — so the tests above can fail."""
    root = tmp_path / "pkg"
    for sub in ("", "analysis", "stages"):
        (root / sub).mkdir(exist_ok=True)
        (root / sub / "__init__.py").write_text("")
    (root / "a.py").write_text("from . import b\n")
    (root / "b.py").write_text("def f():\n    from .a import x\n")
    (root / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n")
    (root / "c.py").write_text("from .typed import z\n")
    (root / "analysis" / "estimate.py").write_text("def g():\n    from ..stages.convert import layer_table\n")
    (root / "stages" / "convert.py").write_text("from ..analysis import estimate\n")
    graph = import_graph(root)
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.analysis.estimate", "pkg.stages.convert"]]
    assert "pkg.stages.convert" in graph["pkg.analysis.estimate"]
