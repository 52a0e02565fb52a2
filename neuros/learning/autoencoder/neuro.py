"""`learning.autoencoder`: plain, denoising or variational autoencoder (protocol v2).

    Train     any data set of fixed-size inputs (default: digits; targets are ignored); the
              `kind` option picks the loss; a job's unit is an epoch (the denoising sigma decays
              by noise_decay each one); ends with the test reconstruction MSE
    Predict   the reconstruction as `y` (the inputs' shape) and the codes as `scores` (N, code)
    Evaluate  reconstruction MSE per value
    Generate  decode codes: `y` carries codes (B, code); the answer's `x` is their decodings
    Snapshot  the net, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Generate, Generated, Prediction, Restored, Train, Weights
from .config import RANGES, AutoencoderConfig

__all__ = ["AutoencoderNeuro"]

FORMAT, VERSION = "learning.autoencoder", 1


class _Model:
    def __init__(self, cfg: AutoencoderConfig, input_shape: tuple, device: Any) -> None:
        import math

        import torch

        from .model import AutoEncoder

        self.cfg, self.input_shape, self.device = cfg, tuple(input_shape), device
        self.n_in = math.prod(self.input_shape)
        self.net = AutoEncoder(self.n_in, cfg, device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.epoch = 0

    def tensor(self, x: Any) -> Any:
        from ..paradigmkit.rows import as_rows

        return as_rows(x, self.input_shape, self.device)


class AutoencoderNeuro(ParadigmLearner):
    """Compresses inputs to a small code and reconstructs them."""

    name = "learning.autoencoder"
    config_type = AutoencoderConfig
    ranges = RANGES

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["reconstruct"], options=self.option_specs(), capabilities=["generate", "gpu"],
            input_shape=list(m.input_shape) if m else None, output_shape=list(m.input_shape) if m else None,
            datasets=["digits"], weight_format=FORMAT, weight_version=VERSION,
            summary="an MLP autoencoder (plain, denoising with decaying sigma, or variational with KL) through a "
                    "code of `code` numbers; Predict reconstructs, Generate decodes codes")

    def data_of(self, train: Train) -> TrainData:
        if train.dataset is None and train.x is None and train.y is None:
            return self.load_dataset("digits")
        return super().data_of(train)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        cfg = self.configure(train)
        if (model is None or model.input_shape != tuple(data.input_shape) or model.cfg.kind != cfg.kind
                or model.cfg.code != cfg.code or model.cfg.hidden != cfg.hidden):
            model = _Model(cfg, data.input_shape, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        from .losses import sigma_at
        from .model import train_epoch

        loss = train_epoch(model.net, model.opt, model.tensor(data.x), model.cfg, model.epoch, model.gen)
        metrics = {"loss": loss, "steps": float(-(-len(data.x) // model.cfg.batch_size))}
        if model.cfg.kind == "denoising":
            metrics["sigma"] = sigma_at(model.cfg.sigma, model.cfg.noise_decay, model.epoch)
        model.epoch += 1
        return 1.0, metrics

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, data.test[0], None).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        with torch.no_grad():
            x_hat, mu, _ = model.net(model.tensor(x))
        return Prediction(y=Array.of(x_hat.cpu().numpy().reshape((len(x), *model.input_shape))),
                          scores=Array.of(mu.cpu().numpy()))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        from .model import mse

        return {"mse": mse(model.net, model.tensor(x))}

    def generate(self, model: Any, msg: Generate) -> Generated:
        import torch

        codes = None if msg.y is None else msg.y.numpy()
        if codes is None or codes.ndim != 2 or codes.shape[1] != model.cfg.code:
            raise ValueError(f"Generate decodes codes: send them as `y` with shape (B, {model.cfg.code})")
        with torch.no_grad():
            out = model.net.decoder(torch.as_tensor(codes, dtype=torch.float32, device=model.device))
        return Generated(x=Array.of(out.cpu().numpy().reshape((len(codes), *model.input_shape))))

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"net": model.net},
                              extra={"input_shape": list(model.input_shape), "epoch": model.epoch})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, AutoencoderConfig)
        model = _Model(cfg, tuple(extra["input_shape"]), self.device(cfg.device))
        model.net.load_state_dict(states["net"])
        model.epoch = int(extra.get("epoch", 0))
        self.config = cfg
        return model, Restored(version=weights.version)
