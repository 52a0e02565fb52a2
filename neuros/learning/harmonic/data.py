"""The harmonic experiment's signal, generated: a sum of tones on a uniform grid over [0, 1).

    y(t) = sum_k a_k sin(2 pi f_k t + p_k)     f = (3, 11, 29), a = (1.0, 0.6, 0.4), random phases

numpy only."""

from __future__ import annotations

from typing import Any

__all__ = ["multitone", "recordings", "TONES"]

TONES: tuple[tuple[float, float], ...] = ((3.0, 1.0), (11.0, 0.6), (29.0, 0.4))  # (frequency, amplitude)


def multitone(samples: int, seed: int, noise: float = 0.0, tones: tuple = TONES) -> tuple[Any, Any]:
    """(t (samples, 1), y (samples,)) float32; phases from `seed`, noise added when > 0."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(samples, dtype=np.float64) / samples
    phases = rng.uniform(0, 2 * np.pi, len(tones))
    y = sum(a * np.sin(2 * np.pi * f * t + p) for (f, a), p in zip(tones, phases))
    y = y + noise * rng.standard_normal(samples)
    return t[:, None].astype(np.float32), y.astype(np.float32)


def recordings(count: int, samples: int, seed: int, noise: float = 0.1, shifted: bool = True) -> tuple[Any, Any]:
    """(clean (samples,), recordings (count, samples)): the signal of `multitone(samples, seed)`,
    each recording circularly shifted by a random start (when `shifted`) and noised."""
    import numpy as np

    _, clean = multitone(samples, seed)
    rng = np.random.default_rng(seed + 1)
    starts = rng.integers(samples, size=count) if shifted else np.zeros(count, int)
    recs = np.stack([np.roll(clean, s) for s in starts]) + noise * rng.standard_normal((count, samples))
    return clean, recs.astype(np.float32)
