"""What the fractal learner learns: the scaling window [q_lo, q_hi] of the Grassberger-Procaccia
fit that gives the smallest mean absolute error on point sets of known dimension (a grid search,
utilities/search.py). numpy only."""

from __future__ import annotations

from typing import Any

from ..utilities.search import grid_search
from .dimension import box_dimension, correlation_dimension, pair_distances

__all__ = ["Window", "calibrate", "estimate", "calibrate_box", "subsample", "held_out_error"]


class Window(dict):
    """The learnt window: ``{"q_lo", "q_hi", "radii", "error"}`` (error: on the sets it was fitted on)."""


def subsample(points: Any, max_points: int, seed: int) -> Any:
    """At most `max_points` rows of `points`, chosen at random with `seed` (all of them when fewer)."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    if len(points) <= max_points:
        return points
    idx = np.sort(np.random.default_rng(seed).choice(len(points), max_points, replace=False))
    return points[idx]


def calibrate(sets: Any, dims: Any, q_lo_grid: list[float], q_hi_grid: list[float], radii: int = 12,
              distances: list[Any] | None = None) -> Window:
    """The window of the grids with the least mean |D2 estimate - dimension| over `sets` (or over
    their sorted pair `distances`, when given: `sets` is then not read)."""
    import numpy as np

    distances = [pair_distances(p) for p in sets] if distances is None else distances

    def error(c: dict[str, float]) -> float:
        if c["q_lo"] >= c["q_hi"]:
            return float("inf")
        found = [correlation_dimension(None, c["q_lo"], c["q_hi"], radii, distances=d) for d in distances]
        return float(np.mean(np.abs(np.asarray(found) - np.asarray(dims, dtype=np.float64))))

    result = grid_search(error, {"q_lo": list(q_lo_grid), "q_hi": list(q_hi_grid)})
    return Window(q_lo=result.best["q_lo"], q_hi=result.best["q_hi"], radii=radii, error=result.best_score)


def held_out_error(sets: Any, dims: Any, q_lo_grid: list[float], q_hi_grid: list[float], radii: int = 12,
                   k: int = 0) -> float:
    """Mean error on sets left out of the calibration: k-fold over the sets (k = 0: leave one out)."""
    import numpy as np

    from ..utilities.kfold import cross_validate

    distances = [pair_distances(p) for p in sets]
    dims = np.asarray(dims, dtype=np.float64)

    def fit_score(train: Any, y_train: Any, test: Any, y_test: Any) -> float:
        w = calibrate(None, y_train, q_lo_grid, q_hi_grid, radii, distances=[distances[i] for i in train])
        found = [correlation_dimension(None, w["q_lo"], w["q_hi"], radii, distances=distances[i]) for i in test]
        return float(np.mean(np.abs(np.asarray(found) - y_test)))

    index = np.arange(len(distances))
    return float(np.mean(cross_validate(fit_score, index, dims, k=k or len(index))))


def estimate(window: dict[str, Any], points: Any) -> float:
    """The correlation dimension of `points` over the learnt window."""
    return correlation_dimension(points, window["q_lo"], window["q_hi"], int(window["radii"]))


def calibrate_box(sets: Any, dims: Any, eps_grid: tuple[float, ...] = (1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64)) -> float:
    """The baseline's one scale: the box side of `eps_grid` with the least mean error on `sets`."""
    import numpy as np

    result = grid_search(lambda c: float(np.mean([abs(box_dimension(p, c["eps"]) - y) for p, y in zip(sets, dims)])),
                         {"eps": list(eps_grid)})
    return float(result.best["eps"])
