"""The `Worker` the kernel sees for a neuro in another process, container or actor.

It speaks through a `WorkerProtocol` (`_protocol.py`), whatever carries its frames
(`_carrier.py`): a call is a Call frame and its Result, a hook a Hook frame, a live policy
change goes to the carrier's limits. The backend that made the protocol and its carrier
hands both over here once the neuro is loaded.
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from neuro._errorinfo import ErrorInfo
from neuro._errors import NeuroError

from ._base import OnExit, Worker
from ._frames import Call, Hook, Result
from ._protocol import WorkerDied, WorkerProtocol

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
            result = await handle.request(Call(id=call_id, payload=_enc.encode(msg)))
        except trio.Cancelled:
            if handle.alive:
                # Cancelled (wall time, stop) while the sandbox still runs the handler: the only
                # sure way to stop code we do not trust is to end its process. Say so now, so
                # nothing more is sent to a worker that is on its way out. (A worker that died
                # raises its own WorkerDied instead, with its real reason.)
                handle.kill()
                handle.alive = False
                if handle.on_exit is not None and not handle.stopping:
                    handle.on_exit(WorkerDied("the worker was killed: its handler was cancelled"))
            raise
        finally:
            handle.calls.pop(call_id, None)
        if not result.ok:
            raise RemoteHandlerError.of(result)
        if not result.reply or self._reply is None:
            return None
        return self._reply.decode(result.reply)

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
