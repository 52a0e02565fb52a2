"""The curriculum learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["CurriculumConfig", "RANGES"]


class CurriculumConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The KL bound between consecutive stages (seed: KL(D_{t+1} || D_t) < epsilon): smaller is
    # a gentler schedule with more stages.
    epsilon: float = 0.1
    # The first stage's D(i) ~ exp(-sharpness * rank_i): 4 puts ~e^4 more weight on the easiest
    # example than on the hardest, yet keeps every example in reach.
    sharpness: float = 4.0
    # SGD steps drawn from each stage before the next (a job's unit is one such block).
    per_stage: int = 20
    # Plain SGD's rate and batch: the schedule's effect is on which examples the steps see.
    lr: float = 0.05
    batch_size: int = 16
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("per_stage", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"option {name} must be a whole number >= 1, got {value!r}")
        if not (self.epsilon > 0 and self.sharpness >= 0 and self.lr > 0):
            raise ValueError("options need epsilon > 0, sharpness >= 0 and lr > 0")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "epsilon": (0.0, None), "sharpness": (0.0, None), "per_stage": (1, None), "lr": (0.0, None),
    "batch_size": (1, None),
}
