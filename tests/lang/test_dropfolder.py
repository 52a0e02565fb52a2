"""A `.neuro` file in a drop folder: compiled and spawned, swapped when it changes, refused with
its line and column when it breaks (the old net keeps serving), stopped when it goes."""

from __future__ import annotations

import trio

import neuro

from running import events

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

TWICE = '''use inc
# two steps
net twice(n) {{
    a = inc(n)
    return {second}
}}
'''


def running(k):
    return {p.name for p in k.ps() if str(getattr(p.state, "value", p.state)) == "running"}


def test_a_neuro_lang_file_is_spawned_swapped_refused_and_stopped(tmp_path):
    """twice.neuro runs as `twice`; an edit swaps it; a broken edit is a located drop.error; deleting stops it."""
    folder = tmp_path / "neuros"
    folder.mkdir()
    (folder / "inc.py").write_text(INC)
    (folder / "twice.neuro").write_text(TWICE.format(second="inc(a)"))
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log, trusted_dirs=[folder]) as k:
            [drop] = k.drop_folders()
            await drop.wait_idle()
            assert 3 == (await k.call("twice", {"x": 1})).x
            first = k.info("twice").version
            (folder / "twice.neuro").write_text(TWICE.format(second="{x: a.x * 10}"))
            await drop.wait_idle()
            assert first != k.info("twice").version
            assert 20 == (await k.call("twice", {"x": 1})).x
            second = k.info("twice").version
            (folder / "twice.neuro").write_text(TWICE.format(second="inc(a"))
            await drop.wait_idle()
            assert second == k.info("twice").version  # refused: the old net keeps running
            assert 20 == (await k.call("twice", {"x": 1})).x
            (folder / "twice.neuro").unlink()
            await drop.wait_idle()
            assert "twice" not in running(k)

    trio.run(main)
    [spawned] = [e for e in events(log, "drop.spawned") if "twice" in (e.get("file") or "")]
    assert spawned["file"].endswith("twice.neuro")
    assert 1 == len(events(log, "drop.swapped"))
    [error] = [e for e in events(log, "drop.error") if "twice" in (e.get("file") or "")]
    assert "twice.neuro:6:1: syntax error: unexpected '}'" in error["error"]
    assert 6 == error["line"]
    assert 1 == len(events(log, "drop.removed"))


def test_a_file_without_a_net_named_like_it_is_refused(tmp_path):
    """A .neuro file whose nets none is named like the file (and that has two) is a drop.error saying so."""
    folder = tmp_path / "neuros"
    folder.mkdir()
    (folder / "inc.py").write_text(INC)
    (folder / "pair.neuro").write_text("use inc\nnet a(n) {\n    return inc(n)\n}\nnet b(n) {\n    return inc(n)\n}\n")
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log, trusted_dirs=[folder]) as k:
            [drop] = k.drop_folders()
            await drop.wait_idle()
            assert {"a", "b"}.isdisjoint(running(k))

    trio.run(main)
    [error] = [e for e in events(log, "drop.error") if "pair" in (e.get("file") or "")]
    assert "runs one net: the one named like the file (`net pair(...)`), or its only net (it declares: a, b)" \
        in error["error"]
