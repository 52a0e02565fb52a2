"""The autoencoder learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["AutoencoderConfig", "RANGES"]


class AutoencoderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # plain: L_rec only; denoising: L_rec of x from x + N(0, sigma^2); variational: L_rec + beta L_KL.
    kind: Literal["plain", "denoising", "variational"] = "plain"
    # The code's size (the experiment compares with PCA at the same number of components).
    code: int = 8
    # Hidden units of encoder n_in -> hidden -> code and decoder code -> hidden -> n_in.
    hidden: int = 256
    # Denoising: the first epoch's sigma, multiplied by noise_decay after each epoch (the seed's
    # sigma_{t+1} = sigma_t * noise_decay), so training ends near the clean task.
    sigma: float = 0.3
    noise_decay: float = 0.97
    # Variational: the KL term's weight (1 is the ELBO with a unit-variance Gaussian likelihood
    # up to scale; less keeps reconstructions sharper).
    beta: float = 0.1
    # Adam's rate and the mini-batch.
    lr: float = 1e-3
    batch_size: int = 64
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("code", "hidden", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"option {name} must be a whole number >= 1, got {value!r}")
        if not (self.lr > 0 and self.sigma >= 0 and 0 < self.noise_decay <= 1 and self.beta >= 0):
            raise ValueError("options need lr > 0, sigma >= 0, noise_decay in (0, 1] and beta >= 0")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "code": (1, None), "hidden": (1, None), "sigma": (0.0, None), "noise_decay": (0.0, 1.0), "beta": (0.0, None),
    "lr": (0.0, None), "batch_size": (1, None),
}
