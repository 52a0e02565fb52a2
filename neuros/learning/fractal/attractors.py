"""Point sets with a known dimension: the Lorenz and Hénon attractors (the experiment's targets)
and the calibration sets the learner is trained on (lines, squares, a Sierpinski triangle, ...).
numpy only, imported inside. Every set is (N, 3): lower-dimensional ones are padded with zeros,
which changes no distance."""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["lorenz", "henon", "CALIBRATION", "calibration_sets", "KNOWN"]

# Correlation dimensions D2 from the literature (Grassberger & Procaccia 1983): the figure's truth.
KNOWN = {"lorenz": 2.05, "henon": 1.22}


def _pad(points: Any) -> Any:
    import numpy as np

    out = np.zeros((len(points), 3))
    out[:, :points.shape[1]] = points
    return out


def lorenz(n: int, seed: int = 0, dt: float = 0.01, stride: int = 10, transient: int = 2000,
           sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> Any:
    """`n` points of the Lorenz attractor, RK4 at `dt`, one kept every `stride` steps (0.1 time
    units: far enough apart that neighbours in time are not neighbours in the sum)."""
    import numpy as np

    def f(s: Any) -> Any:
        x, y, z = s
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    rng = np.random.default_rng(seed)
    s = np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.1, 3)
    out = np.empty((n, 3))
    for i in range(transient + n * stride):
        k1 = f(s)
        k2 = f(s + dt / 2 * k1)
        k3 = f(s + dt / 2 * k2)
        k4 = f(s + dt * k3)
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        j = i - transient
        if j >= 0 and j % stride == 0:
            out[j // stride] = s
    return out


def henon(n: int, seed: int = 0, a: float = 1.4, b: float = 0.3, transient: int = 200) -> Any:
    """`n` points of the Hénon map's attractor x' = 1 - a x^2 + y, y' = b x."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-0.1, 0.1, 2)
    out = np.empty((n, 2))
    for i in range(transient + n):
        x, y = 1.0 - a * x * x + y, b * x
        if i >= transient:
            out[i - transient] = (x, y)
    return _pad(out)


def _chaos_game(n: int, rng: Any, corners: Any, ratio: float) -> Any:
    import numpy as np

    p = corners.mean(0)
    out = np.empty((n, corners.shape[1]))
    picks = rng.integers(0, len(corners), n + 50)
    for i, c in enumerate(picks):
        p = p + (corners[c] - p) * (1.0 - ratio)
        if i >= 50:
            out[i - 50] = p
    return out


def _line(n: int, rng: Any) -> Any:
    return _pad(rng.uniform(0, 1, (n, 1)))


def _circle(n: int, rng: Any) -> Any:
    import numpy as np

    t = rng.uniform(0, 2 * math.pi, n)
    return _pad(np.stack([np.cos(t), np.sin(t)], 1))


def _square(n: int, rng: Any) -> Any:
    return _pad(rng.uniform(0, 1, (n, 2)))


def _sphere(n: int, rng: Any) -> Any:
    import numpy as np

    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _cube(n: int, rng: Any) -> Any:
    return rng.uniform(0, 1, (n, 3))


def _sierpinski(n: int, rng: Any) -> Any:
    import numpy as np

    return _pad(_chaos_game(n, rng, np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]]), 0.5))


def _cantor_dust(n: int, rng: Any) -> Any:
    import numpy as np

    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return _pad(_chaos_game(n, rng, corners, 1.0 / 3.0))


# name -> (maker, its dimension): the sets a learner is calibrated on (self-similar ones with
# equal weights have D2 equal to their similarity dimension).
CALIBRATION: dict[str, tuple[Callable[[int, Any], Any], float]] = {
    "line": (_line, 1.0), "circle": (_circle, 1.0), "square": (_square, 2.0), "sphere": (_sphere, 2.0),
    "cube": (_cube, 3.0), "sierpinski": (_sierpinski, math.log(3) / math.log(2)),
    "cantor_dust": (_cantor_dust, 2 * math.log(2) / math.log(3)),
}


def calibration_sets(n: int, seed: int = 0) -> tuple[Any, Any, list[str]]:
    """Every calibration set at `n` points: x (S, n, 3), their dimensions y (S,), their names."""
    import numpy as np

    rng = np.random.default_rng(seed)
    names = list(CALIBRATION)
    x = np.stack([CALIBRATION[name][0](n, rng) for name in names])
    return x, np.array([CALIBRATION[name][1] for name in names]), names
