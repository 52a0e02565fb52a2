"""The demo's composition acts: a Neuro-Net over three neuros, then the same graph as a
Neuro-Lang program. Each act is `async (kernel, folder) -> str`, as in demo_parts."""

from __future__ import annotations

from pathlib import Path

import neuro
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

    def handle(self, ctx: sdk.Context, msg: Num) -> Num:
        return Num(x=msg.x + 1)


class Double(sdk.Neuro):
    name = "double"
    input = Num
    output = Num

    def handle(self, ctx: sdk.Context, msg: Num) -> Num:
        return Num(x=msg.x * 2)


class Add(sdk.Neuro):
    name = "add"
    input = Pair
    output = Num

    def handle(self, ctx: sdk.Context, msg: Pair) -> Num:
        return Num(x=msg.left + msg.right)


PROGRAM = """use inc
use double
use add

net joined_lang(n) {
    a = inc(n)
    b = double(n)
    return add(left: a.x, right: b.x)
}
"""


async def _arith(k: neuro.Kernel) -> None:
    for cls in (Inc, Double, Add):
        if cls.name not in {p.name for p in k.ps()}:
            await k.spawn(cls)


async def net(k: neuro.Kernel, folder: Path) -> str:
    await _arith(k)
    graph = sdk.Net("joined", input=Num, output=Num)
    graph.node("a", "inc")
    graph.node("b", "double")
    graph.node("c", "add")
    for src, dst in (("in", "a"), ("in", "b"), ("a.x", "c.left"), ("b.x", "c.right"), ("c", "out")):
        graph.edge(src, dst)
    built = graph.build(kernel=k)  # every edge's types checked here, before anything runs
    await k.spawn(built.neuro())
    first = await k.call("joined", Num(x=5))
    again = await k.call("joined", Num(x=5))  # memoised by (input hash, node version)
    return (f"a net of inc, double and add (fan-out, fan-in), type-checked at build: joined(5) = "
            f"{first.x} = (5+1) + 5*2, again {again.x} from the memo; version {built.version[:8]}")


async def lang(k: neuro.Kernel, folder: Path) -> str:
    from neuro.lang import compile_source

    await _arith(k)
    path = folder / "joined.neuro"
    path.write_text(PROGRAM)
    program = compile_source(PROGRAM, str(path), kernel=k)
    built = program.nets["joined_lang"]
    await k.spawn(built.neuro())
    out = await k.call("joined_lang", {"x": 7})
    return (f"compiled {path.name} (lark grammar, typed against the running neuros) to a net of "
            f"{len(built.graph.nodes)} nodes: joined_lang(7) = {out.x} = (7+1) + 7*2")
