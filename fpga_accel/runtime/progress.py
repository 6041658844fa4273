"""One progress interface for every long step: a callable that receives ``Update``s.

Prediction (csim or the board), a vendor build, a deploy, a sweep and the flow's steps all report through
it, so one printer (the CLI's) or one logger shows them all. Lives in the runtime because the board's
``Accelerator.predict`` reports through it too (numpy-free, Python 3.8).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

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


__all__ = ["EVENTS", "Progress", "Update", "log_progress"]
