"""The difficulty schedule (seed 5.5): a sequence of sampling distributions D_0, D_1, ... over the
training examples, from the easiest to uniform, with KL(D_{t+1} || D_t) < epsilon at every step.

Stage distributions are a family: D_lambda(i) proportional to exp(-lambda * r_i), where r_i in
[0, 1) is example i's difficulty rank (0 = easiest). lambda starts at `sharpness` and falls to 0
(uniform, the full task); each next lambda is the smallest one whose KL from the current stage
stays under epsilon, found by bisection, so the schedule takes the biggest steps the bound
allows. numpy only."""

from __future__ import annotations

from typing import Any

__all__ = ["kl", "stage_distribution", "stages", "difficulty_ranks"]


def kl(p: Any, q: Any) -> float:
    """KL(p || q) in nats, for distributions with full support."""
    import numpy as np

    return float(np.sum(p * np.log(p / q)))


def stage_distribution(ranks: Any, sharpness: float) -> Any:
    import numpy as np

    w = np.exp(-sharpness * (ranks - ranks.min()))
    return w / w.sum()


def stages(ranks: Any, epsilon: float, sharpness: float = 4.0, max_stages: int = 1000) -> list[Any]:
    """The schedule's distributions, easiest first, the last uniform; consecutive KL < epsilon."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0 (the KL bound between stages), got {epsilon!r}")
    out, lam = [stage_distribution(ranks, sharpness)], sharpness
    while lam > 0 and len(out) < max_stages:
        if kl(stage_distribution(ranks, 0.0), out[-1]) < epsilon:
            lam = 0.0
        else:
            lo, hi = 0.0, lam  # kl(D_hi || D_lam) = 0 < epsilon <= kl(D_lo || D_lam)
            for _ in range(50):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if kl(stage_distribution(ranks, mid), out[-1]) < epsilon else (mid, hi)
            lam = hi
        out.append(stage_distribution(ranks, lam))
    return out


def difficulty_ranks(x: Any, y: Any, seed: int = 0) -> Any:
    """Each example's difficulty rank in [0, 1): 1 - a teacher's cross-validated probability of
    its own label (logistic regression, 2 folds, so no example scores itself), ranked."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    proba = cross_val_predict(LogisticRegression(max_iter=1000, random_state=seed), x, y, cv=2,
                              method="predict_proba")
    classes = np.unique(y)
    confidence = proba[np.arange(len(y)), np.searchsorted(classes, y)]
    return (-confidence).argsort().argsort() / len(y)
