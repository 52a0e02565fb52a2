"""`learning.echo`: a small MLP trained with echo-modulated updates (protocol v2).

    Train     a regression set (inline x (N, D), y (N,); or the generated "wave2d" with a test
              split); a job's unit is an epoch of minibatch steps dw = -lr * echo_strength * e * g
    Step      one such step on the batch sent (online); the echo carries over between Steps
    Predict   y (N,)
    Evaluate  mse
    Snapshot  net and echo traces, format version 1
"""

from __future__ import annotations

from typing import Any

from ..protocol import Description, StepResult
from ..traindata import TrainData
from .config import RANGES, EchoConfig
from ..paradigmkit.regressor import TorchRegressor, as_tensors, check_dataset

__all__ = ["EchoNeuro"]

WAVE2D = "wave2d"


class EchoNeuro(TorchRegressor):
    """Regresses with a tanh MLP whose every weight's step is scaled by the echo of its input's activity."""

    name = "learning.echo"
    config_type = EchoConfig
    ranges = RANGES
    default_dataset = WAVE2D
    weight_format, weight_version = "learning.echo", 1

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=["gpu", "online"],
            input_shape=[m.n_in] if m else None, output_shape=[], datasets=[WAVE2D],
            weight_format=self.weight_format, weight_version=self.weight_version,
            summary="a tanh MLP; each weight's update is scaled by a decaying echo of the activity on its input, "
                    "e <- decay e + |a|, dw = -lr * strength * e * g")

    def load_dataset(self, name: str) -> TrainData:
        check_dataset(self.name, name, WAVE2D, "x (N, D) and y (N,)")
        from .data import wave2d

        x, y = wave2d(512, self.config.seed)
        return TrainData(name=WAVE2D, task="regress", x=x, y=y, input_shape=(2,),
                         test=wave2d(2048, self.config.seed + 100), hash=f"wave2d-512-{self.config.seed}")

    def make_model(self, cfg: EchoConfig, n_in: int, device: Any) -> Any:
        import torch

        from .model import EchoNet

        model = EchoNet(n_in, cfg.hidden, cfg.seed, device)
        model.gen = torch.Generator().manual_seed(cfg.seed)
        return model

    def fit_epoch(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        from .model import echo_epoch, mean_echo_gain

        loss = echo_epoch(model, x, y, model.cfg, model.gen)
        return {"loss": loss, "mean_echo_gain": mean_echo_gain(model, model.cfg.echo_strength),
                "steps": float(-(-len(x) // model.cfg.batch_size))}

    def step(self, model: Any, x: Any, y: Any) -> StepResult:
        from .model import echo_step

        tx, ty = as_tensors(x, y, model.n_in, model.device)
        cfg = model.cfg
        return StepResult(loss=echo_step(model, tx, ty, cfg.lr, cfg.echo_decay, cfg.echo_strength))
