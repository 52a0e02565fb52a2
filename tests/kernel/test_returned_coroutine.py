"""A plain handler may return a coroutine for the part of its work that waits: its quick
answers keep the caller's-task path, and the coroutine is awaited by a task of its own that
holds a runner's place. A caller's timeout or cancel leaves it running, the policy's
concurrency counts it, a stop ends it with an outcome, its error crashes the neuro as any
handler's does, a swap lets it finish in the old version; through the mailbox, and in a sandbox's worker, it is awaited the same way."""

from __future__ import annotations

import shutil

import pytest
import trio

import neuro
from neuro import Policy, sdk
from neuro.testing import Ping, Pong


class Sometimes(sdk.Neuro):
    """n >= 0: answered at once, with the id of the task that ran it. n < 0: work that waits
    for the test's `gate`, then answers -n from its own task; n == -99 raises instead."""

    name = "sometimes"
    input = Ping
    output = Pong
    gate: trio.Event | None = None
    began: list[int] = []
    ended: list[int] = []

    def handle(self, ctx, msg):
        if msg.n >= 0:
            type(self).ended.append(msg.n)
            return Pong(n=id(trio.lowlevel.current_task()))
        return self._later(msg.n)

    async def _later(self, n):
        type(self).began.append(n)
        await type(self).gate.wait()
        if n == -99:
            raise ValueError("the slow part failed")
        type(self).ended.append(n)
        return Pong(n=-n)


TWO = Policy(name="two-at-once", concurrency=2)


def _run(log_path, body, policy="default"):
    async def main():
        Sometimes.gate, Sometimes.began, Sometimes.ended = trio.Event(), [], []
        async with neuro.Kernel(log=log_path, policies={TWO.name: TWO}) as k:
            await k.spawn(Sometimes, policy=policy)
            return await body(k)

    return trio.run(main)


def test_a_quick_answer_stays_in_the_callers_task_and_a_returned_coroutine_is_awaited(log_path):
    async def body(k):
        me = id(trio.lowlevel.current_task())
        quick = (await k.call("sometimes", Ping(n=1))).n
        Sometimes.gate.set()
        slow = (await k.call("sometimes", Ping(n=-5))).n
        return me, quick, slow, k.info("sometimes")

    me, quick, slow, info = _run(log_path, body)
    assert (me, 5) == (quick, slow)
    assert (2, 2, 0, 0) == (info.received, info.handled, info.in_flight, info.restarts)
    assert {"handled": 2} == neuro.LogReader(log_path).outcome_counts()["sometimes"]


def test_while_the_coroutine_waits_the_policys_concurrency_holds(log_path):
    """Concurrency 1: a quick call waits its turn behind the waiting one (through the
    mailbox); concurrency 2: it is answered meanwhile."""

    async def body(k):
        async with trio.open_nursery() as n:
            n.start_soon(k.call, "sometimes", Ping(n=-1))
            while not Sometimes.began:
                await trio.sleep(0.01)
            n.start_soon(k.call, "sometimes", Ping(n=3))
            await trio.sleep(0.2)  # room for the quick call to be handled, were it let through
            handled_before_the_gate = list(Sometimes.ended)
            Sometimes.gate.set()
        return handled_before_the_gate, Sometimes.ended

    assert ([], [-1, 3]) == _run(log_path, body)
    assert ([3], [3, -1]) == _run(log_path, body, policy=TWO.name)


def test_a_callers_timeout_or_cancel_leaves_the_work_running_to_its_outcome(log_path):
    async def body(k):
        with pytest.raises(neuro.CallTimeout):
            await k.call("sometimes", Ping(n=-2), timeout=0.05)
        with trio.move_on_after(0.05) as gone:
            await k.call("sometimes", Ping(n=-3))
        assert gone.cancelled_caught
        assert ([-2, -3], []) == (Sometimes.began, Sometimes.ended)
        Sometimes.gate.set()
        with trio.fail_after(10):
            while len(Sometimes.ended) < 2:
                await trio.sleep(0.01)
        return k.info("sometimes")

    info = _run(log_path, body, policy=TWO.name)  # two at once: the second is not queued behind the first
    assert [-2, -3] == sorted(Sometimes.ended, reverse=True)
    assert (2, 0) == (info.handled, info.in_flight)
    assert {"handled": 2} == neuro.LogReader(log_path).outcome_counts()["sometimes"]


def test_a_stop_ends_the_waiting_work_with_an_outcome_that_says_so(log_path):
    async def body(k):
        async with trio.open_nursery() as n:
            async def slow():
                with pytest.raises(neuro.RemoteError, match="stopped while handling"):
                    await k.call("sometimes", Ping(n=-4))

            n.start_soon(slow)
            while not Sometimes.began:
                await trio.sleep(0.01)
            with trio.fail_after(10):  # the stop does not wait for a gate that never opens
                await k.stop("sometimes")

    _run(log_path, body)
    assert [] == Sometimes.ended
    counts = neuro.LogReader(log_path).outcome_counts()["sometimes"]
    assert {"error": 1} == counts


NEXT_VERSION = """
from neuro import sdk
from neuro.testing import Ping, Pong


class Sometimes(sdk.Neuro):
    name = "sometimes"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        return Pong(n=msg.n + 1)
"""


def test_a_swap_lets_the_waiting_work_finish_in_the_old_version(log_path, tmp_path):
    """The swap's drain counts the waiting coroutine as a call in flight: it finishes, with the
    old version's answer, before the new version serves."""
    path = tmp_path / "sometimes_next.py"
    path.write_text(NEXT_VERSION)

    async def body(k):
        new = await k.load(str(path), trusted=True)
        async with trio.open_nursery() as n:
            answers = []

            async def slow():
                answers.append((await k.call("sometimes", Ping(n=-5))).n)

            n.start_soon(slow)
            while not Sometimes.began:
                await trio.sleep(0.01)
            reports = []

            async def swap():
                reports.append(await k.swap("sometimes", new.cls, replay=0))

            n.start_soon(swap)
            await trio.sleep(0.2)
            waited = not reports  # the swap waits for the work in flight
            Sometimes.gate.set()
        return waited, answers, reports[0].ok, (await k.call("sometimes", Ping(n=1))).n

    assert (True, [5], True, 2) == _run(log_path, body)


def test_an_error_in_the_returned_coroutine_crashes_the_neuro_as_any_handlers_does(log_path):
    async def body(k):
        Sometimes.gate.set()
        with pytest.raises(neuro.RemoteError, match="the slow part failed"):
            await k.call("sometimes", Ping(n=-99))
        with trio.fail_after(10):
            while k.info("sometimes").restarts < 1:
                await trio.sleep(0.01)
        return (await k.call("sometimes", Ping(n=-6))).n  # the restarted instance serves on

    assert 6 == _run(log_path, body)


def test_through_the_mailbox_a_runner_awaits_the_returned_coroutine(log_path):
    async def body(k):
        Sometimes.gate.set()
        for i in range(3):
            k.send_nowait("sometimes", Ping(n=-(i + 1)))  # queued: the call below waits behind them
        last = (await k.call("sometimes", Ping(n=-7))).n
        return last, k.info("sometimes")

    last, info = _run(log_path, body)
    assert (7, [-1, -2, -3, -7]) == (last, Sometimes.ended)
    assert (4, 0) == (info.handled, info.in_flight)


class BoxedSometimes(sdk.Neuro):
    """In the process sandbox: n < 0 answers -n after a nap, from a returned coroutine."""

    name = "boxed-sometimes"
    input = Ping
    output = Pong
    sandbox = "process"

    def handle(self, ctx, msg):
        if msg.n >= 0:
            return Pong(n=msg.n)
        return self._later(msg.n)

    async def _later(self, n):
        await trio.sleep(0.01)
        return Pong(n=-n)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_in_a_sandbox_the_worker_awaits_the_returned_coroutine(log_path):
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(BoxedSometimes)
            return [(await k.call("boxed-sometimes", Ping(n=n), timeout=30)).n for n in (2, -8)]

    assert [2, 8] == trio.run(main)
