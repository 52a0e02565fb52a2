"""Hot swap at the kernel: atomic, state carried, the replay gate, rollback, and swaps under load."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import sdk


class Ping(sdk.Message):
    n: int


class Pong(sdk.Message):
    n: int
    version: int = 1


def version(cls, tag):
    """Give a class declared in this file its own version hash, as a file change would."""
    cls.__version_cache__ = tag
    return cls


class Doubler(sdk.Neuro):
    name = "calc"
    input = Ping
    output = Pong

    def __init__(self):
        self.count = 0

    async def handle(self, ctx, msg):
        self.count += 1
        return Pong(n=msg.n * 2, version=1)

    def snapshot(self):
        return {"count": self.count}

    def restore(self, state):
        self.count = state["count"]


Doubler = version(Doubler, "v1")


class Adder(Doubler):
    async def handle(self, ctx, msg):
        self.count += 1
        return Pong(n=msg.n + msg.n, version=2)


Adder = version(Adder, "v2")


class Wrong(Doubler):
    async def handle(self, ctx, msg):
        return Pong(n=msg.n * 3, version=3)


Wrong = version(Wrong, "v3")


class BrokenInit(Doubler):
    def __init__(self):
        raise RuntimeError("cannot start")


BrokenInit = version(BrokenInit, "broken-init")


class FailsSelfcheck(Doubler):
    def selfcheck(self):
        raise AssertionError("the new version checks itself and says no")


FailsSelfcheck = version(FailsSelfcheck, "broken-selfcheck")


class Counted(Doubler):
    """A new schema: the state is a dict of totals, migrated from the old {'count': n}."""

    def __init__(self):
        self.totals = {"calls": 0}

    async def handle(self, ctx, msg):
        self.totals["calls"] += 1
        return Pong(n=self.totals["calls"], version=4)

    def snapshot(self):
        return {"totals": self.totals}

    def restore(self, state):
        self.totals = dict(state["totals"])

    @classmethod
    def migrate(cls, old_version, state):
        return {"totals": {"calls": state["count"]}}


Counted = version(Counted, "v4")


def test_a_swap_goes_live_and_the_next_call_is_served_by_the_new_version(log_path):
    """After swap returns, calls are answered by the new version."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            before = await k.call("calc", Ping(n=3))
            report = await k.swap("calc", Adder)
            after = await k.call("calc", Ping(n=3))
            return before, report, after, k.info("calc").version

    before, report, after, live = trio.run(main)
    assert (1, 2) == (before.version, after.version)
    assert (True, "live", "v1", "v2") == (report.ok, report.stage, report.old_version, report.new_version)
    assert "v2" == live


@pytest.mark.parametrize("broken, stage", [(BrokenInit, "load"), (FailsSelfcheck, "selfcheck")])
def test_a_broken_version_never_serves_and_the_old_one_keeps_serving(log_path, broken, stage):
    """A version that fails to load or fails its selfcheck is refused; the old one serves on."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("calc", broken)
            reply = await k.call("calc", Ping(n=1))
            return err.value.report, reply, await k.log.events(name="swap.failed")

    report, reply, events = trio.run(main)
    assert (False, stage) == (report.ok, report.stage)
    assert report.error.file.endswith("test_swap.py")
    assert report.error.line > 0
    assert reply.version == 1
    assert len(events) == 1


def test_state_moves_across_a_swap_with_a_schema_change(log_path):
    """The old snapshot goes through the new version's migrate and restore."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            for i in range(5):
                await k.call("calc", Ping(n=i))
            report = await k.swap("calc", Counted)
            return report, await k.call("calc", Ping(n=0))

    report, reply = trio.run(main)
    assert report.state_moved
    assert Pong(n=6, version=4) == reply


def test_the_replay_gate_refuses_a_version_that_answers_differently(log_path):
    """A new version whose answers to logged calls differ from the current version's does not go live."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            for i in range(8):
                await k.call("calc", Ping(n=i))
            with pytest.raises(neuro.SwapFailed, match="answered differently") as err:
                await k.swap("calc", Wrong, replay=8)
            return err.value.report, await k.call("calc", Ping(n=1))

    report, reply = trio.run(main)
    assert (8, 0) == (report.replay.compared, report.replay.agreed)
    assert ({"n": 0}, {"n": 0, "version": 1}, {"n": 0, "version": 3}) == (
        report.replay.differences[0].payload, report.replay.differences[0].current,
        report.replay.differences[0].candidate)
    assert reply.version == 1


def test_the_replay_gate_lets_through_a_version_that_agrees(log_path):
    """A new version that answers the logged calls the same goes live after the replay."""

    class SameAnswers(Doubler):
        async def handle(self, ctx, msg):
            return Pong(n=msg.n + msg.n, version=1)

    version(SameAnswers, "same")

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            for i in range(8):
                await k.call("calc", Ping(n=i))
            return await k.swap("calc", SameAnswers, replay=8)

    report = trio.run(main)
    assert (True, 8, 8) == (report.ok, report.replay.compared, report.replay.agreed)


def test_accept_takes_a_version_whose_differences_a_person_reviewed(log_path):
    """With accept=True the listed differences are taken and the version goes live."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            await k.call("calc", Ping(n=2))
            report = await k.swap("calc", Wrong, replay=5, accept=True)
            return report, await k.call("calc", Ping(n=1))

    report, reply = trio.run(main)
    assert (True, 1) == (report.ok, len(report.replay.differences))
    assert 3 == reply.version


def test_rollback_returns_to_the_version_that_was_replaced(log_path):
    """rollback swaps back to the parent of the running version."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            await k.swap("calc", Adder)
            report = await k.rollback("calc")
            return report, await k.call("calc", Ping(n=1)), [(v.version, v.live) for v in k.versions("calc")]

    report, reply, versions = trio.run(main)
    assert ("rollback", "v1") == (report.origin, report.new_version)
    assert reply.version == 1
    assert [("v1", True), ("v2", False)] == versions


def test_queued_messages_that_do_not_fit_the_new_input_type_are_dead_lettered(log_path):
    """A swap to a new input schema checks the queued messages against it."""

    class Strict(sdk.Message):
        n: int
        unit: str

    class NewSchema(sdk.Neuro):
        name = "calc"
        input = Strict
        output = Pong

        async def handle(self, ctx, msg):
            return Pong(n=msg.n)

    version(NewSchema, "schema2")

    class Slow(Doubler):
        async def handle(self, ctx, msg):
            await trio.sleep(0.05)
            return Pong(n=msg.n)

    version(Slow, "slow")

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for i in range(3):
                await k.send("calc", Ping(n=i))
            report = await k.swap("calc", NewSchema)
            await trio.sleep(0.2)
            rows = await k.log.messages(neuro="calc")
            return report, [(r.outcome, r.reason or "") for r in rows]

    report, rows = trio.run(main)
    assert report.dropped >= 1
    assert ["dead", "dead"] == [o for o, why in rows if why.startswith("does not fit the new version's input type")]
    assert ("handled", "") in rows  # the one already in flight finished in the old version


def test_every_call_gets_one_outcome_across_many_swaps_under_load(log_path):
    """Callers never stop while the neuro is swapped 200 times, some versions broken."""

    versions = [Doubler, Adder, BrokenInit, FailsSelfcheck]

    async def main():
        answers, failures = [], []
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Doubler)
            done = trio.Event()

            async def caller():
                i = 0
                while not done.is_set():
                    i += 1
                    answers.append((await k.call("calc", Ping(n=i), timeout=10)).version)

            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(caller)
                for i in range(200):
                    try:
                        await k.swap("calc", versions[i % 4])
                    except neuro.SwapFailed:
                        failures.append(i)
                    await trio.sleep(0)
                done.set()
            per_message = await k.log.outcomes_per_message()
            rows = await k.log.messages(neuro="calc", limit=None)
        return answers, failures, per_message, rows

    answers, failures, per_message, rows = trio.run(main)
    assert 100 == len(failures)
    assert {1, 2} == set(answers)  # the broken versions never served
    assert set(per_message.values()) == {1}
    assert {"handled"} == {r.outcome for r in rows}
