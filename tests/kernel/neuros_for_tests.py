"""Small neuros the kernel tests use."""

from __future__ import annotations

import trio

from neuro import sdk


class Ping(sdk.Message):
    n: int


class Pong(sdk.Message):
    n: int


class Echo(sdk.Neuro):
    name = "echo"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n)


class SyncEcho(sdk.Neuro):
    name = "sync-echo"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        return Pong(n=msg.n)


class Crashy(sdk.Neuro):
    """Raises on negative numbers; counts instances so tests can see restarts."""

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


class Slow(sdk.Neuro):
    """Sleeps `n` milliseconds before answering."""

    name = "slow"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        await trio.sleep(msg.n / 1000)
        return Pong(n=msg.n)


class Relay(sdk.Neuro):
    """Calls echo with n+1 and returns its answer: a neuro calling a neuro."""

    name = "relay"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return await ctx.call("echo", Ping(n=msg.n + 1), timeout=5.0)


class Listener(sdk.Neuro):
    """Keeps what arrives on topic `news`."""

    name = "listener"
    input = Ping
    output = None
    subscribe = ("news",)
    seen: list[int] = []

    async def handle(self, ctx, msg):
        type(self).seen.append(msg.n)
