"""The autoencoder (plain, denoising or variational: one module, the kind decides the loss) and
its training epoch. torch inside."""

from __future__ import annotations

from typing import Any

__all__ = ["AutoEncoder", "train_epoch", "mse"]


def AutoEncoder(n_in: int, cfg: Any, device: Any = "cpu") -> Any:
    import torch
    from torch import nn

    class _AE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            out = 2 * cfg.code if cfg.kind == "variational" else cfg.code  # mu and log sigma^2
            self.encoder = nn.Sequential(nn.Linear(n_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, out))
            self.decoder = nn.Sequential(nn.Linear(cfg.code, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, n_in))

        def encode(self, x: Any) -> tuple[Any, Any]:
            h = self.encoder(x)  # (B, code) or (B, 2 code)
            return (h, None) if cfg.kind != "variational" else (h[:, :cfg.code], h[:, cfg.code:])

        def forward(self, x: Any, gen: Any = None) -> tuple[Any, Any, Any]:
            mu, logvar = self.encode(x)
            z = mu
            if logvar is not None and gen is not None:  # reparameterised sample while training
                z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen).to(mu.device)
            return self.decoder(z), mu, logvar

    torch.manual_seed(cfg.seed)
    return _AE().to(device)


def train_epoch(ae: Any, opt: Any, x: Any, cfg: Any, epoch: int, gen: Any) -> float:
    """One pass over x (N, n) in random batches; the mean loss. Denoising noises the input with
    this epoch's sigma; variational adds beta L_KL."""
    import torch

    from .losses import kl_divergence, noised, reconstruction, sigma_at

    sigma = sigma_at(cfg.sigma, cfg.noise_decay, epoch)
    order = torch.randperm(len(x), generator=gen).to(x.device)
    total, batches = 0.0, 0
    for start in range(0, len(x), cfg.batch_size):
        batch = x[order[start:start + cfg.batch_size]]
        seen = noised(batch, sigma, gen) if cfg.kind == "denoising" else batch
        x_hat, mu, logvar = ae(seen, gen)
        loss = reconstruction(batch, x_hat)
        if logvar is not None:
            loss = loss + cfg.beta * kl_divergence(mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def mse(ae: Any, x: Any) -> float:
    """Mean squared error per value of the reconstruction through the code (the mean, no sampling)."""
    import torch

    with torch.no_grad():
        return float(((ae(x)[0] - x) ** 2).mean())
