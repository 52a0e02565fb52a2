"""`learning.fractal`: the correlation dimension of point sets (protocol v2).

    Train     point sets x (S, N, D) of known dimension y (S,), or none: the generated
              calibration sets (dataset "calibration"); learns the Grassberger-Procaccia
              scaling window with the least mean error on them (one job unit: the grid search)
    Predict   point sets x (B, N, D) -> their dimensions y (B,)
    Evaluate  point sets and their dimensions -> mean absolute error, worst error
    Snapshot  the window, format version 1 (plain data)
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Prediction, Train
from ..utilities.learnerparts import DefaultData, PlainWeights
from .config import RANGES, FractalConfig

__all__ = ["FractalNeuro"]

FORMAT, VERSION = "learning.fractal", 1
CALIBRATION = "calibration"


class FractalNeuro(DefaultData, PlainWeights, ParadigmLearner):
    """Estimates a point set's correlation dimension, its fit window calibrated on known sets."""

    name = "learning.fractal"
    config_type = FractalConfig
    ranges = RANGES
    default_dataset = CALIBRATION
    weight_format, weight_version = FORMAT, VERSION

    def describe(self) -> Description:
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=[],
            input_shape=None, output_shape=[], datasets=[CALIBRATION], weight_format=FORMAT, weight_version=VERSION,
            summary="maps a point set (N, D) to its correlation dimension D2, the slope of log C(r) against log r "
                    "over a window of r that Train calibrates on sets of known dimension")

    def load_dataset(self, name: str) -> TrainData:
        if name != CALIBRATION:
            raise ValueError(f"learning.fractal knows the dataset {CALIBRATION!r} (generated sets of known "
                             f"dimension), not {name!r}; or send point sets inline as x (S, N, D), y (S,)")
        from .attractors import calibration_sets

        x, y, _ = calibration_sets(2000, seed=self.config.seed + 1)
        return TrainData(name=CALIBRATION, task="regress", x=x, y=y, input_shape=tuple(x.shape[1:]),
                         hash=f"calibration-2000-{self.config.seed + 1}")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        self.configure(train)
        _sets(data.x, data.y)  # refuse bad shapes before the job starts
        return {}, 1.0, "calibration"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .calibrate import calibrate, subsample

        cfg = self.config
        sets = [subsample(p, cfg.max_points, cfg.seed) for p in _sets(data.x, data.y)]
        window = calibrate(sets, data.y, list(cfg.q_lo_grid), list(cfg.q_hi_grid), cfg.radii)
        model.clear()
        model.update(window)
        model["max_points"], model["seed"] = cfg.max_points, cfg.seed
        grid = len(cfg.q_lo_grid) * len(cfg.q_hi_grid)
        return 1.0, {"calibration_error": window["error"], "q_lo": window["q_lo"], "q_hi": window["q_hi"],
                     "steps": float(grid)}

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        dims = np.array([self._estimate(model, p) for p in _sets(x)], dtype=np.float64)
        return Prediction(y=Array.of(dims))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        dims = np.array([self._estimate(model, p) for p in _sets(x, y)])
        err = np.abs(dims - np.asarray(y, dtype=np.float64).reshape(-1))
        return {"mae": float(err.mean()), "max_error": float(err.max())}

    def _estimate(self, model: Any, points: Any) -> float:
        from .calibrate import estimate, subsample

        return estimate(model, subsample(points, int(model["max_points"]), int(model["seed"])))


def _sets(x: Any, y: Any = None) -> Any:
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 3:
        raise ValueError(f"point sets are x (S, N, D): S sets of N >= 3 points in D dimensions, got shape "
                         f"{tuple(x.shape)}")
    if y is not None and np.asarray(y).reshape(-1).shape != (len(x),):
        raise ValueError(f"give one dimension per point set: y ({len(x)},), got shape {tuple(np.shape(y))}")
    return x
