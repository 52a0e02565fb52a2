"""Supervision: strategies, restart kinds, the restart intensity limit, what happens to the
messages queued behind a crash, and the process-table operations stop, restart and spawn."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import neuro
from neuro import Child, Policy, SupervisorSpec

from .neuros_for_tests import BadInit, Crashy, Echo, Ping, Pong, Sleeper, Slow, StartsOnce


def run(fn, *, autojump=True):
    """Run `fn` under trio; by default on a fake clock that jumps ahead whenever all tasks wait."""
    clock = trio.testing.MockClock(autojump_threshold=0) if autojump else None
    return trio.run(fn, clock=clock)


def read_log(path):
    """Everything the log holds, read with a fresh reader after the kernel exited."""
    reader = neuro.LogReader(path)
    try:
        return reader.messages(limit=None), reader.events(limit=None)
    finally:
        reader.close()


def names(events, name):
    return [e.neuro for e in events if e.name == name]


def crashy_tree(strategy, **spec):
    return SupervisorSpec(
        name="team",
        strategy=strategy,
        children=[Child(Crashy, name="a"), Child(Crashy, name="b"), Child(Crashy, name="c")],
        **spec,
    )


async def crash(k, name):
    """Make `name` crash once and let its supervisor react."""
    with pytest.raises(neuro.RemoteError):
        await k.call(name, Ping(n=-1))
    await trio.testing.wait_all_tasks_blocked()


# -- strategies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy, restarted",
    [
        ("one_for_one", {"a": 0, "b": 1, "c": 0}),
        ("one_for_all", {"a": 1, "b": 1, "c": 1}),
        ("rest_for_one", {"a": 0, "b": 1, "c": 1}),
    ],
)
def test_strategy_decides_which_children_restart(strategy, restarted):
    """A crash of the middle child restarts it alone, all children, or it and those after it."""

    async def main():
        async with neuro.Kernel() as k:
            await k.supervise(crashy_tree(strategy))
            await crash(k, "b")
            return {p.name: p.restarts for p in k.ps()}

    assert restarted == run(main)


@pytest.mark.parametrize("strategy, order", [("one_for_all", ["a", "b", "c"]), ("rest_for_one", ["b", "c"])])
def test_restarts_go_left_to_right(log_path, strategy, order):
    """The children a strategy restarts start again in their start order."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(crashy_tree(strategy))
            await crash(k, "b")

    run(main)
    _, events = read_log(log_path)
    assert order == names(events, "restarted")


@pytest.mark.parametrize("strategy, order", [("one_for_all", ["c", "a"]), ("rest_for_one", ["c"])])
def test_restarts_stop_busy_siblings_right_to_left(strategy, order):
    """Before restarting, a strategy stops the affected siblings in reverse start order."""

    async def main():
        Sleeper.cancelled = []
        spec = SupervisorSpec(
            name="team",
            strategy=strategy,
            children=[Child(Sleeper, name="a"), Child(Crashy, name="b"), Child(Sleeper, name="c")],
        )
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            for name in ("a", "c"):
                await k.send(name, Ping(n=60_000))
            await trio.testing.wait_all_tasks_blocked()  # a and c are busy sleeping
            await crash(k, "b")
            return list(Sleeper.cancelled)  # a copy: shutdown cancels more later

    assert order == run(main)


def test_children_start_left_to_right_and_stop_in_reverse_at_shutdown(log_path):
    """A supervisor's children are spawned in spec order and stopped in reverse at shutdown."""

    async def main():
        spec = SupervisorSpec(
            name="team",
            children=[Child(Echo, name="a"), Child(Echo, name="b"), Child(Echo, name="c")],
        )
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo, name="first")
            await k.supervise(spec)
            await k.spawn(Echo, name="last")

    run(main)
    _, events = read_log(log_path)
    assert ["first", "a", "b", "c", "last"] == names(events, "spawned")
    assert ["last", "c", "b", "a", "first"] == names(events, "stopped")


def test_a_supervisor_lists_its_children_in_start_order():
    """supervisors() shows each supervisor with its children in start order and its parent."""

    async def main():
        async with neuro.Kernel() as k:
            await k.supervise(crashy_tree("rest_for_one"))
            return {s.name: (s.parent, s.strategy, s.children) for s in k.supervisors()}

    tree = run(main)
    assert (None, "one_for_one", ["team"]) == tree["root"]
    assert ("root", "rest_for_one", ["a", "b", "c"]) == tree["team"]


def test_a_restarted_child_serves_with_a_fresh_instance():
    """After a crash the restarted child answers from a new instance, with a new pid."""

    async def main():
        Crashy.instances = 0
        async with neuro.Kernel() as k:
            before = await k.spawn(Crashy)
            await crash(k, "crashy")
            reply = await k.call("crashy", Ping(n=1))
            return before.pid, k.info("crashy"), reply

    pid, after, reply = run(main)
    assert Pong(n=2) == reply
    assert ("running", 1) == (after.state, after.restarts)
    assert pid != after.pid


# -- restart kinds ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["permanent", "transient"])
def test_permanent_and_transient_children_are_restarted_after_a_crash(kind):
    """A permanent or transient child that crashes is restarted and serves again."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy, restart=kind)
            await crash(k, "crashy")
            await k.call("crashy", Ping(n=1))
            return k.info("crashy")

    info = run(main)
    assert ("running", 1) == (info.state, info.restarts)


def test_temporary_child_is_not_restarted_and_leaves_the_table(log_path):
    """A temporary child that crashes is removed; messages queued behind the crash die with a reason."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy, restart="temporary")
            await k.spawn(Echo)
            k.send_nowait("crashy", Ping(n=-1))
            queued = k.send_nowait("crashy", Ping(n=1))
            await trio.testing.wait_all_tasks_blocked()
            return queued, [p.name for p in k.ps()], await k.log.message(queued)

    queued, table, record = run(main)
    assert ["echo"] == table
    assert "dead" == record.outcome
    assert "temporary child not restarted" in record.reason


def test_unknown_restart_kind_is_refused():
    """spawn with a restart kind that does not exist raises NeuroError listing the kinds."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match="restart must be one of permanent, transient, temporary"):
                await k.spawn(Echo, restart="sometimes")
            return k.ps()

    assert [] == run(main)


# -- the restart intensity limit ----------------------------------------------------------


def test_root_gives_up_on_a_child_after_max_restarts_and_marks_it_failed(log_path):
    """At the root, a fourth crash within 5 s marks the child failed; it is not restarted."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            for _ in range(4):
                await crash(k, "crashy")
            info = k.info("crashy")
            with pytest.raises(neuro.NoSuchNeuro, match="'crashy' is failed and not accepting messages"):
                await k.call("crashy", Ping(n=1))
            return info, await k.log.events(name="gave_up")

    info, gave_up = run(main)
    assert ("failed", 3) == (info.state, info.restarts)
    assert ["crashy"] == [e.neuro for e in gave_up]
    assert "more than 3 restarts in 5 s" == gave_up[0].data["limit"]


def test_a_failed_child_at_the_root_leaves_the_kernel_and_others_serving():
    """After the root gives up on one child, other neuros and new spawns keep working."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy)
            await k.spawn(Echo)
            for _ in range(4):
                await crash(k, "crashy")
            await k.spawn(Slow)
            return await k.call("echo", Ping(n=1)), await k.call("slow", Ping(n=2)), k.info("crashy").state

    assert (Pong(n=1), Pong(n=2), "failed") == run(main)


def test_a_failed_child_can_be_restarted_by_hand():
    """k.restart brings a child the root gave up on back into service."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy)
            for _ in range(4):
                await crash(k, "crashy")
            await k.restart("crashy")
            await k.call("crashy", Ping(n=1))
            return k.info("crashy").state

    assert "running" == run(main)


def test_the_root_counts_restarts_per_child():
    """At the root, three crashes each of two different children fail neither."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy, name="a")
            await k.spawn(Crashy, name="b")
            for _ in range(3):
                await crash(k, "a")
                await crash(k, "b")
            return {p.name: (p.state, p.restarts) for p in k.ps()}

    assert {"a": ("running", 3), "b": ("running", 3)} == run(main)


def test_a_nested_supervisor_counts_the_restarts_of_all_its_children_together(log_path):
    """Below the root, one crash each of two children adds up: with max_restarts=1 it escalates."""

    async def main():
        spec = SupervisorSpec(name="team", max_restarts=1, period=60.0,
                              children=[Child(Crashy, name="a"), Child(Crashy, name="b")])
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(spec)
            await crash(k, "a")
            await crash(k, "b")
            return await k.log.events(name="escalated")

    assert [("team", "b")] == [(e.actor, e.data["child"]) for e in run(main)]


def test_a_neuro_spawned_again_after_the_root_gave_up_starts_with_a_clean_history():
    """A fresh spawn under a name the root gave up on is restarted after its first crash."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy)
            for _ in range(4):
                await crash(k, "crashy")
            await k.spawn(Crashy)
            await crash(k, "crashy")
            info = k.info("crashy")
            return info.state, info.restarts

    assert ("running", 1) == run(main)


def test_a_neuro_spawned_again_after_the_root_gave_up_is_listed_once():
    """After a respawn over a failed neuro, the root lists that name once among its children."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Crashy)
            for _ in range(4):
                await crash(k, "crashy")
            await k.spawn(Crashy)
            return k.supervisors()[0].children

    assert ["crashy"] == run(main)


def test_a_nested_supervisor_over_its_limit_stops_its_children_and_fails_upward(log_path):
    """More than max_restarts crashes: the supervisor stops its children in reverse and escalates."""

    async def main():
        spec = SupervisorSpec(
            name="team", max_restarts=1, period=60.0,
            children=[Child(Crashy, name="a"), Child(Echo, name="b")],
        )
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(spec)
            await crash(k, "a")
            await crash(k, "a")
            return await k.log.events(name="escalated"), await k.log.events(name="failed")

    escalated, failed = run(main)
    assert [("team", "a")] == [(e.actor, e.data["child"]) for e in escalated]
    assert "more than 1 restarts in 60 s" == escalated[0].data["limit"]
    assert ["b", "a"] == [e.neuro for e in failed]


def test_the_parent_restarts_a_supervisor_that_failed_upward(log_path):
    """The root restarts a failed nested supervisor, whose children then serve again."""

    async def main():
        spec = SupervisorSpec(
            name="team", max_restarts=0, period=60.0,
            children=[Child(Crashy, name="a"), Child(Echo, name="b")],
        )
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(spec)
            await crash(k, "a")
            replies = await k.call("a", Ping(n=1)), await k.call("b", Ping(n=7))
            return replies, {p.name: p.state for p in k.ps()}, await k.log.events(name="supervisor.started")

    (a, b), states, started = run(main)
    assert Pong(n=7) == b
    assert {"a": "running", "b": "running"} == states
    assert ["team", "team"] == [e.data["supervisor"] for e in started]


def test_escalation_climbs_until_a_supervisor_within_its_limit(log_path):
    """A supervisor over its limit fails upward; a parent over its own limit fails upward too."""

    async def main():
        inner = SupervisorSpec(name="inner", max_restarts=0, children=[Child(Crashy, name="a")])
        outer = SupervisorSpec(name="outer", max_restarts=0, children=[inner, Child(Echo, name="b")])
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(outer)
            await crash(k, "a")
            return await k.log.events(name="escalated"), await k.call("a", Ping(n=1))

    escalated, reply = run(main)
    assert ["inner", "outer"] == [e.actor for e in escalated]
    assert isinstance(reply, Pong)


def test_restarts_spread_over_more_than_the_period_do_not_escalate():
    """Crashes further apart than `period` never add up to the limit."""

    async def main():
        spec = SupervisorSpec(name="team", max_restarts=1, period=0.05, children=[Child(Crashy, name="a")])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            for _ in range(3):
                await crash(k, "a")
                await trio.sleep(0.08)  # real time: the supervisor counts with time.monotonic
            return k.info("a"), [s.state for s in k.supervisors() if s.name == "team"]

    info, team = run(main, autojump=False)
    assert ("running", 3) == (info.state, info.restarts)
    assert ["running"] == team


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_a_sibling_supervisor_is_restarted_with_its_children(strategy):
    """When a strategy restarts a sibling that is a supervisor, its children start again and serve."""

    async def main():
        inner = SupervisorSpec(name="inner", children=[Child(Echo, name="b")])
        spec = SupervisorSpec(name="team", strategy=strategy, children=[Child(Crashy, name="a"), inner])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            await crash(k, "a")
            return await k.call("b", Ping(n=3)), {p.name: p.state for p in k.ps()}

    assert (Pong(n=3), {"a": "running", "b": "running"}) == run(main)


def test_a_child_that_cannot_be_restarted_ends_failed_and_its_queue_dead(log_path):
    """When every restart fails, the root gives up: the child is failed and its queue dead-lettered."""

    async def main():
        StartsOnce.instances = 0
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(StartsOnce)
            await k.spawn(Echo)
            k.send_nowait("starts-once", Ping(n=-1))
            queued = k.send_nowait("starts-once", Ping(n=1))
            await trio.testing.wait_all_tasks_blocked()
            record = await k.log.message(queued)
            failures = await k.log.events(name="restart_failed")
            return k.info("starts-once").state, record, len(failures), await k.call("echo", Ping(n=2))

    state, record, failures, echo = run(main)
    assert "failed" == state
    assert ("dead", "restart intensity exceeded (more than 3 restarts in 5 s)") == (record.outcome, record.reason)
    assert 3 == failures
    assert Pong(n=2) == echo


def test_a_bad_supervisor_spec_is_refused_with_the_field():
    """SupervisorSpec refuses an unknown strategy, naming the ones there are."""

    with pytest.raises(neuro.NeuroError, match="strategy must be one of one_for_one, one_for_all, rest_for_one"):
        SupervisorSpec(name="team", children=[], strategy="all_for_none")


# -- messages queued behind a crash -------------------------------------------------------


def test_queued_messages_are_redelivered_to_the_restarted_instance(log_path):
    """With on_crash="redeliver" the messages behind the crash are handled by the new instance."""

    async def main():
        Crashy.instances = 0
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            ids = [k.send_nowait("crashy", Ping(n=n)) for n in (-1, 1, 2)]
            await trio.testing.wait_all_tasks_blocked()
            return ids, await k.log.messages(neuro="crashy")

    ids, rows = run(main)
    assert ids == [r.id for r in rows]
    assert ["error", "handled", "handled"] == [r.outcome for r in rows]
    assert [None, {"n": 2}, {"n": 2}] == [r.reply for r in rows]


def test_queued_messages_are_dead_lettered_with_a_reason_when_the_policy_says_so(log_path):
    """With on_crash="dead_letter" the messages behind the crash end as dead letters naming the crash."""

    async def main():
        policies = {"fragile": Policy(name="fragile", on_crash="dead_letter")}
        async with neuro.Kernel(log=log_path, policies=policies) as k:
            await k.spawn(Crashy, policy="fragile")
            for n in (-1, 1, 2):
                k.send_nowait("crashy", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            after = await k.call("crashy", Ping(n=3))
            return after, await k.log.messages(neuro="crashy")

    after, rows = run(main)
    assert isinstance(after, Pong)
    assert [("error", "crashed"), ("dead", "crashy crashed"), ("dead", "crashy crashed"), ("handled", None)] == [
        (r.outcome, r.reason) for r in rows
    ]


def test_a_caller_queued_behind_a_crash_gets_dead_letter_with_the_reason():
    """A call dead-lettered by on_crash="dead_letter" raises DeadLetter whose reason names the crash."""

    async def main():
        policies = {"fragile": Policy(name="fragile", on_crash="dead_letter")}
        async with neuro.Kernel(policies=policies) as k:
            await k.spawn(Crashy, policy="fragile")
            k.send_nowait("crashy", Ping(n=-1))
            with pytest.raises(neuro.DeadLetter) as err:
                await k.call("crashy", Ping(n=1))
            return err.value.reason

    assert "crashy crashed" == run(main)


# -- restart and stop by hand -------------------------------------------------------------


def test_restart_by_hand_gives_a_fresh_instance_and_keeps_the_queue(log_path):
    """k.restart cancels the message in flight and hands the queued ones to the new instance."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            before = await k.spawn(Slow)
            for n in (60_000, 1, 2):
                k.send_nowait("slow", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            after = await k.restart("slow")
            await trio.sleep(1)  # fake time: the new instance serves the two queued ones
            return before, after, await k.log.messages(neuro="slow")

    before, after, rows = run(main)
    assert (1, "running") == (after.restarts, after.state)
    assert before.pid != after.pid
    assert [("error", "restart requested"), ("handled", None), ("handled", None)] == [
        (r.outcome, r.reason) for r in rows
    ]


def test_restart_of_an_unknown_neuro_raises_no_such_neuro():
    """k.restart of a name nobody runs raises NoSuchNeuro."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NoSuchNeuro, match="no neuro named 'ghost' is running"):
                await k.restart("ghost")

    run(main)


def test_stop_with_drain_handles_what_is_queued_first(log_path):
    """k.stop (drain) lets the in-flight and queued messages finish, then removes the neuro."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for n in (100, 1, 2):
                k.send_nowait("slow", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            await k.stop("slow")
            return k.ps(), await k.log.messages(neuro="slow"), await k.log.events(name="stopped")

    table, rows, stopped = run(main)
    assert [] == table
    assert ["handled"] * 3 == [r.outcome for r in rows]
    assert ["slow"] == [e.neuro for e in stopped]


def test_stop_without_drain_dead_letters_the_queue_with_the_reason(log_path):
    """k.stop(drain=False) cancels the message in flight and dead-letters the queued ones with the reason."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for n in (60_000, 1, 2):
                k.send_nowait("slow", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            await k.stop("slow", drain=False, reason="maintenance")
            return await k.log.messages(neuro="slow")

    rows = run(main)
    assert [("error", "maintenance"), ("dead", "maintenance"), ("dead", "maintenance")] == [
        (r.outcome, r.reason) for r in rows
    ]


def test_stop_drain_is_bounded_by_its_timeout(log_path):
    """k.stop waits at most `timeout` for the drain, then ends what is left with the reason."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for n in (60_000, 1):
                k.send_nowait("slow", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            await k.stop("slow", timeout=1.0)
            return trio.current_time() - start, await k.log.messages(neuro="slow")

    waited, rows = run(main)
    assert 1.0 <= waited < 60.0
    assert [("error", "stopped"), ("dead", "stopped")] == [(r.outcome, r.reason) for r in rows]


def test_a_stopped_neuro_is_not_restarted_and_its_name_is_free_again():
    """After k.stop, sends get NoSuchNeuro, and the same name can be spawned again."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            await k.stop("echo")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(neuro.NoSuchNeuro):
                await k.send("echo", Ping(n=1))
            await k.spawn(Echo)
            return await k.call("echo", Ping(n=5))

    assert Pong(n=5) == run(main)


def test_stop_of_an_unknown_neuro_raises_no_such_neuro():
    """k.stop of a name nobody runs raises NoSuchNeuro."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NoSuchNeuro, match="no neuro named 'ghost' is running"):
                await k.stop("ghost")

    run(main)


# -- spawn errors -------------------------------------------------------------------------


def test_spawning_a_running_name_raises_already_running_with_the_fix():
    """A second spawn under a running name raises AlreadyRunning naming the pid and the fix."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with pytest.raises(neuro.AlreadyRunning, match=r"'echo' is already running \(pid 1\); stop it first"):
                await k.spawn(Echo)
            await k.spawn(Echo, name="echo-2")
            return [p.name for p in k.ps()]

    assert ["echo", "echo-2"] == run(main)


def test_a_neuro_whose_init_raises_fails_to_spawn_and_leaves_nothing(log_path):
    """__init__ raising makes spawn raise NeuroError with the cause; nothing stays in ps()."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            with pytest.raises(neuro.NeuroError, match="could not start bad-init: RuntimeError: no GPU here"):
                await k.spawn(BadInit)
            return k.ps(), k.supervisors()[0].children, await k.log.events(name="start_failed")

    table, root_children, failed = run(main)
    assert [] == table
    assert [] == root_children
    assert ["bad-init"] == [e.neuro for e in failed]


def test_a_supervisor_whose_child_fails_to_start_is_not_left_behind():
    """supervise() with an unstartable child raises, and leaves neither its started children nor their names."""

    async def main():
        spec = SupervisorSpec(name="team", children=[Child(Echo, name="a"), Child(BadInit)])
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match="could not start bad-init"):
                await k.supervise(spec)
            table, sups = [p.name for p in k.ps()], [s.name for s in k.supervisors()]
            await k.spawn(Echo, name="a")
            return table, sups

    assert ([], ["root"]) == run(main)


def test_spawn_with_an_unknown_policy_names_the_known_ones():
    """spawn(policy=...) with a policy nobody defined raises NeuroError listing the known ones."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match="no policy named 'gold'; known policies: background"):
                await k.spawn(Echo, policy="gold")
            return k.ps()

    assert [] == run(main)


def test_spawn_under_an_unknown_supervisor_names_the_known_ones():
    """spawn(supervisor=...) with a supervisor that does not exist raises NeuroError."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError, match="no supervisor named 'team'; known: root"):
                await k.spawn(Echo, supervisor="team")

    run(main)


def test_a_neuro_restarted_by_hand_under_a_failed_supervisor_is_still_supervised():
    """After the root gave up on its supervisor, a child brought back with k.restart recovers from its next crash."""

    async def main():
        spec = SupervisorSpec(name="team", max_restarts=0, children=[Child(Crashy, name="a")])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            for _ in range(4):  # team fails upward each time; the fourth time the root gives up on it
                await crash(k, "a")
            await k.restart("a")
            await crash(k, "a")
            return await k.call("a", Ping(n=1), timeout=2.0)

    assert isinstance(run(main), Pong)


# -- shutdown -----------------------------------------------------------------------------


def test_shutdown_without_drain_dead_letters_the_queues_with_reason_shutdown(log_path):
    """k.shutdown(drain=False) cancels what is in flight and dead-letters what is queued, reason `shutdown`."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for n in (60_000, 1):
                k.send_nowait("slow", Ping(n=n))
            await trio.testing.wait_all_tasks_blocked()
            await k.shutdown(drain=False)

    run(main)
    rows, _ = read_log(log_path)
    assert [("error", "shutdown"), ("dead", "shutdown")] == [(r.outcome, r.reason) for r in rows]


def test_shutdown_with_drain_handles_what_is_queued(log_path):
    """Leaving `async with Kernel()` normally drains the mailboxes before stopping the neuros."""

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Slow)
            for n in (100, 1, 2):
                k.send_nowait("slow", Ping(n=n))

    run(main)
    rows, _ = read_log(log_path)
    assert ["handled"] * 3 == [r.outcome for r in rows]


def test_a_closed_kernel_refuses_new_work():
    """After shutdown, send and spawn raise KernelClosed saying to use the kernel inside `async with`."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
        with pytest.raises(neuro.KernelClosed, match="the kernel is stopped; use it inside `async with Kernel"):
            await k.send("echo", Ping(n=1))
        with pytest.raises(neuro.KernelClosed):
            await k.spawn(Slow)

    run(main)


# -- checkpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["spawn", "supervise", "restart", "stop"])
def test_process_table_operations_are_checkpoints(operation):
    """spawn, supervise, restart and stop each let other tasks run and can be cancelled."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            with trio.testing.assert_checkpoints():
                if operation == "spawn":
                    await k.spawn(Echo, name="other")
                elif operation == "supervise":
                    await k.supervise(SupervisorSpec(name="team", children=[Child(Echo, name="a")]))
                elif operation == "restart":
                    await k.restart("echo")
                else:
                    await k.stop("echo")

    run(main)
