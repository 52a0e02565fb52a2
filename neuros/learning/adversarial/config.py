"""The adversarial learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["AdversarialConfig", "RANGES"]


class AdversarialConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Hidden units of the MLP n_in -> hidden -> hidden -> classes.
    hidden: int = 128
    # Adam's rate and the mini-batch.
    lr: float = 1e-3
    batch_size: int = 32
    # FGSM's budget: each input value moves by at most eps (digits' pixels are in [0, 1]: 0.1 is
    # a tenth of the range, on every pixel at once); the same eps is trained on and measured at.
    eps: float = 0.1
    # Share of each step's loss on the FGSM examples (the rest on the clean batch): 0 is standard
    # training, 1 trains on x_adv alone (the seed's loop); 0.5 keeps clean accuracy.
    adv_weight: float = 0.5
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("hidden", "batch_size"))
        if not self.lr > 0 or not self.eps >= 0:
            raise ValueError(f"options need lr > 0 and eps >= 0, got lr={self.lr!r}, eps={self.eps!r}")
        if not 0.0 <= self.adv_weight <= 1.0:
            raise ValueError(f"option adv_weight is a share in [0, 1], got {self.adv_weight!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "hidden": (1, None), "lr": (0.0, None), "batch_size": (1, None), "eps": (0.0, None), "adv_weight": (0.0, 1.0),
}
