"""The hand-written rules the genome is measured against, on the same tasks (torch, no grad).

Each stores K pairs once, in order, into W (B, D, D) starting from the slow weights W0 when
given (the bench gives the cortex's, so the genome and every rule break ties alike) and from
zero otherwise, and recalls sign(W c):
    none     W = W0: no plasticity (chance, about 0.5)
    hebbian  dW = eta * t c^T, one shot (eta does not change the recalled signs)
    oja      dW_ij = eta * t_i (c_j - t_i W_ij)  (Oja's rule with the post clamped to the target)
    delta    dW = eta * (t - W c) c^T           (the delta rule, LMS)
`tune` picks eta for oja and delta on meta-training tasks (never the test tasks), so each
baseline is measured at its best step size for the load.
"""

from __future__ import annotations

import torch

__all__ = ["RULES", "store_with", "bit_accuracy", "rule_accuracy", "tune", "ETA_GRID"]

RULES = ("none", "hebbian", "oja", "delta")
# Step sizes tried for oja and delta, times 1/D (1/D is the delta rule's one-shot optimum).
ETA_GRID = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def store_with(rule: str, cues: torch.Tensor, targets: torch.Tensor, eta: float = 1.0,
               W0: torch.Tensor | None = None) -> torch.Tensor:
    """W (B, D, D) after `rule` stored cues, targets (B, K, D); `eta` in units of 1/D."""
    B, K, D = cues.shape
    if rule == "none":
        if W0 is None:
            raise ValueError("rule 'none' recalls from the slow weights W0: pass W0")
        return W0.expand(B, *W0.shape).clone()
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    step = eta / D
    start = torch.zeros(B, D, D, dtype=cues.dtype, device=cues.device) if W0 is None else W0.expand(B, D, D)
    if rule == "hebbian":
        return start + torch.einsum("bko,bki->boi", targets, cues) * step
    W = start.clone()
    for k in range(K):
        c, t = cues[:, k], targets[:, k]  # (B, D)
        if rule == "oja":
            W = W + step * (t[:, :, None] * c[:, None, :] - (t * t)[:, :, None] * W)
        else:
            err = t - torch.einsum("boi,bi->bo", W, c)
            W = W + step * err[:, :, None] * c[:, None, :]
    return W


def bit_accuracy(responses: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of recalled bits whose sign is the target's (a 0 counts as wrong)."""
    return float((torch.sign(responses) == targets).float().mean())


def rule_accuracy(rule: str, cues: torch.Tensor, targets: torch.Tensor, eta: float = 1.0,
                  W0: torch.Tensor | None = None) -> float:
    """Bit accuracy of `rule` on the tasks: store, then recall sign(W c) from each cue alone."""
    with torch.no_grad():
        W = store_with(rule, cues, targets, eta, W0)
        return bit_accuracy(torch.einsum("boi,bki->bko", W, cues), targets)


def tune(rule: str, cues: torch.Tensor, targets: torch.Tensor) -> float:
    """The eta of ETA_GRID with the best bit accuracy on these (meta-training) tasks."""
    if rule in ("none", "hebbian"):
        return 1.0
    scores = {eta: rule_accuracy(rule, cues, targets, eta) for eta in ETA_GRID}
    return max(scores, key=lambda e: (scores[e], -abs(e - 1.0)))
