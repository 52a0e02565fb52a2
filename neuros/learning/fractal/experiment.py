"""The fractal experiment: the correlation dimension of Lorenz and Hénon against the known values.

The learner is calibrated (Train) on generated sets of known dimension (a line, a circle, a
square, a sphere, a cube, a Sierpinski triangle, Cantor dust), then estimates the two
attractors it never saw. Figure: the mean absolute error over both attractors (lower is
better). Baseline: the naive estimate, the embedding dimension (3 for Lorenz, 2 for Hénon).
Extra: each attractor's error, box counting at one scale (the scale calibrated on the same sets),
each attractor's, and the calibration's leave-one-set-out error (utilities.cross_validate).
"""

from __future__ import annotations

from ..paradigms import Outcome
from .attractors import KNOWN, calibration_sets, henon, lorenz
from .calibrate import calibrate, calibrate_box, estimate, held_out_error
from .config import FractalConfig
from .dimension import box_dimension

__all__ = ["run"]

EMBEDDING = {"lorenz": 3.0, "henon": 2.0}


def run(quick: bool, seed: int) -> Outcome:
    import numpy as np

    n = 2000 if quick else 4000
    cfg = FractalConfig(seed=seed)
    sets, dims, _ = calibration_sets(n, seed=seed + 1)
    window = calibrate(sets, dims, cfg.q_lo_grid, cfg.q_hi_grid, cfg.radii)
    eps = calibrate_box(sets, dims)
    targets = {"lorenz": lorenz(n, seed=seed), "henon": henon(n, seed=seed)}
    extra: dict[str, float] = {"q_lo": window["q_lo"], "q_hi": window["q_hi"],
                               "calibration_error": window["error"], "box_eps": eps,
                               "held_out_calibration_error": held_out_error(sets, dims, cfg.q_lo_grid, cfg.q_hi_grid,
                                                                            cfg.radii)}
    errors, naive = [], []
    for name, points in targets.items():
        d2 = estimate(window, points)
        extra[f"{name}_d2"] = d2
        extra[f"{name}_error"] = abs(d2 - KNOWN[name])
        extra[f"{name}_box_error"] = abs(box_dimension(points, eps) - KNOWN[name])
        extra[f"{name}_embedding_error"] = abs(EMBEDDING[name] - KNOWN[name])
        errors.append(extra[f"{name}_error"])
        naive.append(extra[f"{name}_embedding_error"])
    extra["box_error"] = float(np.mean([extra["lorenz_box_error"], extra["henon_box_error"]]))
    return Outcome(figure=float(np.mean(errors)), baseline=float(np.mean(naive)), unit="abs error of D2",
                   higher_is_better=False, margin=0.5, extra=extra,
                   note=f"{n} points per set; window C in [{window['q_lo']:g}, {window['q_hi']:g}]")
