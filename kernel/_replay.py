"""The replay gate: before a new version goes live, replay logged calls through a shadow
instance of it that sends nothing, and compare its answers with what the old version said.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import msgspec
import trio

from neuro._context import Context
from neuro._errors import NeuroError

__all__ = ["ReplayReport", "Difference", "ShadowContext", "replay_calls", "same_answer"]


class Difference(msgspec.Struct, frozen=True):
    """One logged call whose new answer differs from the old one."""

    message_id: int
    payload: Any
    old: Any
    new: Any
    note: str = ""


class ReplayReport(msgspec.Struct, frozen=True):
    """How a new version answered the last `compared` logged calls."""

    compared: int
    agreed: int
    tolerance: float
    differences: list[Difference]
    seconds: float
    calls_per_second: float

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0


class ShadowRefused(NeuroError):
    """A shadow instance tried to reach another neuro: during replay it sends nothing."""


class ShadowContext(Context):
    """The context of a shadow instance: it can compute, but never sends, calls or publishes."""

    def __init__(self, name: str, version: str) -> None:
        self._name = name
        self._version = version

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to send to {to!r})")

    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to call {to!r})")

    async def publish(self, topic: str, payload: Any) -> int:
        raise ShadowRefused(f"a shadow instance of {self._name} sends nothing (tried to publish on {topic!r})")

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)


def same_answer(old: Any, new: Any, tolerance: float) -> bool:
    """Equal, or (with a tolerance) equal but for numbers within `tolerance` (relative or absolute)."""
    if tolerance <= 0:
        return old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        if math.isnan(old) and math.isnan(new):
            return True
        return abs(old - new) <= tolerance * max(1.0, abs(old), abs(new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same_answer(old[k], new[k], tolerance) for k in old)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(same_answer(a, b, tolerance) for a, b in zip(old, new))
    return old == new


async def replay_calls(invoke: Callable[[Any, Any], Any], ctx: Context, decoder: msgspec.msgpack.Decoder,
                       records: list[tuple[int, bytes, bytes | None]], tolerance: float) -> ReplayReport:
    """Replay (message id, payload bytes, logged reply bytes) through `invoke`, compare answers."""
    encoder = msgspec.msgpack.Encoder()
    differences: list[Difference] = []
    agreed = 0
    start = time.perf_counter()
    for message_id, payload, logged in records:
        old = msgspec.msgpack.decode(logged) if logged else None
        try:
            msg = decoder.decode(payload)
        except msgspec.ValidationError as e:
            differences.append(Difference(message_id, msgspec.msgpack.decode(payload), old, None,
                                          note=f"the new version's input type refuses it: {e}"))
            continue
        try:
            result = await invoke(ctx, msg)
            new = msgspec.msgpack.decode(encoder.encode(result)) if result is not None else None
        except Exception as e:
            differences.append(Difference(message_id, msgspec.msgpack.decode(payload), old, None,
                                          note=f"raised {type(e).__name__}: {e}"))
            continue
        if same_answer(old, new, tolerance):
            agreed += 1
        else:
            differences.append(Difference(message_id, msgspec.msgpack.decode(payload), old, new))
    seconds = time.perf_counter() - start
    n = len(records)
    return ReplayReport(compared=n, agreed=agreed, tolerance=tolerance, differences=differences[:20],
                        seconds=seconds, calls_per_second=n / seconds if seconds > 0 else float("inf"))
