"""`fpga-accel fit`: per-layer reuse factor, strategy and io type with the lowest estimated latency whose
*upper* estimate fits the board within its margin.

One hls4ml conversion per io type, in memory (``stages.convert.probe_layers``), gives the per-layer records
the estimator reads; the search then only re-estimates copies of those records with another
``reuse_factor``/``strategy`` per Dense/Conv layer (``analysis.estimate.estimate_layers``, used as a black
box: it is a function of the records alone, so whatever the estimator's model, the project convert writes
from the chosen settings estimates to the same figures).

The search, per io type, is a greedy descent then a local refinement:

1. start from every layer at its fastest option (Latency strategy, smallest valid reuse factor);
2. while the upper estimate does not fit, take the single-layer change that removes the most excess
   (sum over resources of how far the upper estimate is above the limit, as a share of it) per cycle of
   latency it adds (changes that also save latency first);
3. once it fits, take single-layer changes that lower the latency and still fit, fastest first, until
   none is left.

``reuse_only`` (``--reuse-factor auto``) restricts the options to reuse factors at each layer's strategy.
Settings the user fixed for a layer (``layers:`` in the project file) are kept as given.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .boards import Board
from .config import ConvertConfig, IOType, LayerSetting, Strategy
from .errors import ConfigError, FpgaAccelError

__all__ = ["Candidate", "FitResult", "NoFitError", "search", "auto_reuse_factors", "project_settings", "default_name", "RESOURCES"]

log = logging.getLogger(__name__)

RESOURCES = ("lut", "ff", "dsp", "bram36")
Option = Tuple[str, int]
"""(strategy, reuse factor) of one layer."""


class NoFitError(FpgaAccelError):
    """No setting the search can make fits the board within the margin (the CLI exits 4)."""


@dataclass
class Candidate:
    """One configuration the search evaluated: io type, (strategy, reuse factor) per Dense/Conv layer,
    and its estimate."""

    io_type: str
    options: Dict[str, Option]
    estimate: Any
    """``analysis.estimate.Estimate``."""
    value: Dict[str, float]
    """Per resource, what must fit: the upper estimate (``Estimate.high``), else the central one."""
    limit: Dict[str, float]
    step: str = ""
    """How the search got here: start, descend, refine."""

    @property
    def fits(self) -> bool:
        return all(self.value[k] <= self.limit[k] for k in RESOURCES)

    @property
    def excess(self) -> float:
        return sum(max(0.0, self.value[k] / self.limit[k] - 1.0) for k in RESOURCES if self.limit[k] > 0)

    @property
    def latency(self) -> int:
        return int(self.estimate.latency_cycles)

    @property
    def binding(self) -> str:
        """The resource closest to (or furthest over) its limit."""
        return max(RESOURCES, key=lambda k: self.value[k] / self.limit[k] if self.limit[k] else 0.0)

    def percent(self, resource: str, capacity: Mapping[str, float]) -> float:
        return 100.0 * self.value[resource] / capacity[resource] if capacity[resource] else 0.0

    def largest_layer(self, resource: str) -> Tuple[str, float]:
        rows = [l for l in self.estimate.layers if l.name not in ("axi_wrapper", "fifos", "buffers")]
        row = max(rows, key=lambda l: getattr(l, resource))
        return row.name, float(getattr(row, resource))

    def summary(self) -> str:
        """Per layer: L (latency) or R (resource) / reuse factor, e.g. ``fc1 L/1, fc2 R/32``."""
        return ", ".join(f"{name} {strategy[0].upper()}/{rf}" for name, (strategy, rf) in self.options.items()) or "-"


@dataclass
class FitResult:
    """What the search tried and what it chose (``chosen`` is None when nothing fits)."""

    board: str
    margin: float
    capacity: Dict[str, float]
    candidates: List[Candidate]
    chosen: Optional[Candidate]
    best: Candidate
    """The chosen candidate, or when nothing fits the one closest to fitting."""
    evaluated: int
    search_seconds: float
    probe_seconds: float = 0.0
    """The in-memory hls4ml conversions (TensorFlow, hls4ml): not part of the search."""
    fixed: Dict[str, LayerSetting] = field(default_factory=dict)

    def settings(self) -> Dict[str, LayerSetting]:
        """The chosen per-layer settings (with any precision the user gave for a layer kept)."""
        if self.chosen is None:
            raise NoFitError(self.message)
        out = dict(self.fixed)
        for name, (strategy, rf) in self.chosen.options.items():
            given = self.fixed.get(name)
            out[name] = LayerSetting(reuse_factor=rf, strategy=Strategy(strategy),
                                     precision=given.precision if given else None)
        return out

    def convert_config(self, base: ConvertConfig) -> ConvertConfig:
        """``base`` with the chosen io type and per-layer settings (the search is not run again)."""
        if self.chosen is None:
            raise NoFitError(self.message)
        return dataclasses.replace(base, io_type=IOType(self.chosen.io_type), layers=self.settings(), fit=False,
                                   reuse_factor=1 if base.auto_reuse else base.reuse_factor)

    @property
    def message(self) -> str:
        """One line: what was chosen, or by how much and where nothing fits."""
        c = self.best
        if self.chosen is not None:
            pct = ", ".join(f"{k.upper()} {c.percent(k, self.capacity):.0f}%" for k in RESOURCES)
            return (f"fits {self.board} within {self.margin:.0%}: {c.io_type}, {c.summary()}; upper estimate "
                    f"{pct}; latency {c.latency} cycles ({c.estimate.latency_ns:g} ns), {c.estimate.verdict}")
        k = c.binding
        layer, amount = c.largest_layer(k)
        return (f"nothing fits {self.board} within {self.margin:.0%} of each resource: the closest candidate "
                f"({c.io_type}, {c.summary()}) needs {k.upper()} at {c.percent(k, self.capacity):.0f}% of the part "
                f"({c.value[k]:,.0f} of {self.capacity[k]:,.0f}), {c.value[k] / c.limit[k]:.2f}x the limit; its "
                f"largest layer is {layer} ({k.upper()} {amount:,.0f})")

    def format(self) -> str:
        """The table of the candidates the search stepped through (upper-estimate % of the part)."""
        head = f"{'#':>3s} {'step':8s} {'io_type':11s} {'LUT%':>6s} {'FF%':>6s} {'DSP%':>6s} {'BRAM%':>6s} " \
               f"{'cycles':>7s} {'ns':>8s} {'fits':4s}  layers (L latency / R resource, reuse factor)"
        lines = [f"fit on {self.board}: lowest latency whose upper estimate fits {self.margin:.0%} of each resource",
                 head, "-" * len(head)]
        for i, c in enumerate(self.candidates, 1):
            mark = "*" if c is self.chosen else " "
            pct = " ".join(f"{c.percent(k, self.capacity):6.1f}" for k in RESOURCES)
            lines.append(f"{i:3d}{mark}{c.step:8s} {c.io_type:11s} {pct} {c.latency:7d} {c.estimate.latency_ns:8g} "
                         f"{'yes' if c.fits else 'no':4s}  {c.summary()}")
        lines.append("-" * len(head))
        lines.append(f"{self.evaluated} configurations estimated in {self.search_seconds:.2f} s "
                     f"(hls4ml conversions {self.probe_seconds:.1f} s)")
        lines.append(("chosen (*): " if self.chosen is not None else "") + self.message)
        return "\n".join(lines)

    __str__ = format

    def rows(self) -> List[Dict[str, Any]]:
        """The candidates the search stepped through: upper-estimate % of the part, latency, fits, settings."""
        return [{"step": c.step, "io_type": c.io_type,
                 **{f"{k}_pct": round(c.percent(k, self.capacity), 1) for k in RESOURCES},
                 "cycles": c.latency, "ns": c.estimate.latency_ns, "fits": c.fits, "chosen": c is self.chosen,
                 "layers": c.summary()} for c in self.candidates]

    def to_dataframe(self) -> Any:
        """``rows()`` as a pandas DataFrame (pandas optional)."""
        from .runtime.tables import to_dataframe

        return to_dataframe(self.rows())

    def _repr_html_(self) -> str:
        from .runtime.tables import html_report

        rows = self.rows()
        chosen = next((i for i, r in enumerate(rows) if r["chosen"]), None)
        return html_report(f"fit on {self.board}", [("margin", f"{self.margin:.0%} of each resource"),
                                                   ("configurations estimated", self.evaluated)],
                           rows, verdict=(self.message, self.chosen is not None), highlight=chosen)


def _options(record: Mapping[str, Any], fixed: Optional[LayerSetting], reuse_only: bool) -> List[Option]:
    """A Dense/Conv layer's options, fastest first: strategies x hls4ml's valid reuse factors."""
    valid = [int(v) for v in record["valid_reuse_factors"]]
    own = str(record.get("strategy") or "latency").lower()
    strategies = [own] if reuse_only else ["latency", "resource"]
    if fixed is not None and fixed.strategy is not None:
        strategies = [fixed.strategy.value]
    if fixed is not None and fixed.reuse_factor is not None:
        valid = [fixed.reuse_factor]
    return [(s, rf) for s in strategies for rf in valid]


class _Evaluator:
    """Estimates configurations of one io type, each once."""

    def __init__(self, records: Sequence[Mapping[str, Any]], io_type: str, board: Board, clock_period: float,
                 margin: float, name: str, use_band: bool) -> None:
        self.records, self.io_type, self.board = list(records), io_type, board
        self.clock_period, self.margin, self.name, self.use_band = clock_period, margin, name, use_band
        self.capacity = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram36": board.bram36}
        self.cache: Dict[Tuple[Option, ...], Candidate] = {}

    def __call__(self, options: Dict[str, Option], step: str = "") -> Candidate:
        from .analysis.estimate import estimate_layers

        key = tuple(options[n] for n in sorted(options))
        hit = self.cache.get(key)
        if hit is None:
            layers = [dict(r, strategy=options[r["name"]][0], reuse_factor=options[r["name"]][1])
                      if r["name"] in options else r for r in self.records]
            est = estimate_layers(layers, name=self.name, board=self.board, io_type=self.io_type,
                                  clock_period=self.clock_period, margin=self.margin)
            value = dict(est.high) if self.use_band and est.high else dict(est.total)
            hit = Candidate(self.io_type, dict(options), est, value,
                            {k: self.margin * self.capacity[k] for k in RESOURCES})
            self.cache[key] = hit
        return dataclasses.replace(hit, options=dict(options), step=step) if step else hit


def _better(a: Candidate, b: Candidate) -> bool:
    """a is faster than b, or as fast and smaller (its largest share of a limit)."""
    if a.latency != b.latency:
        return a.latency < b.latency
    return max(a.value[k] / a.limit[k] for k in RESOURCES) < max(b.value[k] / b.limit[k] for k in RESOURCES)


def _layer_rows(ev: _Evaluator, choices: Dict[str, List[Option]]) -> Dict[str, Dict[Option, Any]]:
    """Every option's own estimate row (resources, cycles) per layer, from a few whole-design estimates:
    the i-th estimate gives every layer its i-th option at once."""
    table: Dict[str, Dict[Option, Any]] = {name: {} for name in choices}
    for i in range(max((len(o) for o in choices.values()), default=0)):
        options = {name: opts[min(i, len(opts) - 1)] for name, opts in choices.items()}
        rows = {row.name: row for row in ev(options).estimate.layers}
        for name, option in options.items():
            table[name][option] = rows[name]
    return table


def _undominated(rows: Dict[Option, Any]) -> List[Option]:
    """Options no other option beats or equals on every resource and on cycles (the first of equals kept):
    a larger reuse factor that saves nothing is never worth its latency."""
    keys = ("lut", "ff", "dsp", "bram36", "latency_cycles")
    kept: List[Option] = []
    for option, row in rows.items():
        if not any(all(getattr(rows[k], f) <= getattr(row, f) for f in keys) for k in kept):
            kept.append(option)
    return kept


class _Moves:
    """Single-layer changes of a candidate, ranked by an approximation from the per-layer rows (resources add
    up, scaled by the candidate's band; latency adds up, or is the slowest layer's in io_stream); the few
    best are then estimated exactly."""

    TOP = 3

    def __init__(self, ev: _Evaluator, choices: Dict[str, List[Option]], rows: Dict[str, Dict[Option, Any]]) -> None:
        self.ev, self.choices, self.rows = ev, choices, rows

    def approx(self, c: Candidate) -> List[Tuple[str, Option, Dict[str, float], float]]:
        est = c.estimate
        band = {k: (c.value[k] - (est.total[k] - est.ip_total[k])) / est.ip_total[k] if est.ip_total[k] else 1.0
                for k in RESOURCES}
        cycles = {l.name: l.latency_cycles for l in est.layers}
        out = []
        for name, opts in self.choices.items():
            now = self.rows[name][c.options[name]]
            for option in opts:
                if option == c.options[name]:
                    continue
                new = self.rows[name][option]
                value = {k: c.value[k] + (getattr(new, k) - getattr(now, k)) * band[k] for k in RESOURCES}
                if self.ev.io_type == "io_stream":
                    others = [v for n, v in cycles.items() if n in self.choices and n != name]
                    dlat = max(others + [new.latency_cycles]) - max(others + [now.latency_cycles])
                else:
                    dlat = new.latency_cycles - now.latency_cycles
                out.append((name, option, value, float(dlat)))
        return out

    @staticmethod
    def _excess(value: Mapping[str, float], limit: Mapping[str, float]) -> float:
        return sum(max(0.0, value[k] / limit[k] - 1.0) for k in RESOURCES if limit[k] > 0)

    @staticmethod
    def _score(gain: float, cost: float) -> float:
        return gain * 1e6 if cost <= 0 else gain / cost

    def descend(self, c: Candidate) -> Optional[Candidate]:
        """The change that removes the most excess per cycle of latency it adds (None: no change helps)."""
        ranked = sorted(self.approx(c), key=lambda m: -self._score(c.excess - self._excess(m[2], c.limit), m[3]))
        for group in (ranked[:self.TOP], ranked[self.TOP:]):  # the rest only when the approximation misleads
            best, best_score = None, 0.0
            for name, option, _, _ in group:
                n = self.ev({**c.options, name: option})
                gain = c.excess - n.excess
                score = self._score(gain, n.latency - c.latency) if gain > 1e-12 else 0.0
                if score > best_score:
                    best, best_score = n, score
            if best is not None:
                return best
        return None

    def refine(self, c: Candidate) -> Optional[Candidate]:
        """The fastest change that still fits (None: none is faster)."""
        faster = sorted((m for m in self.approx(c) if m[3] <= 0), key=lambda m: m[3])
        found: Optional[Candidate] = None
        for name, option, _, dlat in faster:
            if found is not None and dlat > found.latency - c.latency:
                break
            n = self.ev({**c.options, name: option})
            if n.fits and _better(n, c) and (found is None or _better(n, found)):
                found = n
        return found


def _search_one(ev: _Evaluator, choices: Dict[str, List[Option]], shown: List[Candidate]) -> Candidate:
    rows = _layer_rows(ev, choices)
    choices = {name: _undominated(rows[name]) for name in choices}
    moves = _Moves(ev, choices, rows)
    current = ev({n: opts[0] for n, opts in choices.items()}, "start")
    shown.append(current)
    while not current.fits:  # descend: most excess removed per cycle of latency added
        step = moves.descend(current)
        if step is None:
            return current  # no single change brings it closer: nothing fits at this io type
        current = dataclasses.replace(step, step="descend")
        shown.append(current)
    while True:  # refine: faster and still fitting
        step = moves.refine(current)
        if step is None:
            return current
        current = dataclasses.replace(step, step="refine")
        shown.append(current)


def search(records_by_io: Mapping[str, Sequence[Mapping[str, Any]]], *, board: Board, clock_period: float,
           margin: float = 0.8, name: str = "design", fixed: Optional[Mapping[str, LayerSetting]] = None,
           reuse_only: bool = False, use_band: bool = True) -> FitResult:
    """Search per-layer settings for each io type's records (``layer_table`` of a conversion) and pick the
    fitting candidate with the lowest latency (io_parallel first on a tie). ``use_band=False`` asks only
    the central estimate to fit (what ``--reuse-factor auto`` falls back to, with a warning)."""
    t0 = time.perf_counter()
    fixed = dict(fixed or {})
    shown: List[Candidate] = []
    finals: List[Candidate] = []
    evaluated = 0
    capacity: Dict[str, float] = {}
    for io_type, records in records_by_io.items():
        ev = _Evaluator(records, io_type, board, clock_period, margin, name, use_band)
        capacity = ev.capacity
        choices = {r["name"]: _options(r, fixed.get(r["name"]), reuse_only) for r in records
                   if r.get("valid_reuse_factors")}
        finals.append(_search_one(ev, choices, shown))
        evaluated += len(ev.cache)
    fitting = [c for c in finals if c.fits]
    chosen = None
    for c in fitting:
        if chosen is None or _better(c, chosen):
            chosen = c
    best = chosen or min(finals, key=lambda c: c.excess)
    result = FitResult(board=board.name, margin=margin, capacity=capacity, candidates=shown, chosen=chosen,
                       best=best, evaluated=evaluated, search_seconds=time.perf_counter() - t0, fixed=fixed)
    log.debug("fit search: %s", result.message)
    return result


def auto_reuse_factors(records: Sequence[Mapping[str, Any]], *, io_type: str, board: Board, clock_period: float,
                       margin: float = 0.8, name: str = "design",
                       fixed: Optional[Mapping[str, LayerSetting]] = None) -> FitResult:
    """``--reuse-factor auto``: the search restricted to reuse factors (each layer keeps its strategy).

    Its contract: when no choice makes the upper estimate fit but the central estimate can fit the margin,
    that choice is taken and a warning names the design (the build may not fit); when even the central
    estimate cannot fit, a ConfigError says so."""
    kw = dict(board=board, clock_period=clock_period, margin=margin, name=name, fixed=fixed, reuse_only=True)
    result = search({io_type: records}, **kw)
    if result.chosen is not None:
        return result
    central = search({io_type: records}, use_band=False, **kw)
    if central.chosen is None:
        raise ConfigError(f"--reuse-factor auto: {result.message}")
    log.warning("reuse factors for %s: the estimate fits %s but the upper end of its error band does not; "
                "no reuse factor makes it fit for sure — build to find out", name, board.name)
    return central


def project_settings(result: FitResult, base: ConvertConfig, model: Path,
                     carried: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The chosen settings as a project file's content (``convert --config`` and ``flow`` read it):
    ``carried`` settings (from the project file fit started from) first, then name, model, board, io type,
    margin and the per-layer settings in the flat form."""
    chosen = result.convert_config(base)
    data: Dict[str, Any] = {k: v for k, v in (carried or {}).items()
                            if k not in ("fit", "layers", "HLSConfig", "io_type", "model")}
    if data.get("reuse_factor") == "auto":
        del data["reuse_factor"]
    data.update(name=chosen.name, model=str(model), board=chosen.board, io_type=chosen.io_type.value,
                margin=chosen.margin)
    if base.clock_period is not None:
        data["clock_period"] = base.clock_period
    if base.allow_slow_compile and chosen.io_type is IOType.io_parallel:
        data["allow_slow_compile"] = True  # the search was allowed it: convert --config must be too
    data["layers"] = {name: s.to_flat() for name, s in chosen.layers.items()}
    return data


def default_name(model_path: Path) -> str:
    """A project name (C identifier) from a model file's name."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(model_path).stem)
    return stem if re.match(r"^[A-Za-z]", stem) else f"m_{stem}"
