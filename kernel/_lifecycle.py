"""What supervisors ask of the kernel: start, halt, restart and forget processes, and hear
about crashes. The Kernel inherits these; `_supervisor.KernelOps` is their contract.
"""

from __future__ import annotations

from typing import Any

import trio

from ._events import QUOTA_EVENTS
from ._process import Process, State
from ._supervisor import Shutdown, Supervisor, SupervisorSpec, shutdown_seconds

__all__ = ["Lifecycle"]

# Cancelling is how the kernel kills a handler in its own process: it takes effect at the
# handler's next await. One that shields itself from it is waited for this long, then left
# to finish on its own (a sandboxed handler's worker is killed outright).
UNWIND = 1.0


class Lifecycle:
    """The process lifecycle half of the Kernel (it uses the Kernel's tables)."""

    _router: Any
    _supervisors: dict[str, Supervisor]
    _pids: Any
    _crashes: Any
    _lifecycle: trio.Lock

    async def _forget(self, proc: Process) -> None:
        if self._router.procs.get(proc.name) is proc:
            del self._router.procs[proc.name]
        if proc in proc.supervisor.children:
            proc.supervisor.children.remove(proc)
        for subs in self._router.neuro_topics.values():
            if proc.name in subs:
                subs.remove(proc.name)

    async def _start_subtree(self, spec: SupervisorSpec, parent: Supervisor,
                             replace: Supervisor | None = None) -> Supervisor:
        sup = Supervisor(spec.name, spec.strategy, spec.max_restarts, spec.period, parent, self,
                         restart=spec.restart, spec=spec)
        self._supervisors[spec.name] = sup
        if replace is None:
            parent.children.append(sup)
        try:
            for child in spec.children:
                if isinstance(child, SupervisorSpec):
                    await self._start_subtree(child, sup)
                else:
                    await self._spawn(child, sup)
        except BaseException:
            await sup.shutdown("a child failed to start", failed=False)
            await self._forget_subtree(sup)
            if replace is None:
                parent.children.remove(sup)
            self._supervisors.pop(spec.name, None)
            raise
        self._event("supervisor.started", None, parent.name, supervisor=spec.name, strategy=spec.strategy,
                    children=[c.name for c in sup.children])
        return sup

    async def _forget_subtree(self, sup: Supervisor) -> None:
        for member in list(sup.children):
            if isinstance(member, Supervisor):
                await self._forget_subtree(member)
                self._supervisors.pop(member.name, None)
            else:
                await self._forget(member)

    def _worker_died(self, proc: Process, worker: Any, died: Exception) -> None:
        """A sandboxed worker ended without being asked: a quota it hit is an event, and the
        process is a crash for its supervisor (unless a handler already reported it)."""
        quota = getattr(died, "quota", None)
        if quota == "protocol":
            self._event("sandbox.protocol_violation", proc.name, proc.name, pid=proc.pid, error=str(died))
        elif quota:
            self._event(QUOTA_EVENTS[quota], proc.name, proc.name, pid=proc.pid, error=str(died),
                        limit=getattr(proc.policy, quota))
        if proc.worker is worker and proc.state is State.RUNNING:
            self._report_crash(proc, f"{type(died).__name__}: {died}")

    def _report_crash(self, proc: Process, reason: str) -> None:
        """Called by a runner when a handler raised: mark it, and let the supervisor decide."""
        if proc.state is State.CRASHED:
            return
        proc.state = State.CRASHED
        proc.stop_reason = f"crashed: {reason}"
        self._event("neuro.crashed", proc.name, proc.name, pid=proc.pid, error=reason)
        for scope in list(proc.scopes):  # concurrent handlers share the dead instance
            scope.cancel()
        self._wake_idle(proc)
        if proc.policy.on_crash == "dead_letter":
            self._router.dead_letter_queue(proc, f"{proc.name} crashed", refuse_blocked=False)
        assert self._crashes is not None
        self._crashes.send_nowait((proc, reason))

    async def _supervise_loop(self, crashes: trio.MemoryReceiveChannel) -> None:
        async for proc, reason in crashes:
            async with self._lifecycle:
                if proc.state is not State.CRASHED or self._router.procs.get(proc.name) is not proc:
                    continue
                try:
                    await proc.supervisor.child_exited(proc, crashed=True, reason=reason)
                except Exception as e:
                    # A supervision step that fails must not take the kernel down with it:
                    # the neuro is marked failed, its messages get outcomes, and it is an event.
                    import traceback

                    self._event("supervisor.error", proc.name, proc.supervisor.name,
                                error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
                    await self._halt_process(proc, f"supervision failed: {type(e).__name__}: {e}", failed=True)

    async def _restart_process(self, proc: Process, reason: str) -> None:
        old = proc.pid
        proc.pid = next(self._pids)
        proc.restarts += 1
        try:
            await self._start_worker(proc)
        except Exception as e:
            proc.state = State.CRASHED
            self._event("neuro.restart_failed", proc.name, proc.supervisor.name, error=f"{type(e).__name__}: {e}")
            assert self._crashes is not None
            self._crashes.send_nowait((proc, f"restart failed: {type(e).__name__}: {e}"))
            return
        self._event("neuro.restarted", proc.name, proc.supervisor.name, old_pid=old, pid=proc.pid, reason=reason,
                    queued=len(proc.queue))

    async def _halt_process(self, proc: Process, reason: str, *, failed: bool, for_restart: bool = False,
                            drain: bool = False, grace: Shutdown | None = None) -> None:
        """Stop `proc`'s instance in three steps. Ask: it takes no new message (with `drain`,
        it handles its queue first). Wait: its handlers in flight may finish, for up to
        `grace` (by default its child spec's `shutdown`: seconds, "brutal_kill" for none,
        "infinity" for as long as they take). Kill: cancel what still runs, and stop its
        worker with what is left of the grace. Queued messages stay for a restart, or end as
        dead letters with `reason`."""
        if proc.state in (State.STOPPED, State.FAILED) and proc.worker is None:
            if failed:
                proc.state = State.FAILED
            if not for_restart:
                self._router.dead_letter_queue(proc, reason)
            return
        if grace is None:  # the child spec's, unless the kernel is shutting down (it bounds its own stop)
            grace = self._halt_grace  # type: ignore[attr-defined]
        deadline = trio.current_time() + shutdown_seconds(proc.shutdown if grace is None else grace)
        proc.state = State.RESTARTING if for_restart else State.STOPPING
        proc.stop_reason = reason
        if proc.runners:
            proc.exited = trio.Event()
            proc.draining = drain and not for_restart
            self._wake_idle(proc)  # idle runners see the state and leave (or drain the queue)
            with trio.move_on_at(deadline):
                await proc.exited.wait()
            proc.draining = False
            if proc.runners:
                for scope in list(proc.scopes):  # a call sent from its caller's task leaves it at once
                    scope.cancel()
                self._wake_idle(proc)
                with trio.move_on_after(UNWIND):
                    await proc.exited.wait()
            proc.exited = None
        if not for_restart:
            self._router.dead_letter_queue(proc, reason)
        worker, proc.worker = proc.worker, None
        if worker is not None:
            await worker.stop(max(deadline - trio.current_time(), 0.0))
        if for_restart:
            return
        proc.state = State.FAILED if failed else State.STOPPED
        self._event("neuro.failed" if failed else "neuro.stopped", proc.name, proc.supervisor.name, pid=proc.pid,
                    reason=reason)

    @staticmethod
    def _wake_idle(proc: Process) -> None:
        while proc.idle:
            trio.lowlevel.reschedule(proc.idle.pop())
