"""`TorchRegressor`: what the echo, weightfield and harmonic learners share (protocol v2 on top
of `ParadigmLearner`): regression data as tensors, Predict (y), Evaluate (mse), and weights as
the model's tensors with its shape. A subclass writes `make_model(cfg, n_in, device)` (an object
with `.modules()`: name -> nn.Module or dict of tensors, and `.forward(x)`), `fit_epoch`, and
its Description. `check_dataset` (the one-generated-set refusal) serves quantumflux too. torch only inside."""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..protocol import Array, Prediction, Restored, Train, Weights
from ..traindata import TrainData

__all__ = ["TorchRegressor", "as_tensors", "check_dataset"]


def as_tensors(x: Any, y: Any, n_in: int, device: Any) -> Any:
    """x as float32 (N, n_in) and y (when given) as (N,), on `device`; a ValueError naming the shape."""
    import numpy as np
    import torch

    x = np.array(x, np.float32).reshape(len(x), -1)
    if x.shape[1] != n_in:
        raise ValueError(f"inputs must have {n_in} values each, got shape {tuple(x.shape)}")
    tx = torch.as_tensor(x, device=device)
    if y is None:
        return tx
    y = np.array(y, np.float32)
    if y.size != len(x):
        raise ValueError(f"targets must be one number per input: ({len(x)},), got shape {tuple(y.shape)}")
    return tx, torch.as_tensor(y.reshape(-1), device=device)


def check_dataset(learner: str, name: str, known: str, inline: str) -> None:
    """Refuse a data set name other than the learner's one generated set, saying what to send."""
    if name != known:
        raise ValueError(f"{learner} knows the dataset {known!r} (generated), not {name!r}; or send {inline} inline")


class TorchRegressor(ParadigmLearner, abstract=True):
    """A regression learner over one scalar target; the model's `n_in` and `device` travel with it."""

    weight_format: str = ""
    weight_version: int = 1

    def make_model(self, cfg: Any, n_in: int, device: Any) -> Any:
        raise NotImplementedError

    def fit_epoch(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        raise NotImplementedError

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import math

        if data.task not in ("regress", ""):
            raise ValueError(f"{self.name} learns regression; this data is a {data.task} task (send float y)")
        cfg = self.configure(train)
        n_in = math.prod(data.input_shape)
        if model is None or model.n_in != n_in:
            model = self.make_model(cfg, n_in, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        x, y = as_tensors(data.x, data.y, model.n_in, model.device)
        return 1.0, self.fit_epoch(model, x, y)

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        with torch.no_grad():
            y = model.forward(as_tensors(x, None, model.n_in, model.device))
        return Prediction(y=Array.of(y.cpu().numpy().astype("float32")))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import torch

        tx, ty = as_tensors(x, y, model.n_in, model.device)
        with torch.no_grad():
            return {"mse": float(((model.forward(tx) - ty) ** 2).mean())}

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(self.weight_format, self.weight_version, model.cfg, model.modules(),
                              extra={"n_in": model.n_in})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, self.weight_format, self.weight_version, self.config_type)
        model = self.make_model(cfg, int(extra["n_in"]), self.device(cfg.device))
        model.cfg = cfg
        for name, part in model.modules().items():
            if hasattr(part, "load_state_dict"):
                part.load_state_dict(states[name])
            else:  # a dict of tensors, shapes as saved
                part.update({key: value.to(model.device).requires_grad_(part[key].requires_grad)
                             for key, value in states[name].items()})
        self.config = cfg
        return model, Restored(version=weights.version)
