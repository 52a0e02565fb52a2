"""The client API: the same methods, and the same answers, embedded or over the socket,
from trio and from asyncio."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import trio

import neuro
from neuro.neuros.echo import EchoIn, EchoOut
from neuro.shell.client import Client, DaemonNotRunning, connect

METHODS = ["spawn", "stop", "restart", "ps", "info", "send", "call", "publish", "subscribe", "tail", "messages",
           "events", "trace", "swap", "rollback", "versions", "policies", "reload_policies", "statistics",
           "status", "ping", "shutdown"]


def test_the_client_has_the_documented_methods():
    """Client has every documented method, each async (or an async context manager)."""
    assert METHODS == [m for m in METHODS if inspect.iscoroutinefunction(getattr(Client, m))
                       or hasattr(getattr(Client, m), "__wrapped__")]


async def session(client) -> tuple:
    """The same steps against either kind of kernel."""
    await client.spawn("neuro.neuros.echo:Echo")
    reply = await client.call("echo", EchoIn(text="hi"))
    try:
        await client.call("echo", {"text": 3})
    except neuro.InvalidPayload as e:
        bad = e.path
    try:
        await client.call("nobody", {})
    except neuro.NoSuchNeuro:
        missing = "NoSuchNeuro"
    async with client.subscribe("kernel.events") as events:
        await client.restart("echo")
        async for _, _, event in events:
            if event.name == "neuro.restarted":
                break
    rows = await client.ps()
    logged = await client.messages(neuro="echo")
    trace = await client.trace(logged[0].id)
    return (reply, bad, missing, type(event).__name__, [(r.name, r.restarts) for r in rows],
            [m.outcome for m in logged], trace.message.id == logged[0].id)


EXPECTED = (EchoOut(text="hi"), "$.text", "NoSuchNeuro", "KernelEvent", [("echo", 1)], ["handled"], True)


def test_an_embedded_client_runs_the_session():
    """connect(embedded=True) runs the session in this process."""

    async def main():
        async with connect(embedded=True) as client:
            return await session(client)

    assert EXPECTED == trio.run(main)


def test_the_socket_client_gives_the_same_answers_from_trio(daemon):
    """Against the daemon, from trio, the session gives exactly the embedded answers."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            return await session(client)

    assert EXPECTED == trio.run(main)


def test_the_socket_client_gives_the_same_answers_from_asyncio(daemon):
    """Against the daemon, from asyncio, the session gives exactly the embedded answers."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            return await session(client)

    assert EXPECTED == asyncio.run(main())


def test_concurrent_calls_on_one_connection_get_their_own_replies(daemon):
    """Fifty calls in flight at once on one client each get the reply to their own payload."""

    async def main():
        async with connect(home=str(daemon.home)) as client:
            await client.spawn("neuro.neuros.echo:Echo")
            got = {}

            async def one(i):
                got[i] = (await client.call("echo", {"text": str(i)})).text

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            return got

    assert {i: str(i) for i in range(50)} == trio.run(main)


def test_connect_without_a_daemon_raises_daemon_not_running(home):
    """Connecting where no daemon runs raises DaemonNotRunning saying how to start one."""

    async def main():
        async with connect(home=home):
            pass

    with pytest.raises(DaemonNotRunning, match="neuro daemon start"):
        trio.run(main)


def test_a_class_from_a_test_file_travels_as_its_path(daemon):
    """spawn(Slow), a class the daemon cannot import by module, is loaded from its file."""
    from .slow_neuro import Slow

    async def main():
        async with connect(home=str(daemon.home)) as client:
            info = await client.spawn(Slow)
            return info.name, await client.call("slow", {"ms": 1})

    assert ("slow", {"ms": 1}) == trio.run(main)
