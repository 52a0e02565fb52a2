"""`learning.eqprop`: an equilibrium-propagation learner as a neuro service.

Importing this module costs no torch: torch, numpy and the model load inside the handler,
on the first message that needs them. Training runs one epoch per `ctx.run_sync` call so the
kernel keeps serving, and a `Progress` event is published after each epoch.
"""

from __future__ import annotations

import itertools
from typing import Any

from neuro import sdk

from ..protocol import (
    Array,
    Dream,
    Dreams,
    Evaluate,
    Evaluation,
    JobStatus,
    Predict,
    Prediction,
    Reply,
    Request,
    Restore,
    Restored,
    Snapshot,
    Status,
    Step,
    StepResult,
    Train,
    TrainResult,
    Weights,
)
from .config import EqPropConfig, config_with

__all__ = ["EqPropNeuro"]

_job_ids = itertools.count(1)


def _gpu_allowed(ctx: Any) -> bool:
    """Whether the running policy lets this neuro use a GPU.

    The kernel's Policy has no GPU field yet; when it gains one (``gpu`` or ``gpu_memory``)
    and exposes the policy as ``ctx.policy``, a false or zero value keeps us on the CPU.
    Until then the `learning` policy is taken to grant the GPU.
    """
    policy = getattr(ctx, "policy", None)
    for field in ("gpu", "gpu_memory"):
        if policy is not None and hasattr(policy, field):
            return bool(getattr(policy, field))
    return True


class EqPropNeuro(sdk.Neuro):
    """Trains and serves an energy-based net by equilibrium propagation (no backprop)."""

    name = "learning.eqprop"
    input = Request
    output = Reply
    policy = "learning"

    def __init__(self) -> None:
        self.config = EqPropConfig()
        self.learner: Any = None  # train.Learner once trained or restored
        self.jobs: dict[str, JobStatus] = {}
        self.last_job = ""
        self.last_dreams: Dreams | None = None

    # ------------------------------------------------------------------------- serving

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        try:
            return await self._serve(ctx, msg)
        except sdk.Reject:
            raise
        except ValueError as e:
            # Bad input is refused without a crash: a restart would lose the learnt weights.
            raise sdk.Reject(str(e)) from e

    async def _serve(self, ctx: sdk.Context, msg: Any) -> Any:
        if isinstance(msg, Train):
            return await self._train(ctx, msg)
        if isinstance(msg, Step):
            return await self._step(ctx, msg)
        if isinstance(msg, Predict):
            return await ctx.run_sync(self._predict, msg)
        if isinstance(msg, Evaluate):
            return await ctx.run_sync(self._evaluate, msg)
        if isinstance(msg, Snapshot):
            weights = self.snapshot()
            if weights is None:
                raise ValueError("learning.eqprop has no weights yet: send Train or Restore first")
            return weights
        if isinstance(msg, Restore):
            return await ctx.run_sync(self._restore, msg.weights, _gpu_allowed(ctx))
        if isinstance(msg, Status):
            return self._status(msg.job)
        if isinstance(msg, Dream):
            return await ctx.run_sync(self._dream, msg.labels, msg.steps)
        raise TypeError(f"learning.eqprop cannot handle {type(msg).__name__}")

    async def _train(self, ctx: sdk.Context, msg: Train) -> TrainResult:
        from .train import pick_device

        job = msg.job or f"train-{next(_job_ids)}"
        options = dict(msg.options)
        options.setdefault("seed", msg.seed)
        options.setdefault("epochs", msg.epochs)
        if msg.batch_size is not None:
            options.setdefault("batch_size", msg.batch_size)
        cfg = config_with(self.config, options)
        if msg.epochs < 1:
            raise ValueError(f"Train.epochs must be >= 1, got {msg.epochs}")
        data = await ctx.run_sync(_training_data, msg)
        x, y, shape, classes, input_range, test = data
        self.jobs[job] = JobStatus(job=job, state="running", total=float(cfg.epochs))
        self.last_job = job
        try:
            device = pick_device(cfg.device, _gpu_allowed(ctx))
            reuse = (not msg.fresh and self.learner is not None and self.learner.input_shape == shape
                     and self.learner.classes == classes and self.learner.cfg.hidden == cfg.hidden
                     and self.learner.cfg.feedback == cfg.feedback
                     and self.learner.cfg.optimizer == cfg.optimizer)
            if reuse:
                self.learner.cfg = cfg
                self.learner.net.cfg = cfg
                self.learner.opt.lr = cfg.lr
            else:
                from .train import Learner

                self.learner = await ctx.run_sync(Learner, cfg, shape, classes, input_range, device)
            self.config = cfg
            metrics: dict[str, float] = {}
            steps0 = self.learner.steps
            seconds = 0.0
            for epoch in range(cfg.epochs):
                metrics = await ctx.run_sync(self.learner.fit_epoch, x, y)
                seconds += metrics["seconds"]
                note = f"epoch {epoch + 1}/{cfg.epochs}"
                self.jobs[job] = JobStatus(job=job, state="running", done=epoch + 1.0, total=float(cfg.epochs),
                                           note=note, metrics=metrics)
                await ctx.progress(job, epoch + 1, cfg.epochs, note, **metrics)
            if test is not None:
                ev = await ctx.run_sync(self.learner.evaluate, *test)
                metrics = {**metrics, **{f"test_{k}": v for k, v in ev.items()}}
        except BaseException as e:
            self.jobs[job] = JobStatus(job=job, state="failed", note=f"{type(e).__name__}: {e}")
            raise
        self.jobs[job] = JobStatus(job=job, state="done", done=float(cfg.epochs), total=float(cfg.epochs),
                                   metrics=metrics)
        return TrainResult(job=job, epochs=cfg.epochs, steps=self.learner.steps - steps0, seconds=seconds,
                           metrics=metrics)

    async def _step(self, ctx: sdk.Context, msg: Step) -> StepResult:
        learner = self._need_learner("Step")
        x, y = _xy(msg.x, msg.y, "Step", learner.input_shape, learner.classes)
        out = await ctx.run_sync(learner.step, x, y)
        norms = out["update_norms"]
        metrics = {f"update_norm_{k}": v for k, v in enumerate(norms)}
        metrics.update(free_steps=float(out["free_steps"]), unsettled=float(out["unsettled"]),
                       braked=float(out["braked"]), flops=float(out["flops"]))
        return StepResult(loss=out["loss"], metrics=metrics)

    def _predict(self, msg: Predict) -> Prediction:
        learner = self._need_learner("Predict")
        x = _x(msg.x, "Predict", learner.input_shape)
        scores, settle, _ = learner.predict(x, max_steps=4 * learner.cfg.free_steps)
        return Prediction(labels=[int(i) for i in scores.argmax(1)], scores=Array.of(scores),
                          uncertainty=[float(t) for t in settle], uncertainty_kind="settling_steps")

    def _evaluate(self, msg: Evaluate) -> Evaluation:
        learner = self._need_learner("Evaluate")
        if msg.dataset is not None:
            if msg.x is not None or msg.y is not None:
                raise ValueError("Evaluate takes either `dataset` or inline `x` and `y`, not both")
            from .data import load

            d = load(msg.dataset)
            x, y = (d.x_train, d.y_train) if msg.split == "train" else (d.x_test, d.y_test)
            if tuple(d.input_shape) != learner.input_shape:
                raise ValueError(f"dataset {msg.dataset!r} has inputs of shape {d.input_shape}; this learner "
                                 f"was trained on {learner.input_shape}")
        elif msg.x is not None and msg.y is not None:
            x, y = _xy(msg.x, msg.y, "Evaluate", learner.input_shape, learner.classes)
        else:
            raise ValueError("Evaluate needs `dataset` (digits or mnist1d) or inline `x` and `y`")
        return Evaluation(metrics=learner.evaluate(x, y), n=len(y))

    def _restore(self, weights: Weights, gpu_allowed: bool) -> Restored:
        from .train import Learner, pick_device
        from .weights import migrate

        current, migrated_from = migrate(weights)
        learner = Learner.from_weights(current, "cpu")
        device = pick_device(learner.cfg.device, gpu_allowed)
        if device.type != "cpu":
            learner = Learner.from_weights(current, device)
        self.learner = learner
        self.config = learner.cfg
        return Restored(version=current.version, migrated_from=migrated_from)

    def _status(self, job: str) -> JobStatus:
        name = job or self.last_job
        if not name:
            return JobStatus(job="", state="idle")
        if name not in self.jobs:
            known = ", ".join(self.jobs) or "none"
            raise ValueError(f"no job named {name!r}; known jobs: {known}")
        return self.jobs[name]

    def _dream(self, labels: list[int], steps: int) -> Dreams:
        import numpy as np

        learner = self._need_learner("Dream")
        bad = [v for v in labels if not 0 <= v < learner.classes]
        if not labels or bad:
            raise ValueError(f"Dream.labels must be non-empty class indices in [0, {learner.classes}), got {labels}")
        xs = learner.dream(labels, steps or None)  # (n, *input_shape)
        scores, _, _ = learner.predict(xs)
        agree = float((scores.argmax(1) == np.asarray(labels)).mean())
        return Dreams(x=Array.of(xs), labels=list(labels), metrics={"self_agreement": agree})

    def _need_learner(self, what: str) -> Any:
        if self.learner is None:
            raise ValueError(f"{what} needs a trained learner: send Train (or Restore weights) first")
        return self.learner

    # ------------------------------------------------------------------------- hooks

    def snapshot(self) -> Weights | None:
        """The learnt weights as `Weights` (format version `weights.VERSION`), or None."""
        return None if self.learner is None else self.learner.to_weights()

    def restore(self, state: Any) -> None:
        """Load a snapshot (any supported format version; older ones are migrated)."""
        if state is not None:
            self._restore(state, gpu_allowed=True)

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

    async def sleep(self, ctx: sdk.Context) -> Dreams | None:
        """Dream one input per class with the output clamped, publish them, return them."""
        if self.learner is None:
            return None
        dreams = await ctx.run_sync(self._dream, list(range(self.learner.classes)), 0)
        self.last_dreams = dreams
        await ctx.publish(f"dream.{self.name}", dreams)
        return dreams

    def selfcheck(self) -> None:
        """Refuse to go live with non-finite weights or a broken Lipschitz bound."""
        if self.learner is None:
            return
        import math

        net = self.learner.net
        for k, w in enumerate(net.W):
            if not bool(w.isfinite().all()):
                raise ValueError(f"learning.eqprop selfcheck: W{k} has non-finite values")
        bound = self.learner.cfg.lipschitz
        if bound is not None:
            sigma = net.lipschitz_estimate(iters=20)
            if not math.isfinite(sigma) or sigma > bound * 1.01:
                raise ValueError(f"learning.eqprop selfcheck: coupling norm {sigma:.4f} exceeds the bound {bound}")


# ----------------------------------------------------------------------------- input checks


def _training_data(msg: Train):
    """(x, y, input_shape, classes, input_range, test or None) for a Train message."""
    if msg.dataset is not None:
        if msg.x is not None or msg.y is not None:
            raise ValueError("Train takes either `dataset` or inline `x` and `y`, not both")
        from .data import load

        d = load(msg.dataset)
        return d.x_train, d.y_train, tuple(d.input_shape), d.classes, d.input_range, (d.x_test, d.y_test)
    if msg.x is None or msg.y is None:
        raise ValueError("Train needs `dataset` (digits or mnist1d) or inline `x` and `y`")
    x = msg.x.numpy()
    if x.ndim < 2:
        raise ValueError(f"Train.x must have shape (N, ...) with one example per row, got shape {tuple(x.shape)}")
    y = _labels(msg.y, "Train", len(x))
    classes = max(int(y.max()) + 1, 2)
    lo, hi = float(x.min()), float(x.max())
    return x.astype("float32"), y, tuple(x.shape[1:]), classes, (min(lo, 0.0), max(hi, 1.0)), None


def _x(a: Array, what: str, shape: tuple[int, ...]):
    import numpy as np

    x = a.numpy()
    n_in = int(np.prod(shape))
    if x.ndim >= 2 and (tuple(x.shape[1:]) == shape or (x.ndim == 2 and x.shape[1] == n_in)):
        return x.astype("float32")
    raise ValueError(
        f"{what}.x has shape {tuple(x.shape)}; this learner takes (B, {', '.join(map(str, shape))}) "
        f"or (B, {n_in})"
    )


def _labels(a: Array, what: str, n: int):
    y = a.numpy()
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what}.y must have shape ({n},), one integer label per example, got {tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}.y must hold integer class labels, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise ValueError(f"{what}.y labels must be >= 0, got {int(y.min())}")
    return y.astype("int64")


def _xy(xa: Array, ya: Array, what: str, shape: tuple[int, ...], classes: int):
    x = _x(xa, what, shape)
    y = _labels(ya, what, len(x))
    if len(y) and y.max() >= classes:
        raise ValueError(f"{what}.y labels must be < {classes} (this learner's classes), got {int(y.max())}")
    return x, y
