"""The curriculum experiment: SGD steps to a target test accuracy, with the difficulty schedule
against random order (uniform sampling), on the generated noisy-boundary task, same seeds.

Difficulty is a teacher's cross-validated confidence in each training label (so mislabelled and
boundary examples are hard); the schedule starts at D(i) ~ exp(-4 r_i) and reaches uniform in
steps of KL < 0.1, one stage per 20 SGD steps. Lower is better; the figure is the mean over
seeds (each seed its own init and batch draws), the per-seed counts' spread in `extra`."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "TARGET", "EPSILON"]

TARGET, EPSILON, PER_STAGE = 0.9, 0.1, 20


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import numpy as np
    import torch

    from .data import noisy_linear
    from .schedule import difficulty_ranks, kl, stages
    from .train import steps_to_target

    torch.set_num_threads(1)
    xtr, ytr, xte, yte = noisy_linear(seed=seed)
    schedule = stages(difficulty_ranks(xtr, ytr, seed), EPSILON, sharpness=4.0)
    tx, ty, tt, tty = (torch.as_tensor(a) for a in (xtr, ytr, xte, yte))
    seeds = range(seed, seed + (5 if quick else 20))
    counts = {}
    for name, sched in (("curriculum", schedule), ("random", None)):
        counts[name] = [steps_to_target(tx, ty, tt, tty, sched, per_stage=PER_STAGE, target=TARGET, lr=0.05,
                                        batch=16, seed=s, max_steps=2000) for s in seeds]
    worst_kl = max(kl(b, a) for a, b in zip(schedule, schedule[1:]))
    extra = {"stages": float(len(schedule)), "max_kl_between_stages": worst_kl,
             "curriculum_steps_max": float(max(counts["curriculum"])), "random_steps_min": float(min(counts["random"]))}
    return Outcome(figure=float(np.mean(counts["curriculum"])), baseline=float(np.mean(counts["random"])),
                   unit="steps", higher_is_better=False, margin=5.0, extra=extra,
                   note=f"steps to test accuracy {TARGET}, mean over {len(seeds)} seeds; KL bound {EPSILON}")
