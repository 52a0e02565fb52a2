"""Nets on Ray through Ray's compiled graphs (`Net(..., ray_graph=True)`), on a real local Ray:
the same answers as through actor calls, node errors named, recompiled after a swap and
after an actor's death, and actor calls where a node is not on Ray."""

from __future__ import annotations

import json
import sqlite3

import pytest
import trio

import neuro
from neuro import sdk
from neuro._manifest import source_files
from neuro.kernel._policy import Policy
from neuro.nets import build

from .test_ray_neuros import Napper, Num, Plus1, Plus1V2, Times2

ray = pytest.importorskip("ray", reason="Ray is not installed, so nets on Ray are not tested: "
                                        ".venv/bin/pip install 'neuro-runtime[ray]' (the `ray` extra)")

ONRAY = Policy(name="onray", sandbox="ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # "local": a Ray of its own, not the cluster another test file (test_ray_backend) may run meanwhile
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def chain_net(*nodes: str, name: str = "pipe", ray_graph: bool = True) -> sdk.Net:
    net = sdk.Net(name, ray_graph=ray_graph)
    net.chain("in", *[net.node(f"s{i}", n) for i, n in enumerate(nodes)], "out")
    return net


def events(log, name):
    with sqlite3.connect(log) as db:
        return [json.loads(d) for (d,) in db.execute("select data from events where name = ? order by seq", (name,))]


def restarted(k, name, old) -> bool:
    """Is `name` running in another worker than `old`? (Out of the table meanwhile: not yet.)"""
    proc = k._router.procs.get(name)
    return proc is not None and proc.worker is not None and proc.worker is not old and \
        str(proc.state.value) == "running"


async def started(log, *neuros, local=()):
    k = neuro.Kernel(log=log, policies={"onray": ONRAY})
    await k.__aenter__()
    for cls in neuros:
        await k.spawn(cls, policy="onray")
    for cls in local:
        await k.spawn(cls)
    return k


def test_a_chain_on_ray_runs_as_one_compiled_graph_with_the_same_answers(log_path):
    """(n + 1) * 2 through the compiled graph equals the same net through actor calls; the
    log says the net compiled, its runs' steps say `compiled`, and a repeated input comes
    from the memo."""

    async def main():
        k = await started(log_path, Plus1, Times2)
        try:
            compiled = build(chain_net("plus1", "times2"), kernel=k)
            plain = build(chain_net("plus1", "times2", name="plain", ray_graph=False), kernel=k)
            await k.spawn(compiled.neuro())
            await k.spawn(plain.neuro())
            return ([(await k.call("pipe", Num(n=n))).n for n in [0, 1, 2, 3, 4, 0]],
                    [(await k.call("plain", Num(n=n))).n for n in [0, 1, 2, 3, 4, 0]])
        finally:
            await k.__aexit__(None, None, None)

    through_graph, through_calls = trio.run(main)
    assert through_graph == through_calls == [(n + 1) * 2 for n in [0, 1, 2, 3, 4, 0]]
    said = events(log_path, "net.ray_graph")
    assert [(e["net"], e["compiled"], e["nodes"]) for e in said] == [("pipe", True, ["plus1", "times2"])]
    pipe_runs = [r for r in events(log_path, "net.run") if r["net"] == "pipe"]
    assert len(pipe_runs) == 6 and all(r["ok"] for r in pipe_runs)
    assert {s["reason"] for r in pipe_runs[:5] for s in r["steps"]} == {"compiled"}
    # the memo keeps whole compiled runs: the same input again is not run
    assert [s["reason"] for s in pipe_runs[5]["steps"]] == ["cached", "cached"]
    assert pipe_runs[5]["output_hash"] == pipe_runs[0]["output_hash"]
    plain_runs = [r for r in events(log_path, "net.run") if r["net"] == "plain"]
    assert {s["reason"] for r in plain_runs[:5] for s in r["steps"]} == {"called"}


def test_a_nodes_error_is_named_and_the_graph_keeps_serving(log_path):
    """A node that raises fails the run with its name and message; the next run is compiled
    and answered by the same graph (no second compile)."""

    async def main():
        k = await started(log_path, Plus1, Times2)
        try:
            await k.spawn(build(chain_net("times2", "plus1"), kernel=k).neuro())
            with pytest.raises(neuro.NeuroError) as failed:
                await k.call("pipe", Num(n=-60))
            return str(failed.value), (await k.call("pipe", Num(n=3))).n
        finally:
            await k.__aexit__(None, None, None)

    error, after = trio.run(main)
    assert "node 's1' (plus1) failed" in error and "no numbers under -100, got -120" in error
    assert after == 7
    assert [e["compiled"] for e in events(log_path, "net.ray_graph")] == [True]


def test_a_node_that_awaits_is_refused_with_what_to_do(log_path):
    """A compiled node's handler must finish without awaiting; one that awaits fails the run
    with an error that says so and how to turn the graph off."""

    async def main():
        k = await started(log_path, Plus1, Napper)
        try:
            await k.spawn(build(chain_net("plus1", "napper"), kernel=k).neuro())
            with pytest.raises(neuro.NeuroError) as failed:
                await k.call("pipe", Num(n=1))
            return str(failed.value)
        finally:
            await k.__aexit__(None, None, None)

    error = trio.run(main)
    assert "node 's1' (napper) failed" in error and "must finish without awaiting" in error
    assert "ray_graph" in error


def test_a_swap_of_a_node_compiles_the_graph_again_over_the_new_actor(log_path):
    """After a node's hot swap (a new actor) the next run compiles again and the new version answers."""

    async def main():
        k = await started(log_path, Plus1, Times2)
        try:
            await k.spawn(build(chain_net("plus1", "times2"), kernel=k).neuro())
            before = (await k.call("pipe", Num(n=1))).n
            # Plus1V2 shares Plus1's file, so its version (the files' hash) would be the same
            files = dict(source_files(Plus1V2))
            first = next(iter(files))
            await k.swap("plus1", Plus1V2, source={**files, first: files[first] + b"\n# v2\n"})
            return before, (await k.call("pipe", Num(n=1))).n
        finally:
            await k.__aexit__(None, None, None)

    assert trio.run(main) == (4, 202)
    assert [e["compiled"] for e in events(log_path, "net.ray_graph")] == [True, True]


def test_an_actor_killed_under_the_graph_is_compiled_over_again_once_restarted(log_path):
    """A node's actor killed (`ray.kill`): a run right after it fails saying the graph broke
    (or is still answered, or goes through actor calls while the node restarts); once the
    supervisor restarted the actor, the next run compiles over the new one and is right."""

    async def main():
        k = await started(log_path, Plus1, Times2)
        try:
            await k.spawn(build(chain_net("plus1", "times2"), kernel=k).neuro())
            assert (await k.call("pipe", Num(n=1))).n == 4
            old = k._router.procs["times2"].worker
            ray.kill(old.handle.carrier.actor, no_restart=True)
            errors = []
            try:  # right after the kill: the old graph may still answer, or it broke
                await k.call("pipe", Num(n=2), timeout=20)
            except neuro.NeuroError as e:
                errors.append(str(e))
            with trio.fail_after(60):
                while not restarted(k, "times2", old):
                    await trio.sleep(0.05)
                while True:  # the restarted actor: the next run compiles over it (an input not in the memo)
                    try:
                        answer = (await k.call("pipe", Num(n=5), timeout=20)).n
                        break
                    except neuro.NeuroError as e:
                        errors.append(str(e))
                        await trio.sleep(0.1)
            return answer, errors
        finally:
            await k.__aexit__(None, None, None)

    answer, errors = trio.run(main)
    said = events(log_path, "net.ray_graph")
    assert answer == 12, (errors, said)
    assert all("compiled graph broke" in e or "times2" in e for e in errors), (errors, said)
    assert said[0]["compiled"] and said[-1]["compiled"] and len(said) >= 2, (errors, said)


def test_a_node_not_on_ray_keeps_the_net_on_actor_calls_and_says_why(log_path):
    """A node in the kernel's process: the net runs as any net does, right, and the event
    names the node and where it runs."""

    async def main():
        k = await started(log_path, Plus1, local=[Times2])
        try:
            await k.spawn(build(chain_net("plus1", "times2"), kernel=k).neuro())
            return [(await k.call("pipe", Num(n=n))).n for n in range(3)]
        finally:
            await k.__aexit__(None, None, None)

    assert trio.run(main) == [2, 4, 6]
    said = events(log_path, "net.ray_graph")
    assert len(said) == 1 and not said[0]["compiled"]
    assert "'times2' runs in the inproc sandbox, not on Ray" in said[0]["reason"]
    runs = events(log_path, "net.run")
    assert {s["reason"] for r in runs for s in r["steps"]} == {"called"}
