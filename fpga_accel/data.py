"""Data the demo and tests use: scikit-learn's bundled digits set (nothing is downloaded)."""
from __future__ import annotations

import numpy as np


def load_digits_split(test_fraction: float = 0.2, seed: int = 0, image: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8x8 digits scaled to [0, 1] as float32: (x_train, y_train, x_test, y_test).

    ``image=True`` gives (n, 8, 8, 1) for CNNs, else flat (n, 64).
    """
    from .errors import ConfigError

    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number between 0 and 1, got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed!r}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if image:
        x = x.reshape(-1, 8, 8, 1)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
