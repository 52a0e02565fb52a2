"""The diffusion experiment: a noise model learnt on two moons (generated, standardised), sampled
by the reverse process with each schedule. Figure: MMD^2 between its samples and fresh moons
(lower is better), the worse of the linear and cosine schedules (both are reported in extra);
baseline: samples of a Gaussian fitted to the same training points, the same n."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "measure"]


def measure(*, train_steps: int, n: int, seed: int, diffusion_steps: int = 100, device: str = "cpu",
            schedules: tuple[str, ...] = ("linear", "cosine")) -> dict[str, float]:
    """MMD^2 of each schedule's samples and of the Gaussian fit's against held-out moons."""
    import numpy as np
    import torch

    from .data import two_moons
    from .mmd import mmd2
    from .model import Diffusion

    train = torch.as_tensor(two_moons(4000, seed), device=device)
    test = two_moons(n, seed + 1000)
    x = train.cpu().numpy()
    fit = np.random.default_rng(seed).multivariate_normal(x.mean(0), np.cov(x.T), n)
    out = {"gaussian_fit_mmd2": mmd2(fit, test)}
    for schedule in schedules:
        model = Diffusion(schedule=schedule, steps=diffusion_steps, seed=seed, device=device)
        picks = torch.Generator().manual_seed(seed)
        for _ in range(train_steps):
            model.train_step(train[torch.randint(len(train), (256,), generator=picks)])
        out[f"{schedule}_mmd2"] = mmd2(model.sample(n, seed), test)
    return out


def run(quick: bool = True, seed: int = 0, device: str = "cpu") -> Outcome:
    import torch

    torch.set_num_threads(1)
    steps, n = (800, 800) if quick else (6000, 2000)
    figures = measure(train_steps=steps, n=n, seed=seed, device=device)
    worst = max(figures["linear_mmd2"], figures["cosine_mmd2"])
    return Outcome(figure=worst, baseline=figures["gaussian_fit_mmd2"], unit="MMD^2", higher_is_better=False,
                   margin=0.005, extra={k: v for k, v in figures.items() if k != "gaussian_fit_mmd2"},
                   note=f"two moons, {steps} training steps, T=100, {n} samples; figure: the worse schedule")
