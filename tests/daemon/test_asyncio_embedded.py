"""`neuro.connect(embedded=True)` from asyncio: the kernel runs as a trio guest run on the asyncio
loop (as under a textual app), with the same answers and the same exceptions as under trio,
and `neuro run --embedded` runs an asyncio script."""

from __future__ import annotations

import asyncio
import warnings

import pytest
import trio

import neuro
from neuro import sdk
from neuro.client import connect
from neuro.kernel import Policy
from neuro.testing import Crashy, Echo, Ping, Pong, Slow

from .conftest import neuro_cmd
from .test_client import EXPECTED, session


class Held(sdk.Neuro):
    """Holds each message until the test sets `release`; its mailbox has one slot and blocks."""

    name = "held"
    input = Ping
    output = Pong
    policy = "one-slot"
    release: trio.Event

    async def handle(self, ctx, msg):
        await Held.release.wait()
        return Pong(n=msg.n)


ONE_SLOT = {"one-slot": Policy(name="one-slot", mailbox_size=1, overflow="block")}


async def wait_for(condition) -> None:
    """Yield to both loops until `condition()` holds (bounded by the test's own timeout)."""
    while not condition():
        await asyncio.sleep(0.005)


def test_an_asyncio_program_spawns_calls_and_reads_the_log():
    """Under asyncio.run, an embedded client spawns Echo, calls it and finds the call in the log."""

    async def main():
        async with connect(embedded=True) as client:
            info = await client.spawn(Echo)
            reply = await client.call("echo", Ping(n=7))
            rows = await client.messages(neuro="echo")
            trace = await client.trace(rows[0].id)
            return info.name, reply, [(r.kind, r.outcome) for r in rows], trace.message.payload

    assert ("echo", Pong(n=7), [("call", "handled")], {"n": 7}) == asyncio.run(main())


def test_the_client_session_gives_the_trio_answers_under_asyncio():
    """The steps test_client.py runs under trio give exactly the same answers from asyncio."""

    async def main():
        async with connect(embedded=True) as client:
            return await session(client)

    assert EXPECTED == asyncio.run(main())


async def _errors(client) -> list:
    await client.spawn(Crashy)
    caught = []
    for to, payload in (("crashy", Ping(n=-1)), ("nobody", Ping(n=1)), ("crashy", {"n": "one"})):
        try:
            await client.call(to, payload)
        except neuro.NeuroError as e:
            caught.append((type(e), str(e)))
    return caught


def test_errors_arrive_as_the_same_exceptions_as_under_trio():
    """RemoteError, NoSuchNeuro and InvalidPayload reach asyncio as the classes and texts trio sees."""

    async def under_trio():
        async with connect(embedded=True) as client:
            return await _errors(client)

    async def under_asyncio():
        async with connect(embedded=True) as client:
            return await _errors(client)

    from_trio, from_asyncio = trio.run(under_trio), asyncio.run(under_asyncio())
    assert [neuro.RemoteError, neuro.NoSuchNeuro, neuro.InvalidPayload] == [t for t, _ in from_asyncio]
    assert from_trio == from_asyncio


def test_a_kernel_that_cannot_start_raises_its_error_and_leaves_no_guest_run():
    """A log that cannot be opened raises LogError out of `async with`, and no trio run is left."""

    async def main():
        with pytest.raises(neuro.LogError, match="cannot open the event log") as error:
            async with connect(embedded=True, log="/proc/no-such-folder/log.db"):
                pass
        return type(error.value), trio.lowlevel.in_trio_run()

    assert (neuro.LogError, False) == asyncio.run(main())


def test_closing_the_client_stops_the_kernel_and_the_guest_run(tmp_path):
    """After `async with` the kernel has stopped (logged), trio's run is over, no task is left, no warning."""
    log = tmp_path / "run.db"

    async def main():
        async with connect(embedded=True, log=str(log)) as client:
            await client.spawn(Echo)
            await client.call("echo", Ping(n=1))
            during = trio.lowlevel.in_trio_run()
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return during, trio.lowlevel.in_trio_run(), left

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (True, False, []) == asyncio.run(main())
    assert "kernel.stopped" == neuro.LogReader(log).events(limit=None)[-1].name


def test_a_call_cancelled_in_asyncio_is_cancelled_in_trio():
    """A send blocked on a full mailbox and cancelled by asyncio never enters it: once the neuro
    is let go, it handles the messages before and after, not the cancelled one."""
    Held.release = trio.Event()

    async def main():
        async with connect(embedded=True, policies=ONE_SLOT) as client:
            await client.spawn(Held)
            await client.send("held", Ping(n=1))
            await wait_for(lambda: client.kernel.info("held").in_flight == 1)
            await client.send("held", Ping(n=2))  # the one slot
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.send("held", Ping(n=3)), 0.05)
            Held.release.set()  # guest mode: asyncio may call trio's synchronous operations
            await client.call("held", Ping(n=4))
            rows = await client.messages(neuro="held", outcome="handled")
            return sorted(r.payload["n"] for r in rows)

    assert [1, 2, 4] == asyncio.run(main())


def test_a_call_that_asyncio_gives_up_on_leaves_the_client_working():
    """After wait_for abandons a call to a slow neuro, the same client still calls and closes."""

    async def main():
        async with connect(embedded=True) as client:
            await client.spawn(Slow)
            await client.spawn(Echo)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.call("slow", Ping(n=600_000)), 0.05)
            return await client.call("echo", Ping(n=2))

    assert Pong(n=2) == asyncio.run(main())


def test_two_clients_on_one_loop_each_have_a_kernel_and_share_the_guest_run():
    """Two embedded clients open at once on one loop; closing the first leaves the second serving."""

    async def main():
        async with connect(embedded=True) as first:
            second = connect(embedded=True)
            await second.__aenter__()
            try:
                await first.spawn(Echo)
                await second.spawn(Echo, name="other")
                names = ([p.name for p in await first.ps()], [p.name for p in await second.ps()])
            except BaseException:
                await second.__aexit__(None, None, None)
                raise
        try:
            after = await second.call("other", Ping(n=5))
        finally:
            await second.__aexit__(None, None, None)
        return names, after, trio.lowlevel.in_trio_run()

    assert ((["echo"], ["other"]), Pong(n=5), False) == asyncio.run(main())


def test_a_client_opened_after_another_closed_starts_a_new_guest_run():
    """On one loop, a second `async with connect(embedded=True)` after the first works again."""

    async def main():
        answers = []
        for n in (1, 2):
            async with connect(embedded=True) as client:
                await client.spawn(Echo)
                answers.append(await client.call("echo", Ping(n=n)))
        return answers

    assert [Pong(n=1), Pong(n=2)] == asyncio.run(main())


def test_subscribe_and_tail_stream_to_asyncio():
    """A subscription sees a publish, and tail() follows the log's rows as they are written."""

    async def main():
        async with connect(embedded=True) as client:
            await client.spawn(Echo)
            async with client.subscribe("news") as news:
                await client.publish("news", Ping(n=3))
                topic, _, payload = await news.__anext__()
            async with client.tail(neuro="echo") as rows:
                await client.call("echo", Ping(n=4))
                row = await rows.__anext__()
            return topic, payload, (row.kind, row.payload)

    assert ("news", Ping(n=3), ("call", {"n": 4})) == asyncio.run(main())


def test_a_subscription_still_open_when_the_client_closes_ends():
    """A task reading a subscription sees its stream end when the client closes, and finishes."""

    async def main():
        got, ready = [], asyncio.Event()

        async def listen(client):
            async with client.subscribe("news") as news:
                ready.set()
                async for _, _, payload in news:
                    got.append(payload)
            got.append("ended")

        async with connect(embedded=True) as client:
            listener = asyncio.create_task(listen(client))
            await ready.wait()
            await client.publish("news", Ping(n=1))
            await wait_for(lambda: got)
        await listener
        return got

    assert [Ping(n=1), "ended"] == asyncio.run(main())


def test_neuro_run_embedded_runs_an_asyncio_script(home, tmp_path):
    """`neuro run --embedded` of a script whose main is an asyncio coroutine spawns, calls and reads the log."""
    script = tmp_path / "session.py"
    script.write_text(
        "import asyncio\n"
        "import neuro\n"
        "from neuro.testing import Echo, Ping\n\n\n"
        "async def main():\n"
        "    async with neuro.connect() as client:\n"
        "        await client.spawn(Echo)\n"
        "        reply = await client.call('echo', Ping(n=6))\n"
        "        rows = await client.messages(neuro='echo')\n"
        "        print(asyncio.get_running_loop() is not None, reply.n, [r.outcome for r in rows])\n\n\n"
        "asyncio.run(main())\n")
    done = neuro_cmd("run", "--embedded", script, home=home)
    assert (0, "True 6 ['handled']", "") == (done.returncode, done.stdout.strip(), done.stderr)
