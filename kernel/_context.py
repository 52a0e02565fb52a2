"""The concrete `Context` a handler receives from the kernel: one per runner task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import trio

from neuro._context import Context

if TYPE_CHECKING:
    from ._envelope import Envelope
    from ._process import Process
    from ._router import Router

T = TypeVar("T")


class KernelContext(Context):
    """Sends carry the message being handled as their parent, so traces link up."""

    __slots__ = ("_router", "_proc", "_current")

    def __init__(self, router: Router, proc: Process) -> None:
        self._router = router
        self._proc = proc
        self._current: Envelope | None = None

    async def _pace(self) -> None:
        """The policy's send_rate: one token bucket per process (a second's worth of burst);
        a sender past it waits for a token."""
        proc = self._proc
        rate = proc.policy.send_rate
        if not rate:
            return
        while True:
            now = trio.current_time()
            if proc.send_refilled < 0:
                proc.send_tokens, proc.send_refilled = max(1.0, rate), now
            proc.send_tokens = min(max(1.0, rate), proc.send_tokens + (now - proc.send_refilled) * rate)
            proc.send_refilled = now
            if proc.send_tokens >= 1.0 - 1e-9:
                proc.send_tokens = max(0.0, proc.send_tokens - 1.0)
                return
            await trio.sleep((1.0 - proc.send_tokens) / rate)

    @property
    def name(self) -> str:
        return self._proc.name

    @property
    def version(self) -> str:
        return self._proc.version

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        await self._pace()
        return await self._router.send(self._proc.name, to, payload, timeout, self._current)

    async def call(self, to: str, payload: Any, *, timeout: float = 10.0) -> Any:
        await self._pace()
        return await self._router.call(self._proc.name, to, payload, timeout, self._current)

    async def publish(self, topic: str, payload: Any) -> int:
        await self._pace()
        return await self._router.publish(self._proc.name, topic, payload, self._current)

    async def _control(self, request: Any) -> Any:
        # `ctx.kernel`: the kernel's grant for this neuro (its policy's capabilities.control).
        return await self._proc.supervisor.ops._granted(self._proc).request(request)

    async def _control_bytes(self, raw: bytes) -> bytes:
        """A `ctx.kernel` request from this neuro's sandbox, and its answer, as bytes."""
        return await self._proc.supervisor.ops._granted(self._proc).serve(raw)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        if self._proc.policy.priority == "background":
            return await trio.to_thread.run_sync(_niced, fn, *args, limiter=_background_threads())
        return await trio.to_thread.run_sync(fn, *args)


_BACKGROUND: trio.CapacityLimiter | None = None


def _background_threads() -> trio.CapacityLimiter:
    """Background neuros share one worker thread, so they never crowd out interactive work."""
    global _BACKGROUND
    if _BACKGROUND is None:
        _BACKGROUND = trio.CapacityLimiter(1)
    return _BACKGROUND


def _niced(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in this thread at the lowest CPU priority (Linux nices threads one by one)."""
    import os
    import threading

    tid = threading.get_native_id()
    try:
        old = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, 19)
    except (OSError, AttributeError):
        return fn(*args)
    try:
        return fn(*args)
    finally:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, old)
        except OSError:
            pass  # not allowed to raise it back (not root): the thread stays nice
