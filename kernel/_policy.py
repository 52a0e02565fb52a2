"""Resource policies: the limits a neuro runs under.

This module holds the schema and the built-in defaults the kernel enforces for messaging
(mailbox size and overflow rule, what happens to queued messages on a crash, message size,
concurrency). Loading policies from TOML files and the remaining quotas build on it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from neuro._errors import NeuroError

__all__ = ["Policy", "Overflow", "BUILTIN_POLICIES", "resolve_policy"]

Overflow = Literal["block", "reject", "drop_oldest", "drop_newest"]


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits for one neuro. Each field's default says why it is what it is."""

    name: str = "default"
    # Bounded so a slow neuro pushes back instead of eating memory; 1024 absorbs bursts.
    mailbox_size: int = 1024
    # Backpressure by default: nothing is lost, the sender waits until its deadline.
    overflow: Overflow = "block"
    # A crash loses the instance's state, not the messages queued behind the one that crashed.
    on_crash: Literal["redeliver", "dead_letter"] = "redeliver"
    # 1 MiB keeps one message from starving the log writer and the event loop.
    max_message_bytes: int = 1 << 20
    # One handler at a time: actor semantics, no locking inside a neuro.
    concurrency: int = 1

    def __post_init__(self) -> None:
        for field in ("mailbox_size", "max_message_bytes", "concurrency"):
            if getattr(self, field) < 1:
                raise NeuroError(f"policy {self.name!r}: `{field}` must be at least 1, got {getattr(self, field)}")


BUILTIN_POLICIES: dict[str, Policy] = {
    "trusted": Policy(name="trusted", mailbox_size=4096),
    "default": Policy(name="default"),
    "untrusted": Policy(name="untrusted", mailbox_size=256, overflow="reject", max_message_bytes=256 << 10),
    "learning": Policy(name="learning", mailbox_size=256, max_message_bytes=64 << 20),
    "background": Policy(name="background", mailbox_size=4096, overflow="drop_oldest"),
}


def resolve_policy(name: str, policies: dict[str, Policy]) -> Policy:
    try:
        return policies[name]
    except KeyError:
        raise NeuroError(
            f"no policy named {name!r}; known policies: {', '.join(sorted(policies))}"
        ) from None
