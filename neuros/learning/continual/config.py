"""The continual learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["ContinualConfig", "RANGES"]


class ContinualConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- the task sequence
    # Classes in each task of the split (digits 0-1, 2-3, ...): the 5 tasks of 2 classes.
    classes_per_task: int = 2

    # -- the net (one shared 10-way head: class-incremental, the hard setting)
    # Hidden units of the MLP 64 -> hidden -> hidden -> classes.
    hidden: int = 128
    # SGD's starting rate (the meta-parameter controller moves it within [lr_min, lr_max]).
    lr: float = 0.1
    lr_min: float = 0.005
    lr_max: float = 0.2
    # Mini-batch of the current task's examples per step.
    batch_size: int = 32

    # -- what protects old tasks
    # "ewc+replay": both (the learner's default); "ewc", "replay" alone; "naive": plain
    # fine-tuning, the baseline.
    strategy: Literal["ewc+replay", "ewc", "replay", "naive"] = "ewc+replay"
    # lambda of EWC's penalty sum_i lambda/2 F_i (theta_i - theta*_i)^2 (the controller moves it,
    # and it is capped where an SGD step on the penalty stays stable, model.stable_lambda):
    # the digits' Fisher values are small (1e-4 .. 1e-1), so lambda is large.
    ewc_lambda: float = 100.0
    # Examples the Fisher diagonal is estimated on at the end of each task.
    fisher_samples: int = 200
    # Replay memory: at most memory_size examples of past tasks (reservoir sampling, so every
    # example seen has the same chance to be kept), the seed's `memory_size`.
    memory_size: int = 200
    # Remembered examples rehearsed with each step: the seed rehearses one; 16 keeps a step's
    # replay gradient from being one example's noise.
    replay_per_step: int = 16

    # -- the meta-parameter controller (the seed's 5.6): lr and lambda from validation losses
    # "on": after every epoch the controller halves lr when the current task's validation loss
    # rose and grows it 10% when it fell, and doubles lambda when old tasks' validation loss
    # rose (forgetting) and relaxes it 10% when it fell; "off": both stay as set.
    controller: Literal["on", "off"] = "on"

    # -- where and how
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("classes_per_task", "hidden", "batch_size", "fisher_samples"))
        for name in ("memory_size", "replay_per_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"option {name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.lr_min <= self.lr <= self.lr_max:
            raise ValueError(f"options need 0 < lr_min <= lr <= lr_max, got {self.lr_min}, {self.lr}, {self.lr_max}")
        if self.ewc_lambda < 0:
            raise ValueError(f"option ewc_lambda must be >= 0, got {self.ewc_lambda!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "classes_per_task": (1, None), "hidden": (1, None), "lr": (0.0, None), "lr_min": (0.0, None),
    "lr_max": (0.0, None), "batch_size": (1, None), "ewc_lambda": (0.0, None), "fisher_samples": (1, None),
    "memory_size": (0, None), "replay_per_step": (0, None),
}
