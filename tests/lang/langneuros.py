"""The neuros the Neuro-Lang tests compose: small and typed."""

from __future__ import annotations

from neuro import sdk

from arith_neuros import Add, Double, Inc, Num, Pair  # noqa: F401 - the tests import them from here


class Nums(sdk.Message):
    items: list[Num]


class Text(sdk.Message):
    text: str


class Spread(sdk.Neuro):
    """x -> [0, 1, ..., x-1] as messages: something to map over."""

    name = "spread"
    input = Num
    output = Nums

    def handle(self, ctx, msg):
        return Nums(items=[Num(x=i) for i in range(msg.x)])


class Shout(sdk.Neuro):
    name = "shout"
    input = Text
    output = Text

    def handle(self, ctx, msg):
        return Text(text=msg.text.upper())


class Fails(sdk.Neuro):
    name = "fails"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        raise KeyError(f"no entry for {msg.x}")


ALL = [Inc, Double, Add, Spread, Shout, Fails]
