"""A small learner on the `Learner` base, numpy only: what a sixth learning system would write.

Least squares by gradient descent: it regresses float targets of any shape, and classifies
integer labels (one-hot targets, argmax). A slice is one epoch; `pause` makes each slice
last at least that long, so a test can act while a job runs, and `fail_at` makes a job fail.
A module of its own (no test imports): the process sandbox ships this file in and imports it.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

from neuro.neuros.learning.learner import Learner, TrainData
from neuro.neuros.learning.options import option_specs
from neuro.neuros.learning.protocol import Array, Description, Prediction, Restored, StepResult, Train, Weights


class ToyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Step size of gradient descent on the mean squared error.
    lr: float = 0.1
    # Seconds each epoch lasts at least (a test's long job).
    pause: float = 0.0
    # Fail the job at this epoch (0: never).
    fail_at: int = 0
    # What the targets are: inferred from y when empty.
    task: Literal["", "classify", "regress"] = ""
    epochs: int = 1
    seed: int = 0


class _Model:
    def __init__(self, cfg: ToyConfig, n_in: int, n_out: int, task: str, classes: int, input_shape):
        import numpy as np

        self.cfg, self.task, self.classes, self.input_shape = cfg, task, classes, tuple(input_shape)
        self.w = np.random.default_rng(cfg.seed).normal(0, 0.01, (n_in + 1, n_out))  # (n_in + 1, n_out)
        self.mean = np.zeros(n_in)
        self.epochs = 0


def _design(x: Any) -> Any:
    import numpy as np

    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.hstack([x, np.ones((len(x), 1))])


class Toy(Learner):
    """The toy learner, in the kernel's process (under the trusted default policy)."""

    name = "toy"
    sandbox = "inproc"
    checkpoint_seconds = 0.0  # a checkpoint after every epoch

    def describe(self) -> Description:
        m = self.model
        return Description(name=self.name, tasks=["classify", "regress"],
                           options=option_specs(ToyConfig, ranges={"lr": (0.0, None), "pause": (0.0, None)}),
                           capabilities=[], input_shape=list(m.input_shape) if m else None,
                           output_shape=[int(m.w.shape[1])] if m else None, datasets=["iris", "diabetes"],
                           weight_format="toy", weight_version=1)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        cfg = msgspec.convert({**train.options, "epochs": train.epochs, "seed": train.seed}, ToyConfig)
        task = cfg.task or data.task
        n_in = int(np.prod(data.input_shape))
        n_out = data.classes if task == "classify" else max(1, int(np.prod(data.target_shape)))
        if model is None or model.w.shape != (n_in + 1, n_out):
            model = _Model(cfg, n_in, n_out, task, data.classes, data.input_shape)
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def _targets(self, model: _Model, y: Any) -> Any:
        import numpy as np

        if model.task == "classify":
            return np.eye(model.classes)[np.asarray(y, np.int64)]
        return np.asarray(y, np.float64).reshape(len(y), -1)

    def fit_steps(self, model: _Model, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        t0 = time.monotonic()
        if model.cfg.fail_at and model.epochs + 1 >= model.cfg.fail_at:
            raise RuntimeError(f"told to fail at epoch {model.cfg.fail_at}")
        a, t = _design(data.x), self._targets(model, data.y)
        err = a @ model.w - t  # (N, n_out)
        model.w -= model.cfg.lr * a.T @ err / len(a)
        model.epochs += 1
        time.sleep(max(0.0, model.cfg.pause - (time.monotonic() - t0)))
        return 1.0, {"loss": float((err**2).mean()), "steps": 1.0}

    def finish(self, model: _Model, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: _Model, x: Any) -> Prediction:
        import numpy as np

        out = _design(x) @ model.w  # (B, n_out)
        spread = [float(v) for v in np.abs(np.asarray(x, np.float64).reshape(len(x), -1)).mean(1)]
        if model.task == "classify":
            labels = [int(i) for i in out.argmax(1)]
            return Prediction(y=Array.of(labels, "int64"), labels=labels, scores=Array.of(out.astype("float32")),
                              uncertainty=spread, uncertainty_kind="input_magnitude")
        return Prediction(y=Array.of(out.astype("float32")), uncertainty=spread, uncertainty_kind="input_magnitude")

    def evaluate(self, model: _Model, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        out = _design(x) @ model.w
        if model.task == "classify":
            return {"accuracy": float((out.argmax(1) == np.asarray(y)).mean())}
        return {"mse": float(((out - self._targets(model, y)) ** 2).mean())}

    def step(self, model: _Model, x: Any, y: Any) -> StepResult:
        a, t = _design(x), self._targets(model, y)
        err = a @ model.w - t
        model.w -= model.cfg.lr * a.T @ err / len(a)
        return StepResult(loss=float((err**2).mean()))

    def to_weights(self, model: _Model) -> Weights:
        doc = {"w": model.w.astype("<f8").tobytes(), "shape": list(model.w.shape), "task": model.task,
               "classes": model.classes, "input_shape": list(model.input_shape), "epochs": model.epochs,
               "cfg": msgspec.to_builtins(model.cfg)}
        return Weights(format="toy", version=1, data=msgspec.msgpack.encode(doc))

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        import numpy as np

        if weights.format != "toy":
            raise ValueError(f"these weights are for {weights.format!r}, not 'toy'")
        doc = msgspec.msgpack.decode(weights.data)
        cfg = msgspec.convert(doc["cfg"], ToyConfig)
        model = _Model(cfg, doc["shape"][0] - 1, doc["shape"][1], doc["task"], doc["classes"], doc["input_shape"])
        model.w = np.frombuffer(doc["w"], "<f8").reshape(doc["shape"]).copy()
        model.epochs = doc["epochs"]
        return model, Restored(version=1)

    def consolidate(self, model: _Model) -> Any:
        return {"epochs": model.epochs}


class BoxedToy(Toy):
    """The same learner in the process sandbox, under the learning policy."""

    name = "boxed-toy"
    sandbox = "process"


class SmallInline(Toy):
    """Refuses inline weights over 64 bytes (its weights are larger)."""

    name = "small-inline"
    inline_limit = 64


class TwoJobs(Toy):
    """Runs two jobs at once."""

    name = "two-jobs"
    max_jobs = 2
