"""One progress interface for every long step: a callable that receives ``Update``s.

Prediction (csim, the emulator or the board), compare and convert's check, fit's conversions, a vendor
build, a deploy, a sweep and the flow's steps all report through it, so one printer or one logger shows
them all. :class:`ProgressBars` is the one printer: counts as ``tqdm.auto`` bars where someone watches (a
Jupyter kernel: a widget; a terminal, when asked: text) and nowhere else — a log file never gets a bar.
Lives in the runtime because the board's ``Accelerator.predict`` reports through it too (numpy-free,
Python 3.8; tqdm optional).
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional

EVENTS = ("line", "count", "start", "done", "skipped")


@dataclass(frozen=True)
class Update:
    """``event``: ``line`` (a message), ``count`` (``done`` of ``total`` items: samples, sweep points),
    or a pipeline step's ``start``/``done``/``skipped`` (``done``: its position in the run of ``total``)."""

    what: str
    event: str = "line"
    done: int = 0
    total: int = 0
    step: str = ""
    """The pipeline step the update belongs to, when there is one."""
    result: Optional[Mapping[str, Any]] = None
    """A finished item's result (a sweep point's row)."""

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"event {self.event!r} is not one of {EVENTS}")

    def __str__(self) -> str:
        if self.event == "count":
            return f"{self.what} {self.done}/{self.total} ({self.done / max(self.total, 1):.0%})"
        if self.total:
            return f"[{self.done}/{self.total}] {self.what}"
        return self.what


Progress = Callable[[Update], None]


def log_progress(logger: logging.Logger, level: int = logging.INFO) -> Progress:
    """A Progress that logs each update as one line (counts only when complete)."""
    def report(update: Update) -> None:
        if update.event != "count" or update.done >= update.total:
            logger.log(level, "%s", update)
    return report


def in_notebook() -> bool:
    """Running in a Jupyter kernel (IPython already imported by it: nothing is imported here)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None) if ipython is not None else None
    shell = get() if callable(get) else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class ProgressBars:
    """A Progress that draws counts (``event == "count"``) as ``tqdm.auto`` bars — a widget in a Jupyter
    kernel, text on a terminal — only where someone watches: in a notebook, or with ``terminal`` when
    stderr is a TTY. Elsewhere (piped, redirected, a log) no bar at all: a count is logged once, when
    complete. Every other update is a log line. Without tqdm a terminal gets a line redrawn at most every
    0.5 s; a notebook gets the log lines."""

    def __init__(self, logger: logging.Logger, terminal: bool = True, prefix: str = "") -> None:
        self.log, self.prefix = logger, prefix
        self.t0, self.last = time.perf_counter(), -1.0
        self.notebook = in_notebook()
        self.tty = self.notebook or (terminal and sys.stderr.isatty())
        self.bars: Dict[str, Any] = {}

    def __call__(self, update: Update) -> None:
        if update.event != "count":
            self.log.info("%s", update)
            return
        if not self.tty:
            if update.done >= update.total:
                self.log.info("%s %.1f s", update, time.perf_counter() - self.t0)
            return
        try:
            tqdm = _tqdm(self.notebook)
        except ImportError:
            if not self.notebook:
                self._line(update)
            elif update.done >= update.total:
                self.log.info("%s", update)
            return
        bar = self.bars.get(update.what)
        if bar is None or update.done < bar.n:  # a new run of the same count starts a new bar
            if bar is not None:
                bar.close()
            bar = self.bars[update.what] = tqdm(total=update.total, desc=f"{self.prefix}{update.what}",
                                                file=sys.stderr, leave=True, dynamic_ncols=True)
        bar.update(update.done - bar.n)
        if update.done >= update.total:
            bar.close()
            del self.bars[update.what]

    def _line(self, update: Update) -> None:
        now = time.perf_counter()
        if update.done < update.total and now - self.last < 0.5:
            return
        self.last = now
        end = "\n" if update.done >= update.total else "\r"
        sys.stderr.write(f"{self.prefix}{update} {now - self.t0:.1f} s{end}")
        sys.stderr.flush()


def notebook_progress(logger: logging.Logger) -> Optional[Progress]:
    """Bars in a notebook, else None: for steps that report nothing unless asked (predict, compare)."""
    return ProgressBars(logger, terminal=False) if in_notebook() else None


def _tqdm(notebook: bool) -> Any:
    """``tqdm.auto``'s bar: in a notebook its widget — when ipywidgets is there; without it tqdm.auto would
    warn and draw text anyway, so text straight away — on a terminal the text bar."""
    if notebook:
        import importlib.util

        if importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.auto import tqdm
            return tqdm
    from tqdm.std import tqdm as text_bar
    return text_bar


def default_progress(logger: logging.Logger) -> Progress:
    """What a long step reports through when its caller gave no ``progress``: bars in a notebook (the
    library prints nowhere else), log lines otherwise."""
    return ProgressBars(logger, terminal=False) if in_notebook() else log_progress(logger)


__all__ = ["EVENTS", "Progress", "ProgressBars", "Update", "default_progress", "in_notebook", "log_progress",
           "notebook_progress"]
