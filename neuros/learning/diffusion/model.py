"""The diffusion model: a learnt noise predictor eps_theta(x_t, t), its training and reverse
sampling (seed 5.12). torch.

Training draws t uniformly and x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps and regresses
eps (the DDPM loss). The score follows: s_theta(x_t, t) = -eps_theta(x_t, t) / sqrt(1 - abar_t).
Reverse sampling integrates the seed's step with the 1/sqrt(1 - beta_t) factor that makes it
the exact mean of the reverse Gaussian (Ho et al. eq. 11):

    x_{t-1} = (x_t + beta_t s_theta(x_t, t)) / sqrt(1 - beta_t) + sqrt(beta_t) z,   z ~ N(0, I)

(z = 0 at the last step).
"""

from __future__ import annotations

import math
from typing import Any

from .schedules import alpha_bars, betas

__all__ = ["Diffusion"]


class Diffusion:
    """A noise predictor MLP on (x, sinusoidal embedding of t) for `dim`-dimensional data."""

    def __init__(self, dim: int = 2, schedule: str = "linear", steps: int = 100, hidden: int = 128,
                 lr: float = 2e-3, seed: int = 0, device: Any = "cpu") -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.dim, self.schedule, self.steps, self.device = dim, schedule, steps, torch.device(device)
        beta = betas(schedule, steps)
        self.beta = torch.as_tensor(beta, dtype=torch.float32, device=self.device)  # (T,)
        self.abar = torch.as_tensor(alpha_bars(beta), dtype=torch.float32, device=self.device)  # (T,)
        self.embed = 16
        self.net = nn.Sequential(nn.Linear(dim + self.embed, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim)).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    def time_embedding(self, t: Any) -> Any:
        """Sinusoidal features of t (B,) integers in [0, T): (B, embed)."""
        import torch

        half = self.embed // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=self.device) / half)
        angle = (t.float()[:, None] / self.steps * 1000.0) * freqs[None]
        return torch.cat([angle.sin(), angle.cos()], 1)

    def eps(self, x: Any, t: Any) -> Any:
        """eps_theta(x_t, t): (B, dim)."""
        import torch

        return self.net(torch.cat([x, self.time_embedding(t)], 1))

    def score(self, x: Any, t: Any) -> Any:
        """s_theta(x_t, t) = -eps_theta / sqrt(1 - abar_t)."""
        return -self.eps(x, t) / (1 - self.abar[t])[:, None].sqrt()

    def noised(self, x0: Any, t: Any, noise: Any) -> Any:
        """The forward process in one jump: sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        a = self.abar[t][:, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def train_step(self, x0: Any) -> float:
        """One Adam step of the DDPM loss |eps - eps_theta(x_t, t)|^2 on a batch x0 (B, dim)."""
        import torch

        t = torch.randint(self.steps, (len(x0),), generator=self.gen, device=self.device)
        noise = torch.randn(x0.shape, generator=self.gen, device=self.device)
        loss = ((self.eps(self.noised(x0, t, noise), t) - noise) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def sample(self, n: int, seed: int = 0) -> Any:
        """n samples (n, dim), numpy: x_T ~ N(0, I), then the reverse steps down to x_0."""
        import torch

        gen = torch.Generator(device=self.device).manual_seed(seed)
        x = torch.randn(n, self.dim, generator=gen, device=self.device)
        with torch.no_grad():
            for step in reversed(range(self.steps)):
                t = torch.full((n,), step, device=self.device, dtype=torch.int64)
                b = self.beta[step]
                x = (x + b * self.score(x, t)) / (1 - b).sqrt()
                if step > 0:
                    x = x + b.sqrt() * torch.randn(x.shape, generator=gen, device=self.device)
        return x.cpu().numpy()
