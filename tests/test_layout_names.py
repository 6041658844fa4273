"""Every path of a project, a flow run, a bundle, a sweep and the vitis build comes from fpga_accel/layout.py: a source scan
(ast, nothing imported but layout) for the file and folder names layout owns written anywhere else.

The names are read from layout itself — every path its layout classes give, for a placeholder project — so a
name layout gains is guarded from then on. A name with a dot (``manifest.json``) may not appear as a string
anywhere else; a plain word (``firmware``, ``weights``) only not as a path part (``x / "firmware"``,
``os.path.join(x, "firmware")``, ``.joinpath``), since it is also an ordinary dict key; a name built from
the project's name (``f"{name}_axi.h"``) only not as the tail of an f-string path part."""
from __future__ import annotations

import ast
from pathlib import Path

import fpga_accel as fa
from fpga_accel.layout import FlowLayout, ProjectLayout, SweepLayout, VitisLayout

PACKAGE = Path(fa.__file__).parent
EXEMPT = {
    "layout.py": "the owner",
    "analysis/scope.py": "the estimator's scope check of any hls4ml project's nnet_utils (foreign ones too)",
}
PROJECT_NAME = "PRJNAME"


def _layout_paths() -> list[tuple[Path, Path]]:
    """(root, path) of every path the layout classes give for a placeholder project."""
    root, out, bits = Path("/r"), Path("/o"), Path("/b")
    found: list[tuple[Path, Path]] = []
    for obj, base in ((ProjectLayout(root, PROJECT_NAME), root), (FlowLayout(out, PROJECT_NAME, bits), Path("/")),
                      (SweepLayout(root), root), (VitisLayout(root, PROJECT_NAME), root)):
        for name in dir(type(obj)):
            if isinstance(getattr(type(obj), name), property):
                value = getattr(obj, name)
                if isinstance(value, Path):
                    found.append((base, value))
    found += [(root, SweepLayout(root).point("ID")), (root, SweepLayout.point_params(root)),
              (root, SweepLayout.point_result(root))]
    return found


def owned_names() -> tuple[set[str], set[str], set[str]]:
    """(file names with a dot, plain folder/file words, tails of names built from the project's name)."""
    dotted, words, tails = set(), set(), set()
    for base, path in _layout_paths():
        for part in path.relative_to(base).parts:
            if part in ("o", "b", "ID", PROJECT_NAME) or part == "/":
                continue
            if PROJECT_NAME in part:
                tails.add(part.split(PROJECT_NAME, 1)[1])
            elif "." in part:
                dotted.add(part)
            else:
                words.add(part)
    return dotted, words, tails


def _path_parts(tree: ast.AST):
    """String nodes used as path parts: right of ``/``, arguments of os.path.join / joinpath."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            yield node.right
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func.endswith("path.join") or func.endswith(".joinpath"):
                yield from node.args[1:] if func.endswith("path.join") else node.args


def _tail(node: ast.AST) -> str | None:
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[-1], ast.Constant):
        return str(node.values[-1].value)
    return None


def scan(root: Path, names: tuple[set[str], set[str], set[str]], exempt=EXEMPT) -> list[str]:
    """Where files under ``root`` write a name layout owns (``file:line: name``)."""
    dotted, words, tails = names
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in exempt:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in dotted:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
        for part in _path_parts(tree):
            if isinstance(part, ast.Constant) and part.value in words:
                found.append(f"{rel}:{part.lineno}: {part.value!r}")
            elif _tail(part) in tails:
                found.append(f"{rel}:{part.lineno}: f'...{_tail(part)}'")
    return found


def test_layout_names_cover_the_project_flow_bundle_sweep_and_vitis_build():
    dotted, words, tails = owned_names()
    assert {"fpga_accel.json", "hls4ml_config.yml", "build_prj.tcl", "manifest.json", "csim_report.json",
            "results.csv", "result.json", "defines.h", "parameters.h"} <= dotted
    assert {"firmware", "weights", "hls4ml_rebuilt", "points", "vitis", "solution1"} <= words
    assert {"_axi.h", "_axi.cpp", ".cpp", ".flow", "_prj"} <= tails


def test_no_project_file_name_outside_layout():
    assert scan(PACKAGE, owned_names()) == []


def test_the_scan_sees_each_kind_of_name(tmp_path):
    """A toy package naming each kind the ways the old code did — so the test above can fail."""
    (tmp_path / "layout.py").write_text('META = "fpga_accel.json"\n')
    (tmp_path / "a.py").write_text(
        'import os\n'
        'def f(root, name, d):\n'
        '    d.get("weights")\n'                                  # a dict key: not a path
        '    x = root / "firmware" / "weights" / f"{name}.txt"\n'
        '    y = os.path.join(root, "firmware")\n'
        '    z = root / "firmware" / f"{name}_axi.h"\n'
        '    return "fpga_accel.json", x, y, z\n')
    found = scan(tmp_path, owned_names(), exempt={"layout.py": ""})
    assert sorted(found) == ["a.py:4: 'firmware'", "a.py:4: 'weights'", "a.py:5: 'firmware'", "a.py:6: 'firmware'",
                             "a.py:6: f'..._axi.h'", "a.py:7: 'fpga_accel.json'"]
