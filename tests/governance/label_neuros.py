"""Neuros that say what `ctx.labels` is where they run, in the sandbox (this file holds no tests).
Shipped as source into the process sandbox: it imports only the SDK."""

from __future__ import annotations

import time

from neuro import sdk


class Ask(sdk.Message):
    op: str = "tell"  # tell (answer), ask (call `to` first), pass (make `to` tell), declassify
    to: str = ""


class Told(sdk.Message):
    before: list[str] = []  # ctx.labels as the handler started
    after: list[str] = []   # ctx.labels as it answered


class Teller(sdk.Neuro):
    """Answers with its ctx.labels before and after what the message asks it to do."""

    name = "teller"
    policy = "relay"
    input = Ask
    output = Told

    async def handle(self, ctx, msg):
        before = sorted(ctx.labels)
        if msg.op == "pass":
            return await ctx.call(msg.to, Ask())
        if msg.op == "ask":
            await ctx.call(msg.to, Ask())
        elif msg.op == "declassify":
            await ctx.declassify("private", reason="the test says this note is public")
        return Told(before=before, after=sorted(ctx.labels))


class Source(Teller):
    """A teller whose policy labels everything it says `private` (the vault's)."""

    name = "source"
    policy = "vault"


class NetHolder(Teller):
    """flow_neuros.Holder's next version, with the network: a swap to it must not go live
    holding private data. Its selfcheck is slow, so the old version can be given private data
    while it runs."""

    name = "holder"
    policy = "uploader"

    def selfcheck(self):
        time.sleep(3.0)
