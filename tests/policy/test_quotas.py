"""The quotas the kernel enforces for every backend, each breached on purpose."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.testing import Ping, Pong


class Sleeper(sdk.Neuro):
    """Sleeps n milliseconds, then answers; counts how many handlers run at once."""

    name = "sleeper"
    input = Ping
    output = Pong
    running = 0
    most = 0

    async def handle(self, ctx, msg):
        cls = type(self)
        cls.running += 1
        cls.most = max(cls.most, cls.running)
        try:
            await trio.sleep(msg.n / 1000)
        finally:
            cls.running -= 1
        return Pong(n=msg.n)


class Untrusted(sdk.Neuro):
    name = "agent-code"
    input = Ping
    output = Pong
    policy = "untrusted"
    sandbox = "inproc"

    async def handle(self, ctx, msg):
        return Pong(n=msg.n)


def kernel(log=None, **policy):
    return neuro.Kernel(log=log, policies={"q": Policy(name="q", **policy)})


def test_rate_over_the_limit_is_rejected_with_rate_limited(log_path):
    """With on_rate=reject, sends past the burst get RateLimited and a quota event."""

    async def main():
        async with kernel(log_path, rate=10, burst=3) as k:
            await k.spawn(Sleeper, policy="q")
            for _ in range(3):
                await k.send("sleeper", Ping(n=0))
            with pytest.raises(neuro.RateLimited, match=r"at most 10 messages/s \(burst 3\)"):
                await k.send("sleeper", Ping(n=0))
            return await k.log.events(name="quota.rate")

    assert len(trio.run(main)) == 1


def test_rate_with_delay_makes_the_sender_wait_for_a_token():
    """With on_rate=delay, a sender past the burst waits about 1/rate for its turn."""

    async def main():
        async with kernel(rate=20, burst=1, on_rate="delay") as k:
            await k.spawn(Sleeper, policy="q")
            start = trio.current_time()
            for _ in range(5):
                await k.call("sleeper", Ping(n=0))
            return trio.current_time() - start

    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert pytest.approx(0.2, abs=0.01) == elapsed


def test_rate_delay_past_the_deadline_is_rejected():
    """A delayed sender whose deadline comes before its token gets RateLimited."""

    async def main():
        async with kernel(rate=1, burst=1, on_rate="delay") as k:
            await k.spawn(Sleeper, policy="q")
            await k.call("sleeper", Ping(n=0))
            with pytest.raises(neuro.RateLimited):
                await k.call("sleeper", Ping(n=0), timeout=0.1)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_wall_time_cancels_the_handler_and_the_caller_gets_a_timeout(log_path):
    """A handler past wall_time is cancelled; the caller gets CallTimeout; the next call is served."""

    async def main():
        async with kernel(log_path, wall_time=0.05) as k:
            await k.spawn(Sleeper, policy="q")
            with pytest.raises(neuro.CallTimeout, match="ran past its wall time of 0.05 s"):
                await k.call("sleeper", Ping(n=1000), timeout=None)
            after = await k.call("sleeper", Ping(n=1))
            rows = await k.log.messages(neuro="sleeper")
            return after, rows, await k.log.events(name="quota.wall_time"), k.info("sleeper")

    after, rows, events, info = trio.run(main)
    assert Pong(n=1) == after
    assert [("error", "wall time exceeded"), ("handled", None)] == [(r.outcome, r.reason) for r in rows]
    assert "WallTimeExceeded" == rows[0].error["type"]
    assert len(events) == 1
    assert (0, 1) == (info.restarts, info.errors)


def test_concurrency_bounds_handlers_in_flight_and_queues_the_rest():
    """With concurrency=3, ten slow calls never have more than three handlers running."""

    async def main():
        Sleeper.running = Sleeper.most = 0
        async with kernel(concurrency=3) as k:
            await k.spawn(Sleeper, policy="q")
            async with trio.open_nursery() as n:
                for _ in range(10):
                    n.start_soon(k.call, "sleeper", Ping(n=10))
                await trio.testing.wait_all_tasks_blocked()
                depth = k.info("sleeper").mailbox
        return Sleeper.most, depth

    assert (3, 7) == trio.run(main)


def test_untrusted_policy_refuses_the_in_process_backend():
    """An untrusted neuro that asks to run in-process is refused with the reason."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.PolicyError, match="does not allow the 'inproc' sandbox"):
                await k.spawn(Untrusted)
            return k.ps()

    assert [] == trio.run(main)


def test_limits_the_in_process_backend_cannot_enforce_are_said_in_the_log(log_path):
    """A memory or network limit on an in-process neuro is logged as unenforceable, not pretended."""

    async def main():
        async with kernel(log_path, memory=1 << 20) as k:
            await k.spawn(Sleeper, policy="q")
            return await k.log.events(name="quota.unenforceable")

    events = trio.run(main)
    assert len(events) == 1
    assert events[0].data["limits"]["memory"] == 1 << 20
    assert "network" in events[0].data["limits"]


class Background(sdk.Neuro):
    name = "chores"
    input = Ping
    policy = "background"
    done = 0

    async def handle(self, ctx, msg):
        type(self).done += 1


def test_background_work_yields_to_an_interactive_call():
    """An interactive call is answered while a background neuro still has most of its queue."""

    async def main():
        Background.done = 0
        async with neuro.Kernel() as k:
            await k.spawn(Background)
            await k.spawn(Sleeper)
            for i in range(2000):
                k.send_nowait("chores", Ping(n=i))
            await k.call("sleeper", Ping(n=0))
            return Background.done

    assert trio.run(main) < 200


class Chatty(sdk.Neuro):
    """Sends n messages to sleeper as fast as it can."""

    name = "chatty"
    input = Ping
    output = Pong
    policy_overrides = {"send_rate": 100}

    async def handle(self, ctx, msg):
        for i in range(msg.n):
            await ctx.send("sleeper", Ping(n=0))
        return Pong(n=msg.n)


def test_send_rate_paces_a_neuro_that_floods_others():
    """A neuro with send_rate=100 takes about a second to send 200 messages (100 burst + 100)."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Sleeper)
            await k.spawn(Chatty)
            start = trio.current_time()
            await k.call("chatty", Ping(n=200), timeout=None)
            return trio.current_time() - start

    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert pytest.approx(1.0, abs=0.02) == elapsed
