"""The harmonic bank: a waveform on [0, 1) as a learnable sum of its harmonics. torch inside.

    y_hat(t) = c + sum_{k=1..K} a_k cos(2 pi k t) + b_k sin(2 pi k t)        K harmonics

Predict evaluates it at any t; training evaluates it on the recordings' grid t_j = j / T.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HarmonicBank", "fit_recordings"]


class HarmonicBank:
    """K harmonics' coefficients, started small and random (|rfft| has no gradient at exactly 0)."""

    def __init__(self, harmonics: int, seed: int, device: Any = "cpu") -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.n_in, self.device = 1, device
        self.coef = {"a": (0.01 * torch.randn(harmonics, generator=gen)).to(device).requires_grad_(),
                     "b": (0.01 * torch.randn(harmonics, generator=gen)).to(device).requires_grad_(),
                     "c": torch.zeros(1, device=device).requires_grad_()}

    def modules(self) -> dict[str, Any]:
        return {"bank": self.coef}

    def parameters(self) -> list[Any]:
        return list(self.coef.values())

    def forward(self, t: Any) -> Any:
        """y_hat at times t (N, 1) -> (N,)."""
        import math

        import torch

        k = torch.arange(1, len(self.coef["a"]) + 1, device=t.device, dtype=t.dtype)
        phase = 2 * math.pi * t.reshape(-1, 1) * k  # (N, K)
        return self.coef["c"] + torch.cos(phase) @ self.coef["a"] + torch.sin(phase) @ self.coef["b"]

    def on_grid(self, samples: int) -> Any:
        import torch

        return self.forward(torch.arange(samples, device=self.device, dtype=torch.float32)[:, None] / samples)


def fit_recordings(bank: HarmonicBank, recordings: Any, steps: int, lr: float, mse_weight: float,
                   spectral_weight: float, opt: Any = None) -> float:
    """`steps` full-batch Adam steps on mean_r [mse_weight * MSE + spectral_weight * L_spectral]
    over recordings (R, T) on the grid; the last loss."""
    import torch

    from .spectrum import spectral_loss

    opt = opt or torch.optim.Adam(bank.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        y_hat = bank.on_grid(recordings.shape[1])[None, :]  # (1, T)
        loss = mse_weight * ((y_hat - recordings) ** 2).mean()
        if spectral_weight > 0:
            loss = loss + spectral_weight * spectral_loss(y_hat.expand_as(recordings), recordings)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())
