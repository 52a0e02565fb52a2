"""The echo experiment's task, generated: y = sin(2 x1) + 0.5 cos(3 x2) + 0.3 x1 x2 with noise 0.1,
x uniform in [-1.5, 1.5]^2. numpy only."""

from __future__ import annotations

from typing import Any

__all__ = ["wave2d"]


def wave2d(n: int, seed: int) -> tuple[Any, Any]:
    """(x (n, 2), y (n,)) float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (n, 2)).astype(np.float32)
    y = np.sin(2 * x[:, 0]) + 0.5 * np.cos(3 * x[:, 1]) + 0.3 * x[:, 0] * x[:, 1]
    return x, (y + 0.1 * rng.standard_normal(n)).astype(np.float32)
