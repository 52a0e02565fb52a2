"""The process table's lifecycle: messages queued behind a crash, restart and stop by hand,
spawn errors, shutdown, and which operations are checkpoints."""

from __future__ import annotations
import pytest
import trio
import trio.testing
import neuro
from neuro import Child, Policy, SupervisorSpec
from neuro.testing import Crashy, Echo, Ping, Pong, Slow
from .neuros_for_tests import BadInit
from .supervision_helpers import crash, read_log, run


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
            return k.ps(), await k.log.messages(neuro="slow"), await k.log.events(name="neuro.stopped")

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
    assert waited >= 1.0 and waited < 60.0
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
            return k.ps(), k.supervisors()[0].children, await k.log.events(name="neuro.start_failed")

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
