"""The envelope every message travels in, and the ids that order them."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

from neuro._errorinfo import ErrorInfo  # the error record on every wire, defined below the kernel

__all__ = ["Envelope", "Kind", "ErrorInfo", "next_id", "id_time"]

Kind = Literal["send", "call", "reply", "error", "event"]

_last_id = 0


def next_id() -> int:
    """A unique, time-ordered id: nanoseconds since the epoch, bumped to stay increasing.

    Unique within a process and, because it starts from the clock, across restarts.
    """
    global _last_id
    now = time.time_ns()
    _last_id = now if now > _last_id else _last_id + 1
    return _last_id


def id_time(message_id: int) -> float:
    """The wall-clock time (seconds since the epoch) an id was made at, to within a few µs."""
    return message_id / 1e9


class Envelope(msgspec.Struct, gc=False):
    """One message: who sent it to whom, what kind it is, and its payload.

    `correlation` ties a conversation together: a client's call starts one (its own id);
    anything a neuro sends while handling a message inherits it. `parent` is the id of the
    message being handled when this one was sent. `deadline` is a `time.monotonic()` value.
    `labels` are the privacy labels it carries: its sender's taint (docs/privacy.md).
    """

    id: int
    time: float
    sender: str
    recipient: str
    kind: Kind
    payload: Any
    correlation: int
    topic: str | None = None
    deadline: float | None = None
    parent: int | None = None
    # The privacy labels it carries (kernel/_labels.py): its sender's taint. Empty for most.
    labels: frozenset[str] = frozenset()
