"""The harmonic resonance loss (the seed's 5.8): match the signal's frequency spectrum. torch inside.

For a predicted signal y_hat and a target y, both (T,) on a uniform grid:

    S(v)          = |rfft(v)| / T                                  magnitude spectrum, (T // 2 + 1,)
    L_spectral    = mean_f (S(y_hat)_f - S(y)_f)^2
    L_harmonic    = mean_t (y_hat_t - y_t)^2 + spectral_weight * L_spectral
    spectral_error(y_hat, y) = ||S(y_hat) - S(y)||_2 / ||S(y)||_2   the experiment's figure
"""

from __future__ import annotations

from typing import Any

__all__ = ["magnitude_spectrum", "spectral_loss", "harmonic_loss", "spectral_error"]


def magnitude_spectrum(v: Any) -> Any:
    import torch

    return torch.fft.rfft(v, dim=-1).abs() / v.shape[-1]


def spectral_loss(y_hat: Any, y: Any) -> Any:
    return ((magnitude_spectrum(y_hat) - magnitude_spectrum(y)) ** 2).mean()


def harmonic_loss(y_hat: Any, y: Any, spectral_weight: float) -> Any:
    return ((y_hat - y) ** 2).mean() + spectral_weight * spectral_loss(y_hat, y)


def spectral_error(y_hat: Any, y: Any) -> float:
    s, t = magnitude_spectrum(y_hat), magnitude_spectrum(y)
    return float((s - t).norm() / t.norm())
