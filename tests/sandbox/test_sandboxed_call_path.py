"""A call to a sandboxed neuro is sent from its caller's task (kernel/_sandboxcall.py): the
policy's concurrency still holds, a caller that stops waiting leaves the call to finish and
be logged, and a stop ends a call in flight as it ends a runner's.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest
import trio

import neuro
from neuro import sdk

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (bash scripts/setup.sh installs it)")


class Nap(sdk.Message):
    ms: int


class Took(sdk.Message):
    ms: int
    most: int  # the most calls its handler had in flight at once, so far


class Napper(sdk.Neuro):
    """Sleeps `ms` milliseconds in the process sandbox; counts how many calls it serves at once."""

    name = "napper"
    input = Nap
    output = Took
    sandbox = "process"
    serving = 0
    most = 0

    async def handle(self, ctx, msg):
        cls = type(self)
        cls.serving += 1
        cls.most = max(cls.most, cls.serving)
        try:
            await trio.sleep(msg.ms / 1000)
        finally:
            cls.serving -= 1
        return Took(ms=msg.ms, most=cls.most)


class Napper3(Napper):
    """Napper, three calls at a time."""

    policy_overrides = {"concurrency": 3}


NAPPERS = {1: Napper, 3: Napper3}


def outcomes(log_path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(log_path) as conn:
        return conn.execute(
            "SELECT o.outcome, o.reason FROM messages m LEFT JOIN outcomes o ON o.id = m.id "
            "WHERE m.recipient = 'napper' ORDER BY m.id").fetchall()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrent_callers_stay_within_the_policy_concurrency(concurrency):
    """Callers at once: the sandbox serves at most the policy's concurrency of them at a time."""
    replies: list[Took] = []

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(NAPPERS[concurrency])

            async def one():
                replies.append(await k.call("napper", Nap(ms=40), timeout=30))

            for _ in range(2):  # the second round finds the runners the first one started idle
                async with trio.open_nursery() as nursery:
                    for _ in range(6):
                        nursery.start_soon(one)

    trio.run(main)
    assert 12 == len(replies)
    assert concurrency >= max(r.most for r in replies)


def test_a_caller_that_times_out_leaves_the_call_to_be_handled_and_logged(log_path):
    """A caller's timeout ends its wait only: the handler finishes, its outcome is logged as
    handled, and the same worker serves the next call."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Napper)
            with pytest.raises(neuro.CallTimeout):
                await k.call("napper", Nap(ms=300), timeout=0.05)
            with trio.move_on_after(0.05):  # a cancelled caller, likewise
                await k.call("napper", Nap(ms=300), timeout=30)
            assert 300 == (await k.call("napper", Nap(ms=300), timeout=30)).ms
            assert [0] == [p.restarts for p in k.ps() if p.name == "napper"]

    trio.run(main)
    assert [("handled", None)] * 3 == outcomes(log_path)


def test_stopping_a_neuro_ends_its_call_in_flight_with_an_error(log_path):
    """A stop whose grace runs out ends the sandboxed call in flight: its caller gets the
    error a runner's handler gets, the log an error outcome, and the stop does not wait for
    the handler."""
    seen: list[BaseException] = []

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Napper)

            async def caller():
                try:
                    await k.call("napper", Nap(ms=20_000), timeout=60)
                except neuro.NeuroError as e:
                    seen.append(e)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller)
                while not k.statistics().in_flight:
                    await trio.sleep(0.01)
                with trio.fail_after(10):  # far less than the handler's 20 s
                    await k.stop("napper", timeout=0.1)

    trio.run(main)
    assert 1 == len(seen)
    assert "stopped while handling this message" in str(seen[0])
    assert [("error", "stopped")] == outcomes(log_path)


@pytest.mark.parametrize("idle_runner", [False, True])
def test_a_draining_stop_handles_the_calls_queued_behind_one_in_flight(log_path, idle_runner):
    """Calls queued behind one in flight from its caller's task are handled by a draining stop,
    not dead-lettered, and one at a time (concurrency 1), even where an earlier burst left an
    idle runner for the stop to wake."""
    replies: list[int] = []
    most: list[int] = []  # how many calls the sandbox served at once, as each reply says

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Napper)

            async def caller(ms):
                took = await k.call("napper", Nap(ms=ms), timeout=30)
                replies.append(took.ms)
                most.append(took.most)

            if idle_runner:
                async with trio.open_nursery() as nursery:  # two at once: the second starts a runner
                    nursery.start_soon(caller, 30)
                    nursery.start_soon(caller, 30)
                replies.clear()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller, 200)
                while not k.statistics().in_flight:
                    await trio.sleep(0.01)
                nursery.start_soon(caller, 1)
                nursery.start_soon(caller, 2)
                while k.statistics().queued < 2:
                    await trio.sleep(0.01)
                await k.stop("napper", timeout=10)

    trio.run(main)
    assert [1, 2, 200] == sorted(replies)
    assert [("handled", None)] * (5 if idle_runner else 3) == outcomes(log_path)
    assert 1 == max(most)


class Dier(sdk.Neuro):
    """Kills its own worker when asked (ms < 0), else sleeps `ms` in the process sandbox."""

    name = "dier"
    input = Nap
    output = Took
    sandbox = "process"

    async def handle(self, ctx, msg):
        import os
        import signal

        if msg.ms < 0:
            os.kill(os.getpid(), signal.SIGKILL)
        await trio.sleep(msg.ms / 1000)
        return Took(ms=msg.ms, most=0)


class Dier3(Dier):
    policy_overrides = {"concurrency": 3}


def test_a_call_in_flight_when_its_worker_dies_gets_the_death_as_a_runners_call_does(log_path):
    """The worker dies with one call in flight from its caller's task and one from a runner:
    both outcomes are the same WorkerDied with the same reason, not a cancellation."""
    errors: dict[str, BaseException] = {}

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Dier3)
            proc = k._router.procs["dier"]

            async def caller(tag, ms):
                try:
                    await k.call("dier", Nap(ms=ms), timeout=30)
                except neuro.NeuroError as e:
                    errors[tag] = e

            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller, "caller's task", 5000)
                while proc.sandboxed is None or proc.sandboxed.letter is None:
                    await trio.sleep(0.01)
                nursery.start_soon(caller, "runner", 5000)
                while proc.in_flight < 2:
                    await trio.sleep(0.01)
                nursery.start_soon(caller, "killer", -1)

    trio.run(main)
    kinds = {tag: e.cause.type for tag, e in errors.items()}
    assert {"caller's task", "runner", "killer"} == set(kinds) and len(set(kinds.values())) == 1, kinds
    assert next(iter(kinds.values())).endswith("WorkerDied")
    with sqlite3.connect(log_path) as conn:
        rows = conn.execute("SELECT o.outcome, o.reason, json_extract(o.error, '$.type') FROM messages m "
                            "JOIN outcomes o ON o.id = m.id WHERE m.recipient = 'dier'").fetchall()
    assert 3 == len(rows) and {("error", "crashed")} == {r[:2] for r in rows} and all(r[2].endswith("WorkerDied") for r in rows)


class Blob(sdk.Message):
    data: bytes


class Size(sdk.Message):
    n: int


class Measurer(sdk.Neuro):
    """Answers how many bytes it was sent, from the process sandbox."""

    name = "measurer"
    input = Blob
    output = Size
    sandbox = "process"

    async def handle(self, ctx, msg):
        return Size(n=len(msg.data))


def test_a_call_bigger_than_the_socket_buffer_arrives_whole():
    """A frame the socket cannot take at once goes out in parts from the caller's task, and
    the calls after it are not mixed into it."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Measurer)
            sizes = [900_000, 1, 700_000, 0]  # under the default policy's 1 MiB
            return [(await k.call("measurer", Blob(data=b"x" * n), timeout=30)).n for n in sizes], sizes

    got, sizes = trio.run(main)
    assert sizes == got


def test_calls_whose_deadline_is_about_to_pass_each_get_one_outcome(log_path):
    """Timeouts of a few microseconds, at the edge of a call's own time: each call is answered,
    times out or is dead-lettered, each message gets one outcome, and the kernel serves on."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Napper)
            for i in range(200):
                try:
                    await k.call("napper", Nap(ms=0), timeout=(i % 20) * 1e-6)
                except (neuro.CallTimeout, neuro.DeadLetter):
                    pass
            assert 0 == (await k.call("napper", Nap(ms=0), timeout=30)).ms

    trio.run(main)
    with sqlite3.connect(log_path) as conn:
        assert [(201, 201)] == conn.execute(
            "SELECT COUNT(DISTINCT m.id), COUNT(o.id) FROM messages m JOIN outcomes o ON o.id = m.id "
            "WHERE m.recipient = 'napper'").fetchall()
