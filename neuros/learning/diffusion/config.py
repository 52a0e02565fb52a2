"""The diffusion learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["DiffusionConfig", "RANGES"]


class DiffusionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The noise schedule of the forward process (schedules.py): "linear" (Ho et al.) or "cosine"
    # (Nichol & Dhariwal), both measured by the experiment.
    schedule: Literal["linear", "cosine"] = "linear"
    # Diffusion steps T: 100 is plenty for 2-D data, and sampling costs T net calls.
    diffusion_steps: int = 100
    # Hidden units of the noise predictor (three layers, SiLU).
    hidden: int = 128
    # Adam's rate and the mini-batch of data points per training step.
    lr: float = 2e-3
    batch_size: int = 256
    # Training steps in each slice of a job (a job's unit, an "epoch", is this many steps).
    steps_per_epoch: int = 200
    # Samples Generate makes when it is given no count (no labels, no y).
    samples: int = 256
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("diffusion_steps", "hidden", "batch_size", "steps_per_epoch", "samples"))
        if not self.lr > 0:
            raise ValueError(f"option lr must be > 0, got {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "diffusion_steps": (1, None), "hidden": (1, None), "lr": (0.0, None), "batch_size": (1, None),
    "steps_per_epoch": (1, None), "samples": (1, None),
}
