"""A GAN on the 8-Gaussian ring (seed 5.7). torch.

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

D ascends the objective; G uses the non-saturating form (maximise log D(G(z))), the same
fixed point with gradients that do not vanish early. The ring: 8 Gaussians of std `std` at
radius `radius`. A sample is good when it lies within 3 std of its nearest mode; a mode is
covered when it holds at least a quarter of its fair share (n / 8) of good samples.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ring_modes", "ring_samples", "mode_coverage", "GAN"]


def ring_modes(k: int = 8, radius: float = 2.0) -> Any:
    import numpy as np

    angles = 2 * math.pi * np.arange(k) / k
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1).astype(np.float32)  # (k, 2)


def ring_samples(n: int, seed: int, k: int = 8, radius: float = 2.0, std: float = 0.05) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    modes = ring_modes(k, radius)
    return (modes[rng.integers(k, size=n)] + std * rng.normal(size=(n, 2))).astype(np.float32)


def mode_coverage(samples: Any, k: int = 8, radius: float = 2.0, std: float = 0.05) -> tuple[int, float]:
    """(modes covered, share of good samples) of samples (n, 2)."""
    import numpy as np

    modes = ring_modes(k, radius)
    dist = np.linalg.norm(samples[:, None, :] - modes[None], axis=2)  # (n, k)
    nearest, good = dist.argmin(1), dist.min(1) < 3 * std
    counts = np.bincount(nearest[good], minlength=k)
    return int((counts >= 0.25 * len(samples) / k).sum()), float(good.mean())


class GAN:
    """Generator z (noise_dim) -> 2-D, discriminator 2-D -> logit; MLPs of `hidden` units."""

    def __init__(self, hidden: int = 128, noise_dim: int = 2, lr: float = 1e-3, seed: int = 0,
                 device: Any = "cpu") -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.noise_dim, self.device = noise_dim, torch.device(device)
        self.g = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, 2)).to(self.device)
        self.d = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, 1)).to(self.device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(0.5, 0.999))
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    def noise(self, n: int) -> Any:
        import torch

        return torch.randn(n, self.noise_dim, generator=self.gen, device=self.device)

    def step(self, real: Any) -> dict[str, float]:
        """One update of D, then of G, on a batch of real samples (B, 2) (a tensor on the device)."""
        import torch
        import torch.nn.functional as F

        ones = torch.ones(len(real), 1, device=self.device)
        fake = self.g(self.noise(len(real)))
        # D: maximise log D(x) + log(1 - D(G(z))), i.e. minimise the two cross-entropies
        d_loss = (F.binary_cross_entropy_with_logits(self.d(real), ones)
                  + F.binary_cross_entropy_with_logits(self.d(fake.detach()), 0 * ones))
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        # G: the non-saturating form, maximise log D(G(z))
        g_loss = F.binary_cross_entropy_with_logits(self.d(fake), ones)
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}

    def sample(self, n: int) -> Any:
        """n generated points (n, 2), numpy."""
        import torch

        with torch.no_grad():
            return self.g(self.noise(n)).cpu().numpy()
