"""`learning.continual`: an MLP that learns tasks in sequence without forgetting them (EWC and
replay), its lr and lambda moved by the meta-parameter controller (protocol v2).

    Train     a classification set (default: digits) cut by classes into tasks of
              `classes_per_task` classes, learnt in class order; a job's unit is a task,
              Train.epochs are the epochs on each; ends with the test accuracy, per task and
              in all, and forgetting
    Step      one guarded step on a batch (x, y): rehearsal and the EWC penalty included, then
              the batch is offered to the replay memory (online learning)
    Predict   labels and class probabilities
    Evaluate  accuracy and cross-entropy
    Snapshot  the net, the Fisher diagonal and anchor, the replay memory, format version 1
"""

from __future__ import annotations

from typing import Any

from ..learner import TrainData
from ..protocol import Description, Prediction, Restored, StepResult, Train, Weights
from ..paradigmkit.base import ParadigmLearner, class_prediction, labels_of
from .config import RANGES, ContinualConfig

__all__ = ["ContinualNeuro"]

FORMAT, VERSION = "learning.continual", 1


class ContinualNeuro(ParadigmLearner):
    """Learns classification tasks one after another, guarding old ones by EWC and replay."""

    name = "learning.continual"
    config_type = ContinualConfig
    ranges = RANGES
    default_dataset = "digits"

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=self.option_specs(), capabilities=["online", "gpu"],
            input_shape=[m.n_in] if m else None, output_shape=[m.classes] if m else None, datasets=["digits"],
            weight_format=FORMAT, weight_version=VERSION,
            summary="learns a classification set as a sequence of tasks (classes_per_task classes each, in class "
                    "order; default digits: 5 tasks of 2), guarding old tasks by EWC and a replay memory; a job's "
                    "unit is a task, Train.epochs the epochs on each; Step learns a batch online")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        from .model import ContinualModel
        from .tasks import split_by_classes

        if data.task != "classify":
            raise ValueError(f"learning.continual learns classification tasks; this data is a {data.task} task")
        cfg = self.configure(train)
        n_in = int(np.prod(data.input_shape))
        if model is None or model.n_in != n_in or model.classes < data.classes:
            model = ContinualModel(cfg, n_in, data.classes, self.device(cfg.device))
        model.cfg = cfg  # a model learning on keeps its memory, Fisher and controller, under the new options
        model.train_tasks = split_by_classes(data.x, data.y, cfg.classes_per_task)
        model.test_tasks = split_by_classes(*data.test, cfg.classes_per_task) if data.test else []
        model.epochs, model.matrix = train.epochs, []
        return model, float(len(model.train_tasks)), "task"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        x, y = model.train_tasks[int(job.done)]
        metrics = model.learn_task(x, y, model.epochs)
        if model.test_tasks:
            model.matrix.append([model.accuracy(tx, ty) for tx, ty in model.test_tasks])
            metrics["test_accuracy_so_far"] = sum(model.matrix[-1][:int(job.done) + 1]) / (int(job.done) + 1)
        return 1.0, {**metrics, "steps": float(model.epochs * -(-len(y) // model.cfg.batch_size))}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        from .sequence import final_accuracy, forgetting

        if not model.matrix:
            return {}
        out = {"test_accuracy": final_accuracy(model.matrix), "test_forgetting": forgetting(model.matrix)}
        out.update({f"test_accuracy_task{j}": a for j, a in enumerate(model.matrix[-1])})
        return out

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        import numpy as np

        x, y = _rows(x, model.n_in, "Step"), labels_of(y, len(x), model.classes, "Step.y")
        loss = model.step(x, y)
        model.memory.add(x, y)
        return StepResult(loss=loss, metrics={"remembered": float(len(model.memory)), "lr": model.controller.lr,
                                              "accuracy": model.accuracy(x, y), "n": float(len(np.asarray(y)))})

    def predict(self, model: Any, x: Any) -> Prediction:
        return class_prediction(model.scores(_rows(x, model.n_in, "Predict")))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        x = _rows(x, model.n_in, "Evaluate")
        y = labels_of(y, len(x), model.classes, "Evaluate.y")
        return {"accuracy": model.accuracy(x, y), "loss": model.mean_loss(x, y)}

    def to_weights(self, model: Any) -> Weights:
        import numpy as np

        from ..paradigmkit.torchstate import encode_modules

        mx, my = model.memory.arrays()
        modules = {"net": model.net}
        if model.fisher is not None:
            modules.update({"fisher": model.fisher, "anchor": model.anchor})
        return encode_modules(FORMAT, VERSION, model.cfg, modules, extra={
            "n_in": model.n_in, "classes": model.classes, "tasks_learnt": model.tasks_learnt,
            "lr": model.controller.lr, "ewc_lambda": model.controller.reg, "memory_seen": model.memory.seen,
            "memory_x": np.ascontiguousarray(mx, "<f4").tobytes(), "memory_y": [int(v) for v in my]})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        import numpy as np

        from .model import ContinualModel
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, ContinualConfig)
        model = ContinualModel(cfg, int(extra["n_in"]), int(extra["classes"]), self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        if "fisher" in states:
            model.fisher = {k: v.to(model.device) for k, v in states["fisher"].items()}
            model.anchor = {k: v.to(model.device) for k, v in states["anchor"].items()}
        mx = np.frombuffer(extra["memory_x"], "<f4").reshape(len(extra["memory_y"]), -1)
        model.memory.add(mx, extra["memory_y"])
        model.memory.seen = int(extra["memory_seen"])
        model.tasks_learnt, model.controller.lr, model.controller.reg = (int(extra["tasks_learnt"]), extra["lr"],
                                                                         extra["ewc_lambda"])
        self.config = cfg
        return model, Restored(version=weights.version)


def _rows(x: Any, n_in: int, what: str) -> Any:
    import numpy as np

    x = np.asarray(x, np.float32)
    x = x.reshape(len(x), -1) if x.ndim >= 2 else x
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"{what}.x must be examples of {n_in} values each, shape (N, {n_in}) or (N, ...) "
                         f"flattening to it; got {tuple(np.asarray(x).shape)}")
    return x

