"""Memo hits, `fresh`, and exact invalidation after a hot swap of one node, in a real kernel."""

from __future__ import annotations

import json
import sqlite3

import pytest
import trio

import neuro
from neuro import sdk

from netneuros import Inc, Num, Text


class IncBy2(sdk.Neuro):
    name = "inc"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x + 2)


class IncSame(sdk.Neuro):
    """Another version of inc that answers the same (a refactor)."""

    name = "inc"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=1 + msg.x)


class IncText(sdk.Neuro):
    """A version of inc whose input type is another: the net no longer fits it."""

    name = "inc"
    input = Text
    output = Num

    def handle(self, ctx, msg):
        return Num(x=len(msg.x))


def runs(log):
    with sqlite3.connect(log) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where name = 'net.run' order by seq")]


def recomputed(run):
    return [s["node"] for s in run["steps"] if s["reason"] == "called"]


def five(k):
    """A chain n0..n4 whose node k calls its own process inc<k> (one Inc class each)."""
    net = sdk.Net("five")
    net.chain("in", *[net.node(f"n{i}", f"inc{i}") for i in range(5)], "out")
    return net.build(kernel=k)


def in_kernel(body):
    def test(tmp_path):
        log = tmp_path / "run.db"

        async def main():
            async with neuro.Kernel(log=log) as k:
                for i in range(5):
                    await k.spawn(Inc, name=f"inc{i}")
                built = five(k)
                await k.spawn(built.neuro())
                await body(k, built)
            return None

        trio.run(main)
        test.runs = runs(log)
        check = getattr(body, "check", None)
        if check:
            check(test.runs)

    test.__name__, test.__doc__ = body.__name__, body.__doc__
    return test


def then(check):
    def mark(body):
        body.check = check
        return body
    return mark


@in_kernel
@then(lambda r: [[f"n{i}" for i in range(5)], []] == [recomputed(x) for x in r]
      and all(s["reason"] == "cached" for s in r[1]["steps"]))
async def test_a_second_run_of_the_same_input_comes_from_the_memo(k, built):
    """Run twice on x=1: the second run calls no node, each step a `cached` one."""
    assert Num(x=6) == await k.call("five", Num(x=1))
    sent = len(await k.log.messages(neuro="inc0", limit=None))
    assert Num(x=6) == await k.call("five", Num(x=1))
    assert sent == len(await k.log.messages(neuro="inc0", limit=None))
    stats = built.memo.statistics()
    assert (5, 5) == (stats.hits, stats.entries)


def test_a_memo_hit_sends_no_message_so_every_message_still_has_one_outcome(tmp_path):
    """After a cached run, every accepted message in the log has exactly one outcome."""
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log) as k:
            for i in range(5):
                await k.spawn(Inc, name=f"inc{i}")
            await k.spawn(five(k).neuro())
            for _ in range(3):
                await k.call("five", Num(x=1))

    trio.run(main)
    with sqlite3.connect(log) as db:
        per = db.execute("select count(o.id) from messages m left join outcomes o on o.id = m.id group by m.id").fetchall()
        assert {1} == {n for (n,) in per}
        assert 3 + 5 == len(per)  # three calls of the net, five node calls in its first run only


@in_kernel
@then(lambda r: [[f"n{i}" for i in range(5)], ["n2", "n3", "n4"]] == [recomputed(x) for x in r])
async def test_a_swap_of_node_k_recomputes_exactly_k_and_what_follows(k, built):
    """Swap inc2 to x+2: the next run reuses n0, n1 and recomputes n2, n3, n4 (no stale hit)."""
    assert Num(x=6) == await k.call("five", Num(x=1))
    await k.swap("inc2", IncBy2)
    assert Num(x=7) == await k.call("five", Num(x=1))


@in_kernel
@then(lambda r: [[f"n{i}" for i in range(5)], ["n2"]] == [recomputed(x) for x in r])
async def test_a_swap_that_changes_no_output_recomputes_only_that_node(k, built):
    """A new version of inc2 that answers the same: only n2 runs again; what follows sees the same input."""
    await k.call("five", Num(x=1))
    await k.swap("inc2", IncSame)
    assert Num(x=6) == await k.call("five", Num(x=1))


@in_kernel
async def test_a_swap_to_a_version_that_no_longer_fits_the_running_net_is_refused_at_the_swap(k, built):
    """inc2 swapped to take Text: the kernel's swap asks the running net, which refuses it naming the
    edge and both types; the old inc2 keeps serving, so the net keeps answering."""
    await k.call("five", Num(x=1))
    with pytest.raises(neuro.SwapFailed) as info:
        await k.swap("inc2", IncText)
    message = str(info.value)
    assert "running net 'five' calls 'inc2'" in message and "swap is refused" in message
    assert "edge n1 -> n2: n1 is Num, n2 takes Text: at `$.x`: `int` does not fit `str`" in message
    assert k.info("inc2").version == Inc.version()
    assert Num(x=6) == await k.call("five", Num(x=1))


@in_kernel
async def test_a_swap_the_kernel_did_not_check_is_refused_at_the_nets_next_run(k, built):
    """A net whose kernel did not ask it before the swap (here: told not to watch) finds the misfit
    at its next run: it refuses to run, naming the edge and both types; swapped back, it runs."""
    await k.call("five", Num(x=1))
    built._where = False  # as a net run where no kernel asks it about swaps
    await k.swap("inc2", IncText)
    with pytest.raises(sdk.RemoteError) as info:
        await k.call("five", Num(x=1))
    message = info.value.message
    assert "n2 (inc2" in message and "no longer fits" in message
    assert "edge n1 -> n2: n1 is Num, n2 takes Text: at `$.x`: `int` does not fit `str`" in message
    assert "running" == str(getattr(k.info("five").state, "value", k.info("five").state))
    await k.swap("inc2", Inc)  # (IncBy2 is in this file: the same version as IncText, so a swap to it is a no-op)
    assert Num(x=6) == await k.call("five", Num(x=1))


def test_fresh_skips_the_memo(tmp_path):
    """`run(..., fresh=True)` calls every node again and takes nothing from the memo."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            for i in range(5):
                await k.spawn(Inc, name=f"inc{i}")
            built = five(k)

            class Fresh(sdk.Neuro):
                name = "fresh"
                input = Num
                output = Num

                async def handle(self, ctx, msg):
                    return await built.run(ctx, msg, fresh=True)

            await k.spawn(Fresh)
            await k.call("fresh", Num(x=1))
            await k.call("fresh", Num(x=1))
            assert 2 == len(await k.log.messages(neuro="inc3", limit=None))
            assert 0 == built.memo.statistics().hits

    trio.run(main)


def test_a_swap_inside_a_net_inside_the_net_recomputes_it(tmp_path):
    """outer runs inner (inc0 -> inc1) inline, then inc2: a swap of inc1 recomputes inner's n1 and what follows."""
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log) as k:
            for i in range(3):
                await k.spawn(Inc, name=f"inc{i}")
            inner = sdk.Net("inner")
            inner.chain("in", inner.node("n0", "inc0"), inner.node("n1", "inc1"), "out")
            outer = sdk.Net("outer")
            outer.chain("in", outer.node("sub", inner), outer.node("last", "inc2"), "out")
            await k.spawn(outer.build(kernel=k).neuro())
            assert Num(x=4) == await k.call("outer", Num(x=1))
            await k.swap("inc1", IncBy2)
            assert Num(x=5) == await k.call("outer", Num(x=1))

    trio.run(main)
    first, second = runs(log)
    assert ["sub/n0", "sub/n1", "sub", "last"] == recomputed(first)
    assert ["sub/n1", "sub", "last"] == recomputed(second)
