"""The inner loop: one lifetime of the cortex, storing pairs and recalling them, in torch.

A lifetime starts its fast weights W at the slow weights W0 (fixed, never trained), then
    storing pair k:   W <- Norm(W + genome(W, c_k, post=t_k, drive=W c_k, gate=1))
    recalling cue k:  h_k = settle(W, c_k)   (the answer; the target is not an input)
                      with plastic recall, the rule runs on: post = alpha t_k + (1 - alpha) h_k,
                      gate = alpha; alpha > 0 only in meta-training's teacher-forcing stages,
                      0 everywhere else
settle is the seed's recurrence h_s = tanh(x W + h_{s-1}) from h_0 = 0; Norm is row-wise L2
(homeostasis, config.homeostasis). Recall of cue k is read before the rule runs on it, so a
teacher mixed in at recall k can only reach cues after k, and never in validation or test
(alpha = 0 there). `cfg.distractors` random cues between storing and recalling make a delay.
W is (B, Do, Di): row i holds post neuron i's incoming weights.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["settle", "normalise", "lifetime", "store", "recall"]


def settle(W: torch.Tensor, x: torch.Tensor, steps: int, drive: bool = False) -> Any:
    """The response to cue x (B, Di): `steps` of h = tanh(W x + h) from 0 -> (B, Do); with
    `drive`, also the last step's input to tanh (what a logistic meta-loss reads)."""
    z = torch.einsum("boi,bi->bo", W, x)  # (B, Do)
    h, u = torch.zeros_like(z), z
    for _ in range(steps):
        u = z + h
        h = torch.tanh(u)
    return (h, u) if drive else h


def normalise(W: torch.Tensor, mode: str = "unit") -> torch.Tensor:
    """Homeostasis: each row (a post neuron's incoming weights) scaled to unit L2 length
    ("unit"), or scaled back to it only where longer ("cap"); "off" leaves W as it is."""
    if mode == "off":
        return W
    norm = W.norm(dim=-1, keepdim=True)
    return W / (norm + 1e-8) if mode == "unit" else W / torch.clamp(norm, min=1.0)


def _update(genome: Any, W: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, gate: float,
            homeostasis: str) -> torch.Tensor:
    drive = torch.einsum("boi,bi->bo", W, pre)  # the neuron's prediction, before the update
    return normalise(W + genome(W, pre, post, drive, gate), homeostasis)


def store(genome: Any, W: torch.Tensor, cues: torch.Tensor, targets: torch.Tensor, cfg: Any) -> torch.Tensor:
    """W after storing every pair of cues, targets (B, K, D) once, in order, teacher present."""
    for k in range(cues.shape[1]):
        W = _update(genome, W, cues[:, k], targets[:, k], 1.0, cfg.homeostasis)
    return W


def recall(genome: Any, W: torch.Tensor, cues: torch.Tensor, cfg: Any, teacher: torch.Tensor | None = None,
           alpha: float = 0.0, plastic: bool | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(responses (B, K, D), their drives (B, K, D), W after) for cues (B, K, D) shown one by
    one. With plastic recall the rule runs after each answer on post = alpha * teacher +
    (1 - alpha) * answer; `teacher` is read only when alpha > 0 (meta-training's forcing stages).
    `plastic` overrides cfg.plastic_recall (the distractors' delay always runs the rule)."""
    if alpha > 0 and teacher is None:
        raise ValueError("teacher forcing (alpha > 0) needs the teacher's targets")
    out, drives = [], []
    for k in range(cues.shape[1]):
        h, u = settle(W, cues[:, k], cfg.settle_steps, drive=True)  # (B, Do): read before any update on this cue
        out.append(h)
        drives.append(u)
        if cfg.plastic_recall if plastic is None else plastic:
            post = h if alpha <= 0 else alpha * teacher[:, k] + (1 - alpha) * h
            W = _update(genome, W, cues[:, k], post, max(alpha, 0.0), cfg.homeostasis)
    return torch.stack(out, 1), torch.stack(drives, 1), W


def lifetime(genome: Any, W0: torch.Tensor, cues: torch.Tensor, targets: torch.Tensor, cfg: Any,
             alpha: float = 0.0, drive: bool = False) -> Any:
    """One lifetime per task: store every pair, then recall every cue -> responses (B, K, D)
    (with `drive`: responses and drives). W0 (Do, Di) is copied, never changed."""
    W = W0.expand(cues.shape[0], *W0.shape).clone()  # (B, Do, Di)
    W = store(genome, W, cues, targets, cfg)
    if cfg.distractors:  # a delay of random cues, the rule running on its own responses
        noise = torch.randint(0, 2, (cues.shape[0], cfg.distractors, cues.shape[2]), device=cues.device)
        _, _, W = recall(genome, W, noise.to(cues.dtype) * 2 - 1, cfg, plastic=True)
    responses, drives, _ = recall(genome, W, cues, cfg, teacher=targets if alpha > 0 else None, alpha=alpha)
    return (responses, drives) if drive else responses
