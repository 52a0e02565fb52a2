"""The `Worker` the kernel sees for a neuro in another process, container or actor.

It speaks through a `WorkerProtocol` (`_protocol.py`), whatever carries its frames
(`_carrier.py`): a call is a Call frame and its Result, a hook a Hook frame, a live policy
change goes to the carrier's limits. The backend that made the protocol and its carrier
hands both over here once the neuro is loaded.
"""

from __future__ import annotations

from typing import Any, Callable

import msgspec
import outcome
import trio

from neuro._errorinfo import ErrorInfo
from neuro._errors import NeuroError

from ._base import OnExit, Worker
from ._frames import Call, Hook, Result
from ._protocol import _GONE, WorkerDied, WorkerProtocol

__all__ = ["RemoteWorker", "RemoteHandlerError", "WorkerDied", "WorkerProtocol"]

_enc = msgspec.msgpack.Encoder()


class RemoteHandlerError(NeuroError):
    """The neuro's handler raised inside its sandbox. `error_info` is what its worker
    reported (unplaced, or a RemoteError it relayed: the router places it); `remote_type` and
    `remote_traceback` are its type and traceback."""

    def __init__(self, type_name: str, message: str, traceback: str, info: ErrorInfo | None = None) -> None:
        super().__init__(message)
        self.error_info = info or ErrorInfo(type=type_name, message=message, traceback=traceback)
        self.remote_type = type_name
        self.remote_traceback = traceback

    @classmethod
    def of(cls, result: Result) -> RemoteHandlerError:
        """The error a failed Result reports (its `failure`, or the older fields)."""
        info = result.failure
        if info is None:
            return cls(result.error_type, result.error, result.traceback)
        return cls(info.type, info.message, info.traceback, info)


class StartedCall:
    """A Call sent by `RemoteWorker.invoke_nowait`, as the protocol holds it until its
    Result (or the worker's death) resolves it."""

    __slots__ = ("worker", "id", "settle", "resolved", "unsent")

    def __init__(self, worker: RemoteWorker, call_id: int, settle: Callable[[Any, BaseException | None], None]) -> None:
        self.worker = worker
        self.id = call_id
        self.settle = settle
        self.resolved = False
        self.unsent: bytes | memoryview = b""

    def resolve(self, got: outcome.Outcome) -> bool:
        if self.resolved:
            return False
        self.resolved = True
        worker = self.worker
        worker.handle.calls.pop(self.id, None)
        try:
            reply = worker._reply_of(got.unwrap())
        except Exception as e:  # the handler's error, the worker's death, or a reply of the wrong type
            self.settle(None, e)
        else:
            self.settle(reply, None)
        return True

    def cancel(self) -> None:
        self.worker.kill_cancelled()

    def death(self) -> BaseException | None:
        """Why its worker died, where it has (a copy for this call), else None."""
        handle = self.worker.handle
        return None if handle.alive or handle.death is None else _GONE(handle.death).error

    async def send_rest(self) -> None:
        rest, self.unsent = self.unsent, b""
        await self.worker.handle.send_rest(rest)


class RemoteWorker(Worker):
    """The `Worker` the kernel sees for a neuro in another process (container, actor):
    `handle` is its protocol, with `neuro` loaded."""

    def __init__(self, handle: WorkerProtocol, neuro: type) -> None:
        self.handle = handle
        output = neuro.__manifest__.output
        self._reply = msgspec.msgpack.Decoder(output) if output is not None else None
        self.invoke = self._invoke

    @property  # type: ignore[override]
    def on_exit(self) -> OnExit | None:
        """Kept by the protocol, which calls it when the worker's frames end on their own."""
        return self.handle.on_exit

    @on_exit.setter
    def on_exit(self, callback: OnExit | None) -> None:
        self.handle.on_exit = callback

    @property
    def unenforced(self) -> dict[str, str]:
        """What its carrier could not set (a cgroup file it could not write)."""
        return self.handle.carrier.unenforced

    async def _invoke(self, ctx: Any, msg: Any) -> Any:
        handle = self.handle
        call_id = handle.new_id()
        handle.calls[call_id] = ctx
        try:
            result = await handle.request(self._call(ctx, call_id, msg))
        except trio.Cancelled:
            self.kill_cancelled()
            raise
        finally:
            handle.calls.pop(call_id, None)
        return self._reply_of(result)

    starts_nowait = True

    def invoke_nowait(self, ctx: Any, msg: Any, settle: Callable[[Any, BaseException | None], None]) -> Any:
        """`invoke` without a task waiting for it: the Call goes out now, and whoever resolves
        it (the reader, with the worker's Result or its death) calls `settle(reply, None)` or
        `settle(None, error)`. Returns the call, whose `cancel()` kills the worker (what
        `invoke` does when cancelled) and whose `unsent` the kernel must `send_rest()` first;
        None when the frame cannot go out now (the kernel then awaits `invoke`)."""
        handle = self.handle
        call_id = handle.new_id()
        started = StartedCall(self, call_id, settle)
        rest = handle.request_nowait(self._call(ctx, call_id, msg), started)
        if rest is None:
            return None
        handle.calls[call_id] = ctx
        started.unsent = rest
        return started

    def _call(self, ctx: Any, call_id: int, msg: Any) -> Call:
        return Call(id=call_id, payload=_enc.encode(msg), labels=self.handle.taint_of(ctx))

    def _reply_of(self, result: Result) -> Any:
        if not result.ok:
            raise RemoteHandlerError.of(result)
        if not result.reply or self._reply is None:
            return None
        return self._reply.decode(result.reply)

    def kill_cancelled(self) -> None:
        """A handler was cancelled (wall time, stop) while the sandbox still runs it: the only
        sure way to stop code we do not trust is to end its process. Say so now, so nothing
        more is sent to a worker that is on its way out. (A worker that died raises its own
        WorkerDied instead, with its real reason.)"""
        handle = self.handle
        if handle.alive:
            handle.kill()
            handle.alive = False
            if handle.on_exit is not None and not handle.stopping:
                handle.on_exit(WorkerDied("the worker was killed: its handler was cancelled"))

    async def hook(self, name: str, *args: Any) -> Any:
        """Run hook `name` in the sandbox. A `sleep` hook's first argument is its kernel
        context: it stays here, and the hook's sends, calls and publishes come back as
        CtxOps for the hook's id, served by it like a call's."""
        handle = self.handle
        hook_id = handle.new_id()
        if name == "sleep" and args:
            handle.calls[hook_id] = args[0]
            args = args[1:]
        try:
            result = await handle.request(Hook(id=hook_id, name=name, arg=_enc.encode(list(args))))
        except trio.Cancelled:
            self.kill_cancelled()  # the sandbox still runs it: end it, as a cancelled call does
            raise
        finally:
            handle.calls.pop(hook_id, None)
        if not result.ok:
            raise RemoteHandlerError.of(result)
        return msgspec.msgpack.decode(result.reply) if result.reply else None

    async def apply_policy(self, policy: Any) -> None:
        """Live policy change, through the carrier: cgroup limits apply at once; rlimits only
        to new workers. A death from now on is judged against `policy`'s limits."""
        self.handle.carrier.apply(policy)
        self.handle.policy = policy
        await trio.lowlevel.checkpoint()

    async def stop(self, grace: float) -> None:
        await self.handle.stop(grace)
