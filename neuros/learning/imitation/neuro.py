"""`learning.imitation`: behaviour cloning of demonstrations (protocol v2).

    Train     (observation, expert action) pairs: inline, or the generated "grid-demos" (the
              breadth-first expert in generated grid worlds; the default); cross-entropy on
              the expert's actions; a job's unit is an epoch; ends with test action accuracy
    Predict   the action of each observation, with the policy's probabilities
    Evaluate  action accuracy
    Snapshot  the policy net, format version 1
"""

from __future__ import annotations

from typing import Any

from ..learner import TrainData
from ..protocol import Description, Train
from ..paradigmkit.classifier import NetClassifier
from .config import RANGES, ImitationConfig

__all__ = ["ImitationNeuro"]

FORMAT, VERSION = "learning.imitation", 1
GENERATED = "grid-demos"


class _Model:
    def __init__(self, cfg: ImitationConfig, n_in: int, classes: int, device: Any) -> None:
        import torch

        from .model import Policy

        self.cfg, self.n_in, self.classes, self.device = cfg, n_in, classes, device
        self.net = Policy(n_in, cfg.hidden, classes, cfg.seed, device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def tensors(self, x: Any, y: Any = None) -> Any:
        from ..paradigmkit.rows import as_rows

        return as_rows(x, (self.n_in,), self.device, y)


class ImitationNeuro(NetClassifier):
    """Acts like the expert whose demonstrations it was trained on."""

    name = "learning.imitation"
    config_type = ImitationConfig
    ranges = RANGES
    weight_format, weight_version, model_type = FORMAT, VERSION, _Model
    metric = "action_accuracy"

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[m.n_in] if m else None, output_shape=[m.classes] if m else None, datasets=[GENERATED],
            weight_format=FORMAT, weight_version=VERSION,
            summary="behaviour cloning: an MLP policy trained by cross-entropy on an expert's actions (by default "
                    "the shortest-path expert of generated grid worlds)")

    def load_dataset(self, name: str) -> TrainData:
        if name != GENERATED:
            return super().load_dataset(name)
        from .demos import demonstrations

        xtr, ytr, _ = demonstrations(range(self.config.maps))
        xte, yte, _ = demonstrations(range(100_000, 100_100))
        return TrainData(name=GENERATED, task="classify", x=xtr, y=ytr, input_shape=(xtr.shape[1],), classes=4,
                         test=(xte, yte), hash=f"generated:maps{self.config.maps}")

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            self.configure(train)  # `maps` decides the generated set
            return self.load_dataset(GENERATED)
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        if data.task != "classify":
            raise ValueError("learning.imitation clones discrete actions: y must be one integer action per observation")
        cfg = self.configure(train)
        n_in = int(np.prod(data.input_shape))
        if model is None or model.n_in != n_in or model.classes != data.classes:
            model = _Model(cfg, n_in, data.classes, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .model import clone_epoch

        loss = clone_epoch(model.net, model.opt, *model.tensors(data.x, data.y), model.cfg.batch_size, model.gen)
        return 1.0, {"loss": loss, "steps": float(-(-len(data.x) // model.cfg.batch_size))}
