"""On-board self-test: open the bundle (hashes checked), run its test vectors, report agreement and speed."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import ConfigError
from .accelerator import Accelerator, BenchResult
from .tables import html_report
from .validate import argmax_agreement, exact_rows


@dataclass
class SelfTestResult:
    backend: str
    n: int
    bit_exact: float
    argmax_agreement: float
    max_abs_diff: float
    bench: BenchResult

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
        y = acc.predict(x)
        flat, ref = y.reshape(len(x), -1), y_ref.reshape(len(x), -1)
        return SelfTestResult(
            backend=acc.backend, n=len(x),
            bit_exact=float(exact_rows(flat, ref).mean()),
            argmax_agreement=argmax_agreement(flat, ref),
            max_abs_diff=float(np.max(np.abs(flat - ref))),
            bench=acc.bench(batch=max(len(x), 1), calls=10, x=x))
