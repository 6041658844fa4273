"""On-board self-test: open the bundle (hashes checked), run its test vectors, report agreement and speed."""
from __future__ import annotations

import zipfile
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..errors import ConfigError, FpgaAccelDeprecationWarning
from .accelerator import Accelerator, BenchResult
from .tables import html_report
from .streams import split_stream
from .validate import argmax_agreement, exact_rows


@dataclass
class SelfTestResult:
    backend: str
    n: int
    bit_exact: float
    argmax_agreement: float
    max_abs_diff: float
    bench: BenchResult
    output: str = field(default="", repr=False, compare=False)
    """What the board printed (``deploy``): the text ``deploy()`` returned before it returned this."""

    def to_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "output"}

    @classmethod
    def from_dict(cls, data: Dict[str, Any], output: str = "") -> "SelfTestResult":
        return cls(**{**data, "bench": BenchResult(**data["bench"])}, output=output)

    def __getattr__(self, name: str) -> Any:
        """Deprecated: ``deploy()`` returned the board's text; its str methods (``splitlines``, ...) keep
        working on :attr:`output` for one release."""
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(name)
        warnings.warn(f"deploy() returns a SelfTestResult now: use .output.{name} (or .format()) instead of "
                      f".{name}", FpgaAccelDeprecationWarning, stacklevel=2)
        return getattr(self.output, name)

    def __contains__(self, text: str) -> bool:
        warnings.warn("deploy() returns a SelfTestResult now: test `.passed`, or search `.output`",
                      FpgaAccelDeprecationWarning, stacklevel=2)
        return text in self.output

    @property
    def passed(self) -> bool:
        return self.argmax_agreement == 1.0 and (self.bit_exact == 1.0 or self.max_abs_diff < 0.01)

    def format(self) -> str:
        return "\n".join([
            f"self-test on backend {self.backend}: {self.n} test vectors",
            f"bit-exact with QKeras  {self.bit_exact:.2%}",
            f"argmax agreement       {self.argmax_agreement:.2%}",
            f"max abs difference     {self.max_abs_diff:.3g}",
            self.bench.format(),
            "PASS" if self.passed else "FAIL",
        ])

    __str__ = format

    def _repr_html_(self) -> str:
        return html_report(f"self-test on backend {self.backend}",
                           [("test vectors", self.n), ("bit-exact with QKeras", f"{self.bit_exact:.2%}"),
                            ("argmax agreement", f"{self.argmax_agreement:.2%}"),
                            ("max abs difference", f"{self.max_abs_diff:.3g}"), *self.bench.summary()],
                           verdict=("PASS" if self.passed else "FAIL", self.passed))


RESULT_MARKER = "fpga-accel-selftest-result: "
"""Prefix of the line the board's ``selftest`` prints its result on as JSON (``deploy`` reads it)."""
EXIT_FAILED = 5
"""Exit code of a self-test that ran and failed (the CLI's ``EXIT_SELFTEST_FAILED``)."""


def result_line(result: SelfTestResult) -> str:
    return RESULT_MARKER + json.dumps(result.to_dict(), sort_keys=True)


def parse_result(output: str) -> Optional[SelfTestResult]:
    """The SelfTestResult a board printed (its last result line), or None when there is none or it does
    not parse (an older runtime on the board)."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return SelfTestResult.from_dict(json.loads(line[len(RESULT_MARKER):]), output)
            except (ValueError, TypeError, KeyError):
                return None
    return None


def _read_vectors(path: Path, output_shape: tuple) -> tuple:
    """x and y of a bundle's test vectors: numeric arrays (never pickles), one expected output per input."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path} is damaged ({type(exc).__name__}: {exc}); re-create the bundle") from None
    if x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu" or x.ndim < 1 or y.shape[:1] != x.shape[:1] \
            or int(np.prod(y.shape[1:])) != int(np.prod(output_shape)):
        raise ConfigError(f"{path}: x {x.shape} {x.dtype} and y {y.shape} {y.dtype} are not test vectors of this "
                          f"design (outputs {output_shape}); re-create the bundle")
    return x, y


def selftest(path: Union[str, Path], backend: str = "auto") -> SelfTestResult:
    with Accelerator.open(path, backend=backend) as acc:
        vectors = acc.bundle.test_vectors
        if not vectors.is_file():
            raise ConfigError(f"{vectors} is missing: the bundle carries no test vectors")
        x, y_ref = _read_vectors(vectors, acc.output_shape)
        m = acc.bundle.manifest
        if len(m.inputs) > 1:  # test vectors hold a multi-input design's inputs packed as the stream carries them
            x = split_stream(x, m.inputs)
        y = acc.predict(x)
        n = len(y_ref)
        flat = np.concatenate([o.reshape(n, -1) for o in y], axis=1) if len(m.outputs) > 1 else y.reshape(n, -1)
        ref = y_ref.reshape(n, -1)
        return SelfTestResult(
            backend=acc.backend, n=n,
            bit_exact=float(exact_rows(flat, ref).mean()),
            argmax_agreement=argmax_agreement(flat, ref),
            max_abs_diff=float(np.max(np.abs(flat - ref))),
            bench=acc.bench(batch=max(len(x), 1), calls=10, x=x))
