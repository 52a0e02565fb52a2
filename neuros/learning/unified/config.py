"""The unified learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["UnifiedConfig", "RANGES"]


class UnifiedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The learners under the gate, each of a kind of model.py's KINDS.
    learners: tuple[str, ...] = ("linear", "fourier", "mlp")
    # Hidden units of the "mlp" learner: small, so no one learner fits every input.
    hidden: int = 8
    # The "fourier" learner's frequencies (radians per unit of input): fast periodic structure.
    frequencies: tuple[float, ...] = (8.0, 9.0, 10.0, 11.0, 12.0)
    # The noise scale in L_i = (y - f_i)^2 / (2 sigma^2): small sharpens the gate's choice.
    sigma: float = 0.3
    # Adam's rate; full-batch steps per epoch (one job unit).
    lr: float = 1e-2
    steps_per_epoch: int = 300
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        from .model import KINDS

        bad = [k for k in self.learners if k not in KINDS]
        if not self.learners or bad:
            raise ValueError(f"option learners lists kinds of {', '.join(KINDS)}; got {list(self.learners)}")
        if self.hidden < 1 or self.steps_per_epoch < 1 or not self.frequencies:
            raise ValueError("options need hidden >= 1, steps_per_epoch >= 1 and at least one frequency")
        if not self.sigma > 0 or not self.lr > 0:
            raise ValueError(f"options need sigma > 0 and lr > 0, got sigma={self.sigma!r}, lr={self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "hidden": (1, None), "sigma": (0.0, None), "lr": (0.0, None), "steps_per_epoch": (1, None),
}
