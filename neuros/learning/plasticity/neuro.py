"""`learning.plasticity`: meta-learned Hebbian plasticity (Nano-Daemon) as a neuro service (protocol v2).

The protocol (jobs, Status while training, checkpoints, Resume, weights by reference) is
`..learner.Learner`'s; this module is what is the plastic cortex's own:

    Train     meta-trains the genome theta (the outer loop); a job's unit is a stage of the
              teacher-forcing schedule; data: none (the config's task stream), a family
              ``assoc-d{D}-k{K}``, or an inline bank of episodes (N, K, D)
    Step      learns an episode: stores pairs x (K, D) -> y (K, D) into the served memory,
              each shown once (the inner loop); its loss is the bit error of recalling them
    Predict   recalls from cues (B, D) alone; uncertainty: 1 - mean |response| (confidence)
    Evaluate  episodes (N, K, D): fresh lifetimes (store, then recall from the cue alone)
              with the one-shot Hebbian and delta rules on the same episodes beside them;
              pairs (B, D): recall of the served memory
    Snapshot  the genome, the slow weights, the memory and the buffer, format version 2
    sleep     prune weak synapses, replay the episodic buffer (consolidate.py)

Importing this module costs no torch: torch and the model load inside the methods.
"""

from __future__ import annotations

from typing import Any

from neuro import sdk

from ..learner import Learner, TrainData
from ..protocol import Array, Description, Prediction, Restored, StepResult, Train, Weights
from .config import RANGES, PlasticityConfig, config_with

__all__ = ["PlasticityNeuro"]


class PlasticityNeuro(Learner):
    """Meta-learns a local plasticity rule (a genome started at Hebbian) for one-shot recall."""

    name = "learning.plasticity"

    def __init__(self) -> None:
        super().__init__()
        self.config = PlasticityConfig()
        self.resources: Any = None  # what the last message's ctx.resources said

    async def handle(self, ctx: sdk.Context, msg: Any) -> Any:
        self.resources = ctx.resources
        return await super().handle(ctx, msg)

    # ------------------------------------------------------------------------- describe

    def describe(self) -> Description:
        from ..options import option_specs
        from .data import STREAM
        from .weights import FORMAT, VERSION

        dim = self.model.cfg.dim if self.model is not None else None
        return Description(
            name=self.name, tasks=["recall"], options=option_specs(PlasticityConfig, ranges=RANGES),
            capabilities=["gpu", "sleep", "online"], input_shape=[dim] if dim else None,
            output_shape=[dim] if dim else None, datasets=[STREAM, "assoc-d32-k12", "assoc-d32-k24", "assoc-d64-k32"],
            weight_format=FORMAT, weight_version=VERSION,
            summary="a cortex whose fast weights change by a meta-learnt local rule (a genome whose family "
                    "holds Hebbian, Oja and the delta rule, started at Hebbian); Train meta-trains the rule, Step stores +-1 cue -> target pairs once, Predict "
                    "recalls from the cue alone; any assoc-d<D>-k<K> family is known")

    # ------------------------------------------------------------------------- data

    def load_dataset(self, name: str) -> TrainData:
        from .data import STREAM, family_data, stream_data

        return stream_data(self.config) if name == STREAM else family_data(name)

    def data_of(self, train: Train) -> TrainData:
        """No data: the config's task stream (with the Train's options); else a family or a bank."""
        from .data import bank_data, stream_data

        if train.dataset is None and train.x is None and train.y is None:
            return stream_data(config_with(self.config, {**train.options, "seed": train.seed}))
        if train.dataset is None:
            if train.x is None or train.y is None:
                raise ValueError("Train takes inline episodes as both x (cues) and y (targets), (N, K, D) each")
            return bank_data(train.x, train.y)
        return super().data_of(train)

    # ------------------------------------------------------------------------- training

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        from ..device import choose_device
        from .model import PlasticModel

        if data.task != "recall":
            raise ValueError(f"learning.plasticity learns associative recall (+-1 cue -> target episodes); this data "
                             f"is a {data.task} task")
        options = dict(train.options)
        options.setdefault("seed", train.seed)
        if "dim" in data.extra:
            options["dim"] = data.extra["dim"]
        if "k" in data.extra and not data.extra.get("bank"):
            options.setdefault("k_min", data.extra["k"])
            options.setdefault("k_max", data.extra["k"])
        if train.batch_size is not None:
            options.setdefault("tasks_per_step", train.batch_size)
        cfg = config_with(self.config, options)
        reuse = (model is not None and model.cfg.dim == cfg.dim and model.cfg.genome_hidden == cfg.genome_hidden)
        if reuse:
            model.cfg = cfg
            for group in model.opt.param_groups:
                group["lr"] = cfg.lr
        else:
            model = PlasticModel(cfg, choose_device(self.resources, cfg.device))
        self.config = cfg
        return model, float(train.epochs), "stage"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        """One stage of the teacher-forcing schedule (steps_per_stage meta-steps)."""
        from .metatrain import fit_stage

        bank = (data.x, data.y) if data.extra.get("bank") else None
        return 1.0, fit_stage(model, int(job.done), int(job.total), bank)

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        if data.test is None:
            return {}
        return {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def save_job(self, model: Any) -> bytes:
        """The weights, Adam's state and the meta-step counter (tasks come from it): an exact resume."""
        import io

        import msgspec
        import torch

        buf = io.BytesIO()
        torch.save(model.opt.state_dict(), buf)
        return msgspec.msgpack.encode({"weights": msgspec.msgpack.encode(model.to_weights()), "opt": buf.getvalue()})

    def load_job(self, blob: bytes) -> Any:
        import io

        import msgspec
        import torch

        doc = msgspec.msgpack.decode(blob)
        model, _ = self.from_weights(msgspec.msgpack.decode(doc["weights"], type=Weights))
        model.opt.load_state_dict(torch.load(io.BytesIO(doc["opt"]), map_location=model.device, weights_only=True))
        return model

    # ------------------------------------------------------------------------- the inner loop, served

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        """Learn an episode: store each pair once into the served memory, then recall them."""
        import numpy as np

        cues, targets = _pairs(x, y, "Step", model.cfg.dim)
        model.store(cues, targets)
        h = model.recall(cues)
        acc = float((np.sign(h) == targets).mean())
        return StepResult(loss=1.0 - acc, metrics={"bit_accuracy": acc, "stored": float(len(cues)),
                                                   "buffered": float(len(model.buffer))})

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        cues = _cues(x, "Predict", model.cfg.dim)
        h = model.recall(cues)  # (B, D)
        bits = np.where(h >= 0, 1.0, -1.0).astype(np.float32)
        doubt = [float(v) for v in 1.0 - np.abs(h).mean(1)]
        return Prediction(y=Array.of(bits), uncertainty=doubt, uncertainty_kind="1-mean|response|")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import numpy as np
        import torch

        from .rules import rule_accuracy
        from .tasks import episodes_of

        if np.asarray(x).ndim == 2:  # pairs: recall of the served memory
            cues, targets = _pairs(x, y, "Evaluate", model.cfg.dim)
            return {"bit_accuracy": float((np.sign(model.recall(cues)) == targets).mean())}
        cues, targets = episodes_of(x, y, "Evaluate")
        if not cues.size:
            raise ValueError("Evaluate got no episodes; send x and y of shape (N, K, D) with N, K >= 1")
        if cues.shape[2] != model.cfg.dim:
            raise ValueError(f"Evaluate's episodes have D={cues.shape[2]}; this cortex has D={model.cfg.dim}")
        h, _ = model.lifetimes(cues, targets)
        c, t = torch.from_numpy(cues), torch.from_numpy(targets)
        return {"bit_accuracy": float((np.sign(h) == targets).mean()),
                "hebbian_bit_accuracy": rule_accuracy("hebbian", c, t),
                "delta_bit_accuracy": rule_accuracy("delta", c, t)}

    def consolidate(self, model: Any) -> dict[str, float]:
        """Sleep: prune the weakest synapses, replay the episodic buffer (consolidate.py)."""
        from .consolidate import sleep

        return sleep(model)

    # ------------------------------------------------------------------------- weights

    def to_weights(self, model: Any) -> Weights:
        return model.to_weights()

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..device import choose_device
        from .model import PlasticModel
        from .weights import migrate

        current, migrated_from = migrate(weights)
        model = PlasticModel.from_weights(current, "cpu")
        device = choose_device(self.resources, model.cfg.device)
        if device.type != "cpu":
            model = PlasticModel.from_weights(current, device)
        self.config = model.cfg
        return model, Restored(version=current.version, migrated_from=migrated_from)

    @classmethod
    def migrate(cls, old_version: Any, state: Any) -> Any:
        """Upgrade a snapshot to the current weight format (its own version says which it is)."""
        if state is None:
            return None
        from .weights import migrate

        return migrate(state)[0]

    def selfcheck(self) -> None:
        """Refuse to go live with a non-finite genome, slow weights or memory."""
        if self.model is None:
            return
        import numpy as np

        for name, value in self.model.tensors().items():
            if not np.isfinite(value).all():
                raise ValueError(f"learning.plasticity selfcheck: {name} has non-finite values")


# ----------------------------------------------------------------------------- input checks


def _cues(x: Any, what: str, dim: int) -> Any:
    import numpy as np

    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{what}.x must be cues of shape (B, {dim}), +-1 each; got {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}.x must be finite +-1 cues")
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32)


def _pairs(x: Any, y: Any, what: str, dim: int) -> tuple[Any, Any]:
    import numpy as np

    cues = _cues(x, what, dim)
    y = np.asarray(y, np.float32)
    if y.shape != cues.shape:
        raise ValueError(f"{what}.y must be targets of the cues' shape {tuple(cues.shape)}, +-1 each; got "
                         f"{tuple(y.shape)}")
    return cues, np.where(y >= 0, 1.0, -1.0).astype(np.float32)
