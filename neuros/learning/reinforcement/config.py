"""The reinforcement learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["ReinforcementConfig", "RANGES"]


class ReinforcementConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # qlearning and policy_gradient learn the grid world; sac the point mass.
    algorithm: Literal["qlearning", "policy_gradient", "sac"] = "qlearning"
    # The generated grid world: side, share of walls, the seed that draws them, steps per episode.
    grid_size: int = 8
    walls: float = 0.2
    world_seed: int = 0
    horizon: int = 50
    # Discount for every algorithm; Q-learning's rate and epsilon schedule (seed 4.13:
    # eps <- max(min_epsilon, eps * epsilon_decay) after each episode).
    gamma: float = 0.95
    alpha: float = 0.5
    epsilon: float = 1.0
    epsilon_decay: float = 0.97
    min_epsilon: float = 0.05
    # Adam's rate for policy gradient (logits table and baseline) and for SAC's nets.
    lr: float = 0.1
    sac_lr: float = 3e-3
    # SAC's entropy weight, and environment steps per episode block of a job.
    sac_alpha: float = 0.05
    sac_steps_per_unit: int = 200
    # Episodes per unit of a job (qlearning, policy_gradient).
    episodes_per_unit: int = 50
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("grid_size", "horizon", "sac_steps_per_unit", "episodes_per_unit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"option {name} must be a whole number >= 1, got {value!r}")
        if self.grid_size < 2 or not 0 <= self.walls < 0.7:
            raise ValueError("options need grid_size >= 2 and walls in [0, 0.7)")
        if not (0 <= self.gamma <= 1 and 0 < self.alpha <= 1 and 0 <= self.min_epsilon <= self.epsilon <= 1):
            raise ValueError("options need gamma in [0, 1], alpha in (0, 1] and 0 <= min_epsilon <= epsilon <= 1")
        if not (self.lr > 0 and self.sac_lr > 0 and self.sac_alpha >= 0 and 0 < self.epsilon_decay <= 1):
            raise ValueError("options need lr > 0, sac_lr > 0, sac_alpha >= 0 and epsilon_decay in (0, 1]")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "grid_size": (2, None), "walls": (0.0, 0.7), "horizon": (1, None), "gamma": (0.0, 1.0), "alpha": (0.0, 1.0),
    "epsilon": (0.0, 1.0), "epsilon_decay": (0.0, 1.0), "min_epsilon": (0.0, 1.0), "lr": (0.0, None),
    "sac_lr": (0.0, None), "sac_alpha": (0.0, None), "sac_steps_per_unit": (1, None), "episodes_per_unit": (1, None),
}
