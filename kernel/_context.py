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

    def _grant(self) -> Any:
        # `ctx.resources`: the running policy (it can change live) in the backend it runs in.
        from neuro._resources import grant_of

        return grant_of(self._proc.policy, self._proc.backend)

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        await self._pace()
        return await self._router.send(self._proc.name, to, payload, timeout, self._current, source=self._proc)

    async def call(self, to: str, payload: Any, *, timeout: float = 10.0, _inline: bool = False) -> Any:
        await self._pace()  # (`_inline`: no schedule point when handled at once; a net's chain, nets/_runner.py)
        return await self._router.call(self._proc.name, to, payload, timeout, self._current, inline=_inline,
                                       check=self._outcome_received, source=self._proc)

    def _outcome_received(self, call: Any) -> None:
        # A labelled outcome, reply or error alike: this neuro must be cleared for it (kernel/_labels.py).
        from ._labels import reply_received

        reply_received(self._router, self._proc, call.callee.name, call.labels)

    @property
    def labels(self) -> frozenset[str]:
        return self._proc.labels

    async def _declassify(self, label: str, reason: str) -> None:
        from ._labels import declassify

        await trio.lowlevel.checkpoint()
        current = self._current
        declassify(self._proc, label, reason, None if current is None else current.id, self._router._event)

    async def publish(self, topic: str, payload: Any) -> int:
        await self._pace()
        return await self._router.publish(self._proc.name, topic, payload, self._current, source=self._proc)

    async def _control(self, request: Any) -> Any:
        # `ctx.kernel`: the kernel's grant for this neuro (its policy's capabilities.control).
        return await self._proc.supervisor.ops._granted(self._proc).request(request)

    async def _control_bytes(self, raw: bytes) -> bytes:
        """A `ctx.kernel` request from this neuro's sandbox, and its answer, as bytes."""
        return await self._proc.supervisor.ops._granted(self._proc).serve(raw)

    # -- ctx.start_background: a task owned by this instance (neuro/_context.py says what it is)

    async def _start_background(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> Any:
        from neuro._context import Background

        await trio.lowlevel.checkpoint()
        proc = self._proc
        handle = Background(name)
        assert self._router.nursery is not None
        self._router.nursery.start_soon(_own_background, handle, fn, self._background_context(), args, proc,
                                        proc.worker)
        return handle

    def _background_context(self) -> KernelContext:
        """A context for a background task (in this process, or a sandbox's, whose ops come here)."""
        return KernelContext(self._router, self._proc)

    def _background_crashed(self, name: str, error: str) -> None:
        """A background task of the running instance raised: the neuro crashed, as for a handler."""
        from ._process import State

        if self._proc.state is State.RUNNING:
            self._router._crashed(self._proc, f"background task {name!r}: {error}")

    # -- ctx.put_artifact / get_artifact / find_artifact: the log's artifact store

    async def _artifact_op(self, op: str, key: str, data: bytes | None) -> Any:
        from neuro._errors import NeuroError

        from ._artifactexport import _store

        store = await _store(self._proc.supervisor.ops)
        if store is None:
            raise NeuroError(f"{self.name}: this kernel keeps no event log, so no artifacts; start it with one "
                             "(neuro.Kernel(log=...), or the daemon, which always has one)")
        from ._labels import artifact_labels  # state kept by a tainted neuro keeps its labels, on disk

        if op == "put":
            return await (await artifact_labels(self._router, store)).put(self._proc, data,
                                                                           _state_media_type(self.name, key))
        if op == "get":
            (await artifact_labels(self._router, store)).read(self._proc, key, self._router._event)
            return await trio.to_thread.run_sync(_read_artifact, store, key)
        if op == "find":
            return await trio.to_thread.run_sync(_find_artifact, store, _state_media_type(self.name, key))
        raise ValueError(f"unknown artifact operation {op!r}")

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


# How often an in-process background task looks whether its instance still runs. The kernel
# has no stop hook for a neuro's own tasks, so the task watches: a stop, restart, crash or
# swap replaces `proc.worker` or leaves RUNNING, and the task is cancelled within this.
_WATCH_SECONDS = 0.05


async def _own_background(handle: Any, fn: Callable[..., Any], ctx: KernelContext, args: tuple[Any, ...],
                          proc: Any, worker: Any) -> None:
    """Run an in-process background task while `worker` is `proc`'s running instance."""
    from neuro._context import run_background

    from ._process import State

    alive = (State.RUNNING, State.STARTING, State.SWAPPING)

    async def watch() -> None:
        while proc.worker is worker and proc.state in alive:
            await trio.sleep(_WATCH_SECONDS)
        handle.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        crashed = await run_background(handle, fn, ctx, args)
        nursery.cancel_scope.cancel()
    if crashed is not None and proc.worker is worker:
        ctx._background_crashed(handle.name, handle.error or "crashed")


def _state_media_type(neuro: str, label: str) -> str:
    """The media type a neuro's own artifact is kept under: its name and label find it again."""
    return f"application/vnd.neuro.state; neuro={neuro}; label={label}"


def _read_artifact(store: Any, hash: str) -> bytes:
    with store.open(hash) as f:
        return f.read()


def _find_artifact(store: Any, media_type: str) -> str | None:
    """The latest artifact kept under `media_type` (the store's rows carry when each was stored)."""
    with store._lock:
        row = store._read.execute("SELECT hash FROM artifacts WHERE media_type = ? ORDER BY time DESC, object DESC "
                                  "LIMIT 1", (media_type,)).fetchone()
    return None if row is None else row[0]
