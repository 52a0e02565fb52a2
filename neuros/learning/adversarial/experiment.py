"""The adversarial experiment, two tasks in one Outcome.

The figure is FGSM's: robust accuracy on the digits test set at eps (every test image pushed
by x + eps sign(grad_x L), clipped to [0, 1]) of an MLP trained adversarially, against the
same MLP trained on clean images only (the issue's "standard training"), same steps and
seeds. The GAN's task rides in `extra`: modes of the 8-Gaussian ring it covers out of 8 and
its share of good samples, beside a Gaussian fitted to the same data (the baseline a
generator must beat: it puts mass everywhere between the modes) and clean accuracies.
"""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "EPS"]

#: The perturbation budget on pixels in [0, 1]: a tenth of the range on every pixel at once.
EPS = 0.1


def run(quick: bool = True, seed: int = 0, device: str = "cpu") -> Outcome:
    """The Outcome; `device` places the GAN (the classifiers are small enough for the CPU)."""
    import torch

    from ..paradigmkit.torchstate import digits_flat
    from .fgsm import accuracy, classifier, train_classifier

    torch.set_num_threads(1)
    xtr, ytr, xte, yte = (torch.as_tensor(a) for a in digits_flat())
    epochs = 8 if quick else 30
    figures: dict[str, float] = {}
    for name, adv_weight in (("adversarial", 0.5), ("standard", 0.0)):
        net = classifier(xtr.shape[1], 128, 10, seed)
        train_classifier(net, xtr, ytr, epochs=epochs, lr=1e-3, batch_size=32, eps=EPS, adv_weight=adv_weight,
                         seed=seed)
        figures[f"{name}_robust_accuracy"] = accuracy(net, xte, yte, EPS)
        figures[f"{name}_clean_accuracy"] = accuracy(net, xte, yte)
    extra = {k: v for k, v in figures.items() if "clean" in k}
    extra.update(gan_figures(steps=800 if quick else 3000, seed=seed, device=device))
    return Outcome(figure=figures["adversarial_robust_accuracy"], baseline=figures["standard_robust_accuracy"],
                   unit="accuracy", margin=0.2, extra=extra,
                   note=f"FGSM robust accuracy at eps={EPS} on digits, {epochs} epochs; GAN modes in extra")


def gan_figures(steps: int, seed: int, batch: int = 256, n: int = 2000, device: str = "cpu") -> dict[str, float]:
    """Train the GAN on the ring; its coverage and quality beside a Gaussian fit's."""
    import numpy as np
    import torch

    from .gan import GAN, mode_coverage, ring_samples

    data = torch.as_tensor(ring_samples(20000, seed), device=device)
    gan = GAN(seed=seed, device=device)
    picks = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        gan.step(data[torch.randint(len(data), (batch,), generator=picks)])
    modes, good = mode_coverage(gan.sample(n))
    x = data.cpu().numpy()
    fit = np.random.default_rng(seed).multivariate_normal(x.mean(0), np.cov(x.T), n)
    fit_modes, fit_good = mode_coverage(fit)
    return {"gan_modes_covered": float(modes), "gan_good_share": good,
            "gaussian_fit_modes_covered": float(fit_modes), "gaussian_fit_good_share": fit_good}
