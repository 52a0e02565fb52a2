"""The unified experiment: a gated mixture of learners against the best single learner.

Task (data.py): y = 1.5 x + 1 left of 0, sin(10 x) right of it, noise 0.05. The mixture of a
line, a fast-sine bank and a small net is trained on the log mixture objective; each learner is
also trained alone on the MSE with the same optimiser and steps. Figure: the mixture's test
MSE; baseline: the best single learner's (lower is better). Extra: each learner's own MSE, the
mixture with a hard gate (each input to its argmax learner), and the share each learner gets.
"""

from __future__ import annotations

from ..paradigms import Outcome
from .config import UnifiedConfig
from .data import piecewise
from .model import Mixture
from .train import fit_mixture, fit_single, mse

__all__ = ["run"]


def run(quick: bool, seed: int) -> Outcome:
    import torch

    n, steps = (512, 600) if quick else (2048, 3000)
    cfg = UnifiedConfig(seed=seed)
    x, y = (torch.as_tensor(a) for a in piecewise(n, seed))
    xt, yt = (torch.as_tensor(a) for a in piecewise(2048, seed + 100))
    extra: dict[str, float] = {}
    for kind in cfg.learners:
        net = fit_single(kind, x, y, steps, cfg.lr, cfg.hidden, cfg.frequencies, seed)
        with torch.no_grad():
            extra[f"{kind}_mse"] = mse(net(xt), yt)
    model = Mixture(cfg.learners, 1, 1, cfg.hidden, cfg.frequencies, seed, torch.device("cpu"))
    fit_mixture(model, x, y, steps, cfg.lr, cfg.sigma)
    with torch.no_grad():
        y_hat, logits, preds = model.forward(xt)
        g = torch.softmax(logits, -1)
        hard = preds[torch.arange(len(xt)), g.argmax(1)]
    extra["hard_gate_mse"] = mse(hard, yt)
    for i, kind in enumerate(cfg.learners):
        extra[f"{kind}_share"] = float(g[:, i].mean())
    best = min(extra[f"{k}_mse"] for k in cfg.learners)
    extra["mixture_over_best"] = mse(y_hat, yt) / best
    return Outcome(figure=mse(y_hat, yt), baseline=best, unit="test MSE", higher_is_better=False, margin=0.01,
                   extra=extra, note=f"{n} training points, {steps} full-batch Adam steps each")
