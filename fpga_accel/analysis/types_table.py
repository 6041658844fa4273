"""``Design.types()``: every layer's HLS types and the rule that chose each, read from fpga_accel.json.

convert records, per layer, each type hls4ml renders (``result_t``, ``accum_t``, ``weight_t``...) with the
rule of ``exact_types`` that derived it — or that the configuration gave it (a quantizer, a per-layer
setting, calibration ranges), or that it is hls4ml's own inference. Read-only: nothing here changes a
design. Projects converted before the rules were recorded show their result types and say to re-convert.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from ..layout import META_FILE
from ..runtime.tables import html_report, to_dataframe

COLUMNS = ("layer", "class", "type", "precision", "rule")
NOT_RECORDED = "not recorded (converted before rules were recorded): re-convert with `fpga-accel convert --force`"


@dataclass
class TypesTable:
    """One row per (layer, type), in graph order."""

    design: str
    rows_: list[dict[str, str]]

    def rows(self) -> list[dict[str, str]]:
        return [dict(r) for r in self.rows_]

    def for_layer(self, name: str) -> dict[str, dict[str, str]]:
        """``{type: {"precision", "rule"}}`` of one layer."""
        found = {r["type"]: {"precision": r["precision"], "rule": r["rule"]} for r in self.rows_ if r["layer"] == name}
        if not found:
            raise ConfigError(f"design {self.design} has no layer {name!r}; its layers: "
                              f"{', '.join(dict.fromkeys(r['layer'] for r in self.rows_))}")
        return found

    def format(self) -> str:
        widths = {c: max([len(c)] + [len(r[c]) for r in self.rows_]) for c in COLUMNS[:-1]}
        head = "  ".join(f"{c:{widths[c]}s}" for c in COLUMNS[:-1]) + "  rule"
        lines = [f"types of {self.design}", head, "-" * len(head)]
        lines += ["  ".join(f"{r[c]:{widths[c]}s}" for c in COLUMNS[:-1]) + f"  {r['rule']}" for r in self.rows_]
        return "\n".join(lines)

    __str__ = format

    def to_dataframe(self) -> Any:
        """``rows()`` as a pandas DataFrame (pandas optional)."""
        return to_dataframe(self.rows(), COLUMNS)

    def _repr_html_(self) -> str:
        return html_report(f"types of {self.design}", rows=self.rows_, columns=COLUMNS)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def types_table(design: str, layers: Sequence[Mapping[str, Any]], source: str = META_FILE) -> TypesTable:
    """The table from a record's per-layer entries (checked: a record read from disk is never trusted)."""
    rows = []
    for layer in layers:
        name, cls = str(layer.get("name")), str(layer.get("class", "?"))
        recorded = layer.get("types")
        if recorded is None:
            rows.append({"layer": name, "class": cls, "type": "result_t", "precision": str(layer.get("precision", "?")),
                         "rule": NOT_RECORDED})
            continue
        if not isinstance(recorded, dict) or not all(
                _text(k) and isinstance(v, dict) and _text(v.get("precision")) and _text(v.get("rule"))
                for k, v in recorded.items()):
            raise ConfigError(f"{source}: layer {name!r} types is not a table of precision and rule; the record is "
                              "damaged: re-convert the project (`fpga-accel convert --force`)")
        for type_name, entry in recorded.items():
            rows.append({"layer": name, "class": cls, "type": type_name, "precision": entry["precision"],
                         "rule": entry["rule"]})
    return TypesTable(design, rows)


__all__ = ["TypesTable", "types_table"]
