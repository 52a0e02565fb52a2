"""Nets run as messages in a real kernel on a real log: chains, joins, branches, maps, loops,
lambdas, nets inside nets, failures and deadlines."""

from __future__ import annotations

import json
import sqlite3

import pytest
import trio

import neuro
from neuro import sdk
from neuro.nets import build

from netneuros import ALL, Counted, Num


async def started(log):
    k = neuro.Kernel(log=log)
    await k.__aenter__()
    for cls in ALL:
        await k.spawn(cls)
    return k


def runs(log):
    """The `net.run` events in the log, oldest first, as dicts."""
    with sqlite3.connect(log) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where name = 'net.run' order by seq")]


def kernel_test(fn):
    """Run `fn(kernel, log)` in a kernel with the test neuros, on a real log file."""

    def test(tmp_path):
        log = tmp_path / "run.db"

        async def main():
            k = await started(log)
            try:
                await fn(k, log)
            finally:
                await k.__aexit__(None, None, None)

        trio.run(main)

    test.__name__, test.__doc__ = fn.__name__, fn.__doc__
    return test


def chain(name, n, neuro_name="inc", **options):
    net = sdk.Net(name, **options)
    net.chain("in", *[net.node(f"n{i}", neuro_name) for i in range(n)], "out")
    return net


@kernel_test
async def test_a_chain_runs_each_node_once_in_order(k, log):
    """A 3-node chain of x+1 gives x+3, and its lineage lists the three steps in order."""
    built = chain("c3", 3).build(kernel=k)
    await k.spawn(built.neuro())
    assert Num(x=4) == await k.call("c3", Num(x=1))
    await k.log.flush() if hasattr(k.log, "flush") else None
    await trio.sleep(0.2)
    [run] = runs(log)
    assert ["n0", "n1", "n2"] == [s["node"] for s in run["steps"]]
    assert ["in -> n0", "n0 -> n1", "n1 -> n2"] == [s["edges"][0] for s in run["steps"]]
    assert (True, 3, 0) == (run["ok"], run["called"], run["cached"])


@kernel_test
async def test_fan_out_and_join_into_one_message(k, log):
    """in feeds inc and double; their x fields join into add's left and right."""
    net = sdk.Net("join")
    net.node("a", "inc")
    net.node("b", "double")
    net.node("c", "add")
    net.edge("in", "a")
    net.edge("in", "b")
    net.edge("a.x", "c.left")
    net.edge("b.x", "c.right")
    net.edge("c", "out")
    built = net.build(kernel=k)
    assert [[["a"], ["b"]], [["c"]]] == built.plan.segments()
    await k.spawn(built.neuro())
    assert Num(x=(5 + 1) + 5 * 2) == await k.call("join", Num(x=5))


@kernel_test
async def test_a_conditional_edge_picks_one_branch(k, log):
    """Small numbers go through inc, big ones through double; the other branch is skipped, and both lead to out."""
    net = sdk.Net("branch")
    net.node("small", "inc")
    net.node("big", "double")
    net.edge("in", "small", when="x < 10")
    net.edge("in", "big", when="x >= 10")
    net.edge("small", "out")  # alternatives: a `when` upstream skips one of them
    net.edge("big", "out")
    built = net.build(kernel=k)
    await k.spawn(built.neuro())
    assert Num(x=4) == await k.call("branch", Num(x=3))
    assert Num(x=40) == await k.call("branch", Num(x=20))
    await trio.sleep(0.2)
    assert [["small"], ["big"]] == [[s["node"] for s in r["steps"]] for r in runs(log)]


class Nums(sdk.Message):
    items: list[Num]


@kernel_test
async def test_a_map_calls_its_neuro_once_per_item_in_order(k, log):
    """A map over [1, 2, 3] with inc gives [2, 3, 4], at most 2 calls at once; the second run hits the memo."""
    net = sdk.Net("mapped", input=Nums)
    net.map("m", "inc", limit=2)
    net.edge("in.items", "m")
    net.edge("m", "out.all")
    built = net.build(kernel=k)
    await k.spawn(built.neuro())
    reply = await k.call("mapped", Nums(items=[Num(x=1), Num(x=2), Num(x=3)]))
    assert [2, 3, 4] == [n.x for n in reply.all]
    await k.call("mapped", Nums(items=[Num(x=3), Num(x=9)]))
    assert 4 == len(await k.log.messages(neuro="inc", limit=None))  # 1, 2, 3, then only 9


@kernel_test
async def test_a_bounded_loop_stops_when_its_condition_holds(k, log):
    """step adds 1 until x reaches 5 (done), within max=10."""
    net = sdk.Net("looped")
    net.loop("l", "step", until="done", max=10)
    net.chain("in", "l", "out")
    built = net.build(kernel=k)
    await k.spawn(built.neuro())
    assert Counted(x=5, done=True) == await k.call("looped", Counted(x=1))


@kernel_test
async def test_a_loop_stops_at_its_bound(k, log):
    """With max=2 the loop makes two calls and returns the last reply, not done."""
    net = sdk.Net("bounded")
    net.loop("l", "step", until="done", max=2)
    net.chain("in", "l", "out")
    await k.spawn(net.build(kernel=k).neuro())
    assert Counted(x=3, done=False) == await k.call("bounded", Counted(x=1))


@kernel_test
async def test_lambda_chains_are_fused_and_compute(k, log):
    """Two lambdas after inc fuse into one step; x -> (x+1)*3-1."""
    net = sdk.Net("lam")
    net.node("a", "inc")
    net.lam("t", {"x": "x * 3"})
    net.lam("u", {"x": "x - 1"})
    net.chain("in", "a", "t", "u", "out")
    built = net.build(kernel=k)
    assert [["t", "u"]] == built.plan.fused
    await k.spawn(built.neuro())
    reply = await k.call("lam", Num(x=2))
    assert ("LamU", (2 + 1) * 3 - 1) == (type(reply).__name__, reply.x)


@kernel_test
async def test_a_constant_false_branch_is_pruned_at_build(k, log):
    """An edge whose `when` is False is pruned, with the node only it fed."""
    net = sdk.Net("pruned")
    net.node("a", "inc")
    net.node("never", "double")
    net.edge("in", "a")
    net.edge("in", "never", when="False")
    net.edge("a", "out", when="True")
    net.edge("never", "out", when="True")
    built = net.build(kernel=k)
    assert (["in -> never (when False)"], ["never"]) == (built.plan.pruned_edges, built.plan.pruned_nodes)
    await k.spawn(built.neuro())
    assert Num(x=2) == await k.call("pruned", Num(x=1))


@kernel_test
async def test_a_net_inside_a_net_runs_inline_and_by_name(k, log):
    """A net node runs the inner net inline; a spawned net is a node by its name too."""
    inner = chain("inner", 2)
    outer = sdk.Net("outer")
    outer.node("sub", inner)
    outer.node("tail", "double")
    outer.chain("in", "sub", "tail", "out")
    await k.spawn(outer.build(kernel=k).neuro())
    assert Num(x=(1 + 2) * 2) == await k.call("outer", Num(x=1))
    await k.spawn(chain("inner", 2).build(kernel=k).neuro())
    by_name = sdk.Net("by_name")
    by_name.node("sub", "inner")
    by_name.chain("in", "sub", "out")
    await k.spawn(by_name.build(kernel=k).neuro())
    assert Num(x=3) == await k.call("by_name", Num(x=1))
    await trio.sleep(0.2)
    nested = [r for r in runs(log) if r["net"] == "outer"][0]
    assert ["sub/n0", "sub/n1", "sub", "tail"] == [s["node"] for s in nested["steps"]]


@kernel_test
async def test_a_failing_node_reaches_the_caller_named_with_its_relay_path(k, log):
    """fails raises KeyError: the caller's error names the net, the node, the root error and the path."""
    net = sdk.Net("broken")
    net.node("first", "inc")
    net.node("bad", "fails")
    net.chain("in", "first", "bad", "out")
    await k.spawn(net.build(kernel=k).neuro())
    with pytest.raises(sdk.RemoteError) as info:
        await k.call("broken", Num(x=1))
    e = info.value
    assert ("Reject", "broken") == (e.type, e.neuro)
    assert ("net 'broken': node 'bad' (fails) failed: fails raised KeyError: 'no entry for 2' "
            "(relay path: broken -> fails)") == e.message
    assert "running" == k.info("broken").state.value if hasattr(k.info("broken").state, "value") else k.info("broken").state
    await trio.sleep(0.2)
    [run] = runs(log)
    assert (False, ["first"]) == (run["ok"], [s["node"] for s in run["steps"]])
    assert "node 'bad'" in run["error"]


@kernel_test
async def test_a_deadline_covers_the_whole_run(k, log):
    """A net with a 0.2 s deadline over two 150 ms sleeps fails naming the deadline and what still ran."""
    net = sdk.Net("late", deadline=0.2)
    net.node("a", "sleepy")
    net.node("b", "sleepy")
    net.chain("in", "a", "b", "out")
    await k.spawn(net.build(kernel=k).neuro())
    with pytest.raises(sdk.RemoteError) as info:
        await k.call("late", Num(x=150))
    assert "net 'late' ran past its deadline of 0.2 s (still running: b)" == info.value.message


@kernel_test
async def test_independent_branches_run_side_by_side(k, log):
    """Two 200 ms sleeps on parallel branches overlap: both start before either ends."""
    net = sdk.Net("par")
    net.node("a", "sleepy")
    net.node("b", "sleepy")
    net.edge("in", "a")
    net.edge("in", "b")
    net.edge("a.x", "out.a")
    net.edge("b.x", "out.b")
    await k.spawn(net.build(kernel=k).neuro())
    reply = await k.call("par", Num(x=200))
    assert (200, 200) == (reply.a, reply.b)
    msgs = await k.log.messages(neuro="sleepy", limit=None)
    first_end = min(m.outcome_time for m in msgs)
    assert all(m.time < first_end for m in msgs)  # both were accepted before the first finished


@kernel_test
async def test_the_net_version_changes_with_a_node_version(k, log):
    """The same graph over another version of a node has another version."""
    one = chain("v", 2).build(neuros=ALL)
    again = chain("v", 2).build(neuros=ALL)

    class Inc2(sdk.Neuro):
        name = "inc"
        input = Num
        output = Num

        def handle(self, ctx, msg):
            return Num(x=msg.x + 2)

    other = chain("v", 2).build(neuros=[Inc2])
    assert one.version == again.version != other.version


def test_a_net_file_runs_the_same_as_its_python_twin(tmp_path):
    """A TOML net with a join and a lambda builds and names the same shape as the builder's."""
    from neuro.nets import read_toml

    text = '''
[net]
name = "twin"
edges = ["in -> a", "in -> b", "a.x -> c.left", "b.x -> c.right", "c -> half"]
chain = ["half", "out"]
[nodes.a]
neuro = "inc"
[nodes.b]
neuro = "double"
[nodes.c]
neuro = "add"
[nodes.half]
lambda = { x = "x // 2" }
'''
    built = build(read_toml(text, "twin.net.toml"), neuros=ALL)
    assert (["a", "b", "c", "half"], "Num", "TwinHalf") == (
        built.graph.order, built.input.__name__, built.output.__name__)


@kernel_test
async def test_a_failing_item_of_a_map_names_the_node_and_the_item(k, log):
    """A map over fails: the error names the map node and the item's index."""
    net = sdk.Net("badmap", input=Nums)
    net.map("m", "fails", limit=2)
    net.edge("in.items", "m")
    net.edge("m", "out.all")
    await k.spawn(net.build(kernel=k).neuro())
    with pytest.raises(sdk.RemoteError) as info:
        await k.call("badmap", Nums(items=[Num(x=1), Num(x=2)]))
    assert info.value.message.startswith("net 'badmap': node 'm[0]' (fails) failed: fails raised KeyError")


@kernel_test
async def test_the_nets_host_checks_and_runs_a_net_file_and_refuses_bad_input(k, log):
    """The `nets` neuro builds a file's text against the running neuros, runs it, and names a bad input's field."""
    from neuro.nets._host import NetHost

    await k.spawn(NetHost)
    text = '[net]\nname = "two"\nchain = ["in", "a", "b", "out"]\n[nodes.a]\nneuro = "inc"\n[nodes.b]\nneuro = "double"\n'
    checked = await k.call("nets", {"op": "check", "text": text})
    assert (True, "two") == (checked.ok, checked.net)
    ran = await k.call("nets", {"op": "run", "text": text, "input": {"x": 3}})
    assert ({"x": 8}, 2, 0) == (ran.output, ran.called, ran.cached)
    with pytest.raises(sdk.RemoteError) as info:
        await k.call("nets", {"op": "run", "text": text, "input": {"x": "three"}})
    assert "Expected `int`, got `str` - at `$.x`" in info.value.message
    broken = await k.call("nets", {"op": "check", "text": text.replace('"double"', '"shout"')})
    assert (False, ["type"]) == (broken.ok, [p["kind"] for p in broken.problems])
    await k.spawn(chain("spawned", 2).build(kernel=k).neuro())
    by_name = await k.call("nets", {"op": "run", "name": "spawned", "input": {"x": 1}})
    assert ({"x": 3}, "spawned") == (by_name.output, by_name.net)
    shown = await k.call("nets", {"op": "show", "name": "spawned", "plan": True})
    assert [[["n0"]], [["n1"]]] == shown.show["plan"]["parallel_segments"]
    with pytest.raises(sdk.RemoteError, match="no net named 'inc' is running"):
        await k.call("nets", {"op": "run", "name": "inc"})


@kernel_test
async def test_two_branches_that_both_fire_into_one_whole_input_fail_the_run(k, log):
    """Alternatives whose conditions both hold: the run fails naming the node and both edges."""
    net = sdk.Net("overlap")
    net.node("a", "inc")
    net.node("b", "double")
    net.edge("in", "a", when="x > 0")
    net.edge("in", "b", when="x > 1")
    net.edge("a", "out")
    net.edge("b", "out")
    await k.spawn(net.build(kernel=k).neuro())
    assert Num(x=2) == await k.call("overlap", Num(x=1))
    with pytest.raises(sdk.RemoteError, match=r"the output got whole messages from 2 edges at once \(a -> out, b -> out\)"):
        await k.call("overlap", Num(x=5))


@kernel_test
async def test_a_net_that_asks_for_a_ray_graph_runs_through_calls_where_its_nodes_are_not_on_ray(k, log):
    """`ray_graph = true` in a net file; its nodes run in the kernel's process, so the net runs
    through calls as any net does, and one `net.ray_graph` event says why."""
    from neuro.nets import read_toml

    decl = read_toml('[net]\nname = "r"\nray_graph = true\nchain = ["in", "a", "b", "out"]\n'
                     '[nodes.a]\nneuro = "inc"\n[nodes.b]\nneuro = "inc"\n')
    assert decl.ray_graph is True
    await k.spawn(build(decl, kernel=k).neuro())
    assert [(await k.call("r", Num(x=x))).x for x in (1, 2, 1)] == [3, 4, 3]
    said = [e.data for e in await k.log.events(name="net.ray_graph")]
    assert [(e["net"], e["compiled"]) for e in said] == [("r", False)]
    assert "'inc' runs in the inproc sandbox, not on Ray" in said[0]["reason"]
