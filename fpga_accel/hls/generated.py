"""Edits of the text hls4ml 1.3 generates, each checked against what it expects to find.

Why here: hls4ml writes the project (C++ bridge, project.tcl, hls4ml_config.yml) and some of it is not
what the design needs — a project name that clashes with the bridge's own code, the part of a board hls4ml
does not know, the staging folder's path, and (at build) the utilization report of hls4ml's design.tcl.
These are the only places fpga_accel touches hls4ml's generated text (the multi-port wrapper:
:mod:`.multi_io`); each refuses when the text is not as hls4ml 1.3 writes it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..boards import Board, get_board
from ..errors import ConfigError, Hls4mlChangedError
from ..layout import HLS4ML_CONFIG, PROJECT_TCL, ProjectLayout

__all__ = ["add_flat_utilization", "check_bridge", "check_build_options", "fix_output_dir", "set_part"]


def check_bridge(layout: ProjectLayout) -> None:
    """hls4ml 1.3 rewrites every line of the csim bridge that contains ``NAME(`` into the AXI call, so a
    name that ends another identifier there (``d`` in ``std(``, ``t`` in ``collect(``...) breaks the C++."""
    name = layout.project_name
    clashes = [line.strip() for line in layout.bridge_cpp.read_text().splitlines() if f"{name}_axi(" in line]
    if len(clashes) > 2:  # the float and the double wrapper each call the AXI top once
        raise ConfigError(f"project name {name!r} clashes with code in hls4ml's generated bridge (hls4ml 1.3 "
                          f"rewrites every line containing '{name}('); choose a longer, more specific name")


def set_part(staging: Path, board: Board) -> None:
    """hls4ml's accelerator backend takes the part from its own board list, so a board it does not know is
    written with its pynq-z2 template's part: put the board's part into the two files that name it for the
    HLS tool (project.tcl, hls4ml_config.yml). Each must name hls4ml's part exactly once, else hls4ml changed
    how it writes them and we refuse rather than synthesize for the wrong chip."""
    if board.hls4ml_board is not None:
        return
    template_part = get_board(board.hls4ml_template).part
    for name, old, new in ((PROJECT_TCL, f'set part "{template_part}"', f'set part "{board.part}"'),
                           (HLS4ML_CONFIG, f"Part: {template_part}", f"Part: {board.part}")):
        path = staging / name
        text = path.read_text()
        if text.count(old) != 1:
            raise Hls4mlChangedError(f"{name} no longer names the part as {old!r} once; cannot set board "
                                     f"{board.name!r}'s part {board.part}")
        path.write_text(text.replace(old, new))


def fix_output_dir(staging: Path, root: Path) -> None:
    """hls4ml records its output folder in hls4ml_config.yml (``OutputDir``, and the reference model's path
    under it): name the final folder, not the staging one.

    The file is edited as YAML, not as text: PyYAML folds a long value at its spaces onto the next line and
    quotes one with ``: `` in it, so the staging path need not appear in the text as one string (a text
    replace then left the deleted staging folder recorded, without a word). Paths are compared resolved, so
    a folder reached through a symlink or ``..`` is still recognised. A file whose ``OutputDir`` is not the
    staging folder is not as hls4ml 1.3 writes it, and refused."""
    import os

    import yaml

    config_file = staging / HLS4ML_CONFIG
    if not config_file.is_file():
        return
    text = config_file.read_text()
    document = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes keep hls4ml's tags (!keras_model) as written
    mapping = dict((k.value, v) for k, v in document.value) if isinstance(document, yaml.MappingNode) else {}
    staged, final = os.path.realpath(staging), str(root.resolve())
    output_dir = mapping.get("OutputDir")
    if not isinstance(output_dir, yaml.ScalarNode) or os.path.realpath(output_dir.value) != staged:
        raise Hls4mlChangedError(f"{config_file} does not record the output folder {staging} as 'OutputDir' as "
                                 "hls4ml 1.3 writes it: cannot name the project's folder there")

    def moved(node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode) and os.sep in node.value:
            real = os.path.realpath(node.value)
            if real == staged or real.startswith(staged + os.sep):
                node.value = final + real[len(staged):]
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                moved(item)
        elif isinstance(node, yaml.MappingNode):
            for _, value in node.value:
                moved(value)

    moved(document)
    config_file.write_text(yaml.serialize(document))


IMPLEMENTED_RUN = "open_run impl_1"
"""The line of hls4ml 1.3's design.tcl after which Vivado's implementation is open to report on."""


def add_flat_utilization(layout: ProjectLayout) -> None:
    """hls4ml's design.tcl writes a hierarchical util.rpt; append the flat report the parser reads (once).
    It needs the implementation run hls4ml's script opens at its end: a script without that line is not hls4ml
    1.3's, and the report would fail after an hour of Vivado — refused before."""
    tcl = layout.design_tcl
    text = tcl.read_text()
    line = f"report_utilization -file {layout.flat_utilization.name}"  # design.tcl runs in the project folder
    if line in text:
        return
    if IMPLEMENTED_RUN not in text:
        raise Hls4mlChangedError(f"{tcl} does not open the implementation run ({IMPLEMENTED_RUN!r}) as hls4ml "
                                 "1.3's design.tcl does: cannot add the flat utilization report the build reads")
    tcl.write_text(text.rstrip("\n") + f"\n{line}\n")


_OPTIONS = re.compile(r"array\s+set\s+opt\s*\{([^}]*)\}")


def check_build_options(layout: ProjectLayout, names: Sequence[str]) -> None:
    """hls4ml's build_prj.tcl reads ``NAME=1`` arguments for the options its ``array set opt {...}`` declares and
    silently ignores any other: an option renamed upstream would leave a step (the IP export) undone until
    Vivado looks for it. Every option the build passes must be declared."""
    text = layout.build_tcl.read_text()
    block = _OPTIONS.search(text)
    declared = block.group(1).split()[0::2] if block else []
    missing = [name for name in names if name not in declared]
    if missing:
        raise Hls4mlChangedError(f"{layout.build_tcl} does not declare the options {', '.join(missing)} as hls4ml "
                                 f"1.3's does (it declares {', '.join(declared) or 'none'}): the build would ignore "
                                 "them; re-convert with hls4ml 1.3")
