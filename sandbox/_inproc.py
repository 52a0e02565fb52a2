"""The in-process backend: the neuro runs inside the kernel's own event loop. Trusted only.

It isolates nothing: the neuro shares the kernel's memory, files, network and CPU. It is
for the built-in neuros and code you trust; an untrusted policy must pick another backend.
"""

from __future__ import annotations

from types import CoroutineType
from typing import Any

import trio

from ._base import Backend, Worker, policy_limits

__all__ = ["InprocBackend"]


class InprocWorker(Worker):
    """The neuro's own instance, in the kernel's event loop. It cannot end on its own (a
    handler's error is the kernel's to see), so it never calls `on_exit`; a policy change has
    nothing to apply to it (the default `apply_policy`)."""

    def __init__(self, instance: Any, is_async: bool) -> None:
        self.instance = instance
        self.direct = not is_async
        if is_async:
            self.invoke = instance.handle
        else:
            self.handle = handle = instance.handle  # the kernel's direct path calls it (kernel/_delivery.py)

            async def invoke(ctx: Any, msg: Any) -> Any:
                result = handle(ctx, msg)
                if type(result) is CoroutineType:  # the part of its work that waits
                    result = await result
                return result

            self.invoke = invoke

    async def hook(self, name: str, *args: Any) -> Any:
        fn = getattr(self.instance, name)
        result = fn(*args)
        if hasattr(result, "__await__"):
            result = await result
        return result

    async def stop(self, grace: float) -> None:
        # Nothing to kill: the kernel cancels the handler tasks; the instance is dropped.
        self.instance = None
        await trio.lowlevel.checkpoint()


class InprocBackend(Backend):
    name = "inproc"
    isolation = (
        "none: the neuro runs in the kernel's process and event loop, sharing its memory, "
        "files, network and CPU; use it only for trusted code"
    )

    def unenforced(self, policy: Any) -> dict[str, Any]:
        """Everything `policy` limits: an in-process neuro is held to none of it."""
        return policy_limits(policy, "in-process")

    async def start(self, neuro: type, policy: Any) -> Worker:
        await trio.lowlevel.checkpoint()
        return InprocWorker(neuro(), neuro.__manifest__.is_async)
