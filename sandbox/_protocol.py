"""The kernel's side of the worker protocol: which frames may come when, and what each does.

It knows nothing of sockets, processes or cgroups: frames come and go through a `Carrier`
(`_carrier.py`), which also says when the worker ended and what evidence it left. Here are
the requests in flight (a Call or Hook waiting for its Result), the operations a neuro makes
on the kernel while it serves one (CtxOp, answered by CtxResult), Load and Describe, and the
rules: anything the worker sends that the protocol does not allow at that moment (a
malformed or oversized frame, a reply to nothing, an operation for a call it is not serving)
kills the worker. A worker that ends, for whatever reason, fails what it was serving with
WorkerDied, which says why (memory limit, CPU time, killed, exited) so the supervisor can
restart it.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import msgspec
import outcome
import trio

from neuro._aio import Parked
from neuro._errorinfo import error_info
from neuro._errors import NeuroError

from ._base import OnExit
from ._carrier import Carrier, CarrierClosed, Evidence
from ._frames import CtxOp, CtxResult, Described, Hello, Load, Loaded, ProtocolError, Result, Stop

__all__ = ["WorkerProtocol", "WorkerDied", "diagnose", "MAX_CTX_OPS"]

_enc = msgspec.msgpack.Encoder()
# Operations a worker may have in flight on the kernel at once; past it, its frames wait.
MAX_CTX_OPS = 64


class WorkerDied(NeuroError):
    """The worker ended while serving; `quota` names the limit it hit, if any."""

    def __init__(self, message: str, quota: str | None = None) -> None:
        super().__init__(message)
        self.quota = quota


def _GONE(death: WorkerDied) -> outcome.Error:
    """What one waiter of a dead worker is resolved with: its own outcome (an outcome can be
    unwrapped once) holding its own copy of the reason (one exception raised in several
    tasks would gather all their tracebacks)."""
    fresh = BaseException.__new__(type(death), *death.args)  # whatever fields it has, copied
    fresh.__dict__.update(death.__dict__)
    return outcome.Error(fresh)


class WorkerProtocol:
    """One worker's side of the protocol, as the kernel holds it, over `carrier`.

    The backend starts `run()` in its nursery as soon as the carrier is up; `wait_hello()`
    returns once the worker said who it is. `policy` is the one it runs under (its limits
    name the quota in a death's reason)."""

    def __init__(self, carrier: Carrier, policy: Any, started: float) -> None:
        self.carrier = carrier
        self.policy = policy
        self.started = started
        self.ready_at: float | None = None
        self.pid: int | None = None
        self.alive = True
        self.stopping = False
        self.death: WorkerDied | None = None
        self.on_exit: OnExit | None = None
        self.calls: dict[int, Any] = {}  # call id -> the kernel context serving it
        self._send = carrier.send
        self._hello = trio.Event()
        self._exited = trio.Event()
        self._pending: dict[int, Parked] = {}
        self._load: Parked | None = None
        self._ids = 0
        self._ops = trio.Semaphore(MAX_CTX_OPS)
        self._nursery: trio.Nursery | None = None
        self._taint: frozenset[str] = frozenset()  # the last taint `taint_of` saw, and its frame form
        self._taint_frame: tuple[str, ...] | None = None

    @property
    def output_tail(self) -> bytes:
        """The end of what the worker printed (as its carrier kept it)."""
        return self.carrier.output_tail

    def taint_of(self, ctx: Any) -> tuple[str, ...] | None:
        """The taint of the neuro `ctx` serves, as a Call or CtxResult frame carries it to the
        worker (`ctx.labels` there; docs/privacy.md). Most frames: one identity test, None. A
        context without labels (a test's stand-in) has none."""
        labels = getattr(ctx, "labels", self._taint)
        if labels is not self._taint:
            self._taint, self._taint_frame = labels, tuple(sorted(labels)) or None
        return self._taint_frame

    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    async def write(self, frame: Any) -> None:
        if not self.alive:
            raise await self._death_known()
        try:
            await self._send(frame)
        except CarrierClosed:  # the worker hung up, or _finish closed the carrier
            raise await self._death_known() from None

    async def _death_known(self) -> WorkerDied:
        """Why the worker is gone, once the reader has found out (a write can fail before the
        reader has seen the end of the stream): never a bare "gone" when the reason comes."""
        if self.death is None:
            with trio.move_on_after(3.0):
                await self._exited.wait()
        return self._died()

    async def wait_hello(self) -> None:
        await self._hello.wait()
        if not self.alive:
            raise self._died()

    async def request(self, frame: Any) -> Any:
        """Send Call or Hook `frame` and wait for its Result."""
        pending = Parked()
        self._pending[frame.id] = pending
        try:
            # `write`, inline: this is every call's path, one coroutine shorter.
            if not self.alive:
                raise await self._death_known()
            try:
                await self._send(frame)
            except CarrierClosed:
                raise await self._death_known() from None
            return await pending.wait()  # raises the worker's death, if it died meanwhile
        finally:
            self._pending.pop(frame.id, None)

    def request_nowait(self, frame: Any, waiter: Any) -> bytes | memoryview | None:
        """Send Call `frame` now, without waiting, where the carrier can: `waiter.resolve` then
        gets its Result, or the worker's death, from whichever task learns it first (the
        reader, mostly), and no task waits for it here. None: nothing was sent (`request` it
        instead); else what is left of the frame (mostly nothing) for `send_rest`."""
        if not self.alive:
            return None
        rest = self.carrier.send_nowait(frame)
        if rest is not None:
            self._pending[frame.id] = waiter
        return rest

    async def send_rest(self, rest: bytes | memoryview) -> None:
        """Finish the frame `request_nowait` began; a worker that takes none of it is killed
        (its death then resolves the request)."""
        try:
            await self.carrier.send_rest(rest)
        except CarrierClosed:
            self.kill()

    async def load(self, neuro: type, policy: Any) -> None:
        manifest = neuro.__manifest__
        self._load = Parked()
        await self.write(Load(module=manifest.module, qualname=manifest.qualname, version=neuro.version(),
                              source=source_of(neuro), gpu_memory=policy.gpu_memory,
                              artifacts=artifacts_inside(neuro), resources=_grant(neuro, policy)))
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

    async def run(self) -> None:
        """Take the worker's frames until it sends no more or breaks the protocol, then
        settle its end (`_finish`)."""
        receive = self.carrier.receive
        reason: WorkerDied | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                while True:
                    try:
                        frames = await receive()
                        if not frames:
                            break
                        for frame in frames:
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
        pending = self._pending.pop(result.id, None)
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
            try:
                self._ops.acquire_nowait()  # no checkpoint while there is room: one scheduler pass less
            except trio.WouldBlock:
                await self._ops.acquire()  # backpressure: a flood waits in the carrier, not in memory
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
            elif op.op == "background":  # ctx.start_background: the task's ops come under an id of its own
                task_id = self.new_id()
                self.calls[task_id] = ctx._background_context()
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(task_id))
            elif op.op == "background_end":  # `payload`: None, or the error it crashed with
                self.calls.pop(op.call, None)
                if payload is not None:
                    ctx._background_crashed(op.to, str(payload))
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(None))
            elif op.op == "declassify":  # ctx.declassify: the kernel's context checks the policy and logs it
                await ctx._declassify(op.to, payload)
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(None))
            elif op.op.startswith("artifact_"):  # ctx.put_artifact / get_artifact / find_artifact
                reply = await ctx._artifact_op(op.op[len("artifact_"):], op.to, payload)
                out = CtxResult(id=op.id, ok=True, reply=_enc.encode(reply))
            else:
                out = CtxResult(id=op.id, ok=False, error_type="ValueError", error=f"unknown operation {op.op!r}")
        except Exception as e:  # a neuro's error (placed) or the kernel's refusal, to raise in the sandbox
            out = CtxResult(id=op.id, ok=False, error_type=type(e).__name__, error=str(e), failure=error_info(e))
        finally:
            self._ops.release()
        out.labels = self.taint_of(ctx)  # a reply, an artifact or a declassify may have changed it
        try:
            await self.write(out)
        except WorkerDied:
            pass

    async def _finish(self, reason: WorkerDied | None) -> None:
        """The frames ended: find out why, fail what waits, clean up, tell the kernel."""
        was_stopping = self.stopping
        self.alive = False
        carrier = self.carrier
        if reason is not None:
            carrier.kill()
        with trio.move_on_after(2) as waited:
            await carrier.wait_exit()
        if waited.cancelled_caught:
            carrier.kill()
            with trio.move_on_after(2):
                await carrier.wait_exit()
        self.death = death = reason or diagnose(carrier.evidence(), self.policy)
        tail = carrier.output_tail.decode("utf-8", "replace").strip()
        if tail and not was_stopping and death.quota is None:
            # What it said last (a launcher's refusal, a traceback printed at exit) says why.
            death.args = (f"{death.args[0]}; its last output: {tail[-500:]}",)
        waiting = list(self._pending.values())
        for pending in waiting:
            if isinstance(pending, Parked):  # a task waits for it, and runs once the kernel has heard why
                pending.resolve(_GONE(death))
        if self._load is not None:
            self._load.resolve(_GONE(death))
        self._hello.set()
        carrier.close()
        self._exited.set()
        if not was_stopping and self.on_exit is not None:
            self.on_exit(self.death)
        for pending in waiting:  # sent by request_nowait: settled now, after the kernel heard why
            if not pending.resolved:
                pending.resolve(_GONE(death))

    def _died(self) -> WorkerDied:
        return self.death or WorkerDied("the worker is gone")

    def kill(self) -> None:
        self.carrier.kill()

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


def diagnose(evidence: Evidence, policy: Any) -> WorkerDied:
    """Why the worker ended. A quota is named only on evidence the neuro cannot forge: its
    exit code and its signal are its own to choose (`os._exit(3)`, `os.kill(os.getpid(),
    SIGKILL)`), the cgroup's OOM-kill count (v1 memory.oom_control, v2 memory.events) and
    docker's OOMKilled flag are not. Where the host keeps no OOM-kill count (v1 before
    Linux 4.13), a SIGKILL after the cgroup hit its limit (memory.failcnt) is taken instead.
    SIGXCPU counts as the CPU-time limit only when the cgroup's CPU counter says so."""
    code = evidence.exit_code
    oom_kills = evidence.oom_kills
    limit = f"{policy.memory:,} bytes" if policy.memory else "no limit set"
    if oom_kills or (oom_kills is None and code == -signal.SIGKILL and evidence.memory_limit_hits):
        return WorkerDied(f"the worker was killed for going over its memory limit ({limit})", quota="memory")
    if code == -signal.SIGXCPU:
        used = evidence.cpu_seconds
        if used is not None and policy.cpu_time and used >= 0.9 * policy.cpu_time:
            return WorkerDied(f"the worker used up its CPU time ({used:.2f} s of {policy.cpu_time:g} s)",
                              quota="cpu_time")
        seen = "no CPU counter here to confirm it" if used is None else f"its cgroup counted {used:.2f} s"
        return WorkerDied(f"the worker was killed by SIGXCPU (by its own account, its CPU-time limit of "
                          f"{policy.cpu_time:g} s; {seen}, so this is not counted as a quota breach)")
    if code == 3:  # what the worker exits with on a MemoryError: its claim, which no counter confirms
        return WorkerDied(f"the worker exited with code 3 (by its own account, out of its address-space limit "
                          f"of {limit}; the kernel saw no memory kill, so this is not counted as a quota breach)")
    if code is not None and code < 0:
        return WorkerDied(f"the worker was killed by signal {signal.Signals(-code).name}")
    return WorkerDied(f"the worker exited with code {code}")


def source_of(neuro: type) -> dict[str, bytes] | None:
    """The neuro's code to ship into the sandbox (Load's `source`): the bytes it was loaded
    from (a file, a drop folder, a stored version, a described neuro), or else the files of
    its module or package folder as the one reader reads them (`neuro._identity`: code and
    neuro.toml, no tests or caches, the entry module first), which are the bytes its version
    names; None for a neuro of the installed neuro package, which the sandbox imports itself."""
    exact = vars(neuro).get("__neuro_source__")
    if exact is not None:
        return dict(exact)
    if neuro.__module__.startswith("neuro."):
        return None
    from neuro._manifest import source_files

    return source_files(neuro)


def artifacts_inside(neuro: type) -> dict[str, str]:
    """Load's `artifacts`: each declared artifact's path -> the file it is inside the sandbox.
    Both backends bind a read-only grant at the path it was granted under, which for an
    exported artifact is `artifact_grant_path` (what `with_grants` in kernel/_artifactexport.py
    grants, resolved as `open_grants` resolves it)."""
    from neuro._artifactfiles import artifact_paths

    from ._grants import artifact_grant_path

    return {path: artifact_grant_path(exported) for path, exported in artifact_paths(neuro).items()}


def _grant(neuro: type, policy: Any) -> Any:
    """Load's `resources`: `policy`'s grant in the backend the kernel picks for `neuro` (its
    manifest's sandbox, else the policy's)."""
    from neuro._resources import grant_of

    return grant_of(policy, neuro.__manifest__.sandbox or policy.sandbox)


def _type_path(value: Any) -> str:
    t = type(value)
    if isinstance(value, msgspec.Struct):
        return f"{t.__module__}:{t.__qualname__}"
    return ""
