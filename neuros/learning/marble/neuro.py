"""`learning.marble`: MARBLE's core and Neuronenblitz as a neuro service (protocol v2).

The protocol (jobs, Status while training, checkpoints, Resume, weights by reference) is
`..learner.Learner`'s; what is MARBLE's: a job's slice is one epoch of wandering over the
training split (early stopping may end the job sooner), Predict blends greedy paths and
reports the input's distance to its nearest entry neuron as the uncertainty, `sleep` is the
brain's dream: salience-weighted replay and the dream decay of every weight. With
`parallel_wanderers` > 1 (or `wanderer_neuros`) the training runs in wanderer neuros, each
on its copy of the net, merged once a round (parallel.py, merge.py). Importing
this module costs no numpy: the net loads in the job's worker thread.
"""

from __future__ import annotations

from typing import Any

from neuro import sdk

from ..learner import Learner, TrainData
from ..protocol import Array, Description, Prediction, Restored, StepResult, Train, Weights
from .config import MarbleConfig, config_with

__all__ = ["MarbleNeuro"]


class MarbleNeuro(Learner):
    """Learns by Neuronenblitz's wandering over a MARBLE core: regression and classification."""

    name = "learning.marble"

    def __init__(self) -> None:
        super().__init__()
        self.config = MarbleConfig()
        self._pool: Any = None  # a running job's ParallelWanderers factory (ctx, nursery)

    # ------------------------------------------------------------------------- describe

    def describe(self) -> Description:
        from ..options import option_specs
        from .model import FORMAT, VERSION
        from .ranges import RANGES

        m = self.model
        try:
            from ..datasets.registry import names

            known = names()
        except ImportError:
            known = []
        return Description(
            name=self.name, tasks=["regress", "classify"], options=option_specs(MarbleConfig, ranges=RANGES),
            capabilities=["sleep", "online"], input_shape=list(m.input_shape) if m is not None else None,
            output_shape=[m.outputs] if m is not None else None, datasets=known, weight_format=FORMAT,
            weight_version=VERSION,
            summary="Neuronenblitz: wanderers walk a MARBLE graph of neurons and typed synapses from the entry "
                    "neurons nearest the input to each output; the paths' weights learn from the error "
                    "(RMSProp, momentum, eligibility, phase, fatigue) and the graph grows and prunes itself")

    # ------------------------------------------------------------------------- training

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        from .blitz import Neuronenblitz
        from .model import MarbleModel

        if data.task not in ("regress", "classify"):
            raise ValueError(f"learning.marble learns regression and classification; this data is a {data.task} task")
        options = dict(train.options)
        options.setdefault("seed", train.seed)
        options.setdefault("epochs", train.epochs)
        cfg = config_with(self.config, options)
        x = np.asarray(data.x, np.float32).reshape(len(data.x), -1)
        t = _targets(data.y, data.task, data.classes)
        outputs = t.shape[1]
        reuse = (model is not None and model.task == data.task and model.input_shape == tuple(data.input_shape)
                 and model.outputs == outputs)
        if reuse:
            model.net.reconfigure(cfg)
            if cfg.auto_update and data.hash and model.net.state.data_hash not in ("", data.hash):
                model.net.reset_learning_state()  # MARBLE's refresh on a changed data set
        else:
            rng = np.random.default_rng(cfg.seed)
            n_val = int(round(cfg.validation_fraction * len(x))) if len(x) >= 20 else 0
            val_rows = sorted(rng.permutation(len(x))[:n_val].tolist())
            keep = np.setdiff1d(np.arange(len(x)), val_rows)
            model = MarbleModel(net=Neuronenblitz(cfg, x[keep], outputs), task=data.task,
                                input_shape=tuple(data.input_shape), classes=int(data.classes),
                                target_shape=tuple(data.target_shape), val_rows=val_rows)
        model.net.state.data_hash = data.hash
        model.net.state.stopped_early = False
        model.data = (x, t)
        self.config = cfg
        return model, float(cfg.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        """One epoch on the training rows (the validation rows watch it)."""
        import numpy as np

        x, t = model.data
        val = np.zeros(len(x), bool)
        val[model.val_rows] = True
        net = model.net
        wanderer = None
        if net.cfg.parallel_wanderers > 1 or net.cfg.wanderer_neuros:
            if self._pool is None:
                raise ValueError("parallel_wanderers > 1 (or wanderer_neuros) needs a job of the running neuro "
                                 "(it calls wanderer neuros)")
            wanderer = self._pool(net.cfg, net.state.epochs)
        before = net.state.examples
        metrics = net.fit_epoch(x[~val], t[~val], int(job.total), wanderer, x[val], t[val])
        metrics["steps"] = float(net.state.examples - before)
        if wanderer is not None:
            metrics["fallbacks"] = float(wanderer.fallbacks)
            metrics["worker_cpu_s"] = wanderer.worker_cpu_s
            metrics["wanderer_processes"] = float(len(wanderer.processes))
        metrics["growth"] = net.core.size() / max(net.start_size, 1)
        if net.state.stopped_early:
            metrics["stopped_early"] = 1.0
            return max(1.0, job.total - job.done), metrics
        return 1.0, metrics

    async def _run_job(self, ctx: sdk.Context, job: Any, model: Any, data: TrainData) -> None:
        """The base's job task, with the context the parallel wanderers' calls go through."""
        from .parallel import ParallelWanderers

        self._pool = lambda cfg, epoch: ParallelWanderers(ctx, cfg, epoch)
        try:
            await super()._run_job(ctx, job, model, data)
        finally:
            self._pool = None

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        out = {"neurons": float(model.net.core.n_neurons), "synapses": float(model.net.core.n_synapses)}
        if data.test is not None:
            out.update({f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()})
        return out

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        x = _x(x, "Step", model.input_shape)
        t = _targets(y, model.task, model.classes, "Step", len(x), model.outputs)
        se = sum(model.net.train_example(row, target) for row, target in zip(x, t))
        from .learn import flush_updates

        flush_updates(model.net)
        return StepResult(loss=float(se / (len(x) * model.outputs)),
                          metrics={"neurons": float(model.net.core.n_neurons),
                                   "synapses": float(model.net.core.n_synapses)})

    # ------------------------------------------------------------------------- serving

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        x = _x(x, "Predict", model.input_shape)
        out = model.net.predict(x)  # (B, outputs)
        core, scale = model.net.core, model.net.scale
        far = [float(np.sqrt((((core.centre - row) / scale) ** 2).mean(1).min())) for row in x]
        if model.task == "classify":
            labels = [int(i) for i in out.argmax(1)]
            return Prediction(y=Array.of(labels, "int64"), labels=labels, scores=Array.of(out.astype("float32")),
                              uncertainty=far, uncertainty_kind="entry_distance")
        y = out.reshape((len(x), *model.target_shape)) if model.target_shape else out[:, 0]
        return Prediction(y=Array.of(y.astype("float32")), uncertainty=far, uncertainty_kind="entry_distance")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np

        x = _x(x, "Evaluate", model.input_shape)
        t = _targets(y, model.task, model.classes, "Evaluate", len(x), model.outputs)
        out = model.net.predict(x)
        if model.task == "classify":
            return {"accuracy": float((out.argmax(1) == np.asarray(y).astype(int)).mean()),
                    "mse": float(((out - t) ** 2).mean())}
        return {"mse": float(((out - t) ** 2).mean())}

    def consolidate(self, model: Any) -> dict[str, float]:
        """MARBLE's sleep: dream replay of salient examples, then the dream decay (brain.py)."""
        x, t = model.data if model.data is not None else (None, None)
        return model.net.sleep(x, t)

    # ------------------------------------------------------------------------- weights

    def to_weights(self, model: Any) -> Weights:
        from .model import to_weights

        return to_weights(model)

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from .model import VERSION, from_weights

        model, migrated = from_weights(weights)
        self.config = model.net.cfg
        return model, Restored(version=VERSION, migrated_from=migrated)

    @classmethod
    def migrate(cls, old_version: Any, state: Any) -> Any:
        """Weights carry their own format version (1, the only one so far): nothing to do."""
        return state

    def selfcheck(self) -> None:
        """Refuse to go live with non-finite weights."""
        if self.model is None:
            return
        import numpy as np

        if not np.isfinite(self.model.net.core.w).all():
            raise ValueError("learning.marble selfcheck: the net has non-finite weights")


# ----------------------------------------------------------------------------- input checks


def _x(x: Any, what: str, shape: tuple[int, ...]) -> Any:
    import numpy as np

    n_in = int(np.prod(shape)) if shape else 1
    if x.ndim >= 1 and (tuple(x.shape[1:]) == tuple(shape) or (x.ndim == 2 and x.shape[1] == n_in)):
        return np.asarray(x, np.float32).reshape(len(x), n_in)
    raise ValueError(f"{what}.x has shape {tuple(x.shape)}; this learner takes (B, {', '.join(map(str, shape))}) "
                     f"or (B, {n_in})")


def _targets(y: Any, task: str, classes: int, what: str = "Train", n: int | None = None,
             outputs: int | None = None) -> Any:
    """Targets as (N, outputs) floats: one-hot for classification."""
    import numpy as np

    y = np.asarray(y)
    if n is not None and len(y) != n:
        raise ValueError(f"{what}.y must have one target per input ({n}), got {len(y)}")
    if task == "classify":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"{what}.y for classification must be one integer label per example, got dtype "
                             f"{y.dtype} and shape {tuple(y.shape)}")
        k = max(int(classes), 2)
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"{what}.y labels must be in [0, {k}), got [{int(y.min())}, {int(y.max())}]")
        return np.eye(k)[y.astype(int)]
    t = np.asarray(y, np.float64).reshape(len(y), -1)
    if outputs is not None and t.shape[1] != outputs:
        raise ValueError(f"{what}.y must have {outputs} value(s) per example (as trained), got {t.shape[1]}")
    return t
