"""A net file in a drop folder: spawned, swapped when it changes, refused when it breaks (the old
net keeps running), stopped when it goes."""

from __future__ import annotations

import json
import sqlite3

import trio

import neuro

INC = '''
from neuro import sdk


class Num(sdk.Message):
    x: int


class Inc(sdk.Neuro):
    name = "inc"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x + 1)
'''

NET = '''
[net]
name = "twice"
chain = ["in", "a", "b", "out"]
[nodes.a]
neuro = "inc"
[nodes.b]
{b}
'''


def events(log, name):
    with sqlite3.connect(log) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where name = ? order by seq", (name,))]


def test_a_net_file_in_a_drop_folder_is_spawned_swapped_refused_and_stopped(tmp_path):
    """twice.net.toml runs as neuro `twice`; an edit swaps it; a broken edit is a drop.error and the old one serves."""
    folder = tmp_path / "neuros"
    folder.mkdir()
    (folder / "inc.py").write_text(INC)
    (folder / "twice.net.toml").write_text(NET.format(b='neuro = "inc"'))
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log, trusted_dirs=[folder]) as k:
            [drop] = k.drop_folders()
            await drop.wait_idle()
            reply = await k.call("twice", {"x": 1})
            assert 3 == reply.x
            first = k.info("twice").version
            (folder / "twice.net.toml").write_text(NET.format(b='lambda = { x = "x * 10" }'))
            await drop.wait_idle()
            assert first != k.info("twice").version
            assert 20 == (await k.call("twice", {"x": 1})).x
            second = k.info("twice").version
            (folder / "twice.net.toml").write_text(NET.format(b='neuro = "nope"'))
            await drop.wait_idle()
            assert second == k.info("twice").version  # refused: the old net keeps running
            assert 20 == (await k.call("twice", {"x": 1})).x
            (folder / "twice.net.toml").unlink()
            await drop.wait_idle()
            assert "twice" not in {p.name for p in k.ps() if str(getattr(p.state, "value", p.state)) == "running"}

    trio.run(main)
    [error] = [e for e in events(log, "drop.error") if "twice" in (e.get("file") or "")]
    assert "unknown neuro 'nope'" in error["error"]
    assert 1 == len(events(log, "drop.swapped"))
