"""`learning.council`: System 1 / System 2 (Omni-Zero) as a neuro service (protocol v2).

The protocol (jobs, Status while training, checkpoints, Resume, weights by reference) is
`..learner.Learner`'s; this module is what is the council's own. It learns next-symbol
prediction on streams, online: a `Train` job steps through its data set's sequences (each a
stream, `batch_size` streams at a time; a slice is `slice_steps` steps), scoring its own
answer at each step before it learns from the next observation. `Step` is one such step on
inline windows (the service use: observations in, predictions out, learning as it goes; the
streams' executive memories persist between Steps). A Prediction's uncertainty is System 1's
entropy. `sleep` distils the EMA teacher's council into System 1 over the replay buffer.
Importing this module costs no torch.
"""

from __future__ import annotations

import math
from typing import Any

from neuro import sdk

from ..learner import Learner, TrainData, named_data
from ..protocol import Array, Description, Prediction, Restored, StepResult, Train, Weights
from .config import CouncilConfig, config_with

__all__ = ["CouncilNeuro"]

_RANGES: dict[str, tuple[float | None, float | None]] = {
    "vocab": (2, None), "window": (1, None), "dim": (4, None), "heads": (1, None), "s1_layers": (1, None),
    "memory_slots": (1, None), "voices": (1, None), "max_ponder": (1, None), "ponder_cost": (0.0, None),
    "gate_cost": (0.0, None), "explore": (0.0, 1.0), "entropy_threshold": (0.0, 1.0), "random_rate": (0.0, 1.0),
    "surprise_threshold": (0.0, 1.0), "alarm_decay": (0.0, 1.0),
    "distill_temperature": (0.0, None), "distill_weight": (0.0, None), "lr": (0.0, None), "ema": (0.0, 1.0),
    "batch_size": (1, None), "slice_steps": (1, None), "sleep_steps": (0, None), "replay_steps": (1, None),
}
# The registry's data sets of symbol streams (task "sequence") that Train takes as they are.
_REGISTRY_SEQUENCES = ("patternworld",)
# Fields that fix the net's shape: a Train that changes one starts from new weights.
_SHAPE = ("vocab", "window", "dim", "heads", "s1_layers", "memory_slots", "voices", "max_ponder")


class CouncilNeuro(Learner):
    """System 1 (a small transformer) and System 2 (a pondering council) with a per-example gate, learning online."""

    name = "learning.council"

    def __init__(self) -> None:
        super().__init__()
        self.config = CouncilConfig()
        self.resources: Any = None  # what the last message's ctx.resources said

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        self.resources = ctx.resources
        return await super().handle(ctx, msg)

    def _device(self, cfg: CouncilConfig) -> Any:
        from ..device import choose_device

        return choose_device(self.resources, cfg.device)

    # ------------------------------------------------------------------------- describe

    def describe(self) -> Description:
        from ..options import option_specs
        from .weights import FORMAT, VERSION

        m = self.model
        return Description(
            name=self.name, tasks=["sequence"], options=option_specs(CouncilConfig, ranges=_RANGES),
            capabilities=["gpu", "sleep", "online"],
            input_shape=[m.cfg.window] if m is not None else None,
            output_shape=[m.cfg.vocab] if m is not None else None,
            datasets=_dataset_names(), weight_format=FORMAT, weight_version=VERSION,
            summary="next-symbol prediction on streams, online: System 1 (one transformer pass) answers, a council "
                    "of pondering voices over an executive memory answers instead where a per-example gate says "
                    "so, and System 1 distils the council; x: windows of symbols (B, window), y: the next symbol")

    # ------------------------------------------------------------------------- data

    def load_dataset(self, name: str) -> TrainData:
        """The council's own switching PatternWorld, else a sequence data set of the registry."""
        from .world import NAME

        if name == NAME:
            return _own_world()
        try:
            data = named_data(name)
        except ValueError as e:
            raise ValueError(f"{e}; and the council's own: {NAME}") from None
        return data

    def data_of(self, train: Train) -> TrainData:
        data = super().data_of(train)
        if train.dataset is None and train.task in ("", "sequence"):
            x = train.x.numpy()  # inline_data made x float; streams of symbols stay integers
            if _is_sequence(x, data.y):
                data.x, data.task = x.astype("int64"), "sequence"
        return data

    # ------------------------------------------------------------------------- training

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        if data.task != "sequence" or not _is_sequence(data.x, data.y):
            raise ValueError("learning.council learns sequences online: x (N, T) of integer symbols, each row a "
                             "stream, and y (N, T) the next symbol at each step (task 'sequence'); this data is a "
                             f"{data.task} task with x {tuple(np.shape(data.x))} and y {tuple(np.shape(data.y))}")
        options = dict(train.options)
        options.setdefault("seed", train.seed)
        if train.batch_size is not None:
            options.setdefault("batch_size", train.batch_size)
        top = int(max(np.max(data.x), np.max(data.y))) + 1
        options.setdefault("vocab", max(int(data.classes or 0), top, 2))
        cfg = config_with(self.config, options)
        if top > cfg.vocab:
            raise ValueError(f"the data holds symbols up to {top - 1}, over this learner's vocab {cfg.vocab}; "
                             f"pass options={{'vocab': {top}}} (and fresh=True)")
        from .online import OnlineCouncil

        if model is not None and all(getattr(model.cfg, f) == getattr(cfg, f) for f in _SHAPE):
            model.set_config(cfg)
        else:
            model = OnlineCouncil(cfg, self._device(cfg))
        self.config = cfg
        model.cursor = (0, 0)
        groups = math.ceil(len(data.x) / cfg.batch_size)
        return model, float(train.epochs * groups * data.x.shape[1]), "step"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        """`slice_steps` online steps of the current group of streams."""
        cfg = model.cfg
        T = data.x.shape[1]
        groups = math.ceil(len(data.x) / cfg.batch_size)
        g, t = model.cursor
        lo = (g % groups) * cfg.batch_size
        x, y = data.x[lo:lo + cfg.batch_size], data.y[lo:lo + cfg.batch_size]
        if t == 0:
            model.reset_streams(len(x))
        stop = min(T, t + cfg.slice_steps)
        r = model.run(x, y, learn=True, start=t, stop=stop, reset=False)
        model.cursor = (g + 1, 0) if stop == T else (g, stop)
        return float(stop - t), {"online_accuracy": float(r["correct"].mean()),
                                 "s1_accuracy": float(r["s1_correct"].mean()),
                                 "s2_rate": float(r["ran"].mean()), "loss": r["loss"], "steps": float(stop - t)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        if data.test is None:
            return {}
        return {f"test_{k}": v for k, v in self._evaluate_streams(model, *data.test).items()}

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        w = _windows(x, "Step", model.cfg)
        y = _targets(y, "Step", len(w), model.cfg.vocab)
        out = model.step(w, y)
        return StepResult(loss=out.loss, metrics={
            "accuracy": float((out.pred == y).mean()), "s1_accuracy": float((out.s1_pred == y).mean()),
            "s2_rate": float(out.ran.mean()), "ponder_steps": out.ponder, "aggressive": out.aggressive})

    def save_job(self, model: Any) -> bytes:
        from .weights import save_job

        return save_job(model)

    def load_job(self, blob: bytes) -> Any:
        from .weights import load_job

        model = load_job(blob)
        device = self._device(model.cfg)
        return model if device.type == "cpu" else load_job(blob, device)

    # ------------------------------------------------------------------------- serving

    def predict(self, model: Any, x: Any) -> Prediction:
        w = _windows(x, "Predict", model.cfg)
        out = model.observe(w)
        labels = [int(v) for v in out.pred]
        return Prediction(y=Array.of(labels, "int64"), labels=labels, scores=Array.of(out.probs),
                          uncertainty=[float(v) for v in out.s1_entropy], uncertainty_kind="s1_entropy")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        """On streams x, y (N, T): online prediction from fresh memories, no learning. On
        windows x (B, window) with next symbols y (B,): one answer each, on the current memories."""
        if x.ndim == 2 and y.shape == x.shape and x.shape[1] != model.cfg.window:
            return self._evaluate_streams(model, x, y)
        w = _windows(x, "Evaluate", model.cfg)
        y = _targets(y, "Evaluate", len(w), model.cfg.vocab)
        out = model.observe(w)
        return {"accuracy": float((out.pred == y).mean()), "s1_accuracy": float((out.s1_pred == y).mean()),
                "s2_rate": float(out.ran.mean())}

    def _evaluate_streams(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        x, y = _streams(x, y, "Evaluate", model.cfg.vocab)
        kept = model.stream_state()  # a Step user's streams are not disturbed
        try:
            r = model.run(x, y, learn=False)
        finally:
            model.set_stream_state(kept)
        return {"accuracy": float(r["correct"].mean()), "s1_accuracy": float(r["s1_correct"].mean()),
                "s2_rate": float(r["ran"].mean())}

    def consolidate(self, model: Any) -> dict[str, float]:
        """The council's sleep: System 1 distils the EMA teacher's council over the replay buffer."""
        return model.consolidate()

    # ------------------------------------------------------------------------- weights

    def to_weights(self, model: Any) -> Weights:
        from .weights import to_weights

        return to_weights(model)

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from .weights import from_weights, migrate

        current, migrated_from = migrate(weights)
        model = from_weights(current)
        device = self._device(model.cfg)
        if device.type != "cpu":
            model = from_weights(current, device)
        self.config = model.cfg
        return model, Restored(version=current.version, migrated_from=migrated_from)

    # ------------------------------------------------------------------------- hooks

    @classmethod
    def migrate(cls, old_version: Any, state: Any) -> Any:
        """Upgrade a snapshot to the current weight format (the weights carry their version)."""
        if state is None:
            return None
        from .weights import migrate

        return migrate(state)[0]

    def selfcheck(self) -> None:
        """Refuse to go live with non-finite weights."""
        if self.model is None:
            return
        for name, p in self.model.model.named_parameters():
            if not bool(p.isfinite().all()):
                raise ValueError(f"learning.council selfcheck: {name} has non-finite values")


# ----------------------------------------------------------------------------- data and checks


def _own_world() -> TrainData:
    """The issue's PatternWorld: 16 streams of 3,000 steps (seed 0) to train on, 16 of 500
    (seed 1) to test on."""
    import hashlib

    from .world import NAME, make_world

    train, test = make_world(streams=16, steps=3000, seed=0), make_world(streams=16, steps=500, seed=1)
    h = hashlib.sha256(NAME.encode())
    for a in (train.x, train.y, test.x, test.y):
        h.update(a.tobytes())
    return TrainData(name=NAME, task="sequence", x=train.x, y=train.y, input_shape=(train.x.shape[1],),
                     target_shape=(train.y.shape[1],), classes=train.vocab, input_range=(0.0, train.vocab - 1.0),
                     test=(test.x, test.y), hash=h.hexdigest())


def _dataset_names() -> list[str]:
    from .world import NAME

    try:
        from ..datasets.registry import names

        known = [n for n in names() if n in _REGISTRY_SEQUENCES]  # listed without making them
    except ImportError:
        known = []
    return sorted(set(known) | {NAME})


def _is_sequence(x: Any, y: Any) -> bool:
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    return x.ndim == 2 and x.shape == y.shape and x.dtype.kind in "iu" and y.dtype.kind in "iu"


def _streams(x: Any, y: Any, what: str, vocab: int) -> tuple[Any, Any]:
    if not _is_sequence(x, y):
        raise ValueError(f"{what} streams are x (N, T) and y (N, T) of integer symbols, got x {tuple(x.shape)} "
                         f"{x.dtype} and y {tuple(y.shape)} {y.dtype}")
    top = int(max(x.max(), y.max())) if x.size else 0
    if x.size and (min(x.min(), y.min()) < 0 or top >= vocab):
        raise ValueError(f"{what} symbols must be in [0, {vocab}) (this learner's vocab), got up to {top}")
    return x.astype("int64"), y.astype("int64")


def _windows(x: Any, what: str, cfg: CouncilConfig) -> Any:
    if x.ndim != 2 or x.shape[1] < cfg.window or x.dtype.kind not in "iu":
        raise ValueError(f"{what}.x must be windows of integer symbols (B, {cfg.window}) (longer rows: the last "
                         f"{cfg.window} are used), got {tuple(x.shape)} {x.dtype}")
    w = x[:, -cfg.window:].astype("int64")
    if w.size and (w.min() < 0 or w.max() >= cfg.vocab):
        raise ValueError(f"{what}.x symbols must be in [0, {cfg.vocab}), got {int(w.min())}..{int(w.max())}")
    return w


def _targets(y: Any, what: str, n: int, vocab: int) -> Any:
    if y.ndim != 1 or len(y) != n or y.dtype.kind not in "iu":
        raise ValueError(f"{what}.y must be ({n},): the next symbol of each window, integers; got "
                         f"{tuple(y.shape)} {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= vocab):
        raise ValueError(f"{what}.y symbols must be in [0, {vocab}), got {int(y.min())}..{int(y.max())}")
    return y.astype("int64")
