"""The imitation learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["ImitationConfig", "RANGES"]


class ImitationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Hidden units of the policy MLP observation -> hidden -> hidden -> actions.
    hidden: int = 128
    # Adam's rate and the mini-batch of (observation, expert action) pairs.
    lr: float = 1e-3
    batch_size: int = 64
    # The generated demonstrations (dataset "grid-demos"): maps to learn from (the test split is
    # 100 other maps).
    maps: int = 150
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "maps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"option {name} must be a whole number >= 1, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"option lr must be > 0, got {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "hidden": (1, None), "lr": (0.0, None), "batch_size": (1, None), "maps": (1, None),
}
