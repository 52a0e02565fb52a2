"""The GPT learner's config: every knob and why it has its default. No torch, no numpy."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["GPTConfig", "RANGES"]


class GPTConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- the decoder (small: it runs on our numpy autograd, one thread)
    # Characters of context; the generated sentences are 25-45 characters, so 32 sees most of one.
    context: int = 32
    # Width of the residual stream, heads of attention (d_model must divide by heads), blocks.
    d_model: int = 48
    heads: int = 4
    layers: int = 2

    # -- training (seed 5.14)
    # "adam" (the default: a few hundred steps suffice) or "sgd", the seed's p -= lr * grad.
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 3e-3
    # Sequences of `context` characters per step.
    batch_size: int = 16
    # Steps in each slice of a job (a Train job's unit is a slice of this many steps).
    steps_per_epoch: int = 100
    # Gradient clipping: every gradient is scaled by max_grad_norm / (norm + 1e-6) when its
    # global norm exceeds max_grad_norm.
    max_grad_norm: float = 1.0
    # Weight of the distillation term KL(softmax(logits) || teacher) beside the cross-entropy;
    # 0 trains on the cross-entropy alone (a teacher comes from Train's `teacher` weights only).
    distill_alpha: float = 0.0

    # -- where and how
    # "cpu": numpy arrays; "cuda"/"cuda:N": torch arrays on that GPU under the same autograd;
    # "auto": the GPU when the policy grants one and the machine has it.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("context", "d_model", "heads", "layers", "batch_size", "steps_per_epoch"))
        if self.d_model % self.heads:
            raise ValueError(f"option d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        for name in ("lr", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"option {name} must be > 0, got {getattr(self, name)!r}")
        if self.distill_alpha < 0:
            raise ValueError(f"option distill_alpha must be >= 0, got {self.distill_alpha!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "context": (1, None), "d_model": (1, None), "heads": (1, None), "layers": (1, None), "lr": (0.0, None),
    "batch_size": (1, None), "steps_per_epoch": (1, None), "max_grad_norm": (0.0, None), "distill_alpha": (0.0, None),
}
