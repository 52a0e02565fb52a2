"""The kernel's side of a worker in another process (or container): frames out, frames in.

Anything the worker sends that the protocol does not allow at that moment (a malformed or
oversized frame, a reply to nothing, an operation for a call it is not serving) kills the
worker. A worker that dies, for whatever reason, fails what it was serving with WorkerDied,
which says why (memory limit, CPU time, killed, exited) so the supervisor can restart it.
"""

from __future__ import annotations

import signal
import socket
import time
from typing import Any, Callable

import msgspec
import outcome
import trio

from neuro._aio import Parked, send_locked
from neuro._errorinfo import ErrorInfo, error_info
from neuro._errors import NeuroError

from ._base import Worker
from ._frames import (
    Call, CtxOp, CtxResult, Described, FrameDecoder, Hello, Hook, Load, Loaded, ProtocolError, Result, Stop, encode,
)

__all__ = ["WorkerProcess", "RemoteWorker", "WorkerDied", "RemoteHandlerError"]

_enc = msgspec.msgpack.Encoder()
# Operations a worker may have in flight on the kernel at once; past it, its frames wait.
MAX_CTX_OPS = 64
# Bytes of a worker's stdout and stderr kept (the end of it): enough for a traceback or two.
OUTPUT_TAIL = 64 << 10


class WorkerDied(NeuroError):
    """The worker process ended while serving; `quota` names the limit it hit, if any."""

    def __init__(self, message: str, quota: str | None = None) -> None:
        super().__init__(message)
        self.quota = quota


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


def _GONE(death: WorkerDied) -> outcome.Error:
    """What one waiter of a dead worker is resolved with: its own outcome (an outcome can be
    unwrapped once) holding its own copy of the reason (one exception raised in several
    tasks would gather all their tracebacks)."""
    fresh = BaseException.__new__(type(death), *death.args)  # whatever fields it has, copied
    fresh.__dict__.update(death.__dict__)
    return outcome.Error(fresh)


class WorkerProcess:
    """One worker process and its frame stream."""

    def __init__(self, process: Any, sock: socket.socket, cgroup: Any, policy: Any,
                 unenforced: dict[str, str], started: float) -> None:
        """`sock`: a connected, non-blocking Unix socket to the worker."""
        self.process = process
        self.sock = sock
        self.cgroup = cgroup
        self.policy = policy
        self.unenforced = unenforced
        self.started = started
        self.ready_at: float | None = None
        self.pid: int | None = None
        self.alive = True
        self.stopping = False
        self.death: WorkerDied | None = None
        self.on_exit: Callable[[WorkerDied], None] | None = None
        self._hello = trio.Event()
        self._exited = trio.Event()
        self._pending: dict[int, Parked] = {}
        self._load: Parked | None = None
        self.calls: dict[int, Any] = {}  # call id -> the kernel context serving it
        self._ids = 0
        self._send_lock = trio.Lock()
        self._ops = trio.Semaphore(MAX_CTX_OPS)
        self._nursery: trio.Nursery | None = None
        self._drained = False
        self._output = bytearray()  # the last OUTPUT_TAIL bytes of the worker's stdout and stderr

    @property
    def output_tail(self) -> bytes:
        """The end of what the worker wrote to stdout and stderr (a pipe only the kernel reads)."""
        return bytes(self._output)

    async def read_output(self, fd: int) -> None:
        """Keep the tail of the worker's output pipe `fd` (owned, closed here) until it ends."""
        async with trio.lowlevel.FdStream(fd) as stream:
            while True:
                try:
                    data = await stream.receive_some(1 << 16)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    break
                if not data:
                    break
                self._output += data
                del self._output[:-OUTPUT_TAIL]

    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    async def write(self, frame: Any) -> None:
        if not self.alive:
            raise await self._death_known()
        data = encode(frame)
        try:
            await send_locked(self.sock, self._send_lock, data)
        except (trio.ClosedResourceError, OSError):  # the worker hung up, or _finish closed it
            raise await self._death_known() from None

    async def _death_known(self) -> WorkerDied:
        """Why the worker is gone, once the reader has found out (a write can fail before the
        reader has seen the end of the stream): never a bare "gone" when the reason comes."""
        if self.death is None:
            with trio.move_on_after(3.0):
                await self._exited.wait()
        return self._died()

    async def _receive(self) -> bytes:
        if self._drained:  # the last read emptied the socket: wait first, saving a recv bound to fail
            await trio.lowlevel.wait_readable(self.sock)
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)
                continue
            self._drained = len(data) < 1 << 16
            return data

    async def wait_hello(self) -> None:
        await self._hello.wait()
        if not self.alive:
            raise self._died()

    async def request(self, frame: Any) -> Any:
        """Send Call or Hook `frame` and wait for its Result."""
        pending = Parked()
        self._pending[frame.id] = pending
        try:
            await self.write(frame)
            return await pending.wait()  # raises the worker's death, if it died meanwhile
        finally:
            self._pending.pop(frame.id, None)

    async def load(self, neuro: type, policy: Any) -> None:
        manifest = neuro.__manifest__
        self._load = Parked()
        await self.write(Load(module=manifest.module, qualname=manifest.qualname, version=neuro.version(),
                              source=_source_of(neuro), gpu_memory=policy.gpu_memory))
        loaded = await self._load.wait()  # raises the worker's death, if it died meanwhile
        if not loaded.ok:
            raise NeuroError(f"the sandboxed worker could not load {manifest.name}: {loaded.error}")

    async def describe(self, frame: Any) -> Any:
        """Send a Describe frame and wait for its Described answer."""
        self._load = Parked()
        await self.write(frame)
        described = await self._load.wait()
        if described is None:
            raise self._died()
        return described

    async def read_frames(self) -> None:
        decoder = FrameDecoder()
        reason: WorkerDied | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                while True:
                    try:
                        data = await self._receive()
                    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, OSError):
                        data = b""
                    if not data:
                        break
                    try:
                        for frame in decoder.feed(data):
                            if type(frame) is Result:  # the common frame, without a coroutine
                                self._resolve(frame)
                            else:
                                await self._dispatch(frame)
                    except ProtocolError as e:
                        reason = WorkerDied(f"the worker broke the protocol and was killed: {e}", quota="protocol")
                        break
                nursery.cancel_scope.cancel()
        finally:
            await self._finish(reason)

    def _resolve(self, result: Result) -> None:
        pending = self._pending.get(result.id)
        if pending is None or pending.resolved:
            raise ProtocolError(f"a result for request {result.id}, which is not waiting")
        pending.resolve(outcome.Value(result))

    async def _dispatch(self, frame: Any) -> None:
        if isinstance(frame, Result):
            self._resolve(frame)
        elif isinstance(frame, CtxOp):
            ctx = self.calls.get(frame.call)
            if ctx is None:
                raise ProtocolError(f"an operation for call {frame.call}, which it is not serving")
            await self._ops.acquire()  # backpressure: a flood waits in the socket, not in memory
            assert self._nursery is not None
            self._nursery.start_soon(self._run_op, ctx, frame)
        elif isinstance(frame, Hello) and not self._hello.is_set():
            self.pid = frame.pid
            self.ready_at = time.perf_counter()
            self._hello.set()
        elif isinstance(frame, (Loaded, Described)) and self._load is not None and not self._load.resolved:
            self._load.resolve(outcome.Value(frame))
        else:
            raise ProtocolError(f"an unexpected {type(frame).__name__} frame")

    async def _run_op(self, ctx: Any, op: CtxOp) -> None:
        try:
            payload = msgspec.msgpack.decode(op.payload) if op.op != "control" else None
            if op.op == "control":  # ctx.kernel: the kernel decodes the request and checks the grant
                out = CtxResult(id=op.id, ok=True, reply=await ctx._control_bytes(op.payload))
            elif op.op == "call":
                reply = await ctx.call(op.to, payload, timeout=op.timeout)
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(reply), reply_type=_type_path(reply))
            elif op.op == "send":
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(await ctx.send(op.to, payload, timeout=op.timeout)))
            elif op.op == "publish":
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(await ctx.publish(op.to, payload)))
            else:
                out = CtxResult(id=op.id, ok=False, error_type="ValueError", error=f"unknown operation {op.op!r}")
        except Exception as e:  # a neuro's error (placed) or the kernel's refusal, to raise in the sandbox
            out = CtxResult(id=op.id, ok=False, error_type=type(e).__name__, error=str(e), failure=error_info(e))
        finally:
            self._ops.release()
        try:
            await self.write(out)
        except WorkerDied:
            pass

    async def _finish(self, reason: WorkerDied | None) -> None:
        """The stream ended: find out why, fail what waits, clean up, tell the kernel."""
        was_stopping = self.stopping
        self.alive = False
        if reason is not None:
            self.kill()
        with trio.move_on_after(2):
            await self.process.wait()
        if self.process.returncode is None:
            self.kill()
            with trio.move_on_after(2):
                await self.process.wait()
        self.death = death = reason or self._diagnose()
        tail = self.output_tail.decode("utf-8", "replace").strip()
        if tail and not was_stopping and death.quota is None:
            # What it said last (a launcher's refusal, a traceback printed at exit) says why.
            death.args = (f"{death.args[0]}; its last output: {tail[-500:]}",)
        for pending in list(self._pending.values()):
            pending.resolve(_GONE(death))
        if self._load is not None:
            self._load.resolve(_GONE(death))
        self._hello.set()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
        trio.lowlevel.notify_closing(self.sock)  # a writer waiting for room gets an error, not a hang
        self.sock.close()
        self._exited.set()
        if not was_stopping and self.on_exit is not None:
            self.on_exit(self.death)

    def _diagnose(self) -> WorkerDied:
        """Why the worker ended. A quota is named only on evidence the neuro cannot forge: its
        exit code and its signal are its own to choose (`os._exit(3)`, `os.kill(os.getpid(),
        SIGKILL)`), the cgroup's OOM-kill count (v1 memory.oom_control, v2 memory.events) and
        docker's OOMKilled flag are not. Where the kernel keeps no OOM-kill count (v1 before
        Linux 4.13), a SIGKILL after the cgroup hit its limit (memory.failcnt) is taken instead.
        SIGXCPU counts as the CPU-time limit only when the cgroup's CPU counter says so."""
        code = self.process.returncode
        if code is not None and 128 < code < 193:
            code = -(code - 128)  # bubblewrap (and tini) exit 128+N when their child dies of signal N
        cgroup = self.cgroup
        oom_kills = getattr(cgroup, "oom_kills", lambda: None)() if cgroup is not None else None
        if oom_kills is None and cgroup is not None and not hasattr(cgroup, "oom_kills"):
            oom_kills = cgroup.memory_events()  # a container: docker's OOMKilled flag
        limit = f"{self.policy.memory:,} bytes" if self.policy.memory else "no limit set"
        if oom_kills or (oom_kills is None and code == -signal.SIGKILL and cgroup is not None
                         and cgroup.memory_events()):
            return WorkerDied(f"the worker was killed for going over its memory limit ({limit})", quota="memory")
        if code == -signal.SIGXCPU:
            used = getattr(cgroup, "cpu_seconds", lambda: None)() if cgroup is not None else None
            if used is not None and self.policy.cpu_time and used >= 0.9 * self.policy.cpu_time:
                return WorkerDied(f"the worker used up its CPU time ({used:.2f} s of {self.policy.cpu_time:g} s)",
                                  quota="cpu_time")
            seen = "no CPU counter here to confirm it" if used is None else f"its cgroup counted {used:.2f} s"
            return WorkerDied(f"the worker was killed by SIGXCPU (by its own account, its CPU-time limit of "
                              f"{self.policy.cpu_time:g} s; {seen}, so this is not counted as a quota breach)")
        if code == 3:  # what the worker exits with on a MemoryError: its claim, which no counter confirms
            return WorkerDied(f"the worker exited with code 3 (by its own account, out of its address-space limit "
                              f"of {limit}; the kernel saw no memory kill, so this is not counted as a quota breach)")
        if code is not None and code < 0:
            return WorkerDied(f"the worker was killed by signal {signal.Signals(-code).name}")
        return WorkerDied(f"the worker exited with code {code}")

    def _died(self) -> WorkerDied:
        return self.death or WorkerDied("the worker is gone")

    def kill(self) -> None:
        try:
            self.process.kill()
        except (ProcessLookupError, OSError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    async def stop(self, grace: float) -> None:
        """Ask it to stop, wait up to `grace` seconds, then kill it."""
        if self._exited.is_set():
            return
        self.stopping = True
        try:
            await self.write(Stop())
        except WorkerDied:
            pass
        with trio.move_on_after(grace):
            await self._exited.wait()
        if not self._exited.is_set():
            self.kill()
            await self._exited.wait()


class RemoteWorker(Worker):
    """The `Worker` the kernel sees for a neuro in another process."""

    def __init__(self, handle: WorkerProcess, neuro: type, nursery: Any) -> None:
        self.handle = handle
        output = neuro.__manifest__.output
        self._reply = msgspec.msgpack.Decoder(output) if output is not None else None
        self.invoke = self._invoke

    @property
    def on_exit(self) -> Callable[[WorkerDied], None] | None:
        return self.handle.on_exit

    @on_exit.setter
    def on_exit(self, callback: Callable[[WorkerDied], None]) -> None:
        self.handle.on_exit = callback

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
        """Live policy change: cgroup limits apply at once; rlimits only to new workers."""
        if self.handle.cgroup is not None:
            self.handle.cgroup.apply(policy)
        self.handle.policy = policy
        await trio.lowlevel.checkpoint()

    async def stop(self, grace: float) -> None:
        await self.handle.stop(grace)


def _source_of(neuro: type) -> dict[str, bytes] | None:
    """The neuro's code to ship into the sandbox, unless it is part of the installed neuro
    package (which the sandbox can import itself)."""
    import os
    import sys

    exact = getattr(neuro, "__neuro_source__", None)  # the bytes it was loaded from (drop folders)
    if exact is not None:
        return dict(exact)
    module = sys.modules.get(neuro.__module__)
    path = getattr(module, "__file__", None)
    if path is None or neuro.__module__.startswith("neuro."):
        return None
    folder = os.path.dirname(path)
    if os.path.basename(path) == "__init__.py" or os.path.exists(os.path.join(folder, "neuro.toml")):
        package = os.path.basename(folder)
        files = {}
        for root, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    full = os.path.join(root, name)
                    with open(full, "rb") as f:
                        files[f"{package}/{os.path.relpath(full, folder)}"] = f.read()
        main = f"{package}/{os.path.relpath(path, folder)}"
        return {main: files.pop(main), **files}
    with open(path, "rb") as f:
        return {os.path.basename(path): f.read()}


def _type_path(value: Any) -> str:
    t = type(value)
    if isinstance(value, msgspec.Struct):
        return f"{t.__module__}:{t.__qualname__}"
    return ""
