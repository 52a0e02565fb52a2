"""Predicate-neuro conditions: an edge's `when = "@NAME"` asks a neuro whether it fires,
checked at build (known, input fits the source, answer bool-like) and asked at run time."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import sdk
from neuro.nets import NetError, build
from neuro.nets._predicate import bool_field

from netneuros import ALL, Num, Text


class Verdict(sdk.Message):
    ok: bool


class TwoFlags(sdk.Message):
    a: bool
    b: bool


class IsBig(sdk.Neuro):
    name = "is_big"
    input = Num
    output = Verdict

    def handle(self, ctx, msg):
        return Verdict(ok=msg.x >= 10)


class IsSmall(sdk.Neuro):
    name = "is_small"
    input = Num
    output = Verdict

    def handle(self, ctx, msg):
        return Verdict(ok=msg.x < 10)


class Flags(sdk.Neuro):
    name = "flags"
    input = Num
    output = TwoFlags

    def handle(self, ctx, msg):
        return TwoFlags(a=True, b=False)


PREDICATES = [IsBig, IsSmall, Flags]


def branches(big_when="@is_big", small_when="@is_small"):
    """x >= 10 goes through inc, else through double; a predicate neuro decides each edge."""
    net = sdk.Net("branchy", memo=False)
    net.node("up", "inc")
    net.node("twice", "double")
    net.edge("in", "up", when=big_when)
    net.edge("in", "twice", when=small_when)
    net.edge("up", "out")
    net.edge("twice", "out")
    return net


def run_in_kernel(fn):
    async def main():
        async with neuro.Kernel() as k:
            for cls in [*ALL, *PREDICATES]:
                await k.spawn(cls)
            await fn(k)

    trio.run(main)


def test_a_predicate_neuro_picks_the_branch():
    """x=3 takes the double branch (6), x=30 the inc branch (31): the predicates were asked."""

    async def check(k):
        await k.spawn(branches().build(kernel=k).neuro())
        assert [Num(x=6), Num(x=31)] == [await k.call("branchy", Num(x=3)), await k.call("branchy", Num(x=30))]

    run_in_kernel(check)


def test_a_predicate_may_decide_an_edge_into_the_output():
    """`up -> out (when @is_big)` and `in -> out (when @is_small)`: the output takes the edge that holds."""

    async def check(k):
        net = sdk.Net("outish", memo=False)
        net.node("up", "inc")
        net.edge("in", "up")
        net.edge("up", "out", when="@is_big")
        net.edge("in", "out", when="@is_small")
        await k.spawn(net.build(kernel=k).neuro())
        assert [Num(x=3), Num(x=13)] == [await k.call("outish", Num(x=3)), await k.call("outish", Num(x=12))]

    run_in_kernel(check)


def test_an_unknown_predicate_neuro_is_refused_at_build_naming_the_edge():
    with pytest.raises(NetError) as e:
        build(branches(big_when="@no_such_thing"), neuros=[*ALL, *PREDICATES])
    assert "in -> up" in str(e.value) and "no_such_thing" in str(e.value)
    assert ["unknown_neuro"] == [p.kind for p in e.value.problems]


def test_a_predicate_whose_input_does_not_fit_the_source_is_refused_naming_both_types():
    """is_big takes Num; the source (shout's output) is Text."""
    net = sdk.Net("wrongin")
    net.node("s", "shout")
    net.edge("in", "s")
    net.edge("s", "out", when="@is_big")
    with pytest.raises(NetError) as e:
        build(net, neuros=[*ALL, *PREDICATES])
    [p] = e.value.problems
    assert ("type", "Text", "Num") == (p.kind, p.source_type, p.target_type) and "s -> out" in p.message


def test_a_predicate_that_does_not_answer_a_bool_is_refused():
    """double answers Num (no bool field), flags a message with two: neither says yes or no."""
    for name in ("double", "flags"):
        with pytest.raises(NetError) as e:
            build(branches(big_when=f"@{name}"), neuros=[*ALL, *PREDICATES])
        assert any(p.kind == "type" and f"`when` neuro {name!r} answers" in p.message for p in e.value.problems)


def test_bool_like_answers():
    """bool itself, or a message with exactly one bool field (its name is read); Text is neither."""
    assert [(True, None), (True, "ok"), (False, None), (False, None)] == [
        bool_field(bool), bool_field(Verdict), bool_field(TwoFlags), bool_field(Text)]


def test_the_predicates_version_is_part_of_the_nets():
    """The same `when = "@is_big"` with another neuro (another version) behind the name: another net version."""
    one = build(branches(), neuros=[*ALL, *PREDICATES]).version
    renamed = type("IsBigToo", (IsBig,), {"__module__": __name__})
    renamed.__version_cache__ = "another-version"  # (set after: the class statement hashes its module)
    neuros = {**{c.__manifest__.name: c for c in [*ALL, *PREDICATES]}, "is_big": renamed}
    other = build(branches(), neuros=neuros).version
    assert one != other


class IsBigAsNum(sdk.Neuro):
    """is_big, as a new version that answers a number: no longer a predicate."""

    name = "is_big"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return msg


IsBigAsNum.__version_cache__ = "is-big-as-num"  # (this module's other classes share its file's hash)


def test_a_swap_of_a_predicate_to_a_non_bool_answer_is_refused_at_the_swap():
    """The running net asks is_big; a version of is_big that answers Num is refused, naming the edge."""

    async def check(k):
        await k.spawn(branches().build(kernel=k).neuro())
        with pytest.raises(neuro.SwapFailed) as e:
            await k.swap("is_big", IsBigAsNum)
        assert "running net 'branchy'" in str(e.value) and "edge in -> up" in str(e.value)
        assert Num(x=31) == await k.call("branchy", Num(x=30))

    run_in_kernel(check)


def test_a_failing_predicate_fails_the_run_naming_the_edge():
    """`when = "@fails"`: the caller's error names the condition, the edge and the predicate's error."""

    async def check(k):
        net = sdk.Net("failing_when", memo=False)
        net.node("up", "inc")
        net.edge("in", "up", when="@boom")
        net.edge("up", "out")
        await k.spawn(Boom)
        await k.spawn(net.build(kernel=k).neuro())
        with pytest.raises(sdk.RemoteError) as e:
            await k.call("failing_when", Num(x=1))
        assert "the condition `@boom` of edge in -> up (when @boom) failed: boom raised ValueError: no verdict " \
               "today (relay path: failing_when -> boom)" in e.value.message

    run_in_kernel(check)


class Boom(sdk.Neuro):
    name = "boom"
    input = Num
    output = Verdict

    def handle(self, ctx, msg):
        raise ValueError("no verdict today")
