"""`NetClassifier`: the protocol methods of a learner whose model is one torch net classifying
flat inputs (imitation's policy, curriculum's linear classifier): finish, Predict, Evaluate,
Snapshot and Restore written once. No torch at import.

A subclass sets `weight_format`, `model_type` (built as ``model_type(cfg, n_in, classes,
device)``, with attributes cfg, n_in, classes, net and ``tensors(x, y=None)``) and its
`config_type`; the metric is named `metric`."""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Prediction, Restored, Weights

__all__ = ["NetClassifier", "accuracy"]


def accuracy(net: Any, x: Any, y: Any) -> float:
    import torch

    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


class NetClassifier(ParadigmLearner, abstract=True):
    weight_format: str = ""
    weight_version: int = 1
    model_type: type = object
    metric: str = "accuracy"

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        from .rows import class_prediction

        with torch.no_grad():
            return class_prediction(torch.softmax(model.net(model.tensors(x)), -1).cpu().numpy())

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        return {self.metric: accuracy(model.net, *model.tensors(x, y))}

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(self.weight_format, self.weight_version, model.cfg, {"net": model.net},
                              extra={"n_in": model.n_in, "classes": model.classes})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, self.weight_format, self.weight_version, self.config_type)
        model = self.model_type(cfg, int(extra["n_in"]), int(extra["classes"]), self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        self.config = cfg
        return model, Restored(version=weights.version)
