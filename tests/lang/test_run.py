"""Neuro-Lang programs compile to nets that run as messages in a real kernel on a real log:
every construct of the language, and the lineage each run leaves."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import trio

import neuro
from neuro import lang

from langneuros import ALL, Num
from running import compile_and_call, events, in_kernel, spawn_all


def test_a_chain_with_fan_out_and_fan_in(tmp_path):
    """inc and double both read the input; their x fields join into add's left and right."""
    src = """
use inc
use double
use add
net joined(n) {
    a = inc(n)
    b = double(n)
    return add(left: a.x, right: b.x)
}
"""
    assert [Num(x=3 + 4), Num(x=11 + 20)] == compile_and_call(tmp_path, src, [{"x": 2}, {"x": 10}])


def test_if_elif_else_takes_exactly_one_branch(tmp_path):
    """Each input takes the branch whose condition holds first; the others call nothing."""
    src = """
use inc
use double
net pick(n) {
    if n.x < 0 {
        r = inc(n)
    } elif n.x < 10 {
        r = double(n)
    } else {
        r = n
    }
    return r
}
"""
    async def go(k):
        program = lang.compile_source(src, "pick.neuro", kernel=k)
        await spawn_all(k, program)
        got = [await k.call("pick", {"x": x}) for x in (-5, 3, 50)]
        await trio.sleep(0.2)
        return got

    assert [Num(x=-4), Num(x=6), Num(x=50)] == in_kernel(go, tmp_path)
    runs = events(tmp_path / "run.db", "net.run")
    called = [sorted(s["node"] for s in r["steps"] if s["calls"]) for r in runs]
    assert [["r"], ["r_2"], []] == called


def test_a_branch_without_else_keeps_the_old_value(tmp_path):
    """`if` without `else`: a name assigned in the branch is, after it, the branch's value or the old one."""
    src = """
use double
net maybe_double(n) {
    v = n
    if n.x > 5 {
        v = double(n)
    }
    return v
}
"""
    assert [Num(x=3), Num(x=12)] == compile_and_call(tmp_path, src, [{"x": 3}, {"x": 6}])


def test_match_picks_the_arm_of_the_value_or_the_wildcard(tmp_path):
    """match on a field: the arm of its literal runs, else `_`."""
    src = """
use inc
use double
net by_value(n) {
    match n.x {
        1 => { r = inc(n) }
        2 => { r = double(n) }
        _ => { r = n }
    }
    return r
}
"""
    assert [Num(x=2), Num(x=4), Num(x=7)] == compile_and_call(tmp_path, src, [{"x": 1}, {"x": 2}, {"x": 7}])


def test_for_maps_a_neuro_over_a_list(tmp_path):
    """`for i in s.items limit 2 { d = double(i) }`: one call per item, the replies in order."""
    src = """
use spread
use double
net doubled(n) {
    s = spread(n)
    for i in s.items limit 2 {
        d = double(i)
    }
    return {items: d}
}
"""
    [out] = compile_and_call(tmp_path, src, [{"x": 4}])
    assert [0, 2, 4, 6] == [i.x for i in out.items]


def test_while_steps_a_value_until_its_condition_fails(tmp_path):
    """while v.x < 100 limit 20 { v = double(v) }: checked before each call, as in Python."""
    src = """
use double
net grow(n) {
    v = n
    while v.x < 100 limit 20 {
        v = double(v)
    }
    return v
}
"""
    assert [Num(x=128), Num(x=500)] == compile_and_call(tmp_path, src, [{"x": 1}, {"x": 500}])


def test_while_stops_at_its_limit(tmp_path):
    """A loop whose condition always holds makes at most `limit` calls."""
    src = """
use inc
net bounded(n) {
    v = n
    while v.x > -1 limit 5 {
        v = inc(v)
    }
    return v
}
"""
    assert [Num(x=5)] == compile_and_call(tmp_path, src, [{"x": 0}])


def test_spawn_and_await_join_two_calls(tmp_path):
    """Two spawned calls run side by side (one segment of the plan) and join into one record."""
    src = """
use inc
use double
use add
net both(n) {
    a = spawn inc(n)
    b = spawn double(n)
    x = await a
    y = await b
    return add(left: x.x, right: y.x)
}
"""
    async def go(k):
        program = lang.compile_source(src, "both.neuro", kernel=k)
        await spawn_all(k, program)
        return program.nets["both"].plan.segments(), await k.call("both", {"x": 5})

    segments, out = in_kernel(go, tmp_path)
    assert Num(x=6 + 10) == out
    assert [["a"], ["b"]] == segments[0]


def test_fn_and_pure_neuro_are_inlined_as_one_lambda(tmp_path):
    """A fn is fused into the expression that calls it; a pure neuro is a lambda node, not a call."""
    src = """
use inc
message N { x: int }
fn half(v: int) -> int = v // 2
neuro halve(n: N) -> N = {x: half(n.x) + 1}
net h(n) {
    a = inc(n)
    return halve(a)
}
"""
    async def go(k):
        program = lang.compile_source(src, "h.neuro", kernel=k)
        await spawn_all(k, program)
        kinds = [n.kind for n in program.decls["h"].nodes.values()]
        return kinds, await k.call("h", {"x": 9})

    kinds, out = in_kernel(go, tmp_path)
    assert ["neuro", "lambda"] == kinds
    assert 6 == out.x


def test_a_pure_neuro_is_emitted_as_a_python_neuro_that_runs(tmp_path):
    """The emitted module of a pure neuro is a real neuro: spawned from its file, it gives what the lambda gives."""
    src = """
message N { x: int }
fn half(v: int) -> int = v // 2
neuro halve(n: N) -> N = {x: half(n.x) + choose(n.x > 10, 100, 0)}
"""
    program = lang.compile_source(src, "halve.neuro", offline=True)
    path = tmp_path / "halve_neuro.py"
    path.write_text(program.python["halve"])
    spec = importlib.util.spec_from_file_location("halve_neuro", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["halve_neuro"] = module
    spec.loader.exec_module(module)

    async def go(k):
        await k.spawn(module.Halve)
        return [(await k.call("halve", {"x": x})).x for x in (4, 30)]

    assert [2, 115] == in_kernel(go, tmp_path)


def test_a_net_of_the_file_runs_inside_another(tmp_path):
    """Calling a net of the same file runs it inline as a net node (its steps named inner/...)."""
    src = """
use inc
use double
net twice(n) {
    a = inc(n)
    return double(a)
}
net outer(n) {
    t = twice(n)
    return twice(t)
}
"""
    async def go(k):
        program = lang.compile_source(src, "outer.neuro", kernel=k)
        assert "outer" == program.main
        await spawn_all(k, program)
        return [n.kind for n in program.decls["outer"].nodes.values()], await k.call("outer", {"x": 1})

    kinds, out = in_kernel(go, tmp_path)
    assert ["net", "net"] == kinds
    assert Num(x=((1 + 1) * 2 + 1) * 2) == out


def test_imports_bring_messages_fns_and_nets(tmp_path):
    """An imported file's messages, fns and nets are usable as if declared here."""
    (tmp_path / "lib.neuro").write_text("use inc\nmessage N { x: int }\nfn triple(v: int) -> int = v * 3\n"
                                        "net bump(n: N) -> N {\n    return inc(n)\n}\n")
    main = tmp_path / "main.neuro"
    main.write_text('import "lib.neuro"\nnet main(n: N) {\n    b = bump(n)\n    return {x: triple(b.x)}\n}\n')

    async def go(k):
        program = lang.compile_file(str(main), kernel=k)
        await spawn_all(k, program)
        return await k.call("main", {"x": 4})

    assert 15 == in_kernel(go, tmp_path).x


def test_an_error_in_an_imported_file_names_that_file(tmp_path):
    """A problem inside an imported file is reported at its own file, line and column."""
    (tmp_path / "lib.neuro").write_text("message N { x: nope }\n")
    main = tmp_path / "main.neuro"
    main.write_text('import "lib.neuro"\nuse inc\nnet main(n) {\n    return inc(n)\n}\n')
    with pytest.raises(lang.LangError) as caught:
        lang.compile_file(str(main), neuros=ALL)
    [d] = caught.value.diagnostics
    assert (str(tmp_path / "lib.neuro"), 1, 16) == (d.file, d.line, d.column)


def test_versions_are_checked_against_what_runs_and_its_lineage(tmp_path):
    """`use inc == V` holds for the running version; `>= OLD` holds after a swap to a descendant of OLD."""
    from langneuros import Inc

    class Inc2(neuro.sdk.Neuro):
        name = "inc"
        input = Num
        output = Num

        def handle(self, ctx, msg):
            return Num(x=msg.x + 2)

    async def go(k):
        old = k.info("inc").version
        lang.compile_source(f"use inc == {old[:8]}\nnet f(n) {{\n    return inc(n)\n}}\n", "f.neuro", kernel=k)
        await k.swap("inc", Inc2)
        new = k.info("inc").version
        lang.compile_source(f"use inc >= {old[:8]}\nnet f(n) {{\n    return inc(n)\n}}\n", "f.neuro", kernel=k)
        with pytest.raises(lang.LangError) as caught:
            lang.compile_source(f"use inc == {old[:8]}\nnet f(n) {{\n    return inc(n)\n}}\n", "f.neuro", kernel=k)
        with pytest.raises(lang.LangError) as locked:
            lang.compile_source("use inc\nnet f(n) {\n    return inc(n)\n}\n", "f.neuro", kernel=k,
                                lock={"inc": old})
        return new, str(caught.value), str(locked.value)

    new, exact, locked = in_kernel(go, tmp_path)
    assert f"{new[:12]} runs instead" in exact
    assert "the lock file wants inc at" in locked
    assert Inc.name == "inc"


def test_dead_branches_are_pruned_at_compile(tmp_path):
    """A constant condition keeps only the branch taken: no gate, no node of the other branch."""
    src = """
use inc
use double
net fixed(n) {
    if 2 * 3 > 5 {
        r = inc(n)
    } else {
        r = double(n)
    }
    return r
}
"""
    program = lang.compile_source(src, "fixed.neuro", neuros=ALL)
    assert ["r"] == list(program.decls["fixed"].nodes)
    assert [5] == program.optimised.pruned_branches
    assert program.optimised.folded >= 2


def test_a_failing_node_names_its_line_and_the_net_keeps_serving(tmp_path):
    """A node that raises ends the run with the net's Reject naming the node; the next run works."""
    src = """
use fails
use inc
net risky(n) {
    if n.x > 0 {
        r = fails(n)
    } else {
        r = inc(n)
    }
    return r
}
"""
    async def go(k):
        program = lang.compile_source(src, "risky.neuro", kernel=k)
        await spawn_all(k, program)
        with pytest.raises(neuro.RemoteError) as caught:
            await k.call("risky", {"x": 1})
        return str(caught.value), await k.call("risky", {"x": -1})

    error, ok = in_kernel(go, tmp_path)
    assert "node 'r' (fails) failed" in error
    assert Num(x=0) == ok


def test_a_policy_declaration_is_checked_and_emitted(tmp_path):
    """`policy p { ... }` becomes a policy file's TOML, validated by the kernel's policy loader."""
    src = 'policy quick {\n    inherit = "default"\n    mailbox_size = 64\n}\n'
    program = lang.compile_source(src, "p.neuro", offline=True)
    assert 'inherit = "default"' in program.policies["quick"]
    assert "mailbox_size = 64" in program.policies["quick"]


def test_a_pure_neuro_can_be_mapped_once_it_runs(tmp_path):
    """`for` over a pure neuro of the file: its one-lambda net is spawned with the others and mapped."""
    src = """
use spread
message N { x: int }
neuro sq(n: N) -> N = {x: n.x * n.x}
net squares(n) {
    s = spread(n)
    for i in s.items limit 3 {
        q = sq(i)
    }
    return {items: q}
}
"""
    [out] = compile_and_call(tmp_path, src, [{"x": 4}], net="squares")
    assert [0, 1, 4, 9] == [i.x for i in out.items]
