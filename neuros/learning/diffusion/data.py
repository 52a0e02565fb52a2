"""The generated 2-D target: two moons (scikit-learn's make_moons), standardised. numpy."""

from __future__ import annotations

from typing import Any

__all__ = ["two_moons"]


def two_moons(n: int, seed: int, noise: float = 0.05) -> Any:
    """n points (n, 2) of two interleaved half circles, scaled to mean 0 and std 1 per axis
    (with the fixed statistics of the noise-free moons, so every draw has the same scale)."""
    import numpy as np
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=noise, random_state=seed)
    mean, std = np.array([0.5, 0.25]), np.array([0.87, 0.5])
    return ((x - mean) / std).astype(np.float32)
