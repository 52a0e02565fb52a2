"""Neuros for testing code that runs neuros, as `trio.testing` is for code that runs on trio.

Tests and benchmarks keep needing the same few neuros: one that answers, one that answers
late, one that crashes, one that calls another. They are here once, with their messages:

    import neuro, trio
    from neuro.testing import Echo, Ping, Pong

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            assert Pong(n=1) == await k.call("echo", Ping(n=1))

    trio.run(main)

The messages:

- `Ping`: the request every neuro here takes: a number `n`.
- `Pong`: the answer: a number `n`.

The neuros (the name each runs under, unless `spawn(..., name=)` gives another):

- `Echo`: "echo", answers `Pong(n)` from an `async def` handler (served by the neuro's task).
- `SyncEcho`: "sync-echo", the same from a plain function, which an idle neuro runs in the caller's task.
- `BoxedEcho`: "boxed-echo", Echo in the process sandbox (bubblewrap).
- `Slow`: "slow", sleeps `n` milliseconds, then answers `Pong(n)`.
- `Crashy`: "crashy", raises ValueError on a negative `n`, else answers with its instance number.
- `Relay`: "relay", calls "echo" with `n + 1` and returns its answer: a neuro calling a neuro.
- `Idle`: "idle", takes a Ping and answers nothing.

A sandbox receives this file as a neuro's source (each class is a neuro of its own, whose
version is this file's hash), so it imports only the SDK, trio and the standard library.
`Crashy.instances` counts the instances started in this process; set it to 0 before a test.
"""

from __future__ import annotations

import trio

from neuro import sdk

__all__ = ["Ping", "Pong", "Echo", "SyncEcho", "BoxedEcho", "Slow", "Crashy", "Relay", "Idle"]


class Ping(sdk.Message):
    """The request every neuro here takes."""

    n: int


class Pong(sdk.Message):
    """The answer."""

    n: int


class Echo(sdk.Neuro):
    """Answers Pong(n) from an async handler."""

    name = "echo"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n)


class SyncEcho(sdk.Neuro):
    """Answers Pong(n) from a plain function: an idle one serves a call in the caller's task."""

    name = "sync-echo"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        return Pong(n=msg.n)


class BoxedEcho(sdk.Neuro):
    """Answers Pong(n) from the process sandbox."""

    name = "boxed-echo"
    input = Ping
    output = Pong
    sandbox = "process"

    async def handle(self, ctx, msg):
        return Pong(n=msg.n)


class Slow(sdk.Neuro):
    """Sleeps `n` milliseconds before answering Pong(n)."""

    name = "slow"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        await trio.sleep(msg.n / 1000)
        return Pong(n=msg.n)


class Crashy(sdk.Neuro):
    """Raises on a negative `n`; otherwise answers its instance number, so a restart shows."""

    name = "crashy"
    input = Ping
    output = Pong
    instances = 0

    def __init__(self):
        type(self).instances += 1
        self.instance = type(self).instances

    async def handle(self, ctx, msg):
        if msg.n < 0:
            raise ValueError(f"negative: {msg.n}")
        return Pong(n=self.instance)


class Relay(sdk.Neuro):
    """Calls "echo" with n + 1 and returns its answer."""

    name = "relay"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return await ctx.call("echo", Ping(n=msg.n + 1), timeout=5.0)


class Idle(sdk.Neuro):
    """Takes a Ping and answers nothing."""

    name = "idle"
    input = Ping

    async def handle(self, ctx, msg):
        return None
