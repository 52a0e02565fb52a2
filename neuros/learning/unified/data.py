"""A task where different learners win on different inputs (numpy): x in [-2, 2]; left of 0 the
target is a line, right of 0 a fast sine, plus Gaussian noise. A line fits the left and not the
right; a bank of fast sines the right and not the left; a small net neither well."""

from __future__ import annotations

from typing import Any

__all__ = ["piecewise", "target"]


def target(x: Any) -> Any:
    import numpy as np

    return np.where(x < 0, 1.5 * x + 1.0, np.sin(10.0 * x))


def piecewise(n: int, seed: int = 0, noise: float = 0.05) -> tuple[Any, Any]:
    """x (n, 1) uniform in [-2, 2] and y (n, 1) = target(x) + noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, (n, 1))
    return x.astype(np.float32), (target(x) + rng.normal(0, noise, (n, 1))).astype(np.float32)
