"""The schema learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

__all__ = ["SchemaConfig", "RANGES"]


class SchemaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # A schema's patterns must co-occur in at least this share of episodes; growth stops below it.
    min_support: float = 0.1
    # Schemas stop growing at this many patterns (the seed's max schema size).
    max_size: int = 6
    # Smaller sets are single facts, not schemas.
    min_size: int = 2
    # A pattern joins a schema only if it co-occurs this many times more than chance would make it.
    min_lift: float = 1.5
    # Predict calls a schema present when this share of its patterns is in the episode (a triple
    # of an instance may be missing from the stream).
    match_share: float = 0.75
    # Conceptual integration: the chance of blending a dissimilar pair of schemas, and how
    # dissimilar (cosine below this) they must be.
    blend_probability: float = 0.5
    blend_threshold: float = 0.2
    # Unused by the miner (numpy on the CPU); kept so every learner takes `device`.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("min_support", "match_share", "blend_probability"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"option {name} is a share in (0, 1], got {getattr(self, name)!r}")
        if self.min_size < 1 or self.max_size < self.min_size or not self.min_lift > 0:
            raise ValueError(f"options need 1 <= min_size <= max_size and min_lift > 0, got min_size={self.min_size}, "
                             f"max_size={self.max_size}, min_lift={self.min_lift}")
        from ..paradigmkit.torchstate import check_device

        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "min_support": (0.0, 1.0), "max_size": (1, None), "min_size": (1, None), "min_lift": (0.0, None),
    "match_share": (0.0, 1.0), "blend_probability": (0.0, 1.0), "blend_threshold": (-1.0, 1.0),
}
