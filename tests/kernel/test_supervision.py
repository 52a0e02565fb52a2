"""Supervision: strategies, restart kinds and the restart intensity limit (the process
table's own lifecycle is in test_process_table.py)."""

from __future__ import annotations
import math
import re

import pytest
import trio
import trio.testing
import neuro
from neuro import Child, SupervisorSpec
from neuro.testing import Crashy, Echo, Ping, Pong, Slow
from .neuros_for_tests import Sleeper, StartsOnce
from .supervision_helpers import crash, crashy_tree, names, read_log, run


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
    assert order == names(events, "neuro.restarted")


@pytest.mark.parametrize("strategy, order", [("one_for_all", ["c", "a"]), ("rest_for_one", ["c"])])
def test_restarts_stop_busy_siblings_right_to_left(strategy, order):
    """Before restarting, a strategy stops the affected siblings in reverse start order."""

    async def main():
        Sleeper.cancelled = []
        spec = SupervisorSpec(
            name="team",
            strategy=strategy,
            children=[Child(Sleeper, name="a", shutdown="brutal_kill"), Child(Crashy, name="b"),
                      Child(Sleeper, name="c", shutdown="brutal_kill")],
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
    assert ["first", "a", "b", "c", "last"] == names(events, "neuro.spawned")
    assert ["last", "c", "b", "a", "first"] == names(events, "neuro.stopped")


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
            return info, await k.log.events(name="supervisor.gave_up")

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
            return await k.log.events(name="supervisor.escalated")

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
            return await k.log.events(name="supervisor.escalated"), await k.log.events(name="neuro.failed")

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
            return await k.log.events(name="supervisor.escalated"), await k.call("a", Ping(n=1))

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
            failures = await k.log.events(name="neuro.restart_failed")
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


def test_the_defaults_are_neuros_intensity_and_otps_worker_shutdown():
    """A spec allows 3 restarts in 5 s (Neuro's default; OTP's is 1 in 5 s); a child's shutdown is 5 s."""

    spec = SupervisorSpec(name="team", children=[Child(Echo)])
    assert (3, 5.0, 5.0) == (spec.max_restarts, spec.period, spec.children[0].shutdown)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SupervisorSpec(name="team", children=[], restart="bogus"),
         "supervisor 'team': restart must be one of permanent, transient, temporary, got 'bogus' "
         "(permanent: always restarted; transient: after a crash; temporary: never)"),
        (lambda: SupervisorSpec(name="team", children=[], max_restarts=-1),
         "supervisor 'team': max_restarts must be a whole number >= 0 (the restarts allowed within `period` "
         "before the supervisor gives up), got -1"),
        (lambda: SupervisorSpec(name="team", children=[], max_restarts=1.5),
         "supervisor 'team': max_restarts must be a whole number >= 0 (the restarts allowed within `period` "
         "before the supervisor gives up), got 1.5"),
        (lambda: SupervisorSpec(name="team", children=[], period=0),
         "supervisor 'team': period must be a finite number of seconds > 0, got 0"),
        (lambda: SupervisorSpec(name="team", children=[], period=math.nan),
         "supervisor 'team': period must be a finite number of seconds > 0, got nan"),
        (lambda: SupervisorSpec(name="Team", children=[]),
         "SupervisorSpec: name 'Team' is not a valid supervisor name (lower case, digits, '_', '-', dots, "
         "as a neuro's)"),
        (lambda: SupervisorSpec(name="team", children=[Echo]),
         "supervisor 'team': children[0] must be a Child or a SupervisorSpec, got <class "),
        (lambda: SupervisorSpec(name="team", children=[Child(Echo, name="a"), Child(Crashy, name="a")]),
         "supervisor 'team': two children are named 'a'; give each a distinct name="),
        (lambda: Child(Echo, restart="sometimes"),
         "child 'echo': restart must be one of permanent, transient, temporary, got 'sometimes'"),
        (lambda: Child(Echo, shutdown=-1),
         "child 'echo': shutdown must be a number of seconds >= 0 (how long its handlers in flight may take "
         "to finish when it stops), 'brutal_kill' or 'infinity', got -1"),
        (lambda: Child(Echo, shutdown="later"),
         "child 'echo': shutdown must be a number of seconds >= 0 (how long its handlers in flight may take "
         "to finish when it stops), 'brutal_kill' or 'infinity', got 'later'"),
        (lambda: Child(Echo, policy=3),
         "child 'echo': policy must be the name of a policy (a str), or None for the neuro's own, got 3"),
        (lambda: Child(Echo, name="Echo Two"),
         "'Echo Two' is not a valid neuro name (lower case, digits, '_', '-', dots); pass another name=, "
         "or none to use the neuro's own"),
        (lambda: Child(int), "Child takes a Neuro subclass with a manifest, got <class 'int'>"),
    ],
)
def test_a_bad_spec_field_is_refused_naming_the_field(build, message):
    """Each bad field of a Child or SupervisorSpec raises ManifestError naming it and what it takes."""

    with pytest.raises(neuro.ManifestError, match=re.escape(message)):
        build()


def test_supervise_checks_a_children_list_changed_after_the_spec_was_built():
    """supervise refuses a spec whose children list was given something else since it was built."""

    async def main():
        spec = SupervisorSpec(name="team", children=[])
        spec.children.append("echo")
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.ManifestError, match=re.escape("supervisor 'team': children[0] must be a Child")):
                await k.supervise(spec)
            return [s.name for s in k.supervisors()]

    assert ["root"] == run(main)


# -- temporary and transient siblings, as OTP's terminate_children treats them ----------


@pytest.mark.parametrize("strategy, table", [("one_for_all", {"b": 1}), ("rest_for_one", {"a": 0, "b": 1})])
def test_a_strategy_removes_temporary_siblings_instead_of_restarting_them(strategy, table):
    """A temporary sibling that one_for_all or rest_for_one stops leaves the table; it is not restarted."""

    async def main():
        spec = SupervisorSpec(name="team", strategy=strategy, children=[
            Child(Crashy, name="a", restart="temporary"), Child(Crashy, name="b"),
            Child(Crashy, name="c", restart="temporary")])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            await crash(k, "b")
            return {p.name: p.restarts for p in k.ps()}

    assert table == run(main)


def test_a_removed_temporary_sibling_is_stopped_with_the_reason(log_path):
    """The `neuro.stopped` event of a temporary sibling removed by one_for_all says why."""

    async def main():
        spec = SupervisorSpec(name="team", strategy="one_for_all", children=[
            Child(Crashy, name="a", restart="temporary"), Child(Crashy, name="b")])
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(spec)
            await crash(k, "b")
            return await k.log.events(name="neuro.stopped")

    stopped = run(main)
    assert [("a", "one_for_all: sibling b crashed; temporary child not restarted")] == [
        (e.neuro, e.data["reason"]) for e in stopped]


def test_a_transient_sibling_stopped_by_a_strategy_is_restarted():
    """Under one_for_all, a transient sibling stopped because another child crashed is restarted."""

    async def main():
        spec = SupervisorSpec(name="team", strategy="one_for_all", children=[
            Child(Crashy, name="a", restart="transient"), Child(Crashy, name="b")])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            await crash(k, "b")
            return {p.name: (p.state, p.restarts) for p in k.ps()}

    assert {"a": ("running", 1), "b": ("running", 1)} == run(main)


# -- a supervisor that gives up ends with OTP's reason `shutdown` -------------------------


def test_a_transient_supervisor_that_gives_up_is_removed_with_its_neuros():
    """A transient nested supervisor over its limit is not restarted: it and its neuros are gone."""

    async def main():
        spec = SupervisorSpec(name="team", restart="transient", max_restarts=0,
                              children=[Child(Crashy, name="a"), Child(Echo, name="b")])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            await crash(k, "a")
            return [p.name for p in k.ps()], [s.name for s in k.supervisors()]

    assert ([], ["root"]) == run(main)


def test_the_root_gives_up_on_a_nested_supervisor_that_keeps_failing(log_path):
    """The root counts the restarts of a nested supervisor across instances: the fourth failure in 5 s is the last."""

    async def main():
        spec = SupervisorSpec(name="team", max_restarts=0, children=[Child(Crashy, name="a")])
        async with neuro.Kernel(log=log_path) as k:
            await k.supervise(spec)
            for _ in range(4):
                await crash(k, "a")
            team = [s.state for s in k.supervisors() if s.name == "team"]
            return team, k.info("a").state, [e.neuro for e in await k.log.events(name="supervisor.gave_up")]

    assert (["failed"], "failed", ["team"]) == run(main)


# -- shutdown: how a stopping child ends ----------------------------------------------------


def answer_while_a_sibling_crashes(shutdown, ms):
    """What a call to `b` (a Slow neuro taking `ms` milliseconds) gets when, while it runs,
    its sibling `a` crashes under one_for_all and so `b` is stopped with `shutdown`."""

    async def main():
        spec = SupervisorSpec(name="team", strategy="one_for_all",
                              children=[Child(Crashy, name="a"), Child(Slow, name="b", shutdown=shutdown)])
        async with neuro.Kernel() as k:
            await k.supervise(spec)
            answer = {}

            async def ask():
                try:
                    answer["b"] = await k.call("b", Ping(n=ms), timeout=None)
                except neuro.RemoteError as e:
                    answer["b"] = (e.type, e.message)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                await trio.testing.wait_all_tasks_blocked()  # b is handling the call
                await crash(k, "a")
            return answer["b"]

    return run(main)


CANCELLED = ("Cancelled", "b stopped while handling this message: one_for_all: sibling a crashed")


def test_a_stopping_child_finishes_a_handler_within_its_shutdown_grace():
    """A sibling stopped by one_for_all finishes a handler that needs less than its `shutdown`."""

    assert Pong(n=2000) == answer_while_a_sibling_crashes(3.0, 2000)


def test_a_handler_that_needs_longer_than_its_shutdown_grace_is_cancelled():
    """A sibling's handler that needs more than its `shutdown` is cancelled, and its caller told why."""

    assert CANCELLED == answer_while_a_sibling_crashes(1.0, 2000)


def test_brutal_kill_cancels_a_handler_at_once():
    """With shutdown="brutal_kill", even a handler that needs a millisecond is cancelled."""

    assert CANCELLED == answer_while_a_sibling_crashes("brutal_kill", 1)


def test_infinity_lets_a_handler_finish_however_long_it_takes():
    """With shutdown="infinity", a handler far longer than the default grace finishes."""

    assert Pong(n=60_000) == answer_while_a_sibling_crashes("infinity", 60_000)
