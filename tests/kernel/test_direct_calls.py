"""Calls to an idle neuro whose handler is a plain function run in the caller's task: the
same outcome, log rows, counters, crash handling and order as through its runner, without
the two task switches. Anything that needs a runner (a queued mailbox, wall time, background
priority, an async handler) still goes through one."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import Policy, sdk
from neuro.testing import Ping, Pong


class WhereSync(sdk.Neuro):
    """Replies with the id of the task that ran the handler; n < 0 crashes it."""

    name = "where-sync"
    input = Ping
    output = Pong
    order: list[int] = []
    instances = 0

    def __init__(self):
        type(self).instances += 1

    def handle(self, ctx, msg):
        type(self).order.append(msg.n)
        if msg.n < 0:
            raise ValueError(f"asked to crash: {msg.n}")
        return Pong(n=id(trio.lowlevel.current_task()))


class WhereAsync(sdk.Neuro):
    name = "where-async"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=id(trio.lowlevel.current_task()))


@pytest.fixture(autouse=True)
def _fresh():
    WhereSync.order = []
    WhereSync.instances = 0


def test_an_idle_plain_function_neuro_serves_a_call_in_the_callers_task(log_path):
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(WhereSync)
            await k.spawn(WhereAsync)
            me = id(trio.lowlevel.current_task())
            sync_task = (await k.call("where-sync", Ping(n=1))).n
            async_task = (await k.call("where-async", Ping(n=1))).n
            return me, sync_task, async_task, k.info("where-sync")

    me, sync_task, async_task, info = trio.run(main)
    assert me == sync_task
    assert me != async_task
    assert (1, 1, 0) == (info.received, info.handled, info.in_flight)
    reader = neuro.LogReader(log_path)
    assert {"handled": 1} == reader.outcome_counts()["where-sync"]


def test_queued_messages_are_served_first_and_in_order(log_path):
    """With mail waiting, a call joins the queue behind it: nothing overtakes."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(WhereSync)
            for n in range(5):
                k.send_nowait("where-sync", Ping(n=n))
            me = id(trio.lowlevel.current_task())
            served_by = (await k.call("where-sync", Ping(n=99))).n
            return me, served_by

    me, served_by = trio.run(main)
    assert [0, 1, 2, 3, 4, 99] == WhereSync.order
    assert me != served_by  # its runner served it, after the others


def test_a_crash_in_the_callers_task_is_handled_like_any_crash(log_path):
    """The caller gets RemoteError, the outcome says crashed, the supervisor restarts the
    neuro, and the next call is served by the new instance."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(WhereSync)
            with pytest.raises(neuro.RemoteError, match="asked to crash"):
                await k.call("where-sync", Ping(n=-1))
            with trio.fail_after(5):
                while k.info("where-sync").state != "running":
                    await trio.sleep(0.01)
            reply = await k.call("where-sync", Ping(n=2))
            return reply, k.info("where-sync").restarts

    reply, restarts = trio.run(main)
    assert isinstance(reply, Pong) and 1 == restarts and 2 == WhereSync.instances
    reader = neuro.LogReader(log_path)
    assert {"error": 1, "handled": 1} == reader.outcome_counts()["where-sync"]
    assert {"crashed"} == {r.reason for r in reader.messages(neuro="where-sync", outcome="error", limit=None)}


@pytest.mark.parametrize("policy", [Policy(name="timed", wall_time=5.0),
                                    Policy(name="bg", priority="background")])
def test_wall_time_and_background_neuros_keep_their_runner(log_path, policy):
    """A wall-time limit is enforced by the runner's cancel scope, and background work waits its
    turn: both keep the mailbox path."""

    async def main():
        async with neuro.Kernel(log=log_path, policies={policy.name: policy}) as k:
            await k.spawn(WhereSync, policy=policy.name)
            return id(trio.lowlevel.current_task()), (await k.call("where-sync", Ping(n=1))).n

    me, served_by = trio.run(main)
    assert me != served_by
