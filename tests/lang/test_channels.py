"""Channels: `channel TOPIC: Type` declares what a net may publish on a kernel topic, and
`publish TOPIC value` is a publish node that goes through the kernel's publish; a value of
another type is refused at compile time, at its line (tests/lang/broken/ pins the words)."""

from __future__ import annotations

import pytest
import trio

from neuro import lang, sdk

from langneuros import ALL, Num
from running import docs_example, events, formatted_once, in_kernel, spawn_all


class Heard(sdk.Message):
    items: list[dict] = []


class Score(sdk.Message):
    x: int = 0
    who: str = ""
    op: str = "hear"


class Ear(sdk.Neuro):
    """Hears `scores`; `recall` answers what it heard."""

    name = "ear"
    input = Score
    output = Heard
    subscribe = ("scores",)

    def __init__(self) -> None:
        self.heard: list[dict] = []

    def handle(self, ctx, msg):
        if msg.op == "recall":
            return Heard(items=self.heard)
        self.heard.append({"x": msg.x, "who": msg.who})
        return Heard()


SRC = """
use inc
message Score { x: int, who: str = "", op: str = "hear" }
channel scores: Score

net told(n) {
    a = inc(n)
    publish scores {x: a.x, who: "told"}
    if a.x > 3 {
        publish scores {x: a.x * 10, who: "big"}
    }
    return a
}
"""


def test_a_net_publishes_on_its_channel_and_only_on_the_branch_taken(tmp_path):
    """x=1 publishes once; x=5 publishes twice (the `if` holds); the ear hears both, in order."""

    async def go(k):
        await k.spawn(Ear)
        program = lang.compile_source(SRC, "told.neuro", kernel=k)
        await spawn_all(k, program)
        out = [await k.call("told", {"x": x}) for x in (1, 5)]
        await trio.sleep(0.2)  # the ear handles its events in its own task
        return out, (await k.call("ear", {"op": "recall"})).items

    out, heard = in_kernel(go, tmp_path)
    assert [Num(x=2), Num(x=6)] == out
    assert [{"x": 2, "who": "told"}, {"x": 6, "who": "told"}, {"x": 60, "who": "big"}] == heard
    runs = events(tmp_path / "run.db", "net.run")
    published = [[s["calls"] for s in r["steps"] if s["reason"] == "published"] for r in runs]
    assert [["scores"], ["scores", "scores"]] == published


def test_a_single_value_is_published_as_itself():
    """`publish ticks n.x + 1` on `channel ticks: int` builds a lambda and a publish node of int."""
    src = "use inc\nchannel ticks: int\nnet t(n) {\n    publish ticks n.x + 1\n    return inc(n)\n}\n"
    built = lang.compile_source(src, "t.neuro", neuros=ALL).nets["t"]
    nodes = {n["id"]: n for n in built.show()["nodes"]}
    assert ("publish", "ticks", "int") == (nodes["publish_ticks"]["kind"], nodes["publish_ticks"]["topic"],
                                           nodes["publish_ticks"]["input"])


@pytest.mark.parametrize("topic, value, words", [
    ("ticks", "n", "`publish ticks`: the channel takes int, and this value is Num"),
    ("nums", '{x: n.x, y: "a"}', "`publish nums`: the channel takes Num, and this value is"),
])
def test_a_value_of_another_type_is_a_compile_error_at_its_line(topic, value, words):
    """The publish line is named, with the channel's type and the value's."""
    src = (f"message Num {{ x: int }}\nuse inc\nchannel ticks: int\nchannel nums: Num\nnet t(n) {{\n"
           f"    publish {topic} {value}\n    return inc(n)\n}}\n")
    with pytest.raises(lang.LangError) as caught:
        lang.compile_source(src, "t.neuro", neuros=ALL)
    (d,) = caught.value.diagnostics
    assert (6, 5, "type") == (d.line, d.column, d.kind)
    assert d.message.startswith(words)


def test_channel_and_publish_round_trip_through_the_formatter():
    """The formatted text parses to the same tree, and formatting it again changes nothing."""
    text = 'channel "a-b": int\nchannel scores.new:Score|none\nnet t(n)memo false subscribe "a-b" subscribe x{publish "a-b" n.x publish scores.new n return n}'
    once = formatted_once(text)
    assert 'channel "a-b": int\nchannel scores.new: Score | none\n\nnet t(n) memo false subscribe "a-b" subscribe x {' in once


def test_a_net_that_subscribes_runs_on_each_event(tmp_path):
    """`net counted(n) subscribe nums`: each event on nums is a run; the net publishes inc's answer on scores."""
    src = """
use inc
message Score { x: int, who: str = "", op: str = "hear" }
channel nums: Num
channel scores: Score

net counted(n) subscribe nums {
    a = inc(n)
    publish scores {x: a.x, who: "counted"}
    return a
}
"""

    async def go(k):
        await k.spawn(Ear)
        program = lang.compile_source("message Num { x: int }\n" + src, "counted.neuro", kernel=k)
        await spawn_all(k, program)
        for x in (1, 2):
            await k.publish("nums", Num(x=x))
        await trio.sleep(0.3)
        return (await k.call("ear", {"op": "recall"})).items

    assert [{"x": 2, "who": "counted"}, {"x": 3, "who": "counted"}] == in_kernel(go, tmp_path)


@pytest.mark.parametrize("option, words", [
    ("subscribe scores", "net `t` subscribes to `scores` and publishes on it: each run would start another"),
    ("subscribe ticks", "net `t` subscribes to `ticks`, whose channel takes int, and its input is Num"),
])
def test_a_subscription_that_cannot_work_is_refused_at_the_net(option, words):
    """Hearing its own topic, or a channel whose type does not fit the net's input, is an error at `net`."""
    src = (f"use inc\nchannel ticks: int\nchannel scores: any\nnet t(n) {option} {{\n    a = inc(n)\n"
           f"    publish scores a\n    return a\n}}\n")
    with pytest.raises(lang.LangError) as caught:
        lang.compile_source(src, "t.neuro", neuros=ALL)
    (d,) = caught.value.diagnostics
    assert (4, 1) == (d.line, d.column)
    assert d.message.startswith(words)


def test_the_docs_channels_example_hears_nums_and_publishes_scores(tmp_path):
    """docs/lang.md's `scored`: an event on nums is a run; x=200 publishes twice (capped too)."""

    async def go(k):
        await k.spawn(Ear)
        await spawn_all(k, lang.compile_source(docs_example("channels"), "scored.neuro", kernel=k))
        for x in (1, 200):
            await k.publish("nums", Num(x=x))
        await trio.sleep(0.3)
        return (await k.call("ear", {"op": "recall"})).items

    assert [{"x": 2, "who": "scored"}, {"x": 201, "who": "scored"}, {"x": 100, "who": "capped"}] == in_kernel(go, tmp_path)
