"""A publish node publishes its input on a topic through the kernel, as a neuro's `ctx.publish`
does: subscribers hear it, the privacy labels the net's process carries go with it, and the
node is a sink (it need not lead to the output)."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import sdk
from neuro.nets import NetError, build

from arith_neuros import Double, Inc, Num


class Note(sdk.Message):
    x: int = 0
    op: str = "hear"  # an event is heard; `recall` answers what was heard


class Heard(sdk.Message):
    xs: list[int] = []


class Ear(sdk.Neuro):
    name = "ear"
    input = Note
    output = Heard
    subscribe = ("nums",)

    def __init__(self) -> None:
        self.xs: list[int] = []

    def handle(self, ctx, msg):
        if msg.op == "recall":
            return Heard(xs=self.xs)
        self.xs.append(msg.x)
        return Heard()


def _told() -> sdk.Net:
    net = sdk.Net("told", input=Num, output=Num)
    net.node("a", "inc")
    net.publish("tell", "nums", accepts=Num)
    net.node("b", "double")
    net.edge("in", "a")
    net.edge("a", "tell")  # a sink: nothing after it
    net.edge("a", "b")
    net.edge("b", "out")
    return net


def test_a_publish_node_reaches_the_subscribers_before_the_run_answers():
    """The ear hears inc's output; the net still answers double's."""

    async def main():
        async with neuro.Kernel() as k:
            for cls in (Inc, Double, Ear):
                await k.spawn(cls)
            built = build(_told(), kernel=k)
            await k.spawn(built.neuro())
            out = await k.call("told", Num(x=4))
            return out, await k.call("ear", Note(op="recall"))

    out, heard = trio.run(main)
    assert (Num(x=10), [5]) == (out, heard.xs)


def test_a_publish_node_that_takes_another_type_does_not_build():
    """An edge of Num into a publish node that accepts Heard is a type problem naming the node."""
    net = sdk.Net("wrong", input=Num, output=Num)
    net.node("a", "inc")
    net.publish("tell", "nums", accepts=Heard)
    net.edge("in", "a")
    net.edge("a", "tell")
    net.edge("a", "out")
    with pytest.raises(NetError) as caught:
        build(net, neuros=[Inc])
    assert ["type"] == [p.kind for p in caught.value.problems]
    assert caught.value.problems[0].message.startswith("edge a -> tell: a is Num, tell takes Heard: at `$.x`")


def test_a_publish_node_with_no_topic_does_not_build():
    """An empty topic is refused at build."""
    net = sdk.Net("empty", input=Num, output=Num)
    net.publish("tell", "")
    net.edge("in", "tell")
    net.edge("in", "out")
    with pytest.raises(NetError) as caught:
        build(net)
    assert ["publish"] == [p.kind for p in caught.value.problems]


def test_a_net_publishes_through_the_kernel_with_the_labels_its_process_carries(tmp_path):
    """A net runs in-process and unlabelled (a labelled reply to it is refused, tests/governance);
    were its process tainted `private`, its publish would not reach the uncleared ear: the
    kernel's label check applies to it as to any neuro's publish, logged as `flow.refused`."""
    from neuro.kernel._labels import taint

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await k.spawn(Ear)
            net = sdk.Net("told", input=Num, output=Num)
            net.publish("tell", "nums")
            net.edge("in", "tell")
            net.edge("in", "out")
            await k.spawn(build(net, kernel=k).neuro())
            await k.call("told", Num(x=2))  # heard
            taint(k._router.procs["told"], frozenset({"private"}))
            await k.call("told", Num(x=3))  # not heard
            return (await k.call("ear", Note(op="recall"))).xs

    assert [2] == trio.run(main)
    import sqlite3

    with sqlite3.connect(tmp_path / "run.db") as db:
        refused = [n for (n,) in db.execute("select neuro from events where name = 'flow.refused'")]
    assert ["ear"] == refused


def test_a_subscriber_whose_input_the_payload_does_not_fit_is_skipped():
    """A published value the ear's Note does not take (a Heard) reaches no one; the run still answers."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Ear)
            net = sdk.Net("odd", input=Heard, output=Heard)
            net.publish("tell", "nums")
            net.edge("in", "tell")
            net.edge("tell", "out")  # a publish node passes its input on
            await k.spawn(build(net, kernel=k).neuro())
            out = await k.call("odd", Heard(xs=[1]))
            return out, (await k.call("ear", Note(op="recall"))).xs

    assert (Heard(xs=[1]), []) == trio.run(main)


def test_a_net_file_declares_a_publish_node():
    """`publish = "nums"` in a net file is a publish node on that topic, a sink."""
    from neuro.nets import read_toml

    text = b"""
[net]
name = "filed"
edges = ["in -> a", "a -> tell", "a -> out"]
[nodes.a]
neuro = "inc"
[nodes.tell]
publish = "nums"
"""
    built = build(read_toml(text, "filed.net.toml"), neuros=[Inc])
    nodes = {n["id"]: n for n in built.show()["nodes"]}
    assert ("publish", "nums", True) == (nodes["tell"]["kind"], nodes["tell"]["topic"], nodes["tell"]["sink"])
