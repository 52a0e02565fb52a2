"""Supervision: the restart intensity limit (at most MaxR restarts in MaxT seconds, then the
supervisor gives up and fails upward) and how a supervisor that gives up ends; strategies and
restart kinds are in test_supervision.py."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import neuro
from neuro import Child, SupervisorSpec
from neuro.testing import Crashy, Echo, Ping, Pong, Slow
from .neuros_for_tests import StartsOnce
from .supervision_helpers import crash, run


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
