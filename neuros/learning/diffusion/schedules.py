"""Noise schedules of the forward process (seed 3.7 and 5.12). numpy.

    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps,   eps ~ N(0, I)

so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with abar_t = prod_{s<=t} (1 - beta_s).
"linear": beta from 1e-4 to 0.02 scaled to T steps (Ho et al. 2020: beta_T = 0.02 at T=1000,
here scaled by 1000/T so the total noise is the same); "cosine": abar_t = cos^2(pi/2 (t/T + s)/(1 + s))
with s = 0.008 (Nichol & Dhariwal 2021), betas clipped at 0.999.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["betas", "alpha_bars", "SCHEDULES"]

SCHEDULES = ("linear", "cosine")


def betas(schedule: str, steps: int) -> Any:
    """beta_1..beta_T (T = steps), float64."""
    import numpy as np

    if steps < 1:
        raise ValueError(f"diffusion steps must be >= 1, got {steps}")
    if schedule == "linear":
        scale = 1000.0 / steps
        return np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps)
    if schedule == "cosine":
        s = 0.008
        t = np.arange(steps + 1) / steps
        f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
    raise ValueError(f"unknown schedule {schedule!r}; the schedules are {', '.join(SCHEDULES)}")


def alpha_bars(beta: Any) -> Any:
    """abar_t = prod_{s<=t} (1 - beta_s)."""
    import numpy as np

    return np.cumprod(1.0 - np.asarray(beta))
