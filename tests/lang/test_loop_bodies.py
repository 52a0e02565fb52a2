"""A `for` or `while` body of several steps is a net of its own, run inline by the map or loop
node once per item or step: its nodes are in the run's lineage as `node[i]/inner`, each
memoised on its own, and a store or a publish inside runs at every run (the node as a whole
is never taken from the memo)."""

from __future__ import annotations

from neuro import lang

from neuro.lang._store import StoreHost
from running import docs_example, events, in_kernel, spawn_all

STEPS = docs_example("steps")  # the net `steps` of docs/lang.md


def _run(tmp_path, src, name, inputs, system=()):
    async def go(k):
        for cls in system:
            await k.spawn(cls)
        await spawn_all(k, lang.compile_source(src, f"{name}.neuro", kernel=k))
        return [await k.call(name, x) for x in inputs]

    return in_kernel(go, tmp_path)


def test_a_for_and_a_while_of_several_steps_run_each_step(tmp_path):
    """Items 0, 1, 2 -> (2i + 1) * 10; 3 steps to 2v + 1 until 100 or more: 127."""
    [out] = _run(tmp_path, STEPS, "steps", [{"x": 3}])
    assert ([10, 30, 50], 127) == ([f.x for f in out.all], out.last)


def test_the_inner_steps_are_in_the_lineage_and_memoised_on_their_own(tmp_path):
    """The second run of the same input calls nothing: every inner node of every item comes from the memo."""
    _run(tmp_path, STEPS, "steps", [{"x": 2}, {"x": 2}])
    first, second = events(tmp_path / "run.db", "net.run")
    inner = sorted(s["node"] for s in first["steps"] if "/" in s["node"] and s["calls"])
    assert ["f[0]/d", "f[0]/e", "f[1]/d", "f[1]/e"] == inner[:4]
    assert (0, True) == (second["called"], second["cached"] >= len(inner))


def test_a_put_inside_a_loop_body_runs_at_every_run(tmp_path):
    """A body that puts each item into a store counts at each run: the map is never a memo hit as a whole."""
    src = """
use spread
store seen: int = 0
net tally(n) {
    s = spread(n)
    for item in s.items {
        c = get seen["all"]
        put seen["all"] = c + 1
        r = {x: c + 1}
    }
    return {last: len(r)}
}
"""
    _run(tmp_path, src, "tally", [{"x": 2}, {"x": 2}], system=[StoreHost])
    [first, second] = events(tmp_path / "run.db", "net.run")
    puts = [sum(1 for s in r["steps"] if s["node"].endswith("/put_seen")) for r in (first, second)]
    assert [2, 2] == puts


def test_a_while_body_of_several_steps_ends_with_the_value_it_steps():
    """The last step of a while's body must assign the stepped name: else the error names it."""
    src = "use inc\nnet w(n) {\n    v = n\n    while v.x < 9 limit 5 {\n        v = inc(v)\n        u = inc(v)\n    }\n" \
          "    return v\n}\n"
    try:
        lang.compile_source(src, "w.neuro", neuros=[])
    except lang.LangError as e:
        (d,) = [d for d in e.diagnostics if "steps one value" in d.message]
        assert (6, 9) == (d.line, d.column)
        assert d.message.startswith("a while loop steps one value that exists before it: `u = f(u)`")
    else:
        raise AssertionError("it compiled")
