"""`learning.curriculum`: a linear classifier trained by SGD along a difficulty schedule (protocol v2).

    Train     a classification set (default: the generated "noisy-linear" task of data.py);
              difficulty is a teacher's cross-validated confidence in each label; the schedule
              runs from the easiest examples to uniform, each stage within KL epsilon of the
              last; a job's unit is a stage (per_stage SGD steps; after the last, uniform)
    Predict   labels and class probabilities
    Evaluate  accuracy
    Snapshot  the classifier, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.classifier import NetClassifier
from ..learner import TrainData
from ..protocol import Description, Train
from .config import RANGES, CurriculumConfig

__all__ = ["CurriculumNeuro"]

FORMAT, VERSION = "learning.curriculum", 1
GENERATED = "noisy-linear"


class _Model:
    def __init__(self, cfg: CurriculumConfig, n_in: int, classes: int, device: Any) -> None:
        import numpy as np
        import torch

        from .train import Classifier

        self.cfg, self.n_in, self.classes, self.device = cfg, n_in, classes, device
        self.net = Classifier(n_in, classes, cfg.seed, device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=cfg.lr)
        self.rng = np.random.default_rng(cfg.seed)
        self.schedule: list = []
        self.stage = 0

    def tensors(self, x: Any, y: Any = None) -> Any:
        from ..paradigmkit.rows import as_rows

        return as_rows(x, (self.n_in,), self.device, y)


class CurriculumNeuro(NetClassifier):
    """Learns a classifier from easy examples first, then the full set."""

    name = "learning.curriculum"
    config_type = CurriculumConfig
    ranges = RANGES
    weight_format, weight_version, model_type = FORMAT, VERSION, _Model

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[m.n_in] if m else None, output_shape=[m.classes] if m else None,
            datasets=[GENERATED, "digits", "iris", "wine"], weight_format=FORMAT, weight_version=VERSION,
            summary="SGD on a linear classifier whose batches follow a difficulty schedule (easy to uniform, "
                    "KL between stages under epsilon)")

    def load_dataset(self, name: str) -> TrainData:
        if name != GENERATED:
            return super().load_dataset(name)
        from .data import noisy_linear

        xtr, ytr, xte, yte = noisy_linear()
        return TrainData(name=GENERATED, task="classify", x=xtr, y=ytr, input_shape=(xtr.shape[1],), classes=2,
                         input_range=(float(xtr.min()), float(xtr.max())), test=(xte, yte), hash="generated:seed0")

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset(GENERATED)
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        from .schedule import difficulty_ranks, stages

        if data.task != "classify":
            raise ValueError(f"learning.curriculum learns classification; this data is a {data.task} task")
        cfg = self.configure(train)
        n_in = int(np.prod(data.input_shape))
        if model is None or model.n_in != n_in or model.classes != data.classes:
            model = _Model(cfg, n_in, data.classes, self.device(cfg.device))
        model.cfg = cfg
        x = np.asarray(data.x, np.float32).reshape(len(data.x), -1)
        model.schedule, model.stage = stages(difficulty_ranks(x, np.asarray(data.y), cfg.seed), cfg.epsilon,
                                             cfg.sharpness), 0
        return model, float(train.epochs), "stage"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .train import sgd_steps

        x, y = model.tensors(data.x, data.y)
        p = model.schedule[min(model.stage, len(model.schedule) - 1)]
        loss = sgd_steps(model.net, model.opt, x, y, p, model.cfg.per_stage, model.cfg.batch_size, model.rng)
        model.stage += 1
        return 1.0, {"loss": loss, "stage": float(model.stage), "stages": float(len(model.schedule)),
                     "steps": float(model.cfg.per_stage)}
