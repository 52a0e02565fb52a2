"""The weight field experiment's task, generated: y = sin(2 pi x) + 0.5 x^2 + noise 0.1, x uniform
in [-1, 1]. numpy only."""

from __future__ import annotations

from typing import Any

__all__ = ["bumpy_line"]


def bumpy_line(n: int, seed: int, noise: float = 0.1) -> tuple[Any, Any]:
    """(x (n, 1), y (n,)) float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    y = np.sin(2 * np.pi * x[:, 0]) + 0.5 * x[:, 0] ** 2
    return x, (y + noise * rng.standard_normal(n)).astype(np.float32)
