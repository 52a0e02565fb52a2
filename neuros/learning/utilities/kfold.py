"""k-fold cross-validation with deterministic splits (seed section 9.5). numpy inside."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["kfold_indices", "cross_validate"]


def kfold_indices(n: int, k: int = 5, *, shuffle: bool = True, seed: int = 0) -> list[tuple[Any, Any]]:
    """`k` (train, test) index pairs over `n` examples: the test folds partition range(n), their
    sizes differ by at most one, and the same `seed` gives the same folds."""
    import numpy as np

    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k-fold needs k >= 2 folds, got {k!r}")
    if n < k:
        raise ValueError(f"k-fold with k={k} needs at least {k} examples, got {n}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    folds = np.array_split(order, k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(test)) for i, test in enumerate(folds)]


def cross_validate(fit_score: Callable[[Any, Any, Any, Any], float], x: Any, y: Any, k: int = 5, *,
                   seed: int = 0, device: Any = None) -> list[float]:
    """`fit_score(x_train, y_train, x_test, y_test) -> score` on each of `k` folds, in fold order.
    `x` and `y` are numpy arrays or torch tensors (indexed the same way); with `device`, each
    fold's tensors are moved there first."""
    import numpy as np

    if len(x) != len(y):
        raise ValueError(f"cross_validate needs one target per example, got {len(x)} inputs and {len(y)} targets")
    scores = []
    for train, test in kfold_indices(len(x), k, seed=seed):
        parts = [_take(a, idx, device) for a in (x, y) for idx in (train, test)]
        xtr, xte, ytr, yte = parts
        scores.append(float(fit_score(xtr, ytr, xte, yte)))
    return [float(s) for s in np.asarray(scores)]


def _take(a: Any, idx: Any, device: Any) -> Any:
    if hasattr(a, "to") and hasattr(a, "device"):  # a torch tensor
        import torch

        out = a[torch.as_tensor(idx, dtype=torch.long, device=a.device)]
        return out if device is None else out.to(device)
    return a[idx]
