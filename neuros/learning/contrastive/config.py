"""The contrastive learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device

__all__ = ["ContrastiveConfig", "RANGES"]


class ContrastiveConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Encoder n_in -> hidden -> features; the probe reads the features, InfoNCE a projection of them.
    hidden: int = 256
    features: int = 64
    # InfoNCE's temperature: 0.2 sharpens the softmax over the 2N-1 candidates without saturating it.
    tau: float = 0.2
    # Augmentations of each view: Gaussian pixel noise, a random shift of up to `shift` pixels
    # (images only), and the share of pixels masked to 0.
    noise: float = 0.1
    shift: int = 1
    mask: float = 0.15
    # Adam's rate; a big batch gives InfoNCE many negatives (2N - 2 per anchor).
    lr: float = 1e-3
    batch_size: int = 256
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "features", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"option {name} must be a whole number >= 1, got {value!r}")
        if not (self.tau > 0 and self.lr > 0 and self.noise >= 0 and self.shift >= 0 and 0 <= self.mask < 1):
            raise ValueError("options need tau > 0, lr > 0, noise >= 0, shift >= 0 and mask in [0, 1)")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "hidden": (1, None), "features": (1, None), "tau": (0.0, None), "noise": (0.0, None), "shift": (0, None),
    "mask": (0.0, 1.0), "lr": (0.0, None), "batch_size": (1, None),
}
