"""Supervision: strategies, restart kinds, spec checks and how a stopping child ends (the
restart intensity limit is in test_supervision_intensity.py, the process table's own
lifecycle in test_process_table.py)."""

from __future__ import annotations
import math
import re

import pytest
import trio
import trio.testing
import neuro
from neuro import Child, SupervisorSpec
from neuro.testing import Crashy, Echo, Ping, Pong, Slow
from .neuros_for_tests import Sleeper
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
