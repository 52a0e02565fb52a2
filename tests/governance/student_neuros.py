"""A dream student of the suite's apprentice, as a file of its own (so it is a new version): the
lineage the dream daemon records for a student trained on private traces. Shipped as source
into the process sandbox: it imports only the SDK."""

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
