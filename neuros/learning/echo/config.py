"""The echo learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["EchoConfig", "RANGES"]


class EchoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The net n_in -> hidden (tanh) -> 1: small, diabetes has 353 training rows.
    hidden: int = 32
    # The echo e_{t+1} = echo_decay * e_t + |activation_t|: 0.9 remembers about ten steps.
    echo_decay: float = 0.9
    # dw = -lr * echo_strength * e_t * g_t; 0 turns the echo off (plain SGD).
    echo_strength: float = 0.5
    # Plain SGD's rate and minibatch.
    lr: float = 0.01
    batch_size: int = 32
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("hidden", "batch_size"))
        if not (0 <= self.echo_decay < 1 and self.echo_strength >= 0 and self.lr > 0):
            raise ValueError("options need echo_decay in [0, 1), echo_strength >= 0 and lr > 0, got "
                             f"{self.echo_decay!r}, {self.echo_strength!r}, {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "hidden": (1, None), "echo_decay": (0.0, 1.0), "echo_strength": (0.0, None), "lr": (0.0, None),
    "batch_size": (1, None),
}
