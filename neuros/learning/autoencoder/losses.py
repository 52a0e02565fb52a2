"""The seed's autoencoder formulas (5.3), torch inside:

    L_rec = ||x - x_hat||_2^2                                    (summed over values, mean over the batch)
    L_KL  = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (summed over the code, mean over the batch)
    x~    = x + N(0, sigma^2),  sigma_{t+1} = sigma_t * noise_decay
"""

from __future__ import annotations

from typing import Any

__all__ = ["reconstruction", "kl_divergence", "noised", "sigma_at"]


def reconstruction(x: Any, x_hat: Any) -> Any:
    return ((x - x_hat) ** 2).sum(1).mean()


def kl_divergence(mu: Any, logvar: Any) -> Any:
    return (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)).mean()


def noised(x: Any, sigma: float, gen: Any) -> Any:
    import torch

    return x + sigma * torch.randn(x.shape, generator=gen).to(x.device)


def sigma_at(sigma0: float, noise_decay: float, epoch: int) -> float:
    """The denoising sigma of epoch `epoch` (0-based)."""
    return sigma0 * noise_decay ** epoch
