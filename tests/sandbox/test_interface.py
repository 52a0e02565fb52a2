"""The sandbox interface is explicit, and the worker protocol does not depend on its carrier.

Every backend, worker, carrier and limits class implements its interface with the base's
signatures; the kernel calls that interface without probing; a backend that writes only
the abstract methods runs a neuro on the defaults. And the kernel's side of the worker
protocol runs unchanged over an in-memory carrier (two trio memory channels, frames as
Structs: no socket, no process, no cgroup), against a worker loop in a task: calls, ctx
operations, protocol violations, deaths and their reasons, all as over a socket.
"""

from __future__ import annotations

import inspect
import math
import pathlib
import re
import signal
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.sandbox import Backend, InprocBackend, Worker, _OnFirstUse
from neuro.sandbox._carrier import Carrier, CarrierClosed, Evidence, Limits, SocketCarrier
from neuro.sandbox._cgroups import Cgroup
from neuro.sandbox._docker import DockerBackend, _ContainerLimits
from neuro.sandbox._frames import PROTOCOL, Call, CtxOp, CtxResult, Hello, Hook, Load, Loaded, Result, Stop
from neuro.sandbox._inproc import InprocWorker
from neuro.sandbox._process import ProcessBackend
from neuro.sandbox._protocol import MAX_CTX_OPS, WorkerDied, WorkerProtocol
from neuro.sandbox._remote import RemoteWorker

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Ping(sdk.Message):
    n: int
    # What the in-memory worker does with it: "echo"; "ask" (a ctx call first); "stray" (a
    # Result for no request); "foreign" (a CtxOp for a call it does not serve); "wait" (no
    # answer); "flood" (more ctx operations at once than MAX_CTX_OPS); "exit:CODE".
    do: str = "echo"


class Echo(sdk.Neuro):
    """What the in-memory worker serves: it answers each Ping with itself (the worker loop
    below plays the part the sandbox's worker.py plays for a real neuro)."""

    name = "echo"
    input = Ping
    output = Ping

    def handle(self, ctx, msg):
        return msg


# -- the interface, checked on every class that implements it ---------------------------------


def _interface(base: type) -> dict[str, Any]:
    """The public methods and properties `base` defines: what an implementation must match."""
    return {name: value for name, value in vars(base).items()
            if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))}


def _shape(fn: Any) -> tuple[bool, list[tuple[str, Any, Any]]]:
    """(is it a coroutine function, its parameters as (name, kind, default)): a signature
    without annotations, which may name a subclass of the base's type."""
    params = [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    return inspect.iscoroutinefunction(fn), params


def _mismatches(base: type, cls: type) -> list[str]:
    wrong = []
    for name, expected in _interface(base).items():
        actual = inspect.getattr_static(cls, name)
        if isinstance(expected, property):
            if not isinstance(actual, property):
                wrong.append(f"{cls.__name__}.{name} is not a property")
        elif not callable(actual) or _shape(actual) != _shape(expected):
            wrong.append(f"{cls.__name__}.{name}{inspect.signature(actual) if callable(actual) else ''} "
                         f"differs from {base.__name__}.{name}{inspect.signature(expected)}")
    return wrong


BACKENDS = [InprocBackend, ProcessBackend, DockerBackend, _OnFirstUse]
WORKERS = [InprocWorker, RemoteWorker]


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda c: c.__name__)
def test_every_backend_class_implements_the_backend_interface_with_its_signatures(cls):
    """Each backend class leaves no abstract method and matches every Backend method's signature."""
    assert (False, []) == (inspect.isabstract(cls), _mismatches(Backend, cls))


@pytest.mark.parametrize("cls", WORKERS, ids=lambda c: c.__name__)
def test_every_worker_class_implements_the_worker_interface_with_its_signatures(cls):
    """Each worker class leaves no abstract method and matches every Worker method's signature."""
    assert (False, []) == (inspect.isabstract(cls), _mismatches(Worker, cls))


def test_on_exit_is_settable_on_every_worker_and_none_until_the_kernel_sets_it():
    """`on_exit` starts as None on every worker class and keeps the callback the kernel sets."""
    carrier = MemoryCarrier()
    workers = [InprocWorker(Echo(), is_async=False), RemoteWorker(WorkerProtocol(carrier, neuro.Policy(), 0.0), Echo)]
    before = [w.on_exit for w in workers]
    for w in workers:
        w.on_exit = print
    assert ([None, None], [print, print]) == (before, [w.on_exit for w in workers])


@pytest.mark.parametrize("cls", [SocketCarrier], ids=lambda c: c.__name__)
def test_every_carrier_class_implements_the_carrier_interface_with_its_signatures(cls):
    """Each carrier leaves no abstract method and matches every Carrier method's signature."""
    assert (False, []) == (inspect.isabstract(cls), _mismatches(Carrier, cls))


@pytest.mark.parametrize("cls", [Cgroup, _ContainerLimits], ids=lambda c: c.__name__)
def test_every_limits_class_has_what_a_carrier_reads_with_the_same_signatures(cls):
    """A cgroup and a container's limits both are Limits, with every method's signature."""
    assert (True, False, []) == (issubclass(cls, Limits), inspect.isabstract(cls), _mismatches(Limits, cls))


# Where the kernel (or a carrier) used to ask before it called.
PROBED = ("on_exit", "apply_policy", "unenforced", "describe", "_pool", "oom_kills", "cpu_seconds", "memory_events",
          "warm", "direct")


def test_the_kernel_and_the_sandbox_probe_no_part_of_the_interface():
    """No hasattr or getattr in kernel/ or sandbox/ names a method of the interface."""
    probe = re.compile(r"\b(?:hasattr|getattr)\([^()]*?[\"'](" + "|".join(PROBED) + r")[\"']")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for folder in ("kernel", "sandbox") for path in sorted((ROOT / folder).glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if probe.search(line)]
    assert [] == found


# -- a backend of only the abstract methods runs on the defaults ---------------------------------


class MinimalWorker(Worker):
    def __init__(self, instance: Any) -> None:
        self.instance = instance

        async def invoke(ctx: Any, msg: Any) -> Any:
            await trio.lowlevel.checkpoint()
            return instance.handle(ctx, msg)

        self.invoke = invoke

    async def hook(self, name: str, *args: Any) -> Any:
        await trio.lowlevel.checkpoint()
        return getattr(self.instance, name)(*args)

    async def stop(self, grace: float) -> None:
        await trio.lowlevel.checkpoint()


class MinimalBackend(Backend):
    """Only what Backend leaves abstract: `start`."""

    name = "minimal"
    isolation = "none: a test backend that runs the neuro in the kernel's process"

    def __init__(self) -> None:
        self.started = 0

    async def start(self, neuro: type, policy: Any) -> Worker:
        await trio.lowlevel.checkpoint()
        self.started += 1
        return MinimalWorker(neuro())


def _policy_file(folder: pathlib.Path, name: str, backend: str, memory: int) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(f'sandbox = "{backend}"\nsandboxes = ["{backend}"]\nmemory = {memory}\n')


def test_a_backend_of_only_the_abstract_methods_serves_through_spawn_call_and_a_policy_change(tmp_path):
    """start() alone is enough: spawn, call and a live policy change work on the defaults."""
    folder = tmp_path / "policies"
    _policy_file(folder, "mini", "minimal", 1 << 20)
    backend = MinimalBackend()

    async def main():
        async with neuro.Kernel(policy_dirs=[str(folder)], backends={"minimal": backend}) as k:
            await k.spawn(Echo, policy="mini")
            first = await k.call("echo", Ping(n=1))
            _policy_file(folder, "mini", "minimal", 2 << 20)
            reloaded = await k.reload_policies()
            second = await k.call("echo", Ping(n=2))
            return first.n, reloaded["changed"], second.n, backend.started

    assert (1, ["mini"], 2, 1) == trio.run(main)


def test_the_default_unenforced_names_every_limit_of_the_policy(tmp_path):
    """A backend that says nothing of what it enforces is logged as enforcing none of it."""
    folder = tmp_path / "policies"
    _policy_file(folder, "mini", "minimal", 1 << 20)

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policy_dirs=[str(folder)],
                                backends={"minimal": MinimalBackend()}) as k:
            await k.spawn(Echo, policy="mini")
            return await k.log.events(name="quota.unenforceable")

    (event,) = trio.run(main)
    assert ({"memory": 1 << 20, "network": "denied by the policy, reachable under the minimal backend, which does "
             "not say what it enforces"}) == {k: event.data["limits"][k] for k in ("memory", "network")}


def test_the_default_describe_refuses_code_the_kernel_does_not_trust_and_names_the_backends_that_can():
    """Backend.describe, not overridden, raises an error naming the process and docker sandboxes."""

    async def main():
        with pytest.raises(neuro.NeuroError) as caught:
            await MinimalBackend().describe({"a.py": b""}, "v1", "here", neuro.Policy(), 5.0)
        return str(caught.value)

    assert ("the minimal backend cannot load code the kernel does not trust; use the process or docker sandbox "
            "for it") == trio.run(main)


class RecordingBackend(MinimalBackend):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def unenforced(self, policy: Any) -> dict[str, Any]:
        self.calls.append("unenforced")
        return {}

    async def describe(self, source, version, origin, policy, deadline) -> bytes:
        self.calls.append("describe")
        await trio.lowlevel.checkpoint()
        return b"described"

    async def warm(self, policy: Any) -> None:
        self.calls.append("warm")
        await trio.lowlevel.checkpoint()

    def bind(self, nursery: Any) -> None:
        self.calls.append("bind")

    async def aclose(self) -> None:
        self.calls.append("aclose")


def test_the_lazy_backend_passes_every_method_of_the_interface_to_the_real_one():
    """_OnFirstUse makes the real backend at first use, binds it, and forwards each call."""
    real = RecordingBackend()
    lazy = _OnFirstUse("minimal", lambda: real)

    async def main():
        policy = neuro.Policy()
        lazy.bind(object())
        made_early = lazy._real is not None
        await lazy.warm(policy)
        lazy.unenforced(policy)
        described = await lazy.describe({}, "v", "o", policy, 1.0)
        worker = await lazy.start(Echo, policy)
        await lazy.aclose()
        return made_early, described, type(worker).__name__, real.calls, lazy.isolation

    assert (False, b"described", "MinimalWorker", ["bind", "warm", "unenforced", "describe", "aclose"],
            MinimalBackend.isolation) == trio.run(main)


# -- the worker protocol over an in-memory carrier ---------------------------------------------------


class MemoryCarrier(Carrier):
    """Frames as Structs over two trio memory channels (as a Ray actor's carrier might pass
    them): no bytes, no socket, no process. The worker's 'process' is the task that runs
    `serve_memory_worker`; its end, and the evidence it leaves, are set by `end()`."""

    def __init__(self) -> None:
        self.to_worker, self.worker_inbox = trio.open_memory_channel(math.inf)
        self.worker_outbox, self.from_worker = trio.open_memory_channel(math.inf)
        self.ended = trio.Event()
        self.scope = trio.CancelScope()  # the worker's life: kill() cancels it
        self.left = Evidence()
        self.kills = 0
        self.sent = 0
        self.closed = False
        self.seen: list[str] = []  # the frames the worker received, by type

    async def send(self, frame: Any) -> None:
        self.sent += 1
        try:
            await self.to_worker.send(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise CarrierClosed() from None

    async def receive(self) -> list[Any]:
        try:
            frames = [await self.from_worker.receive()]
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return []
        while True:  # what else is there already, as a socket read returns all it holds
            try:
                frames.append(self.from_worker.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return frames

    async def wait_exit(self) -> None:
        await self.ended.wait()

    def evidence(self) -> Evidence:
        return self.left

    def kill(self) -> None:
        self.kills += 1
        self.scope.cancel()

    def close(self) -> None:
        self.closed = True
        self.to_worker.close()
        self.from_worker.close()

    def end(self, evidence: Evidence) -> None:
        """The worker's process ends, leaving `evidence`: its frames end with it."""
        if not self.ended.is_set():
            self.left = evidence
            self.worker_outbox.close()
            self.ended.set()


async def serve_memory_worker(carrier: MemoryCarrier) -> None:
    """The worker's side: Hello, then Load -> Loaded, Call -> Result (as `Ping.do` says),
    Hook -> Result, Stop -> exit 0. Killed (cancelled), it ends as SIGKILL would."""
    out = carrier.worker_outbox
    with carrier.scope:
        await out.send(Hello(protocol=PROTOCOL, pid=4242))
        async for frame in carrier.worker_inbox:
            carrier.seen.append(type(frame).__name__)
            if isinstance(frame, Load):
                await out.send(Loaded(ok=True, version=frame.version))
            elif isinstance(frame, Hook):
                await out.send(Result(id=frame.id, ok=True, reply=msgspec.msgpack.encode(f"{frame.name} ran")))
            elif isinstance(frame, Stop):
                carrier.end(Evidence(exit_code=0))
                return
            elif isinstance(frame, Call):
                msg = msgspec.msgpack.decode(frame.payload, type=Ping)
                if msg.do == "ask":
                    await out.send(CtxOp(id=1, call=frame.id, op="call", to="other",
                                         payload=msgspec.msgpack.encode(Ping(n=msg.n)), timeout=5.0))
                    answer = await carrier.worker_inbox.receive()
                    assert isinstance(answer, CtxResult)
                    await out.send(Result(id=frame.id, ok=answer.ok, reply=answer.reply))
                elif msg.do == "flood":  # more operations at once than the kernel runs at once
                    for i in range(MAX_CTX_OPS + 6):
                        await out.send(CtxOp(id=i + 1, call=frame.id, op="send", to="other",
                                             payload=msgspec.msgpack.encode(i)))
                    for _ in range(MAX_CTX_OPS + 6):
                        await carrier.worker_inbox.receive()
                    await out.send(Result(id=frame.id, ok=True, reply=frame.payload))
                elif msg.do == "stray":
                    await out.send(Result(id=frame.id + 98, ok=True))
                elif msg.do == "foreign":
                    await out.send(CtxOp(id=1, call=frame.id + 4, op="send", to="other", payload=b"\x90"))
                elif msg.do == "wait":
                    continue  # serves it until its end comes
                elif msg.do.startswith("exit:"):
                    carrier.end(Evidence(exit_code=int(msg.do[5:])))
                    return
                else:
                    await out.send(Result(id=frame.id, ok=True, reply=frame.payload))
    carrier.end(Evidence(exit_code=-signal.SIGKILL))


class RecordingContext:
    """The kernel context a call is served under: records the operations the worker makes."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, str, Any, Any]] = []

    async def call(self, to: str, payload: Any, *, timeout: float | None = None) -> Any:
        self.ops.append(("call", to, payload, timeout))
        await trio.lowlevel.checkpoint()
        return Ping(n=payload["n"] * 10)


class HoldingContext:
    """A kernel context whose sends wait until `release` is set, counting how many wait at once."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.running = self.peak = self.served = 0

    async def send(self, to: str, payload: Any, *, timeout: float | None = None) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.served += 1
        return self.served


async def _started(nursery: trio.Nursery, policy: Any = None) -> tuple[MemoryCarrier, RemoteWorker, list[Any]]:
    """A worker loaded with Echo over a fresh in-memory carrier, and what its on_exit got."""
    carrier = MemoryCarrier()
    handle = WorkerProtocol(carrier, policy or neuro.Policy(), trio.current_time())
    nursery.start_soon(serve_memory_worker, carrier)
    nursery.start_soon(handle.run)
    await handle.wait_hello()
    await handle.load(Echo, handle.policy)
    worker = RemoteWorker(handle, Echo)
    exits: list[Any] = []
    worker.on_exit = exits.append
    return carrier, worker, exits


def test_a_call_travels_the_protocol_over_an_in_memory_carrier():
    """The worker says Hello, loads on Load, and answers a Call with a Result the worker decodes."""

    async def main():
        async with trio.open_nursery() as nursery:
            carrier, worker, _ = await _started(nursery)
            reply = await worker.invoke(RecordingContext(), Ping(n=3))
            hooked = await worker.hook("selfcheck")
            await worker.stop(1.0)
        return reply, hooked, carrier.seen, worker.handle.pid

    assert (Ping(n=3), "selfcheck ran", ["Load", "Call", "Hook", "Stop"], 4242) == trio.run(main)


def test_a_flood_of_ctx_operations_runs_at_most_max_ctx_ops_at_once_and_all_are_served():
    """Past MAX_CTX_OPS operations in flight, the kernel takes no more of the worker's frames
    until one ends; once they end, every operation gets its result and the call its reply."""

    async def main():
        ctx = HoldingContext()
        async with trio.open_nursery() as nursery:
            _, worker, _ = await _started(nursery)
            replies = []

            async def call() -> None:
                replies.append(await worker.invoke(ctx, Ping(n=5, do="flood")))

            nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            held = ctx.running
            ctx.release.set()
            while not replies:
                await trio.sleep(0.01)
            await worker.stop(1.0)
        return held, ctx.peak, ctx.served, replies

    assert (MAX_CTX_OPS, MAX_CTX_OPS, MAX_CTX_OPS + 6, [Ping(n=5, do="flood")]) == trio.run(main)


def test_a_ctx_operation_over_an_in_memory_carrier_is_served_by_the_calls_context():
    """A CtxOp for the call in flight runs on that call's kernel context; its CtxResult goes back."""

    async def main():
        ctx = RecordingContext()
        async with trio.open_nursery() as nursery:
            _, worker, _ = await _started(nursery)
            reply = await worker.invoke(ctx, Ping(n=2, do="ask"))
            await worker.stop(1.0)
        return reply, ctx.ops

    assert (Ping(n=20), [("call", "other", {"n": 2, "do": "echo"}, 5.0)]) == trio.run(main)


@pytest.mark.parametrize(("do", "broke"), [
    ("stray", "a result for request 99, which is not waiting"),
    ("foreign", "an operation for call 5, which it is not serving"),
])
def test_a_worker_that_breaks_the_protocol_over_any_carrier_is_killed_and_says_how(do, broke):
    """A stray Result or a CtxOp for another call kills the worker (through its carrier); the
    call and on_exit get WorkerDied naming what it broke, with quota "protocol"."""

    async def main():
        async with trio.open_nursery() as nursery:
            carrier, worker, exits = await _started(nursery)
            with pytest.raises(WorkerDied) as caught:
                await worker.invoke(RecordingContext(), Ping(n=1, do=do))
        return str(caught.value), caught.value.quota, [str(e) for e in exits], carrier.kills > 0, carrier.closed

    message = f"the worker broke the protocol and was killed: {broke}"
    assert (message, "protocol", [message], True, True) == trio.run(main)


@pytest.mark.parametrize(("evidence", "quota", "reason"), [
    (Evidence(exit_code=7), None, "the worker exited with code 7"),
    (Evidence(exit_code=-signal.SIGKILL, oom_kills=1), "memory",
     "the worker was killed for going over its memory limit (1,048,576 bytes)"),
    (Evidence(exit_code=-signal.SIGKILL, oom_kills=0, memory_limit_hits=3), None,
     "the worker was killed by signal SIGKILL"),
    (Evidence(exit_code=-signal.SIGKILL, memory_limit_hits=3), "memory",
     "the worker was killed for going over its memory limit (1,048,576 bytes)"),
    (Evidence(exit_code=-signal.SIGXCPU, cpu_seconds=1.95), "cpu_time",
     "the worker used up its CPU time (1.95 s of 2 s)"),
    (Evidence(exit_code=-signal.SIGXCPU), None,
     "the worker was killed by SIGXCPU (by its own account, its CPU-time limit of 2 s; no CPU counter here to "
     "confirm it, so this is not counted as a quota breach)"),
])
def test_a_worker_that_ends_fails_its_call_with_the_reason_its_carriers_evidence_gives(evidence, quota, reason):
    """The protocol names a death from the carrier's evidence alone: the same rules as for a cgroup."""

    async def main():
        async with trio.open_nursery() as nursery:
            carrier, worker, exits = await _started(nursery, neuro.Policy(memory=1 << 20, cpu_time=2))
            async with trio.open_nursery() as calls:
                failed: list[BaseException] = []

                async def call() -> None:
                    try:
                        await worker.invoke(RecordingContext(), Ping(n=1, do="wait"))
                    except WorkerDied as e:
                        failed.append(e)

                calls.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()
                carrier.end(evidence)
        return [(str(e), e.quota) for e in failed], [str(e) for e in exits]

    assert ([(reason, quota)], [reason]) == trio.run(main)


def test_stop_over_an_in_memory_carrier_asks_first_and_reports_no_end_of_its_own():
    """stop() sends Stop; the worker exits 0; on_exit is not called and the carrier is closed."""

    async def main():
        async with trio.open_nursery() as nursery:
            carrier, worker, exits = await _started(nursery)
            await worker.stop(1.0)
        return carrier.seen[-1], exits, carrier.kills, carrier.closed, worker.handle.alive

    assert ("Stop", [], 0, True, False) == trio.run(main)


def test_a_call_to_a_worker_already_gone_raises_its_reason_without_sending():
    """After the worker ended, invoke raises the same WorkerDied at once: the carrier is not used."""

    async def main():
        async with trio.open_nursery() as nursery:
            carrier, worker, _ = await _started(nursery)
            with pytest.raises(WorkerDied):
                await worker.invoke(RecordingContext(), Ping(n=1, do="exit:4"))
            sent = carrier.sent
            with pytest.raises(WorkerDied) as again:
                await worker.invoke(RecordingContext(), Ping(n=2))
        return str(again.value), carrier.sent - sent

    assert ("the worker exited with code 4", 0) == trio.run(main)


class MemoryBackend(Backend):
    """A backend whose workers are in-memory carriers: the protocol and RemoteWorker as the
    process backend uses them, with another carrier under them."""

    name = "memory"
    isolation = "none: a test backend whose worker is a task of the kernel's process"

    def __init__(self) -> None:
        self.carriers: list[MemoryCarrier] = []
        self._nursery: trio.Nursery | None = None

    def bind(self, nursery: Any) -> None:
        self._nursery = nursery

    async def start(self, neuro: type, policy: Any) -> Worker:
        assert self._nursery is not None
        carrier = MemoryCarrier()
        self.carriers.append(carrier)
        handle = WorkerProtocol(carrier, policy, trio.current_time())
        self._nursery.start_soon(serve_memory_worker, carrier)
        self._nursery.start_soon(handle.run)
        await handle.wait_hello()
        await handle.load(neuro, policy)
        return RemoteWorker(handle, neuro)


def test_a_kernel_serves_and_restarts_a_neuro_whose_worker_is_on_an_in_memory_carrier(tmp_path):
    """Through the kernel: a call is answered; a worker that exits fails its call with the
    reason, the supervisor starts a new one, and it serves."""
    folder = tmp_path / "policies"
    _policy_file(folder, "mem", "memory", 0)
    backend = MemoryBackend()

    async def main():
        async with neuro.Kernel(policy_dirs=[str(folder)], backends={"memory": backend}) as k:
            await k.spawn(Echo, policy="mem")
            first = await k.call("echo", Ping(n=1))
            with pytest.raises(neuro.NeuroError) as died:
                await k.call("echo", Ping(n=2, do="exit:5"))
            with trio.fail_after(10):
                while k.info("echo").state != "running" or len(backend.carriers) < 2:
                    await trio.sleep(0.01)
            again = await k.call("echo", Ping(n=3))
            return first.n, "the worker exited with code 5" in str(died.value), again.n, k.info("echo").restarts

    assert (1, True, 3, 1) == trio.run(main)
