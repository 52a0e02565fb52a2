"""The outer loop: theta meta-trained by backprop through unrolled lifetimes (BPTT through the rule).

The genome starts at the Hebbian rule (genome.py), so meta-training starts at the baseline
and moves theta only where the meta-loss falls. The first `homeostasis_warmup` meta-steps (0
by default) run the cortex with unit-length rows whatever the config's homeostasis.

One meta-gradient step draws `tasks_per_step` tasks (K uniform in [k_min, k_max], from the
training seed stream, or from an inline bank of episodes), runs each lifetime (store every
pair once, recall every cue alone), and steps Adam on theta alone: the slow weights W0 are
not in the optimiser and carry no gradient, so meta-training changes them in no way (a test
compares them bit for bit).

Scheduled teacher forcing: a job of S stages runs stage k at alpha_k = 1 - k / (S - 1); in
its lifetimes (with plastic recall on; off, recall runs no rule and alpha has nothing to
reach) the recall phase's post activity is alpha_k * target + (1 - alpha_k) * own response,
and the rule's teacher gate is alpha_k, so early stages let the rule run at recall with a
teacher beside it and the last stage runs it as every validation and test does, with none
(alpha = 0). The answer to cue k
is read before the rule runs on cue k, so the teacher never scores itself; validation always
runs at alpha = 0 on fresh tasks from the validation seed stream.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import torch
import torch.nn.functional as F

from . import cortex
from .rules import bit_accuracy
from .tasks import TRAIN_SEED, VALIDATION_SEED, random_tasks

# The "scaled" meta-loss's sharpness: a right bit one RMS drive from 0 costs softplus(-4) = 0.018,
# a wrong one at least 0.69, so the loss is mostly the wrong bits'.
SCALED_SHARPNESS = 4.0

__all__ = ["alpha_at", "lr_at", "draw_tasks", "meta_step", "fit_stage", "validate", "meta_loss"]


def alpha_at(stage: int, stages: int, mode: str = "recall") -> float:
    """Teacher strength of stage `stage` of `stages`: 1 - k / (S - 1), 0 when forcing is off."""
    if mode == "off" or stages <= 1:
        return 0.0
    return max(0.0, 1.0 - stage / (stages - 1))


def lr_at(cfg: Any, stage: int, stages: int) -> float:
    """Adam's rate in stage `stage` of `stages`: lr, or half a cosine from lr to lr / 30."""
    if cfg.lr_decay == "none" or stages <= 1:
        return cfg.lr
    floor = cfg.lr / 30
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * stage / (stages - 1)))


def draw_tasks(cfg: Any, step: int, bank: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """The tasks of meta-step `step`: numpy (B, K, D), the same for the same step on any run."""
    import numpy as np

    rng = np.random.default_rng((TRAIN_SEED, cfg.seed, step))
    if bank is not None:
        idx = rng.integers(0, len(bank[0]), size=cfg.tasks_per_step)
        return bank[0][idx], bank[1][idx]
    k = int(rng.integers(cfg.k_min, cfg.k_max + 1))
    return random_tasks(cfg.tasks_per_step, k, cfg.dim, int(rng.integers(1 << 62)))


def meta_loss(responses: torch.Tensor, drives: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """The seed's squared recall error, or the logistic loss on the drive (default: a wrong,
    saturated bit still gets a gradient, where tanh's flat end gives MSE almost none)."""
    if kind == "mse":
        return ((responses - targets) ** 2).mean()
    if kind == "scaled":  # margins relative to each task's drive size: growing W buys nothing
        rms = drives.pow(2).mean(dim=(1, 2), keepdim=True).add(1e-8).sqrt()
        return F.softplus(-SCALED_SHARPNESS * targets * drives / rms).mean()
    return F.softplus(-targets * drives).mean()


def meta_step(model: Any, cues: Any, targets: Any, alpha: float) -> float:
    """One Adam step on theta from lifetimes on cues, targets (B, K, D) -> the meta-loss."""
    cfg = model.cfg
    if model.meta_steps < cfg.homeostasis_warmup and cfg.homeostasis != "unit":
        cfg = msgspec.structs.replace(cfg, homeostasis="unit")  # the warm-up (config.homeostasis_warmup)
    c, t = model.tensor(cues), model.tensor(targets)
    h, u = cortex.lifetime(model.genome, model.W0, c, t, cfg, alpha=alpha, drive=True)
    loss = meta_loss(h, u, t, cfg.meta_loss)
    model.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.genome.parameters(), cfg.grad_clip)
    model.opt.step()
    model.meta_steps += 1
    model.losses.append(float(loss.detach()))
    return model.losses[-1]


@torch.no_grad()
def validate(model: Any, k: int, n: int, seed: int = VALIDATION_SEED) -> float:
    """Bit accuracy of fresh lifetimes on `n` validation tasks of `k` pairs: recall from the cue
    alone, no teacher at any point after storing."""
    cues, targets = random_tasks(n, k, model.cfg.dim, seed + k)
    h, _ = model.lifetimes(cues, targets)
    return bit_accuracy(torch.from_numpy(h), torch.from_numpy(targets))


def fit_stage(model: Any, stage: int, stages: int, bank: tuple[Any, Any] | None = None) -> dict[str, float]:
    """One stage of the schedule: `steps_per_stage` meta-steps at alpha_stage, then validation."""
    cfg = model.cfg
    alpha = alpha_at(stage, stages, cfg.teacher_forcing)
    for group in model.opt.param_groups:
        group["lr"] = lr_at(cfg, stage, stages)
    losses = [meta_step(model, *draw_tasks(cfg, model.meta_steps, bank), alpha) for _ in range(cfg.steps_per_stage)]
    k_mid = (cfg.k_min + cfg.k_max) // 2
    return {"meta_loss": sum(losses) / len(losses), "alpha": alpha, "steps": float(len(losses)),
            f"val_bit_accuracy_k{k_mid}": validate(model, k_mid, cfg.validation_tasks),
            f"val_bit_accuracy_k{cfg.k_max}": validate(model, cfg.k_max, cfg.validation_tasks),
            "eta": float(model.genome.eta.detach())}
