"""The neuros the Neuro-Lang tests compose: small and typed."""

from __future__ import annotations

from neuro import sdk


class Num(sdk.Message):
    x: int


class Pair(sdk.Message):
    left: int
    right: int


class Nums(sdk.Message):
    items: list[Num]


class Text(sdk.Message):
    text: str


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
