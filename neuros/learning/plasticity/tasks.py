"""The bank of associative tasks: K random +-1 cue -> target pairs of width D, from seeds.

A task is one lifetime's data: cues (K, D) and targets (K, D), every entry +-1. A batch of
tasks is (B, K, D). Each stream of tasks comes from its own seed range, so the tasks a rule is
tested on were never seen in meta-training: meta-training draws from `TRAIN_SEED + step`,
validation from `VALIDATION_SEED`, the benchmark's test tasks from `TEST_SEED` (a test checks
the streams differ). numpy only, so the neuro can describe a bank without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TRAIN_SEED", "VALIDATION_SEED", "TEST_SEED", "random_tasks", "episodes_of"]

# Seed bases, far apart: a meta-training run of a million steps never reaches validation's.
TRAIN_SEED = 0
VALIDATION_SEED = 1 << 40
TEST_SEED = 2 << 40


def random_tasks(n: int, k: int, dim: int, seed: int) -> tuple[Any, Any]:
    """`n` tasks of `k` pairs each: (cues, targets), float32 numpy (n, k, dim) of +-1."""
    import numpy as np

    if n < 1 or k < 1 or dim < 1:
        raise ValueError(f"a task bank needs n, k and dim >= 1, got n={n}, k={k}, dim={dim}")
    rng = np.random.default_rng(seed)
    cues = rng.integers(0, 2, size=(n, k, dim)).astype(np.float32) * 2 - 1
    targets = rng.integers(0, 2, size=(n, k, dim)).astype(np.float32) * 2 - 1
    return cues, targets


def episodes_of(x: Any, y: Any, what: str) -> tuple[Any, Any]:
    """Inline data as episodes: (N, K, D) cues and targets (one task a row), or one task
    (K, D) as a batch of one. Values must be +-1 patterns (any sign works: the sign is taken)."""
    import numpy as np

    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    if x.ndim == 2:
        x, y = x[None], y[None] if y.ndim == 2 else y
    if x.ndim != 3 or y.shape != x.shape:
        raise ValueError(f"{what} takes episodes: x (cues) and y (targets) of one shape (N, K, D), or (K, D) for "
                         f"one episode; got x {tuple(x.shape)} and y {tuple(y.shape)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"{what}.x and .y must be finite +-1 patterns")
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32), np.where(y >= 0, 1.0, -1.0).astype(np.float32)
