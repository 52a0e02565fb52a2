"""`learning.diffusion`: a denoising diffusion model of points in R^D (protocol v2).

    Train     points x (N, D) inline (y: anything with N rows, unused), or no data / dataset
              "two-moons": 4,000 generated moons; a job's unit is `steps_per_epoch` steps of the
              noise-prediction loss; ends with MMD^2 of samples against held-out points
    Generate  samples of the reverse process: one per entry of `labels` (their values unused)
              or per row of `y`, else `samples`; `steps` is unused (T is the config's)
    Predict   the learnt score s_theta(x, t=0) at points x (B, D)
    Evaluate  MMD^2 between points x (N, D) and as many samples (y unused)
    Snapshot  the noise model and its config, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Generate, Generated, Prediction, Restored, Train, Weights
from .config import RANGES, DiffusionConfig

__all__ = ["DiffusionNeuro"]

FORMAT, VERSION = "learning.diffusion", 1
MOONS = "two-moons"


class DiffusionNeuro(ParadigmLearner):
    """Learns a distribution of points and samples it by reverse diffusion."""

    name = "learning.diffusion"
    config_type = DiffusionConfig
    ranges = RANGES

    def describe(self) -> Description:
        dim = [self.model.dim] if self.model else None
        return Description(
            name=self.name, tasks=["generate"], options=self.option_specs(), capabilities=["generate", "gpu"],
            input_shape=dim, output_shape=dim, datasets=[MOONS], weight_format=FORMAT, weight_version=VERSION,
            summary="a denoising diffusion model (linear or cosine schedule, a learnt noise/score model, reverse "
                    "sampling) of points x (N, D); Generate samples it, Evaluate measures MMD^2 against points")

    def load_dataset(self, name: str) -> TrainData:
        from .data import two_moons

        if name != MOONS:
            raise ValueError(f"learning.diffusion knows the data set {MOONS!r}; send other points inline as x (N, D)")
        x = two_moons(4000, 0)
        return TrainData(name=MOONS, task="generate", x=x, y=x, input_shape=(2,), test=(two_moons(1000, 1000), None))

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset(MOONS)
        if train.dataset is None and train.x is not None:
            x = _points(train.x.numpy(), None, "Train")
            return TrainData(name="", task="generate", x=x, y=x, input_shape=(x.shape[1],))
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        from .model import Diffusion

        cfg = self.configure(train)
        dim = int(data.input_shape[0])
        if (model is None or model.dim != dim or model.schedule != cfg.schedule
                or model.steps != cfg.diffusion_steps):
            model = Diffusion(dim, cfg.schedule, cfg.diffusion_steps, cfg.hidden, cfg.lr, cfg.seed,
                              self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        import torch

        x = torch.as_tensor(data.x, dtype=torch.float32, device=model.device)
        picks = torch.Generator().manual_seed(model.cfg.seed + int(job.done))
        losses = [model.train_step(x[torch.randint(len(x), (model.cfg.batch_size,), generator=picks)])
                  for _ in range(model.cfg.steps_per_epoch)]
        return 1.0, {"loss": sum(losses) / len(losses), "steps": float(len(losses))}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        from .mmd import mmd2

        if data.test is None:
            return {}
        points = data.test[0]
        return {"test_mmd2": mmd2(model.sample(len(points), model.cfg.seed), points)}

    def generate(self, model: Any, msg: Generate) -> Generated:
        n = len(msg.labels) or (msg.y.shape[0] if msg.y is not None else model.cfg.samples)
        return Generated(x=Array.of(model.sample(n, model.cfg.seed).astype("float32")))

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        points = _points(x, model.dim, "Predict")
        with torch.no_grad():
            tx = torch.as_tensor(points, device=model.device)
            score = model.score(tx, torch.zeros(len(tx), dtype=torch.int64, device=model.device))
        return Prediction(y=Array.of(score.cpu().numpy().astype("float32")))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        from .mmd import mmd2

        points = _points(x, model.dim, "Evaluate")
        return {"mmd2": mmd2(model.sample(len(points), model.cfg.seed), points)}

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"net": model.net}, extra={"dim": model.dim})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules
        from .model import Diffusion

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, DiffusionConfig)
        model = Diffusion(int(extra["dim"]), cfg.schedule, cfg.diffusion_steps, cfg.hidden, cfg.lr, cfg.seed,
                          self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        model.cfg, self.config = cfg, cfg
        return model, Restored(version=weights.version)


def _points(x: Any, dim: int | None, what: str) -> Any:
    import numpy as np

    x = np.asarray(x, np.float32)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim) or not np.isfinite(x).all():
        want = f"(N, {dim})" if dim else "(N, D)"
        raise ValueError(f"{what}.x must be finite points of shape {want}, got {tuple(x.shape)}")
    return x
