"""The sandbox interface: where a neuro's instance lives and how the kernel reaches it.

A `Backend` starts `Worker`s; a worker serves one instance of one neuro version. The kernel
only ever calls what is defined here, so a new backend (a child process under bubblewrap, a
Docker container, a Ray actor) fits without changes to the kernel.
"""

from __future__ import annotations

import abc
from typing import Any, Awaitable, Callable

__all__ = ["Backend", "Worker", "Invoke"]

# (ctx, msg) -> reply. The kernel has already validated msg against the neuro's input type.
Invoke = Callable[[Any, Any], Awaitable[Any]]


class Worker(abc.ABC):
    """One live instance of one neuro version."""

    #: Serve one message. An attribute, not a method, so the in-process backend can hand
    #: the kernel the neuro's own bound `handle` with no extra frame on the hot path.
    invoke: Invoke
    #: True when `invoke` never waits (a plain-function handler in the kernel's process): the
    #: kernel may then run it in the calling task.
    direct = False

    @abc.abstractmethod
    async def hook(self, name: str, *args: Any) -> Any:
        """Run one of the neuro's optional hooks (snapshot, restore, sleep, selfcheck)."""

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """Stop in three steps: ask, wait up to `grace` seconds, then kill."""


class Backend(abc.ABC):
    """A place to run neuros."""

    #: The name a manifest's `sandbox` field uses.
    name: str
    #: One plain sentence: what this backend isolates and what it does not.
    isolation: str

    @abc.abstractmethod
    async def start(self, neuro: type, policy: Any) -> Worker:
        """Start a fresh instance of `neuro` under `policy` and return its worker."""

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        """Import `source` in a fresh sandbox of `policy` and return the neuro's manifest as
        data (an encoded `Description`); the kernel never imports code it does not trust.
        Backends with a warm pool (process, docker) do it in a pooled worker."""
        pool = getattr(self, "_pool", None)
        if pool is None:
            from neuro._errors import NeuroError

            raise NeuroError(f"the {self.name} backend cannot load code the kernel does not trust; "
                             "use the process or docker sandbox for it")
        return await pool.describe(source, version, origin, policy, deadline)

    def bind(self, nursery: Any) -> None:
        """Called when a kernel starts: the nursery its background tasks may run in."""

    async def aclose(self) -> None:
        """Release whatever the backend holds (pools, containers)."""
