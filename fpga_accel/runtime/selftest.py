"""On-board self-test: open the bundle (hashes checked), run its test vectors, report agreement and speed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import ConfigError
from .accelerator import Accelerator, BenchResult
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


def selftest(path: Union[str, Path], backend: str = "auto") -> SelfTestResult:
    with Accelerator.open(path, backend=backend) as acc:
        vectors = acc.bundle.test_vectors
        if not vectors.is_file():
            raise ConfigError(f"{vectors} is missing: the bundle carries no test vectors")
        with np.load(vectors) as data:
            x, y_ref = data["x"], data["y"]
        y = acc.predict(x)
        flat, ref = y.reshape(len(x), -1), y_ref.reshape(len(x), -1)
        return SelfTestResult(
            backend=acc.backend, n=len(x),
            bit_exact=float(exact_rows(flat, ref).mean()),
            argmax_agreement=argmax_agreement(flat, ref),
            max_abs_diff=float(np.max(np.abs(flat - ref))),
            bench=acc.bench(batch=max(len(x), 1), calls=10, x=x))
