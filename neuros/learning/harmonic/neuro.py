"""`learning.harmonic`: a waveform learnt by matching Fourier spectra (protocol v2).

    Train     recordings of one signal: x the times t (N, 1) in [0, 1), y the samples (N,), cut
              into N / samples recordings of `samples` points on the grid j / samples (or the
              generated "multitone": 32 noisy recordings with unknown start times, the clean
              signal as its test split); a job's unit is an epoch of `steps_per_epoch` full-batch
              Adam steps on mse_weight * MSE + spectral_weight * L_spectral
    Predict   y_hat(t) (N,) at any times
    Evaluate  mse at those times; spectral_error when y holds whole recordings on the grid
    Snapshot  the bank's coefficients, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.regressor import TorchRegressor, as_tensors, check_dataset
from ..protocol import Description
from ..traindata import TrainData
from .config import RANGES, HarmonicConfig

__all__ = ["HarmonicNeuro"]

MULTITONE = "multitone"


class HarmonicNeuro(TorchRegressor):
    """Learns a periodic waveform as a bank of harmonics, from recordings, by their spectra."""

    name = "learning.harmonic"
    config_type = HarmonicConfig
    ranges = RANGES
    default_dataset = MULTITONE
    weight_format, weight_version = "learning.harmonic", 1

    def describe(self) -> Description:
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[1], output_shape=[], datasets=[MULTITONE],
            weight_format=self.weight_format, weight_version=self.weight_version,
            summary="y_hat(t) = c + sum_k a_k cos(2 pi k t) + b_k sin(2 pi k t), learnt from recordings by matching "
                    "|rfft| (blind to when each recording started), optionally plus the MSE")

    def load_dataset(self, name: str) -> TrainData:
        check_dataset(self.name, name, MULTITONE, "x (N, 1) times and y (N,) samples")
        import numpy as np

        from .data import recordings

        t = self.config.samples
        clean, recs = recordings(32, t, self.config.seed)
        grid = (np.arange(t, dtype=np.float32) / t)[:, None]
        return TrainData(name=MULTITONE, task="regress", x=np.tile(grid, (len(recs), 1)), y=recs.reshape(-1),
                         input_shape=(1,), test=(grid, clean), hash=f"multitone-32-{t}-{self.config.seed}")

    def make_model(self, cfg: HarmonicConfig, n_in: int, device: Any) -> Any:
        from .model import HarmonicBank

        if n_in != 1:
            raise ValueError(f"learning.harmonic learns a signal of time: x must be (N, 1) times, got {n_in} "
                             "values each")
        return HarmonicBank(cfg.harmonics, cfg.seed, device)

    def _recordings(self, model: Any, y: Any) -> Any:
        t = model.cfg.samples
        if len(y) % t:
            raise ValueError(f"y must hold whole recordings of {t} samples (option samples), got {len(y)} values")
        return y.reshape(-1, t)

    def fit_epoch(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import torch

        from .model import fit_recordings

        cfg = model.cfg
        if not hasattr(model, "opt"):
            model.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        loss = fit_recordings(model, self._recordings(model, y), cfg.steps_per_epoch, cfg.lr, cfg.mse_weight,
                              cfg.spectral_weight, opt=model.opt)
        return {"loss": loss, "steps": float(cfg.steps_per_epoch)}

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import torch

        from .spectrum import spectral_error

        out = super().evaluate(model, x, y)
        if len(y) % model.cfg.samples == 0:
            _, ty = as_tensors(x, y, 1, model.device)
            with torch.no_grad():
                grid = model.on_grid(model.cfg.samples)
                recs = self._recordings(model, ty)
                out["spectral_error"] = sum(spectral_error(grid, r) for r in recs) / len(recs)
        return out
