"""The sandbox interface: where a neuro's instance lives and how the kernel reaches it.

A `Backend` starts `Worker`s; a worker serves one instance of one neuro version. The kernel
only ever calls what is defined here, and calls all of it on every backend without asking
first (no `hasattr`), so a new backend (a child process under bubblewrap, a Docker
container, a Ray actor) fits without changes to the kernel. What a backend need not do has
a default here that says what it means; `docs/sandbox.md` ("Writing a backend") says what
each method must guarantee.
"""

from __future__ import annotations

import abc
from typing import Any, Awaitable, Callable

import trio

__all__ = ["Backend", "Worker", "Invoke", "OnExit"]

# (ctx, msg) -> reply. The kernel has already validated msg against the neuro's input type.
Invoke = Callable[[Any, Any], Awaitable[Any]]
# What a worker that ended on its own calls, with why (a NeuroError whose `quota`, when it
# has one, names the limit the worker hit).
OnExit = Callable[[Exception], None]


class Worker(abc.ABC):
    """One live instance of one neuro version."""

    #: Serve one message. An attribute, not a method, so the in-process backend can hand
    #: the kernel the neuro's own bound `handle` with no extra frame on the hot path.
    invoke: Invoke
    #: True when `invoke` never waits (a plain-function handler in the kernel's process): the
    #: kernel may then run it in the calling task.
    direct = False
    #: True when the worker has `invoke_nowait(ctx, msg, settle)` (one in another process, see
    #: `RemoteWorker`): a call's frame goes out from the calling task, and whoever reads its
    #: reply settles it, with no kernel task waiting between.
    starts_nowait = False
    #: Set by the kernel once the worker has started. A worker that can end on its own (its
    #: process exited, it broke the protocol, it was killed because a handler it ran was
    #: cancelled) calls it once, with why; never for an end the kernel asked for (`stop`).
    #: A worker that cannot end on its own (one in the kernel's process) never calls it.
    on_exit: OnExit | None = None

    @abc.abstractmethod
    async def hook(self, name: str, *args: Any) -> Any:
        """Run one of the neuro's optional hooks (snapshot, restore, migrate, sleep, selfcheck)."""

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """Stop in three steps: ask, wait up to `grace` seconds, then kill."""

    async def apply_policy(self, policy: Any) -> None:
        """A live policy change: hold the running instance to `policy` now, as far as it can
        be (a cgroup's limits can change under a running process; rlimits cannot).

        Default: nothing of the running instance changes; its next start gets the new
        policy. It returns at once, without a checkpoint (nothing here can block)."""

    @property
    def unenforced(self) -> dict[str, str]:
        """Limits this instance's sandbox could not set when it started or at its last
        `apply_policy` (a cgroup file it could not write), each with why. The kernel adds
        them to the backend's `unenforced` in its `quota.unenforceable` event.

        Default: none beyond what the backend says of every instance."""
        return {}


class Backend(abc.ABC):
    """A place to run neuros."""

    #: The name a manifest's `sandbox` field uses.
    name: str
    #: One plain sentence: what this backend isolates and what it does not.
    isolation: str

    @abc.abstractmethod
    async def start(self, neuro: type, policy: Any) -> Worker:
        """Start a fresh instance of `neuro` under `policy` and return its worker."""

    def unenforced(self, policy: Any) -> dict[str, Any]:
        """What `policy` asks that this backend cannot hold a neuro to here, by the policy's
        key, each with why (the kernel logs it as `quota.unenforceable` at every spawn and
        policy change). Limits the kernel enforces itself (mailbox, rate, wall time,
        concurrency) are never listed.

        Default: every process limit and every capability restriction `policy` sets, as if
        the backend enforced none: a backend says what it does enforce by overriding this,
        so one that says nothing never claims an isolation it does not have."""
        return policy_limits(policy, f"under the {self.name} backend, which does not say what it enforces")

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        """Import `source` in a fresh sandbox of `policy` and return the neuro's manifest as
        data (an encoded `Description`); the kernel never imports code it does not trust.
        An import that fails, exits or runs past `deadline` seconds raises
        `DescribeFailed` and costs only that sandbox.

        Default: refuse, naming the backends that can (this one cannot run a stranger's
        import away from the kernel). Backends with a warm pool (process, docker) do it in
        a pooled worker."""
        from neuro._errors import NeuroError

        await trio.lowlevel.checkpoint()
        raise NeuroError(f"the {self.name} backend cannot load code the kernel does not trust; "
                         "use the process or docker sandbox for it")

    async def warm(self, policy: Any) -> None:
        """Have sandboxes of `policy` started and waiting, so the next `start` or
        `describe` does not pay for one (a drop folder calls it when it starts watching).
        Best effort: a failure here shows again at the next start.

        Default: nothing to start ahead (the in-process backend starts nothing); a
        checkpoint."""
        await trio.lowlevel.checkpoint()

    def bind(self, nursery: Any) -> None:
        """Called when a kernel starts: the nursery its background tasks may run in.

        Default: nothing (a backend with no background tasks needs none)."""

    async def aclose(self) -> None:
        """Release whatever the backend holds (pools, containers). The kernel calls it once,
        at shutdown, after every worker was stopped.

        Default: nothing to release."""


def policy_limits(policy: Any, where: str) -> dict[str, Any]:
    """Every limit `policy` sets on a process (quotas and capability restrictions), each as
    not held `where`: what a backend that isolates nothing reports as unenforced."""
    missing: dict[str, Any] = dict(policy.process_limits())
    caps = policy.capabilities
    if not caps.network:
        missing["network"] = f"denied by the policy, reachable {where}"
    for kind in ("read", "write", "env"):
        granted = getattr(caps, kind)
        if "*" not in granted:
            missing[kind] = f"limited to {list(granted)} by the policy, unlimited {where}"
    if caps.disk:
        missing["disk"] = caps.disk
    return missing
