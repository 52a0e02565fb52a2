"""`learning.eqprop`: an equilibrium-propagation learner as a neuro service (protocol v2).

The protocol (jobs, Status while training, checkpoints, Resume, weights by reference) is
`..learner.Learner`'s; this module is what is eqprop's own: a job's slice is one epoch, a
Prediction carries the settling time as its uncertainty, Generate clamps the output and
relaxes the input, and sleep (consolidation) generates one input per class and reports how
many the same net recognises (it changes no weights). Importing this module costs no torch:
torch, numpy and the model load inside the methods, in the job's worker thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from neuro import sdk

from ..learner import Learner, TrainData, named_data
from ..protocol import (
    Array,
    Description,
    Generate,
    Generated,
    Prediction,
    Restored,
    StepResult,
    Train,
    Weights,
)
from .config import EqPropConfig, config_with

__all__ = ["EqPropNeuro"]

# Ranges of the options whose checks (EqPropConfig.__post_init__) bound them: (min, max), None open.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "beta": (0.0, 1.0), "lipschitz": (0.0, None), "lr": (0.0, None), "layer_lr_ratio": (0.0, None),
    "init_gain": (0.0, None), "free_steps": (1, None), "nudge_steps": (1, None), "batch_size": (1, None),
    "epochs": (1, None), "power_iters": (1, None), "dream_steps": (1, None), "check_every": (1, None),
    "dream_refine": (0, None),
}


def _gpu_allowed(ctx: Any) -> bool:
    """Whether the running policy grants this neuro a GPU and the machine has one."""
    from ..device import gpu_allowed

    return gpu_allowed(ctx.resources)


class EqPropNeuro(Learner):
    """Trains and serves an energy-based net by equilibrium propagation (no backprop)."""

    name = "learning.eqprop"

    def __init__(self) -> None:
        super().__init__()
        self.config = EqPropConfig()
        self.gpu_ok = False  # what the last message's ctx.resources said

    @property
    def learner(self) -> Any:
        """The served `train.Learner` (None before Train or Restore)."""
        return self.model

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        self.gpu_ok = _gpu_allowed(ctx)
        return await super().handle(ctx, msg)

    # ------------------------------------------------------------------------- describe

    def describe(self) -> Description:
        from ..options import option_specs
        from .weights import FORMAT, VERSION

        m = self.model
        return Description(
            name=self.name, tasks=["classify"], options=option_specs(EqPropConfig, ranges=_RANGES),
            capabilities=["gpu", "generate", "sleep", "online"],
            input_shape=list(m.input_shape) if m is not None else None,
            output_shape=[m.classes] if m is not None else None,
            datasets=_dataset_names(), weight_format=FORMAT, weight_version=VERSION,
            summary="an energy-based net trained by equilibrium propagation: a free phase, nudged phases at "
                    "+-beta and a local contrastive update (no backprop); integer labels in, class scores out")

    # ------------------------------------------------------------------------- data

    def load_dataset(self, name: str) -> TrainData:
        """A data set of the registry, else one of eqprop's own (mnist1d: generated here)."""
        from .data import DATASETS, load

        try:
            data = named_data(name)
            import numpy as np  # the registry's arrays are read-only; torch wants its own copy

            data.x, data.y = np.array(data.x), np.array(data.y)
            data.test = None if data.test is None else (np.array(data.test[0]), np.array(data.test[1]))
            return data
        except (ImportError, ValueError) as e:
            if name not in DATASETS:
                if isinstance(e, ImportError):
                    raise ValueError(f"unknown dataset {name!r}; this neuro knows: {', '.join(DATASETS)}") from None
                raise ValueError(f"{e}; and eqprop's own: {', '.join(DATASETS)}") from None
        d = load(name)
        return TrainData(name=name, task="classify", x=d.x_train, y=d.y_train, input_shape=tuple(d.input_shape),
                         classes=d.classes, input_range=tuple(d.input_range), test=(d.x_test, d.y_test),
                         hash=_arrays_hash(name, d.x_train, d.y_train, d.x_test, d.y_test))

    # ------------------------------------------------------------------------- training

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        from .train import Learner as Net, pick_device

        if data.task != "classify":
            raise ValueError(f"learning.eqprop learns classification (integer labels, one per example); this "
                             f"data is a {data.task} task")
        options = dict(train.options)
        options.setdefault("seed", train.seed)
        options.setdefault("epochs", train.epochs)
        if train.batch_size is not None:
            options.setdefault("batch_size", train.batch_size)
        if "hidden" in options and isinstance(options["hidden"], list):
            options["hidden"] = tuple(options["hidden"])
        cfg = config_with(self.config, options)
        shape, classes = tuple(data.input_shape), max(int(data.classes), 2)
        reuse = (model is not None and model.input_shape == shape and model.classes == classes
                 and model.cfg.hidden == cfg.hidden and model.cfg.feedback == cfg.feedback
                 and model.cfg.optimizer == cfg.optimizer)
        if reuse:
            model.cfg = cfg
            model.net.cfg = cfg
            model.opt.lr = cfg.lr
        else:
            model = Net(cfg, shape, classes, data.input_range, pick_device(cfg.device, self.gpu_ok))
        self.config = cfg
        return model, float(cfg.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        """One epoch."""
        before = model.steps
        metrics = model.fit_epoch(data.x, data.y)
        metrics["steps"] = float(model.steps - before)
        return 1.0, metrics

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        if data.test is None:
            return {}
        ev = model.evaluate(*data.test)
        return {f"test_{k}": v for k, v in ev.items()}

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        x, y = _xy(x, y, "Step", model.input_shape, model.classes)
        out = model.step(x, y)
        metrics = {f"update_norm_{k}": v for k, v in enumerate(out["update_norms"])}
        metrics.update(free_steps=float(out["free_steps"]), unsettled=float(out["unsettled"]),
                       braked=float(out["braked"]), flops=float(out["flops"]))
        return StepResult(loss=out["loss"], metrics=metrics)

    def save_job(self, model: Any) -> bytes:
        """Weights, optimiser state, counters and the shuffling generator: an exact resume."""
        import numpy as np

        opt = model.opt
        moments = {name: [t.cpu().numpy().astype("<f4").tobytes() for t in getattr(opt, name)]
                   for name in ("m", "v", "buf") if hasattr(opt, name)}
        doc = {"weights": msgspec.msgpack.encode(model.to_weights()), "moments": moments, "t": getattr(opt, "t", 0),
               "steps": model.steps, "epochs": model.epochs,
               "gen": np.asarray(model.gen.get_state()).tobytes()}
        return msgspec.msgpack.encode(doc)

    def load_job(self, blob: bytes) -> Any:
        import numpy as np
        import torch

        doc = msgspec.msgpack.decode(blob)
        model, _ = self.from_weights(msgspec.msgpack.decode(doc["weights"], type=Weights))
        opt = model.opt
        for name, arrays in doc["moments"].items():
            for t, raw in zip(getattr(opt, name), arrays):
                t.copy_(torch.from_numpy(np.frombuffer(raw, "<f4").reshape(tuple(t.shape)).copy()))
        if hasattr(opt, "t"):
            opt.t = int(doc["t"])
        model.steps, model.epochs = int(doc["steps"]), int(doc["epochs"])
        model.gen.set_state(torch.from_numpy(np.frombuffer(doc["gen"], np.uint8).copy()))
        return model

    # ------------------------------------------------------------------------- serving

    def predict(self, model: Any, x: Any) -> Prediction:
        x = _x(x, "Predict", model.input_shape)
        scores, settle, _ = model.predict(x, max_steps=4 * model.cfg.free_steps)
        labels = [int(i) for i in scores.argmax(1)]
        return Prediction(y=Array.of(labels, "int64"), labels=labels, scores=Array.of(scores),
                          uncertainty=[float(t) for t in settle], uncertainty_kind="settling_steps")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        x, y = _xy(x, y, "Evaluate", model.input_shape, model.classes)
        return model.evaluate(x, y)

    def generate(self, model: Any, msg: Generate) -> Generated:
        import numpy as np

        labels = list(msg.labels)
        if msg.y is not None:
            if labels:
                raise ValueError("Generate takes `labels` or `y`, not both")
            y = msg.y.numpy()
            if y.ndim != 1 or y.dtype.kind not in "iu":
                raise ValueError(f"Generate.y for learning.eqprop is one integer label per input, got dtype "
                                 f"{y.dtype} and shape {tuple(y.shape)}")
            labels = [int(v) for v in y]
        bad = [v for v in labels if not 0 <= v < model.classes]
        if not labels or bad:
            raise ValueError(f"Generate.labels must be non-empty class indices in [0, {model.classes}), got {labels}")
        xs = model.dream(labels, msg.steps or None)  # (n, *input_shape)
        scores, _, _ = model.predict(xs)
        agree = float((scores.argmax(1) == np.asarray(labels)).mean())
        return Generated(x=Array.of(xs), labels=labels, metrics={"self_agreement": agree})

    def consolidate(self, model: Any) -> Generated:
        """eqprop's sleep: one generated input per class, and how many the net recognises."""
        return self.generate(model, Generate(labels=list(range(model.classes))))

    # ------------------------------------------------------------------------- weights

    def to_weights(self, model: Any) -> Weights:
        return model.to_weights()

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from .train import Learner as Net, pick_device
        from .weights import migrate

        current, migrated_from = migrate(weights)
        model = Net.from_weights(current, "cpu")
        device = pick_device(model.cfg.device, self.gpu_ok)
        if device.type != "cpu":
            model = Net.from_weights(current, device)
        self.config = model.cfg
        return model, Restored(version=current.version, migrated_from=migrated_from)

    # ------------------------------------------------------------------------- hooks

    @classmethod
    def migrate(cls, old_version: Any, state: Any) -> Any:
        """Upgrade a snapshot to the current weight format.

        The weights carry their own format version, so `old_version` (the old code's
        version, a content hash when called by the kernel on hot swap) is not needed.
        """
        if state is None:
            return None
        from .weights import migrate

        return migrate(state)[0]

    def selfcheck(self) -> None:
        """Refuse to go live with non-finite weights or a broken Lipschitz bound."""
        if self.model is None:
            return
        import math

        net = self.model.net
        for k, w in enumerate(net.W):
            if not bool(w.isfinite().all()):
                raise ValueError(f"learning.eqprop selfcheck: W{k} has non-finite values")
        bound = self.model.cfg.lipschitz
        if bound is not None:
            sigma = net.lipschitz_estimate(iters=20)
            if not math.isfinite(sigma) or sigma > bound * 1.01:
                raise ValueError(f"learning.eqprop selfcheck: coupling norm {sigma:.4f} exceeds the bound {bound}")


# ----------------------------------------------------------------------------- input checks


def _dataset_names() -> list[str]:
    from .data import DATASETS

    try:
        from ..datasets.registry import names

        known = names()
    except ImportError:
        known = []
    return sorted(set(known) | set(DATASETS))


def _arrays_hash(name: str, *arrays: Any) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha256(name.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"|{a.dtype.str}|{list(a.shape)}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _x(x: Any, what: str, shape: tuple[int, ...]):
    import numpy as np

    n_in = int(np.prod(shape))
    if x.ndim >= 2 and (tuple(x.shape[1:]) == shape or (x.ndim == 2 and x.shape[1] == n_in)):
        return x.astype("float32")
    raise ValueError(
        f"{what}.x has shape {tuple(x.shape)}; this learner takes (B, {', '.join(map(str, shape))}) "
        f"or (B, {n_in})"
    )


def _labels(y: Any, what: str, n: int):
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what}.y must have shape ({n},), one integer label per example, got {tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}.y must hold integer class labels, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise ValueError(f"{what}.y labels must be >= 0, got {int(y.min())}")
    return y.astype("int64")


def _xy(x: Any, y: Any, what: str, shape: tuple[int, ...], classes: int):
    x = _x(x, what, shape)
    y = _labels(y, what, len(x))
    if len(y) and y.max() >= classes:
        raise ValueError(f"{what}.y labels must be < {classes} (this learner's classes), got {int(y.max())}")
    return x, y
