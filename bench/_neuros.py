"""Neuros only the benchmarks run; the common ones (Echo, BoxedEcho, Ping, ...) are in
`neuro.testing`. A sandbox receives this one file, so it imports only the SDK, `neuro.testing`
and the standard library."""

from __future__ import annotations

import time

from neuro import sdk
from neuro.testing import BoxedEcho, Ping, Pong


class Spinner(sdk.Neuro):
    """Burns one core for `n` milliseconds per message, at background priority."""

    name = "spinner"
    input = Ping
    output = Pong
    policy = "background"
    sandbox = "process"
    policy_overrides = {"wall_time": 120, "cpu_time": 0}

    def handle(self, ctx, msg):
        end = time.perf_counter() + msg.n / 1000
        x = 0
        while time.perf_counter() < end:
            x += 1
        return Pong(n=x)


class Hog(sdk.Neuro):
    """Allocates `n` MiB when asked; answers 0 otherwise."""

    name = "hog"
    input = Ping
    output = Pong
    sandbox = "process"
    policy = "untrusted"
    policy_overrides = {"memory": "96MiB", "rate": 0}

    def handle(self, ctx, msg):
        if msg.n:
            blocks = [bytearray(1 << 20) for _ in range(msg.n)]
            return Pong(n=len(blocks))
        return Pong(n=0)


class Flooder(sdk.Neuro):
    """Publishes as fast as it can for `n` milliseconds: an attack on everyone else."""

    name = "flooder"
    input = Ping
    output = Pong
    sandbox = "process"
    policy = "untrusted"

    async def handle(self, ctx, msg):
        end = time.perf_counter() + msg.n / 1000
        sent = 0
        while time.perf_counter() < end:
            try:
                await ctx.send("sink", Ping(n=sent))
            except Exception:
                pass
            sent += 1
        return Pong(n=sent)


class DockerEcho(BoxedEcho):
    """neuro.testing's BoxedEcho in a Docker container."""

    name = "docker-echo"
    sandbox = "docker"
