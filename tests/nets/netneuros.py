"""Neuros the net tests compose: small, typed, some failing, some slow."""

from __future__ import annotations

import time

from neuro import sdk

from arith_neuros import Add, Double, Inc, Num, Pair  # noqa: F401 - the tests import them from here


class Text(sdk.Message):
    x: str


class Items(sdk.Message):
    items: list[int]


class MaybeNum(sdk.Message):
    x: int | None = None


class Counted(sdk.Message):
    x: int
    done: bool = False


class Shout(sdk.Neuro):
    name = "shout"
    input = Text
    output = Text

    def handle(self, ctx, msg):
        return Text(x=msg.x.upper())


class Maybe(sdk.Neuro):
    name = "maybe"
    input = Num
    output = MaybeNum

    def handle(self, ctx, msg):
        return MaybeNum(x=msg.x)


class Step(sdk.Neuro):
    name = "step"
    input = Counted
    output = Counted

    def handle(self, ctx, msg):
        return Counted(x=msg.x + 1, done=msg.x + 1 >= 5)


class Fails(sdk.Neuro):
    name = "fails"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        raise KeyError(f"no entry for {msg.x}")


class Burn(sdk.Neuro):
    """About `x` ms of CPU in a worker thread (for parallel branches)."""

    name = "burn"
    input = Num
    output = Num

    async def handle(self, ctx, msg):
        def spin():
            end = time.perf_counter() + msg.x / 1000
            while time.perf_counter() < end:
                pass
        await ctx.run_sync(spin)
        return Num(x=msg.x)


class Sleepy(sdk.Neuro):
    name = "sleepy"
    input = Num
    output = Num

    async def handle(self, ctx, msg):
        import trio

        await trio.sleep(msg.x / 1000)
        return Num(x=msg.x)


ALL = [Inc, Double, Add, Shout, Maybe, Step, Fails, Burn, Sleepy]


class Start(sdk.Message, tag="start"):
    x: int


class Stop(sdk.Message, tag="stop"):
    x: int


class Other(sdk.Message, tag="other"):
    x: int


class Both(sdk.Message):
    x: int
    y: int


class Control(sdk.Neuro):
    """Takes a tagged union: a source must carry one of its tags."""

    name = "control"
    input = Start | Stop
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x if isinstance(msg, Start) else -msg.x)


class Starter(sdk.Neuro):
    name = "starter"
    input = Num
    output = Start

    def handle(self, ctx, msg):
        return Start(x=msg.x)


class Otherer(sdk.Neuro):
    name = "otherer"
    input = Num
    output = Other

    def handle(self, ctx, msg):
        return Other(x=msg.x)


class Bother(sdk.Neuro):
    name = "both"
    input = Num
    output = Both

    def handle(self, ctx, msg):
        return Both(x=msg.x, y=msg.x)


ALL += [Control, Starter, Otherer, Bother]
