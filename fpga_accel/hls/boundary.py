"""The one place fpga_accel changes hls4ml, checked against the hls4ml it finds and undone on exit.

Why: exact csim needs a few changes inside hls4ml 1.3 — passes taken out of its flows, a pass and a flow
of fpga_accel's own, wrapped layer handlers in its Keras-2 parser, entries in its Keras-3 registry. hls4ml
renames and rewrites these between releases, and such a change does not fail on its own: a renamed merge
pass once converted a model without error to 0 % bit-exact. So every change is declared in a
:class:`Changes` and made by :func:`patched`, which

- checks the hls4ml version (:func:`check_version`) and that every flow, pass, handler and registry it
  touches exists with the expected shape, and (with a ``backend``) every node key fpga_accel reads or writes
  (:mod:`.node_keys`), raising :class:`~fpga_accel.errors.Hls4mlChangedError` naming
  what is missing and the installed hls4ml before anything is changed;
- works on static and dynamic flows alike: a flow is never edited in place (hls4ml 1.3's
  ``update_flow`` fails on a ``DynamicFlow``, and "remove all, re-add" empties one once that is fixed,
  hls4ml #1481) — a static copy without the passes stands in its registry slot for the duration;
- puts hls4ml's own objects back on exit (flows, passes, handlers), so a plain hls4ml conversion in
  the same process afterwards is exactly hls4ml's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import Hls4mlChangedError
from .node_keys import key_problems

log = logging.getLogger(__name__)

SUPPORTED = (1, 3)
"""The hls4ml release (major, minor) whose passes, handlers and generated code fpga_accel is written for."""
ANY_VERSION_ENV = "FPGA_ACCEL_ANY_HLS4ML"
"""Set to 1 to convert with another hls4ml release anyway (every change is still checked)."""
KERAS2_HANDLER_ARGS = 4
"""hls4ml 1.3's Keras-2 handlers take (keras_layer, input_names, input_shapes, data_reader)."""
KERAS3_HANDLER_ARGS = 3
"""hls4ml 1.3's Keras-3 handlers are called with (layer, in_tensors, out_tensors)."""


@dataclasses.dataclass(frozen=True)
class HandlerChange:
    """A layer handler replaced for the duration: ``wrap(hls4ml's handler)`` (None where hls4ml has none,
    allowed only when not ``required``) is what hls4ml calls instead."""

    wrap: Callable[[Any], Callable[..., Any]]
    required: bool = True


@dataclasses.dataclass(frozen=True)
class MethodChange:
    """A method of an hls4ml class replaced for the duration: ``where`` is "module:Class.method",
    ``params`` the parameter names (after ``self``) it must have, ``wrap(hls4ml's method)`` what runs
    instead."""

    where: str
    params: tuple[str, ...]
    wrap: Callable[[Any], Callable[..., Any]]

    def find(self) -> tuple[Any, str, Any] | str:
        """(class, method name, hls4ml's method), or what is not there as expected."""
        import importlib

        module_name, _, qualified = self.where.partition(":")
        class_name, _, method = qualified.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            return f"{module_name}.{class_name} does not exist"
        original = cls.__dict__.get(method)
        try:
            params = tuple(inspect.signature(original).parameters)[1:] if callable(original) else None
        except (TypeError, ValueError):
            params = None
        if params != self.params:
            return f"{class_name}.{method} does not take ({', '.join(self.params)})"
        return cls, method, original


@dataclasses.dataclass(frozen=True)
class Changes:
    """Everything one use of hls4ml needs changed in it (all optional).

    ``backend``: whose flows must be registered first (hls4ml registers them when the backend is first
    asked for); ``remove_passes``: flow name → passes taken out of it; ``add_passes``: pass name → its
    ``ModelOptimizerPass`` class; ``add_flows``: flow name → (passes, required flows);
    ``keras2_handlers`` / ``keras3_handlers``: Keras class name / Keras-3 registry key → change."""

    backend: str | None = None
    remove_passes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    add_passes: Mapping[str, Callable[[], type]] = dataclasses.field(default_factory=dict)
    add_flows: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    keras2_handlers: Mapping[str, HandlerChange] = dataclasses.field(default_factory=dict)
    keras3_handlers: Mapping[str, HandlerChange] = dataclasses.field(default_factory=dict)
    methods: tuple[MethodChange, ...] = ()

    def names(self) -> set[tuple[str, str]]:
        """(kind, name) of every change, to tell whether an active session already made these."""
        return {(kind, name) for kind in ("remove_passes", "add_passes", "add_flows", "keras2_handlers",
                                          "keras3_handlers") for name in getattr(self, kind)} \
            | {("methods", change.where) for change in self.methods}


def hls4ml_version() -> str:
    import hls4ml

    return str(getattr(hls4ml, "__version__", "unknown"))


def _changed(what: str) -> Hls4mlChangedError:
    return Hls4mlChangedError(
        f"hls4ml {hls4ml_version()} changed what fpga_accel relies on: {what}. fpga_accel is written for "
        f"hls4ml {SUPPORTED[0]}.{SUPPORTED[1]}: install 'hls4ml=={SUPPORTED[0]}.{SUPPORTED[1]}.*'")


def check_version() -> None:
    """Refuse an hls4ml release fpga_accel was not written for (``$FPGA_ACCEL_ANY_HLS4ML=1``: warn and go
    on, each change still checked)."""
    found = hls4ml_version()
    release = re.match(r"(\d+)\.(\d+)", found)
    if release is not None and (int(release[1]), int(release[2])) == SUPPORTED:
        return
    message = (f"hls4ml {found} is installed; fpga_accel is written for hls4ml {SUPPORTED[0]}.{SUPPORTED[1]} "
               f"(its passes, layer handlers and generated code): install 'hls4ml=={SUPPORTED[0]}.{SUPPORTED[1]}.*'")
    if os.environ.get(ANY_VERSION_ENV, "") not in ("", "0"):
        log.warning("%s (%s set: converting anyway; check csim's verdict)", message, ANY_VERSION_ENV)
        return
    raise Hls4mlChangedError(f"{message}, or set {ANY_VERSION_ENV}=1 to try it")


# ------------------------------------------------------------------------------ hls4ml's registries


def _registry(module: str, name: str) -> dict[str, Any]:
    """One of hls4ml's module-level registries (a dict), or a loud error naming it."""
    import importlib

    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise _changed(f"no registry {module}.{name} ({exc})") from None
    if not isinstance(found, dict):
        raise _changed(f"{module}.{name} is a {type(found).__name__}, not a dict")
    return found


def flow_registry() -> dict[str, Any]:
    """hls4ml's flows by name (``hls4ml.model.flow.flow.flow_map``)."""
    return _registry("hls4ml.model.flow.flow", "flow_map")


def pass_registry() -> dict[str, Any]:
    """hls4ml's optimizer passes by name (``hls4ml.model.optimizer.optimizer.optimizer_map``)."""
    return _registry("hls4ml.model.optimizer.optimizer", "optimizer_map")


def keras2_handler_registry() -> dict[str, Any]:
    """hls4ml's Keras-2 layer handlers by Keras class name."""
    return _registry("hls4ml.converters.keras_v2_to_hls", "layer_handlers")


def keras3_handler_registry() -> dict[str, Any]:
    """hls4ml's Keras-3 layer handlers by ``module.ClassName`` (importable on Keras 3 only)."""
    return _registry("hls4ml.converters.keras_v3", "layer_handlers")


def _n_args(handler: Any) -> int | None:
    try:
        return len(inspect.signature(handler).parameters)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------ check, apply, undo


def _check(changes: Changes) -> None:
    """Every flow, pass, handler and registry the changes touch, as they expect it; one error naming all
    that is missing, before anything is changed."""
    problems: list[str] = []
    flows, passes = flow_registry(), pass_registry()
    for flow, removed in changes.remove_passes.items():
        if flow not in flows:
            problems.append(f"flow {flow!r} does not exist")
            continue
        present = list(flows[flow].optimizers)
        problems += [f"pass {p!r} is not in flow {flow!r}" for p in removed if p not in present]
    for name in changes.add_passes:
        if name in passes:
            problems.append(f"pass {name!r} is already registered")
    for flow, (flow_passes, requires) in changes.add_flows.items():
        if flow in flows:
            problems.append(f"flow {flow!r} is already registered")
        problems += [f"flow {r!r} (required by {flow!r}) does not exist" for r in requires if r not in flows]
        problems += [f"pass {p!r} (of flow {flow!r}) does not exist" for p in flow_passes
                     if p not in passes and p not in changes.add_passes]
    for kind, registry, n_args, found in (
            ("Keras-2", keras2_handler_registry, KERAS2_HANDLER_ARGS, changes.keras2_handlers),
            ("Keras-3", keras3_handler_registry, KERAS3_HANDLER_ARGS, changes.keras3_handlers)):
        if not found:
            continue
        handlers = registry()
        for key, change in found.items():
            handler = handlers.get(key)
            if handler is None:
                if change.required:
                    problems.append(f"no {kind} layer handler for {key!r}")
            elif _n_args(handler) not in (None, n_args):
                problems.append(f"the {kind} layer handler for {key!r} takes {_n_args(handler)} arguments, "
                                f"not {n_args}")
    problems += [found for found in (change.find() for change in changes.methods) if isinstance(found, str)]
    if changes.backend is not None:  # the node keys fpga_accel reads and writes on this backend's layers
        import hls4ml

        problems += key_problems(hls4ml.backends.get_backend(changes.backend))
    if problems:
        raise _changed("; ".join(problems))


def _apply(changes: Changes, undo: list[Callable[[], None]]) -> None:
    """Make the (checked) changes, pushing onto ``undo`` what puts each back, in order."""
    from hls4ml.model.flow.flow import Flow

    flows, passes = flow_registry(), pass_registry()
    for flow, removed in changes.remove_passes.items():
        original = flows[flow]
        flows[flow] = Flow(flow, [p for p in original.optimizers if p not in removed],
                           requires=list(original.requires))
        undo.append(lambda f=flow, o=original: flows.__setitem__(f, o))
    for name, make in changes.add_passes.items():
        passes[name] = make()()
        undo.append(lambda n=name: passes.pop(n, None))
    for flow, (flow_passes, requires) in changes.add_flows.items():
        flows[flow] = Flow(flow, list(flow_passes), requires=list(requires))
        undo.append(lambda f=flow: flows.pop(f, None))
    for registry, found in ((keras2_handler_registry, changes.keras2_handlers),
                            (keras3_handler_registry, changes.keras3_handlers)):
        if not found:
            continue
        handlers = registry()
        for key, change in found.items():
            had, original = key in handlers, handlers.get(key)
            handlers[key] = change.wrap(original)
            undo.append((lambda h=handlers, k=key, o=original: h.__setitem__(k, o)) if had
                        else (lambda h=handlers, k=key: h.pop(k, None)))
    for change in changes.methods:
        cls, method, original = change.find()  # type: ignore[misc]  # checked by _check
        setattr(cls, method, change.wrap(original))
        undo.append(lambda c=cls, m=method, o=original: setattr(c, m, o))


_lock = threading.RLock()
_active: list[Changes] = []


@contextlib.contextmanager
def patched(changes: Changes) -> Iterator[None]:
    """hls4ml with ``changes`` made, checked first, undone on exit (also on error). One thread at a time;
    inside a session that already made the same changes, a no-op."""
    with _lock:
        if _active and changes.names() <= set().union(*(c.names() for c in _active)):
            yield
            return
        check_version()
        if changes.backend is not None:
            import hls4ml

            hls4ml.backends.get_backend(changes.backend)  # registers the backend's flows
        _check(changes)
        undo: list[Callable[[], None]] = []
        try:
            _apply(changes, undo)
            _active.append(changes)
            try:
                yield
            finally:
                _active.pop()
        finally:
            for step in reversed(undo):
                step()


__all__ = ["ANY_VERSION_ENV", "Changes", "HandlerChange", "MethodChange", "SUPPORTED", "check_version", "flow_registry",
           "hls4ml_version", "keras2_handler_registry", "keras3_handler_registry", "pass_registry", "patched"]
