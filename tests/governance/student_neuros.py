"""New versions of the suite's neuros, in a file of their own (so each is a new version): a dream
student of the apprentice, with the lineage the dream daemon records for a student trained on
private traces, and a keeper that asks for the network. Shipped as source into the process
sandbox: it imports only the SDK."""

from __future__ import annotations

from neuro import sdk


class Do(sdk.Message):
    op: str = "echo"
    text: str = ""
    path: list[str] = []
    then: str = "echo"
    topic: str = "notes"
    label: str = ""


class Done(sdk.Message):
    text: str = ""
    labels: list[str] = []


class Student(sdk.Neuro):
    """What the student learnt: pass a message on along its path, or answer it."""

    name = "apprentice"
    policy = "relay"
    input = Do
    output = Done
    __neuro_lineage__ = {"teacher": "apprentice", "notes": {"labels": ["private"]}}

    async def handle(self, ctx, msg):
        if msg.op == "pass" and msg.path:
            return await ctx.call(msg.path[0], Do(op=msg.then, text=msg.text, path=msg.path[1:]))
        return Done(text=msg.text)


class NetKeeper(sdk.Neuro):
    """The keeper, now with a way out (policy `uploader`, which does not let private data out by it)."""

    name = "keeper"
    policy = "uploader"
    input = Do
    output = Done

    async def handle(self, ctx, msg):
        return Done(text=msg.text)
