"""Neuros a few kernel tests share; the common ones (Echo, Slow, Crashy, ...) are in `neuro.testing`."""

from __future__ import annotations

import textwrap

import trio

from neuro import sdk
from neuro.testing import Ping, Pong


class Listener(sdk.Neuro):
    """Keeps what arrives on topic `news`."""

    name = "listener"
    input = Ping
    output = None
    subscribe = ("news",)
    seen: list[int] = []

    async def handle(self, ctx, msg):
        type(self).seen.append(msg.n)


class Sleeper(sdk.Neuro):
    """Sleeps `n` milliseconds; when cancelled it records its name, so tests see stop order."""

    name = "sleeper"
    input = Ping
    output = Pong
    cancelled: list[str] = []

    async def handle(self, ctx, msg):
        try:
            await trio.sleep(msg.n / 1000)
        except trio.Cancelled:
            type(self).cancelled.append(ctx.name)
            raise
        return Pong(n=msg.n)


class BadInit(sdk.Neuro):
    """Cannot be started: its __init__ raises."""

    name = "bad-init"
    input = Ping
    output = None

    def __init__(self):
        raise RuntimeError("no GPU here")

    async def handle(self, ctx, msg):  # pragma: no cover - never runs
        return None


class Outer(sdk.Neuro):
    """Sends to echo, then calls relay (which calls echo): a trace two levels deep."""

    name = "outer"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        await ctx.send("echo", Ping(n=msg.n))
        return await ctx.call("relay", Ping(n=msg.n + 1), timeout=5.0)


class Probe(sdk.Neuro):
    """For the invariant test. Records every message it sees; n < 0 raises; 500 <= n < 1000
    forwards n - 500 to `sink`; n >= 1000 sleeps n - 1000 milliseconds first."""

    name = "probe"
    input = Ping
    output = Pong
    seen: list[object] = []

    async def handle(self, ctx, msg):
        type(self).seen.append(msg)
        if msg.n < 0:
            raise ValueError(f"probe asked to crash: {msg.n}")
        if 500 <= msg.n < 1000:
            await ctx.send("sink", Ping(n=msg.n - 500), timeout=1.0)
        elif msg.n >= 1000:
            await trio.sleep((msg.n - 1000) / 1000)
        return Pong(n=msg.n)


class SyncProbe(sdk.Neuro):
    """Probe's plain-function twin, for the invariant test: a call to it when it is idle is
    handled in the caller's task. Records what it sees in Probe.seen; n < 0 raises."""

    name = "sync-probe"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        Probe.seen.append(msg)
        if msg.n < 0:
            raise ValueError(f"probe asked to crash: {msg.n}")
        return Pong(n=msg.n)


class StartsOnce(sdk.Neuro):
    """Its first instance serves (and crashes on n < 0); every later __init__ raises."""

    name = "starts-once"
    input = Ping
    output = Pong
    instances = 0

    def __init__(self):
        type(self).instances += 1
        if type(self).instances > 1:
            raise RuntimeError("cannot start again")

    async def handle(self, ctx, msg):
        if msg.n < 0:
            raise ValueError("crash")
        return Pong(n=msg.n)


def tutor_code(answer: str, *, asynchronous: bool = False) -> bytes:
    """The source of a one-file neuro `tutor` that answers every question with `answer`: each
    answer is another version, for tests of versions, swaps and the log."""
    handle = "async def handle" if asynchronous else "def handle"
    return textwrap.dedent(f'''
        from neuro import sdk


        class Q(sdk.Message):
            text: str = ""


        class A(sdk.Message):
            text: str


        class Tutor(sdk.Neuro):
            name = "tutor"
            input = Q
            output = A

            {handle}(self, ctx, msg):
                return A(text="{answer}")
    ''').encode()
