"""Neuros that use `ctx.start_background` and the artifact store, in-process and sandboxed.

A module of its own (no test imports): the process sandbox ships this file in and imports it.
"""

from __future__ import annotations

import trio

from neuro import sdk


class Ask(sdk.Message):
    do: str  # "start" | "count" | "cancel" | "crash" | "put" | "get" | "find"
    text: str = ""


class Answer(sdk.Message):
    n: int = 0
    text: str = ""
    done: bool = False


class Ticker(sdk.Neuro):
    """Counts in a background task while it answers messages; keeps bytes as artifacts."""

    name = "ticker"
    input = Ask
    output = Answer
    sandbox = "inproc"

    def __init__(self) -> None:
        self.count = 0
        self.task = None

    async def _tick(self, ctx: sdk.Context, fail_at: int) -> None:
        while True:
            self.count += 1
            if self.count == fail_at:
                raise RuntimeError(f"failed at {fail_at}")
            await ctx.publish(f"progress.{ctx.name}", Answer(n=self.count))
            await trio.sleep(0.01)

    async def handle(self, ctx: sdk.Context, msg: Ask) -> Answer:
        if msg.do in ("start", "crash"):
            self.task = await ctx.start_background(self._tick, 5 if msg.do == "crash" else -1, name="tick")
            return Answer(text=self.task.name)
        if msg.do == "count":
            return Answer(n=self.count, done=self.task is not None and self.task.done)
        if msg.do == "cancel":
            self.task.cancel()
            await self.task.wait()
            return Answer(n=self.count, done=self.task.done, text=str(self.task.cancelled))
        if msg.do == "put":
            return Answer(text=await ctx.put_artifact(msg.text.encode(), label="note"))
        if msg.do == "get":
            return Answer(text=(await ctx.get_artifact(msg.text)).decode())
        if msg.do == "find":
            return Answer(text=await ctx.find_artifact(msg.text) or "")
        raise sdk.Reject(f"unknown do {msg.do!r}")


class BoxedTicker(Ticker):
    """The same, in the process sandbox."""

    name = "boxed-ticker"
    sandbox = "process"
