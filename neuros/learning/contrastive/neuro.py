"""`learning.contrastive`: an encoder pre-trained with InfoNCE, read out by a linear probe (protocol v2).

    Train     a classification set (default: digits); each epoch of the job is one InfoNCE pass
              over two augmented views of every input (labels unused); at the end a linear
              probe is fitted on the features with the labels; the job reports its test accuracy
    Predict   labels and class probabilities (probe on features); `y` is the features (N, features)
    Evaluate  the probe's accuracy
    Snapshot  encoder, projection head and probe, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Description, Prediction, Restored, Train, Weights
from .config import RANGES, ContrastiveConfig

__all__ = ["ContrastiveNeuro"]

FORMAT, VERSION = "learning.contrastive", 1


class _Model:
    def __init__(self, cfg: ContrastiveConfig, input_shape: tuple, device: Any) -> None:
        import math

        import torch

        from .model import Encoder

        self.cfg, self.input_shape, self.device = cfg, tuple(input_shape), device
        self.n_in = math.prod(self.input_shape)
        self.enc, self.head = Encoder(self.n_in, cfg.hidden, cfg.features, cfg.seed, device)
        self.opt = torch.optim.Adam([*self.enc.parameters(), *self.head.parameters()], lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.probe: Any = None

    @property
    def image(self) -> tuple[int, int] | None:
        return self.input_shape if len(self.input_shape) == 2 else None  # shifts only make sense on images

    def tensor(self, x: Any) -> Any:
        from ..paradigmkit.rows import as_rows

        return as_rows(x, self.input_shape, self.device)

    def features(self, x: Any) -> Any:
        from .model import features

        return features(self.enc, self.tensor(x))


class ContrastiveNeuro(ParadigmLearner):
    """Learns features without labels (InfoNCE on augmented views), classifies with a linear probe."""

    name = "learning.contrastive"
    config_type = ContrastiveConfig
    ranges = RANGES

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=list(m.input_shape) if m else None, datasets=["digits"], weight_format=FORMAT,
            weight_version=VERSION,
            summary="an MLP encoder pre-trained with InfoNCE on noised, shifted, masked views (no labels); a "
                    "logistic-regression probe on its features classifies")

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset("digits")
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        if data.task != "classify":
            raise ValueError(f"learning.contrastive's probe classifies; this data is a {data.task} task")
        cfg = self.configure(train)
        if model is None or model.input_shape != tuple(data.input_shape):
            model = _Model(cfg, data.input_shape, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .model import pretrain_epoch

        loss = pretrain_epoch(model.enc, model.head, model.opt, model.tensor(data.x), model.gen, model.cfg, model.image)
        return 1.0, {"infonce": loss, "steps": float(-(-len(data.x) // model.cfg.batch_size))}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        import numpy as np

        from .model import LinearProbe

        model.probe = LinearProbe(model.features(data.x), np.asarray(data.y), model.cfg.seed)
        if data.test is None:
            return {}
        return {"test_probe_accuracy": model.probe.accuracy(model.features(data.test[0]), np.asarray(data.test[1]))}

    def _probe(self, model: Any) -> Any:
        if model.probe is None:
            raise ValueError("the probe is fitted when a Train job ends; wait for it (Status)")
        return model.probe

    def predict(self, model: Any, x: Any) -> Prediction:
        from ..paradigmkit.rows import class_prediction

        f = model.features(x)
        return class_prediction(self._probe(model).scores(f), model.probe.classes, y=f)

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        return {"probe_accuracy": self._probe(model).accuracy(model.features(x), np.asarray(y))}

    def to_weights(self, model: Any) -> Weights:
        import torch

        from ..paradigmkit.torchstate import encode_modules

        probe = {} if model.probe is None else {k: torch.as_tensor(v) for k, v in model.probe.state().items()}
        return encode_modules(FORMAT, VERSION, model.cfg, {"enc": model.enc, "head": model.head, "probe": probe},
                              extra={"input_shape": list(model.input_shape)})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules
        from .model import LinearProbe

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, ContrastiveConfig)
        model = _Model(cfg, tuple(extra["input_shape"]), self.device(cfg.device))
        model.enc.load_state_dict(states["enc"])
        model.head.load_state_dict(states["head"])
        if states.get("probe"):
            model.probe = LinearProbe.of({k: v.numpy() for k, v in states["probe"].items()})
        self.config = cfg
        return model, Restored(version=weights.version)
