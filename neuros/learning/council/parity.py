"""Parity with an extrapolation split, for the GPU run of issue 26: the council's pondering on
a task where depth, not information, is what System 1 lacks. torch and numpy.

An example is a string of L random bits, L from `train_lengths` (1..n) to learn on and from
n+1..`max_len` to test on, right-padded with the symbol 2 to `max_len`; its target is the
parity of its bits (0 or 1). It is fed as System 1's window (`window` = max_len, vocab 3); the
council ponders over System 1's token states (the executive memory holds earlier examples'
thoughts, of no use here). Training is online, one fresh batch a step; the test splits are
answered without learning. Positions past n are never seen in training, so the test on them
measures extrapolation in length, which PonderNet reported for its own model and which a
fixed-depth one-pass transformer is not expected to manage.
"""

from __future__ import annotations

from typing import Any

__all__ = ["parity_batch", "run_parity"]

PAD = 2


def parity_batch(rng: Any, batch: int, lo: int, hi: int, max_len: int) -> tuple[Any, Any]:
    """(strings (batch, max_len) int64 padded with PAD, parities (batch,)) of lengths lo..hi."""
    import numpy as np

    lengths = rng.integers(lo, hi + 1, size=batch)
    bits = rng.integers(0, 2, size=(batch, max_len))
    mask = np.arange(max_len)[None] < lengths[:, None]
    x = np.where(mask, bits, PAD)
    return x.astype(np.int64), ((bits * mask).sum(1) % 2).astype(np.int64)


def run_parity(condition: str, *, seed: int, steps: int, n: int = 8, max_len: int = 16, batch: int = 64,
               test_batches: int = 8, device: str = "cpu", **options: Any) -> dict[str, Any]:
    """Online training on lengths 1..n, then accuracy on 1..n and on n+1..max_len (no learning)."""
    import numpy as np
    import torch

    from .config import CouncilConfig
    from .experiments import CONDITIONS
    from .online import OnlineCouncil

    cfg = CouncilConfig(gate=CONDITIONS[condition], seed=seed, vocab=3, window=max_len, batch_size=batch,
                        device=device, **options)
    online = OnlineCouncil(cfg, torch.device(device))
    rng = np.random.default_rng(seed)
    train_right = []
    for _ in range(steps):
        x, y = parity_batch(rng, batch, 1, n, max_len)
        out = online.step(x, y)
        train_right.append(float((out.pred == y).mean()))
    result = {"condition": condition, "seed": seed, "steps": steps, "n": n, "max_len": max_len,
              "train_accuracy_last_tenth": float(np.mean(train_right[-max(1, steps // 10):]))}
    for name, (lo, hi) in (("in", (1, n)), ("out", (n + 1, max_len))):
        right, ran = [], []
        for _ in range(test_batches):
            x, y = parity_batch(rng, batch, lo, hi, max_len)
            out = online.observe(x)
            right.append(float((out.pred == y).mean()))
            ran.append(float(out.ran.mean()))
        result[f"accuracy_{name}"] = float(np.mean(right))
        result[f"s2_rate_{name}"] = float(np.mean(ran))
    return result
