"""The federated learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

from ..paradigmkit.torchstate import check_device, require_whole

__all__ = ["FederatedConfig", "RANGES"]


class FederatedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Clients and how non-IID they are: each gets `classes_per_client` label-sorted shards.
    clients: int = 5
    classes_per_client: int = 2
    # The shared net n_in -> hidden (ReLU) -> classes.
    hidden: int = 64
    # Each round, every client runs `local_epochs` of SGD from the global weights (FedAvg's E).
    local_epochs: int = 2
    lr: float = 0.05
    batch_size: int = 32
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        require_whole(self, ("clients", "classes_per_client", "hidden", "local_epochs", "batch_size"))
        if not self.lr > 0:
            raise ValueError(f"option lr must be > 0, got {self.lr!r}")
        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {
    "clients": (1, None), "classes_per_client": (1, None), "hidden": (1, None), "local_epochs": (1, None),
    "lr": (0.0, None), "batch_size": (1, None),
}
