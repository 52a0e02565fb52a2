"""`learning.weightfield`: a continuous weight field of radial basis functions (protocol v2).

    Train     a regression set (inline x (N, D), y (N,); or the generated "bumpy_line" with a
              test split); the centres are placed on the first Train's inputs; a job's unit is
              an epoch of the seed's rule w_k += eta phi(x) e r_x[k] - eta lambda w_k
    Step      one application of the rule on the batch sent (online)
    Predict   y (N,)
    Evaluate  mse
    Snapshot  centres, sigma and W, format version 1
"""

from __future__ import annotations

from typing import Any

from ..protocol import Description, StepResult, Train
from ..traindata import TrainData
from ..paradigmkit.regressor import TorchRegressor, as_tensors, check_dataset
from .config import RANGES, WeightFieldConfig

__all__ = ["WeightFieldNeuro"]

BUMPY = "bumpy_line"


class WeightFieldNeuro(TorchRegressor):
    """Regresses with weights that are a smooth RBF field over the input space."""

    name = "learning.weightfield"
    config_type = WeightFieldConfig
    ranges = RANGES
    default_dataset = BUMPY
    weight_format, weight_version = "learning.weightfield", 1

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=["gpu", "online"],
            input_shape=[m.n_in] if m else None, output_shape=[], datasets=[BUMPY],
            weight_format=self.weight_format, weight_version=self.weight_version,
            summary="y = phi(x)^T W [1, x] with Gaussian RBFs phi_j centred over the inputs; W learnt by the "
                    "seed's local rule (gradient descent on e^2/2 with weight decay)")

    def load_dataset(self, name: str) -> TrainData:
        check_dataset(self.name, name, BUMPY, "x (N, D) and y (N,)")
        from .data import bumpy_line

        x, y = bumpy_line(256, self.config.seed)
        return TrainData(name=BUMPY, task="regress", x=x, y=y, input_shape=(1,),
                         test=bumpy_line(2048, self.config.seed + 100, noise=0.0), hash=f"bumpy-256-{self.config.seed}")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import math

        import torch

        from .field import WeightField

        cfg = self.configure(train)
        n_in = math.prod(data.input_shape)
        if model is None or model.n_in != n_in:  # the field's centres come from the data it first sees
            if data.task not in ("regress", ""):
                raise ValueError(f"{self.name} learns regression; this data is a {data.task} task (send float y)")
            model = WeightField.spread_over(data.x, cfg.centres, cfg.width, cfg.seed, self.device(cfg.device))
            model.gen = torch.Generator().manual_seed(cfg.seed)
        return super().begin(train, data, model)

    def make_model(self, cfg: WeightFieldConfig, n_in: int, device: Any) -> Any:
        import numpy as np
        import torch

        from .field import WeightField

        model = WeightField(np.zeros((cfg.centres, n_in), np.float32), 1.0, device)  # Restore fills it
        model.gen = torch.Generator().manual_seed(cfg.seed)
        return model

    def fit_epoch(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        from .field import field_epoch

        mse = field_epoch(model, x, y, model.cfg, model.gen)
        return {"mse": mse, "steps": float(-(-len(x) // model.cfg.batch_size))}

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        tx, ty = as_tensors(x, y, model.n_in, model.device)
        return StepResult(loss=model.update(tx, ty, model.cfg.lr, model.cfg.decay))
