"""Neuros that use `ctx.kernel`, `ctx.gather` and a `sleep` hook, for the docker backend's tests.
Shipped as source into the sandbox: it imports only the SDK."""

from __future__ import annotations

from neuro import sdk


class Note(sdk.Message):
    text: str = ""


class Told(sdk.Message):
    items: list[str]


class Echo(sdk.Neuro):
    name = "echo"
    input = Note
    output = Note

    def handle(self, ctx, msg):
        if msg.text == "fail":
            raise KeyError("fail")
        return msg


class Boxed(sdk.Neuro):
    """In a container: reads the process table through ctx.kernel, gathers, and sleeps."""

    name = "boxed"
    input = Note
    output = Told
    sandbox = "docker"
    policy = "boxed"

    async def handle(self, ctx, msg):
        if msg.text == "ps":
            return Told(items=sorted(p.name for p in await ctx.kernel.ps()))
        if msg.text == "stop":
            try:
                await ctx.kernel.stop("echo")
            except sdk.NeuroError as e:
                return Told(items=[f"{type(e).__name__}: {e}"])
            return Told(items=["stopped"])
        outcomes = await ctx.gather([("echo", Note(text="a")), ("echo", Note(text="fail"))], timeout=30)
        return Told(items=[type(o).__name__ if isinstance(o, Exception) else o.text for o in outcomes])

    async def sleep(self, ctx):
        await ctx.publish("dreams", Note(text="consolidated"))
        return {"rounds": 1}


class Report(sdk.Message, tag="report"):
    pass


class Watcher(sdk.Neuro):
    """In a container: keeps the kernel events it is sent; a Report asks for them."""

    name = "watcher"
    input = sdk.KernelEvent | Report
    output = Told
    sandbox = "docker"
    subscribe = ("kernel.events",)

    def __init__(self):
        self.seen = []

    def handle(self, ctx, msg):
        if isinstance(msg, Report):
            return Told(items=self.seen)
        self.seen.append(f"{msg.name} {msg.neuro}")
        return Told(items=[])
