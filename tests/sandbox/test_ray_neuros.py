"""Neuros the ray backend's tests place on a Ray cluster (no tests here).

A Ray actor receives this file as the neuro's source, so it imports only the SDK, the
standard library and, inside a handler, Ray (present on every node of a Ray cluster)."""

from __future__ import annotations

import os

import trio

from neuro import sdk
from neuro.testing import Ping, Pong


class Place(sdk.Message):
    """Where the handler ran, and what Ray reserved for its actor."""

    node: str
    pid: int
    resources: dict[str, float]
    labels: dict[str, str]


class Where(sdk.Neuro):
    """Answers with the node it runs on and its actor's assigned Ray resources."""

    name = "where"
    input = Ping
    output = Place

    async def handle(self, ctx, msg):
        import ray

        context = ray.get_runtime_context()
        node = context.get_node_id()
        labels = {}
        for info in ray.nodes():
            if info["NodeID"] == node:
                labels = {k: v for k, v in info.get("Labels", {}).items() if not k.startswith("ray.io/")}
        return Place(node=node, pid=os.getpid(), resources=dict(context.get_assigned_resources()), labels=labels)


class Counter(sdk.Neuro):
    """Counts the calls it served (its effect); answers the count so far and who it is."""

    name = "counter"
    input = Ping
    output = Pong

    def __init__(self):
        self.count = 0

    async def handle(self, ctx, msg):
        await trio.sleep(msg.n / 1000)
        self.count += 1
        return Pong(n=self.count)


class EchoV2(sdk.Neuro):
    """The next version of Echo: answers n + 1000, so a swap shows. A swap runs the new
    version under its own manifest's policy (kernel/_swap.py), so it names its sandbox."""

    name = "echo"
    input = Ping
    output = Pong
    sandbox = "ray"

    async def handle(self, ctx, msg):
        return Pong(n=msg.n + 1000)


class Hog(sdk.Neuro):
    """Holds `n` MiB of memory, touched, then answers."""

    name = "hog"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        self.held = bytearray(msg.n << 20)
        for i in range(0, len(self.held), 4096):
            self.held[i] = 1
        await trio.sleep(1.0)  # time for the watchdog to look
        return Pong(n=len(self.held) >> 20)


class Dies(sdk.Neuro):
    """Ends its own process on a negative n (a crash loop when called so again and again)."""

    name = "dies"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        if msg.n < 0:
            os._exit(7)
        return Pong(n=msg.n)


class Num(sdk.Message):
    n: int


class Plus1(sdk.Neuro):
    """n + 1; a number under -100 is refused with a ValueError (a node's error)."""

    name = "plus1"
    input = Num
    output = Num

    async def handle(self, ctx, msg):
        if msg.n < -100:
            raise ValueError(f"no numbers under -100, got {msg.n}")
        return Num(n=msg.n + 1)


class Plus1V2(sdk.Neuro):
    """The next version of Plus1: n + 100, so a swap shows."""

    name = "plus1"
    input = Num
    output = Num
    sandbox = "ray"

    async def handle(self, ctx, msg):
        return Num(n=msg.n + 100)


class Times2(sdk.Neuro):
    """n * 2, as a plain (not async) handler."""

    name = "times2"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(n=msg.n * 2)


class Napper(sdk.Neuro):
    """n, after a nap: a handler that awaits, which a compiled graph cannot run."""

    name = "napper"
    input = Num
    output = Num

    async def handle(self, ctx, msg):
        await trio.sleep(0)
        return Num(n=msg.n)
