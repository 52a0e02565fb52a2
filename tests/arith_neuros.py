"""The three arithmetic neuros the net and Neuro-Lang tests compose (inc, double, add), as
classes and as files a daemon spawns."""

from __future__ import annotations

from neuro import sdk


class Num(sdk.Message):
    x: int


class Pair(sdk.Message):
    left: int
    right: int


class Inc(sdk.Neuro):
    name = "inc"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x + 1)


class Double(sdk.Neuro):
    name = "double"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x * 2)


class Add(sdk.Neuro):
    name = "add"
    input = Pair
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.left + msg.right)


NEURO_FILE = '''
from neuro import sdk


class Num(sdk.Message):
    x: int


class Pair(sdk.Message):
    left: int
    right: int


class N(sdk.Neuro):
    name = "{name}"
    input = {input}
    output = Num

    def handle(self, ctx, msg):
        return Num(x={expr})
'''


def spawn_arith_files(home, folder) -> None:
    """Write inc, double and add as files in `folder` and spawn each in the daemon of `home`."""
    from conftest import neuro_cmd

    for name, input, expr in (("inc", "Num", "msg.x + 1"), ("double", "Num", "msg.x * 2"),
                              ("add", "Pair", "msg.left + msg.right")):
        path = folder / f"{name}.py"
        path.write_text(NEURO_FILE.format(name=name, input=input, expr=expr))
        done = neuro_cmd("spawn", path, "--trusted", "-q", home=home)
        assert 0 == done.returncode, done.stderr
