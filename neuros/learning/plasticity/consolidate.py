"""Sleep-wake consolidation (the seed's stage 20), the neuro's `sleep` hook.

Deep sleep does two things to the served memory (the fast weights Steps stored into):
prune the weakest `prune_fraction` of the synapses (by |w|, to zero), then replay the
episodic buffer (the pairs stored since the last forget, newest `buffer_size` kept) through
the genome's rule once, teacher present, as when they were first stored. What it returns
says what each did to recall of the buffered pairs: bit accuracy before, after pruning and
after the replay (from the cue alone, read-only), so its effect is measured every time it runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sleep"]


def sleep(model: Any) -> dict[str, float]:
    """Prune, then replay; -> counts and recall of the buffer before and after each."""
    import numpy as np
    import torch

    from .cortex import normalise

    if not model.buffer:
        return {"buffered": 0.0, "pruned": 0.0}
    cues = np.stack([c for c, _ in model.buffer])  # (N, D)
    targets = np.stack([t for _, t in model.buffer])

    def accuracy() -> float:
        return float((np.sign(model.recall(cues)) == targets).mean())

    before = accuracy()
    with torch.no_grad():
        W = model.memory
        n = W.numel()
        cut = int(model.cfg.prune_fraction * n)
        pruned = 0
        if cut:
            threshold = W.abs().reshape(-1).kthvalue(cut).values
            keep = W.abs() > threshold
            pruned = int(n - keep.sum())
            W = W * keep
            W = normalise(W, model.cfg.homeostasis)
        model.memory = W
    after_prune = accuracy()
    buffered = list(model.buffer)
    model.store(cues, targets)  # the replay: each buffered pair through the rule once more
    model.buffer.clear()
    model.buffer.extend(buffered)  # replayed pairs are not new experience: the buffer stays as it was
    return {"buffered": float(len(cues)), "pruned": float(pruned), "recall_before": before,
            "recall_after_prune": after_prune, "recall_after_replay": accuracy()}
