"""`learning.quantumflux`: a complex linear map held unitary, U^H U = I (protocol v2).

Complex amplitudes travel as real arrays: a vector of n amplitudes is 2n floats, real parts
then imaginary parts.

    Train     pairs x (N, 2n) -> y (N, 2n) (or the generated "unitary_map": 64 noisy pairs of
              an 8x8 Haar-random unitary, 256 clean test pairs); a job's unit is an epoch of
              `steps_per_epoch` full-batch Adam steps on mean ||U psi - target||^2
    Predict   U psi, as (N, 2n)
    Evaluate  task_error (mean squared distance) and unitarity_error ||U^H U - I||_F
    Snapshot  the layer's parameter (A, or W when unconstrained), format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..paradigmkit.regressor import check_dataset
from ..protocol import Array, Description, Prediction, Restored, Train, Weights
from ..traindata import TrainData
from .config import RANGES, QuantumFluxConfig

__all__ = ["QuantumFluxNeuro", "to_complex", "to_real"]

FORMAT, VERSION = "learning.quantumflux", 1
UNITARY_MAP = "unitary_map"


def to_complex(a: Any, n: int, device: Any = "cpu") -> Any:
    """(N, 2n) floats (real parts, then imaginary) -> (N, n) complex64; a ValueError naming the shape."""
    import numpy as np
    import torch

    a = np.array(a, np.float32).reshape(len(a), -1)
    if a.shape[1] != 2 * n:
        raise ValueError(f"amplitudes must be (N, {2 * n}): {n} real parts then {n} imaginary, got {tuple(a.shape)}")
    return torch.complex(torch.as_tensor(a[:, :n]), torch.as_tensor(a[:, n:])).to(device)


def to_real(z: Any) -> Any:
    """(N, n) complex -> (N, 2n) float32 numpy."""
    import numpy as np

    z = z.detach().cpu().numpy()
    return np.concatenate([z.real, z.imag], 1).astype(np.float32)


class QuantumFluxNeuro(ParadigmLearner):
    """Learns a norm-preserving map of complex amplitudes with a layer that is unitary by construction."""

    name = "learning.quantumflux"
    config_type = QuantumFluxConfig
    ranges = RANGES
    default_dataset = UNITARY_MAP

    def describe(self) -> Description:
        m = self.model
        return Description(
            name=self.name, tasks=["regress"], options=self.option_specs(), capabilities=["gpu"],
            input_shape=[2 * m.n] if m else None, output_shape=[2 * m.n] if m else None, datasets=[UNITARY_MAP],
            weight_format=FORMAT, weight_version=VERSION,
            summary="psi -> U psi on complex amplitudes (real parts then imaginary), U = exp(A - A^H) so U^H U = I "
                    "exactly; option unitary=false frees it")

    def load_dataset(self, name: str) -> TrainData:
        check_dataset(self.name, name, UNITARY_MAP, "x (N, 2n) and y (N, 2n)")
        import torch

        from .unitary import random_states, random_unitary

        seed, n = self.config.seed, 8
        truth = random_unitary(n, seed)
        psi, test = random_states(64, n, seed + 1), random_states(256, n, seed + 3)
        noise = torch.view_as_complex(torch.randn(64, n, 2, generator=torch.Generator().manual_seed(seed + 2)))
        return TrainData(name=UNITARY_MAP, task="regress", x=to_real(psi), y=to_real(psi @ truth.T + 0.05 * noise),
                         input_shape=(2 * n,), target_shape=(2 * n,), test=(to_real(test), to_real(test @ truth.T)),
                         hash=f"unitary-map-8-64-{seed}")

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        import math

        from .unitary import ComplexLayer

        cfg = self.configure(train)
        size = math.prod(data.input_shape)
        if size % 2 or tuple(data.target_shape) != tuple(data.input_shape):
            raise ValueError(f"learning.quantumflux maps n amplitudes to n: x and y (N, 2n), got x {data.input_shape} "
                             f"and y {data.target_shape}")
        if model is None or (model.n, model.unitary) != (size // 2, cfg.unitary):
            model = ComplexLayer(size // 2, cfg.unitary, cfg.seed, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "epoch"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        import torch

        from .unitary import fit_layer, unitarity_error

        cfg = model.cfg
        if not hasattr(model, "opt"):
            model.opt = torch.optim.Adam([model.param], lr=cfg.lr)
        psi, target = to_complex(data.x, model.n, model.device), to_complex(data.y, model.n, model.device)
        loss = fit_layer(model, psi, target, cfg.steps_per_epoch, cfg.lr, opt=model.opt)
        with torch.no_grad():
            unit = unitarity_error(model.matrix())
        return 1.0, {"task_error": loss, "unitarity_error": unit, "steps": float(cfg.steps_per_epoch)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return {} if data.test is None else {f"test_{k}": v for k, v in self.evaluate(model, *data.test).items()}

    def predict(self, model: Any, x: Any) -> Prediction:
        import torch

        with torch.no_grad():
            return Prediction(y=Array.of(to_real(model.forward(to_complex(x, model.n, model.device)))))

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        import torch

        from .unitary import unitarity_error

        psi, target = to_complex(x, model.n, model.device), to_complex(y, model.n, model.device)
        with torch.no_grad():
            err = float((model.forward(psi) - target).abs().pow(2).sum(1).mean())
            return {"task_error": err, "unitarity_error": unitarity_error(model.matrix())}

    def to_weights(self, model: Any) -> Weights:
        from ..paradigmkit.torchstate import encode_modules

        return encode_modules(FORMAT, VERSION, model.cfg, {"layer": {"param": model.param}}, extra={"n": model.n})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        import torch

        from ..paradigmkit.torchstate import decode_modules
        from .unitary import ComplexLayer

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, QuantumFluxConfig)
        model = ComplexLayer(int(extra["n"]), cfg.unitary, cfg.seed, self.device(cfg.device))
        with torch.no_grad():
            model.param.copy_(states["layer"]["param"])
        model.cfg = cfg
        self.config = cfg
        return model, Restored(version=weights.version)
