"""`learning.unified`: a gated mixture of learners of different kinds (protocol v2).

    Train     a regression set (inline x (N, D), y (N,) or (N, K); or the generated "piecewise"
              task, with a test split); a job's unit is an epoch of `steps_per_epoch` full-batch
              steps on L = -log sum_i g_i exp(-L_i); ends with test metrics when there is a split
    Predict   y (the gated sum), `scores` the gate g (B, E), `labels` each input's argmax
              learner, `uncertainty` the gate's entropy
    Evaluate  mse, the mixture objective, each learner's share of the inputs
    Snapshot  learners and gate, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Prediction, Restored, Train, Weights
from ..utilities.learnerparts import DefaultData
from .config import RANGES, UnifiedConfig

__all__ = ["UnifiedNeuro"]

FORMAT, VERSION = "learning.unified", 1
PIECEWISE = "piecewise"


class _Model:
    def __init__(self, cfg: UnifiedConfig, n_in: int, n_out: int, flat: bool, device: Any) -> None:
        import torch

        from .model import Mixture

        self.cfg, self.n_in, self.n_out, self.flat = cfg, n_in, n_out, flat
        self.mix = Mixture(cfg.learners, n_in, n_out, cfg.hidden, cfg.frequencies, cfg.seed, device)
        self.opt = torch.optim.Adam(self.mix.parameters(), lr=cfg.lr)
        self.device = device

    def tensors(self, x: Any, y: Any = None) -> Any:
        import numpy as np
        import torch

        x = np.array(x, np.float32).reshape(len(x), -1)
        if x.shape[1] != self.n_in:
            raise ValueError(f"inputs must have {self.n_in} values each, got shape {tuple(x.shape)}")
        tx = torch.as_tensor(x, device=self.device)
        if y is None:
            return tx
        y = np.array(y, np.float32).reshape(len(y), -1)
        if y.shape != (len(x), self.n_out):
            raise ValueError(f"targets must be ({len(x)}, {self.n_out}), got shape {tuple(y.shape)}")
        return tx, torch.as_tensor(y, device=self.device)


class UnifiedNeuro(DefaultData, ParadigmLearner):
    """Regresses with learners of different kinds, a softmax gate choosing among them per input."""

    name = "learning.unified"
    config_type = UnifiedConfig
    ranges = RANGES
    default_dataset = PIECEWISE

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[m.n_in] if m else None, output_shape=([] if m.flat else [m.n_out]) if m else None,
            datasets=[PIECEWISE], weight_format=FORMAT, weight_version=VERSION,
            summary="a gated mixture of a line, a sine bank and a small MLP, trained on -log sum_i g_i exp(-L_i); "
                    "Predict's scores are the gate's weights")

    def load_dataset(self, name: str) -> TrainData:
        if name != PIECEWISE:
            raise ValueError(f"learning.unified knows the dataset {PIECEWISE!r} (generated), not {name!r}; or send "
                             "x (N, D) and y (N,) inline")
        from .data import piecewise

        x, y = piecewise(512, self.config.seed)
        test = piecewise(1024, self.config.seed + 100)
        return TrainData(name=PIECEWISE, task="regress", x=x, y=y[:, 0], input_shape=(1,), test=(test[0], test[1][:, 0]),
                         hash=f"piecewise-512-{self.config.seed}")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import numpy as np

        if data.task not in ("regress", ""):
            raise ValueError(f"learning.unified learns regression; this data is a {data.task} task (send float y)")
        cfg = self.configure(train)
        n_in = int(np.prod(data.input_shape))
        flat = np.asarray(data.y).ndim == 1
        n_out = 1 if flat else int(np.prod(np.asarray(data.y).shape[1:]))
        if model is None or (model.n_in, model.n_out, model.cfg.learners) != (n_in, n_out, cfg.learners):
            model = _Model(cfg, n_in, n_out, flat, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .train import fit_mixture

        x, y = model.tensors(data.x, data.y)
        loss = fit_mixture(model.mix, x, y, model.cfg.steps_per_epoch, model.cfg.lr, model.cfg.sigma, opt=model.opt)
        return 1.0, {"loss": loss, "steps": float(model.cfg.steps_per_epoch)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        with torch.no_grad():
            y, logits, _ = model.mix.forward(model.tensors(x))
            g = torch.softmax(logits, -1)
            entropy = -(g * torch.log(g.clamp_min(1e-12))).sum(1)
        y = y.cpu().numpy()
        return Prediction(y=Array.of(y[:, 0] if model.flat else y), labels=[int(v) for v in g.argmax(1).cpu()],
                          scores=Array.of(g.cpu().numpy()), uncertainty=[float(v) for v in entropy.cpu()],
                          uncertainty_kind="gate entropy")

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import torch

        from .model import mixture_loss
        from .train import mse

        tx, ty = model.tensors(x, y)
        with torch.no_grad():
            y_hat, logits, preds = model.mix.forward(tx)
            out = {"mse": mse(y_hat, ty), "mixture_loss": float(mixture_loss(logits, preds, ty, model.cfg.sigma))}
            g = torch.softmax(logits, -1).mean(0)
        out.update({f"{kind}_share": float(g[i]) for i, kind in enumerate(model.cfg.learners)})
        return out

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"experts": model.mix.experts, "gate": model.mix.gate},
                              extra={"n_in": model.n_in, "n_out": model.n_out, "flat": model.flat})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, UnifiedConfig)
        model = _Model(cfg, int(extra["n_in"]), int(extra["n_out"]), bool(extra["flat"]), self.device(cfg.device))
        model.mix.experts.load_state_dict(states["experts"])
        model.mix.gate.load_state_dict(states["gate"])
        self.config = cfg
        return model, Restored(version=weights.version)
