"""The weight field learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["WeightFieldConfig", "RANGES"]


class WeightFieldConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # RBF centres c_j: evenly spaced over the training inputs' range (1-D), else training inputs.
    centres: int = 24
    # The RBF width, as a multiple of the centres' spacing: 1.0 overlaps neighbours smoothly.
    width: float = 1.0
    # The rule's rate eta and weight decay lambda (a small pull towards 0 keeps far-off weights tame).
    lr: float = 0.5
    decay: float = 1e-4
    batch_size: int = 16
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("centres", "batch_size"))
        if not (self.width > 0 and self.lr > 0 and self.decay >= 0):
            raise ValueError(f"options need width > 0, lr > 0 and decay >= 0, got {self.width!r}, {self.lr!r}, "
                             f"{self.decay!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "centres": (1, None), "width": (0.0, None), "lr": (0.0, None), "decay": (0.0, None), "batch_size": (1, None),
}
