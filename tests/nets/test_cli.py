"""`neuro net check|show|run|trace` in a subprocess against a real daemon."""

from __future__ import annotations

import json
import textwrap

import pytest

from arith_neuros import spawn_arith_files
from conftest import neuro_cmd

NET = textwrap.dedent('''
    [net]
    name = "joined"
    edges = ["in -> a", "in -> b", "a.x -> c.left", "b.x -> c.right", "c -> half", "half -> out"]
    [nodes.a]
    neuro = "inc"
    [nodes.b]
    neuro = "double"
    [nodes.c]
    neuro = "add"
    [nodes.half]
    lambda = { x = "x // 2" }
''')


@pytest.fixture
def ready(daemon, home, tmp_path):
    """A daemon running inc, double and add, and a net file over them."""
    spawn_arith_files(home, tmp_path)
    net = tmp_path / "joined.net.toml"
    net.write_text(NET)
    return home, net, tmp_path


def test_check_a_net_that_builds_exits_0_with_its_version(ready):
    """`net check FILE --json` says ok and gives the net's version."""
    home, net, _ = ready
    done = neuro_cmd("net", "check", net, "--json", home=home)
    assert 0 == done.returncode, done.stderr
    reply = json.loads(done.stdout)
    assert ("joined", True, 16) == (reply["net"], reply["ok"], len(reply["version"]))


def test_check_a_broken_net_exits_1_naming_the_edge_and_both_types(ready):
    """A str field into inc's int: exit 1, and the problem names the edge, the path and both types."""
    home, _, tmp = ready
    bad = tmp / "bad.net.toml"
    bad.write_text('[net]\nname = "bad"\nchain = ["in", "a", "out"]\n[input]\nx = "str"\n[nodes.a]\nneuro = "inc"\n')
    done = neuro_cmd("net", "check", bad, home=home)
    assert 1 == done.returncode
    assert "edge in -> a: in is BadInput, a takes Num: at `$.x`: `str` does not fit `int`" in done.stdout


def test_run_then_trace_shows_how_the_output_came_to_be(ready):
    """`net run` gives (5+1 + 5*2) // 2 = 8 and a run id; the second run is cached; `trace` lists each step."""
    home, net, _ = ready
    first = neuro_cmd("net", "run", net, "x=5", "--json", home=home)
    assert 0 == first.returncode, first.stderr
    reply = json.loads(first.stdout)
    assert ({"x": 8}, 3, 0) == (reply["output"], reply["called"], reply["cached"])
    second = json.loads(neuro_cmd("net", "run", net, "x=5", "--json", home=home).stdout)
    assert (0, 3) == (second["called"], second["cached"])
    fresh = json.loads(neuro_cmd("net", "run", net, "x=5", "--fresh", "--json", home=home).stdout)
    assert (3, 0) == (fresh["called"], fresh["cached"])
    trace = neuro_cmd("net", "trace", str(reply["run"]), "--json", home=home)
    assert 0 == trace.returncode, trace.stderr
    lineage = json.loads(trace.stdout)
    assert ["a", "b", "c", "half"] == [s["node"] for s in lineage["steps"]]
    assert ["a.x -> c.left", "b.x -> c.right"] == lineage["steps"][2]["edges"]
    calls = lineage["messages"]["children"]  # the messages the run sent: one per node call
    assert ["add", "double", "inc"] == sorted(c["message"]["recipient"] for c in calls)
    table = neuro_cmd("net", "trace", str(reply["run"]), home=home)
    assert "a.x -> c.left, b.x -> c.right" in table.stdout


def test_show_plan_lists_parallel_segments(ready):
    """`net show --plan` puts a and b side by side, then c, then half."""
    home, net, _ = ready
    done = neuro_cmd("net", "show", net, "--plan", "--json", home=home)
    assert 0 == done.returncode, done.stderr
    assert [[["a"], ["b"]], [["c"]], [["half"]]] == json.loads(done.stdout)["plan"]["parallel_segments"]


def test_show_graph_draws_each_node_below_what_feeds_it(ready):
    """`net show --graph`: a box for each node, a and b side by side under in, c under both
    (its two fields' edges join in one arrow), then half and out; --json has the same lines."""
    home, net, _ = ready
    done = neuro_cmd("net", "show", net, "--graph", home=home)
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    row = {label: next(i for i, line in enumerate(lines) if f"│ {label} │" in line)
           for label in ("in", "a: inc", "b: double", "c: add", "half (lambda)", "out")}
    assert row["in"] < row["a: inc"] == row["b: double"] < row["c: add"] < row["half (lambda)"] < row["out"]
    assert 5 == done.stdout.count("▼")  # into a, b, c, half and out
    shown = json.loads(neuro_cmd("net", "show", net, "--graph", "--json", home=home).stdout)
    assert lines[1:] == shown["graph"]


def test_trace_of_an_unknown_run_exits_5(ready):
    """A run id the log does not hold: exit 5 (not found)."""
    home, _, _ = ready
    assert 5 == neuro_cmd("net", "trace", "12345", home=home).returncode
