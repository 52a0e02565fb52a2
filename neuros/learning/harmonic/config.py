"""The harmonic learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["HarmonicConfig", "RANGES"]


class HarmonicConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Samples per recording T: Train's y is cut into recordings of T samples on the grid j / T.
    samples: int = 256
    # Harmonics in the bank (up to T / 2 are distinguishable on the grid).
    harmonics: int = 64
    # L = mse_weight * MSE + spectral_weight * L_spectral. The MSE needs the recordings aligned (it
    # pulls towards their average, 0 for unknown start times); the spectrum does not: so by default
    # the spectrum alone. Raise mse_weight for aligned recordings, whose phase is then learnable.
    mse_weight: float = 0.0
    spectral_weight: float = 1.0
    # Adam's rate; full-batch steps per epoch (one job unit).
    lr: float = 0.01
    steps_per_epoch: int = 100
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("samples", "harmonics", "steps_per_epoch"))
        if not (self.mse_weight >= 0 and self.spectral_weight >= 0 and self.mse_weight + self.spectral_weight > 0):
            raise ValueError("options need mse_weight >= 0 and spectral_weight >= 0, not both 0, got "
                             f"{self.mse_weight!r}, {self.spectral_weight!r}")
        if not self.lr > 0:
            raise ValueError(f"option lr must be > 0, got {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "samples": (1, None), "harmonics": (1, None), "mse_weight": (0.0, None), "spectral_weight": (0.0, None),
    "lr": (0.0, None), "steps_per_epoch": (1, None),
}
