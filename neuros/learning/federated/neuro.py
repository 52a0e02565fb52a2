"""`learning.federated`: federated averaging over simulated non-IID clients (protocol v2).

    Train     a classification set (default: digits); the train split is cut into `clients`
              non-IID shards; a job's unit is a round: every client's local SGD from the global
              weights (fedavg.client_update, a pure function), then w = sum_k (n_k / N) w_k
    Predict   labels and class probabilities of the global model
    Evaluate  accuracy of the global model
    Snapshot  the global net, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner, class_prediction
from ..protocol import Description, Prediction, Restored, Train, Weights
from ..traindata import TrainData
from .config import RANGES, FederatedConfig

__all__ = ["FederatedNeuro"]

FORMAT, VERSION = "learning.federated", 1


class _Model:
    def __init__(self, cfg: FederatedConfig, n_in: int, classes: int, device: Any) -> None:
        from .fedavg import make_net, state_of

        self.cfg, self.shape, self.device = cfg, (n_in, cfg.hidden, classes), device
        self.net = make_net(*self.shape, cfg.seed).to(device)
        self.state = state_of(self.net)  # the global weights, as they travel to the clients
        self.rounds = 0

    def probs(self, x: Any) -> Any:
        import numpy as np
        import torch

        x = np.array(x, np.float32).reshape(len(x), -1)
        if x.shape[1] != self.shape[0]:
            raise ValueError(f"inputs must have {self.shape[0]} values each, got shape {tuple(x.shape)}")
        with torch.no_grad():
            return torch.softmax(self.net(torch.as_tensor(x, device=self.device)), 1).cpu().numpy()


class FederatedNeuro(ParadigmLearner):
    """Classifies with one net learnt by FedAvg from clients that each see only a few classes."""

    name = "learning.federated"
    config_type = FederatedConfig
    ranges = RANGES
    default_dataset = "digits"

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[m.shape[0]] if m else None, datasets=["digits"], weight_format=FORMAT, weight_version=VERSION,
            summary="an MLP learnt by federated averaging: each round, every client trains locally on its own "
                    "non-IID shard, then w = sum_k (n_k / N) w_k")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import math

        if data.task != "classify":
            raise ValueError(f"learning.federated classifies; this data is a {data.task} task (send integer labels)")
        cfg = self.configure(train)
        n_in = math.prod(data.input_shape)
        if model is None or model.shape != (n_in, cfg.hidden, data.classes):
            model = _Model(cfg, n_in, data.classes, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "round"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        import numpy as np

        from .fedavg import federated_round, load_state, non_iid_split

        x = np.array(data.x, np.float32).reshape(len(data.x), -1)
        y = np.asarray(data.y, np.int64)
        cfg = model.cfg
        parts = non_iid_split(y, cfg.clients, cfg.classes_per_client, cfg.seed)
        model.state, loss = federated_round(model.state, [(x[i], y[i]) for i in parts], model.shape, cfg, model.rounds)
        load_state(model.net, model.state)
        model.rounds += 1
        return 1.0, {"client_loss": loss, "steps": float(cfg.clients)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        return class_prediction(model.probs(x))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        return {"accuracy": float((model.probs(x).argmax(1) == np.asarray(y)).mean())}

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"net": model.net},
                              extra={"shape": list(model.shape), "rounds": model.rounds})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules
        from .fedavg import state_of

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, FederatedConfig)
        n_in, _, classes = extra["shape"]
        model = _Model(cfg, int(n_in), int(classes), self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        model.state, model.rounds = state_of(model.net), int(extra["rounds"])
        self.config = cfg
        return model, Restored(version=weights.version)
