"""Running Neuro-Lang programs in a real kernel with the test neuros (langneuros.ALL)."""

from __future__ import annotations

import json
import sqlite3

import trio

import neuro
from neuro import lang

from langneuros import ALL


def in_kernel(fn, tmp_path):
    """Run ``await fn(kernel)`` in a kernel on a real log file, with the test neuros running."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            for cls in ALL:
                await k.spawn(cls)
            return await fn(k)

    return trio.run(main)


async def spawn_all(k, program):
    """Spawn every net of a compiled program (in the order they depend on each other)."""
    for built in program.nets.values():
        await k.spawn(built.neuro())


def compile_and_call(tmp_path, text, calls, file="prog.neuro", net=None):
    """Compile `text` against a kernel, spawn its nets, and call `net` (the main one) on each input."""

    async def go(k):
        program = lang.compile_source(text, file, kernel=k)
        await spawn_all(k, program)
        name = net or program.main
        return [await k.call(name, c) for c in calls]

    return in_kernel(go, tmp_path)


def events(log, name):
    with sqlite3.connect(log) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where name = ? order by seq", (name,))]


def formatted_once(text):
    """`text` formatted, after checking the round trip: the same tree, and formatting again changes nothing."""
    once = lang.format_source(text)
    assert lang.parse(text) == lang.parse(once)
    assert once == lang.format_source(once)
    return once


def docs_example(name):
    """The text of the example `name` of docs/lang.md (```neuro, `# example: NAME`)."""
    import pathlib
    import re

    doc = (pathlib.Path(__file__).parents[2] / "docs" / "lang.md").read_text()
    return re.search(rf"```neuro\n(# example: {name}\n.*?)```", doc, re.S).group(1)
