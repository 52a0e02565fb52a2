"""The quantum flux learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["QuantumFluxConfig", "RANGES"]


class QuantumFluxConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # U = exp(A - A^H), exactly unitary; False: a free complex matrix (the experiment's baseline).
    unitary: bool = True
    # Adam's rate; full-batch steps per epoch (one job unit).
    lr: float = 0.01
    steps_per_epoch: int = 100
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("steps_per_epoch",))
        if not self.lr > 0:
            raise ValueError(f"option lr must be > 0, got {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {"lr": (0.0, None), "steps_per_epoch": (1, None)}
