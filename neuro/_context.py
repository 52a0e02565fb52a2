"""The context a neuro's handler receives: how a neuro talks to the rest of the system.

This is the whole of what a neuro may do to the kernel. It is an abstract class so that the
SDK never exposes kernel internals; the kernel (or a sandbox worker) supplies the concrete one.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, TypeVar

import msgspec

__all__ = ["Context", "Progress"]

T = TypeVar("T")


class Progress(msgspec.Struct, tag="progress", forbid_unknown_fields=True):
    """A long job's progress, published on the topic ``progress.<neuro name>``."""

    neuro: str
    job: str
    done: float
    total: float
    note: str = ""
    metrics: dict[str, float] = {}


class Context(abc.ABC):
    """What a handler can do: send, call, publish, report progress, run blocking work."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The name this neuro runs under."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """The content hash of the running version."""

    @abc.abstractmethod
    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        """Send a one-way message to neuro `to`; returns the message id. A full `block`
        mailbox makes it wait for room up to `timeout` seconds (default: the recipient's
        policy's `send_timeout`; `math.inf`: for ever), then raise `MailboxFull`."""

    @abc.abstractmethod
    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        """Call neuro `to` and return its reply; raises `RemoteError` or `CallTimeout`. A
        timeout that is NaN, negative or not a number raises ValueError or TypeError here."""

    @abc.abstractmethod
    async def publish(self, topic: str, payload: Any) -> int:
        """Publish an event on `topic` to every subscriber; returns the number it reached."""

    async def progress(self, job: str, done: float, total: float, note: str = "", **metrics: float) -> None:
        """Publish a `Progress` event for a long job on ``progress.<name>``."""
        await self.publish(
            f"progress.{self.name}",
            Progress(neuro=self.name, job=job, done=done, total=total, note=note, metrics=metrics),
        )

    @abc.abstractmethod
    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking or CPU-heavy work in a worker thread so the kernel keeps serving."""
