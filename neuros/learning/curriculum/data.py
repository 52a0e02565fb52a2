"""The curriculum's generated task: a two-class problem in `dim` dimensions whose labels follow a
logistic model of a hidden direction w, P(y = 1 | x) = sigmoid(beta w.x), so examples near the
boundary are often mislabelled (the hard ones) and far ones almost never. The test labels are
the clean sign(w.x). numpy only."""

from __future__ import annotations

from typing import Any

__all__ = ["noisy_linear"]


def noisy_linear(n_train: int = 4000, n_test: int = 2000, dim: int = 50, beta: float = 3.0,
                 seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """(x_train, y_train with logistic label noise, x_test, clean y_test), float32 and int64."""
    import numpy as np

    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    w /= np.linalg.norm(w)
    x = rng.normal(size=(n_train + n_test, dim)).astype(np.float32)
    margin = x @ w
    noisy = (rng.random(len(x)) < 1 / (1 + np.exp(-beta * margin))).astype(np.int64)
    return x[:n_train], noisy[:n_train], x[n_train:], (margin[n_train:] > 0).astype(np.int64)
