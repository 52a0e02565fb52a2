"""Hypothesis fuzzes every public kernel method's arguments against one running kernel.

spawn, stop, restart, send, call, publish, swap, rollback, versions and info get finite,
non-finite, huge, negative and wrongly typed arguments. A method may refuse them, with one of
the errors Neuro raises for bad arguments, but it may not raise anything else, and after each
example the kernel still answers a call. At the end, every message the kernel accepted has
exactly one outcome in the log.

The kernel runs in its own thread's `trio.run` for the whole test, and each example reaches
it through `trio.from_thread.run`, so one kernel (and one log) sees every example.
"""

from __future__ import annotations

import math
import threading

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuro
from neuro import sdk
from neuro.testing import Echo, Ping, Pong, SyncEcho


# What a method may raise for arguments it refuses; anything else is a finding.
REFUSALS = (neuro.NeuroError, ValueError, TypeError)


class Sentinel(sdk.Neuro):
    """The liveness probe; no fuzzed name reaches it."""

    name = "sentinel"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        return Pong(n=msg.n)


class EchoV2(sdk.Neuro):
    """A second version of echo, for swaps that go live."""

    name = "echo"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n + 1)


numbers = st.one_of(
    st.integers(-3, 3), st.integers(), st.integers(-(2**80), 2**80), st.just(10**400), st.just(-(10**400)),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308]),
)
junk = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=8), st.binary(max_size=8),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), numbers, max_size=2),
    st.just(object()), st.just(Ping), st.just(int),
)


def mostly(good, bad=junk):
    """`good` three times in four, else `bad`: weighted towards what a method accepts, so that
    many examples get past the first check (`one_of` would flatten `junk` and draw each of its
    branches as often as `good`)."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 3 else good)


names = mostly(st.sampled_from(["echo"] * 6 + ["echo2", "nobody", "", "Echo", "a" * 300]))
timeouts = mostly(st.one_of(st.none(), st.sampled_from([0.0, 0.001, 1.0, 30.0, math.inf]), numbers))
payloads = mostly(st.one_of(st.builds(Ping, st.integers(-9, 9)), st.builds(Ping, st.integers(-(2**70), 2**70)),
                            st.builds(lambda n: {"n": n}, numbers)))
flags = mostly(st.booleans())
classes = mostly(st.sampled_from([Echo, EchoV2, SyncEcho, Sentinel]))
sources = st.one_of(st.none(), st.none(), junk)  # a valid dict would rewrite Echo's own version

operations = st.one_of(
    st.tuples(st.just("spawn"), classes, st.fixed_dictionaries({}, optional={
        "name": names, "policy": mostly(st.sampled_from(["default", "untrusted", "nope"])),
        "supervisor": mostly(st.just("root")), "restart": mostly(st.just("transient")),
        "source": sources})),
    st.tuples(st.just("stop"), names, st.fixed_dictionaries({}, optional={
        "drain": flags, "timeout": mostly(st.sampled_from([0.0, 0.5]), timeouts),
        "reason": mostly(st.just("fuzzed"))})),
    st.tuples(st.just("restart"), names, st.just({})),
    st.tuples(st.just("send"), names, payloads, st.fixed_dictionaries({}, optional={
        "timeout": timeouts, "durable": flags})),
    st.tuples(st.just("call"), names, payloads, st.fixed_dictionaries({}, optional={
        "timeout": timeouts, "durable": flags})),
    st.tuples(st.just("publish"), mostly(st.sampled_from(["news", "echo", "kernel.events"])), payloads,
              st.just({})),
    st.tuples(st.just("swap"), names, classes, st.fixed_dictionaries({}, optional={
        "replay": mostly(st.integers(0, 3)), "tolerance": mostly(st.floats(0, 1)),
        "accept": flags, "origin": mostly(st.just("fuzz")), "source": sources})),
    st.tuples(st.just("rollback"), names, st.fixed_dictionaries({}, optional={"version": mostly(st.text(max_size=4))})),
    st.tuples(st.just("versions"), names, st.just({})),
    st.tuples(st.just("info"), names, st.just({})),
)


class KernelThread:
    """One kernel in its own thread's trio loop; `run` calls into it from this thread."""

    def __init__(self, log_path) -> None:
        self.log_path = log_path
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.statistics = None
        self.thread = threading.Thread(target=self._thread, daemon=True)

    def _thread(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as e:  # noqa: BLE001 - the test reports it
            self.error = e
        finally:
            self.ready.set()

    async def _main(self) -> None:
        self.done = trio.Event()
        async with neuro.Kernel(log=self.log_path) as k:
            self.kernel = k
            await k.spawn(Sentinel)
            await k.spawn(Echo)
            self.token = trio.lowlevel.current_trio_token()
            self.ready.set()
            await self.done.wait()
        self.statistics = k.statistics()

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error

    def run(self, afn, *args):
        return trio.from_thread.run(afn, *args, trio_token=self.token)

    def close(self) -> None:
        if self.thread.is_alive():
            trio.from_thread.run_sync(self.done.set, trio_token=self.token)
        self.thread.join(120)


async def apply(k, op, sent: list[int]) -> None:
    """Run one fuzzed operation; a refusal is fine, any other exception propagates."""
    method, *args, kwargs = op
    if method == "spawn" or not any(p.name == "echo" for p in k.ps()):
        try:  # keep a target alive for the next examples
            await k.spawn(Echo)
        except neuro.AlreadyRunning:
            pass
    if method == "spawn" and args[0] is Echo and kwargs.get("name", "echo") == "echo":
        return
    fn = getattr(k, method)
    try:
        with trio.move_on_after(60):  # real time: only a hang gets here, and the liveness check says so
            result = fn(*args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
            if method == "send":
                sent.append(result)
    except REFUSALS:
        pass


async def still_serves(k, n: int) -> Pong:
    return await k.call("sentinel", Ping(n=n), timeout=30.0)


def test_fuzzed_arguments_never_take_the_kernel_down_and_lose_no_message(tmp_path):
    """Hundreds of fuzzed calls to every public method: the kernel keeps serving, and every
    accepted message has exactly one outcome."""
    path = tmp_path / "run.db"
    harness = KernelThread(path)
    harness.start()
    sent: list[int] = []
    examples = [0]
    try:
        @settings(max_examples=500, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(op=operations)
        def one(op):
            examples[0] += 1
            harness.run(apply, harness.kernel, op, sent)
            assert Pong(n=examples[0]) == harness.run(still_serves, harness.kernel, examples[0]), op

        one()
    finally:
        harness.close()
    assert harness.error is None, harness.error

    reader = neuro.LogReader(path)
    try:
        per_message = reader.outcomes_per_message()
        rows = reader.messages(limit=None)
    finally:
        reader.close()
    stats = harness.statistics
    assert {} == {mid: n for mid, n in per_message.items() if n != 1}
    assert set() == set(sent) - set(per_message)
    assert [] == [r.id for r in rows if r.outcome in ("dead", "error") and not r.reason]
    assert len(per_message) == stats.accepted
    assert stats.accepted == stats.handled + stats.errors + stats.dead_letters
