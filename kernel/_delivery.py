"""Delivering: the runners that take a process's letters off its queue, the direct path that
runs a plain handler in its caller's task, and the steps of one delivery.

`Deliveries` is the router's half that runs handlers; `Router` (kernel/_router.py) keeps the
boundary, the sends and the outcomes, which these steps end in (`_finish`, `_dead`, `_error`).

The direct path: a call to a plain in-process handler whose mailbox is empty runs the handler
in the caller's task, less the two task switches to a runner and back (a third of a call's
cost). Such a handler may return a coroutine instead of its reply, for the part of its work
that waits (a cascade that asks its teacher only when unsure): the caller's task must not run
that (a caller's timeout or cancel would end it), so a task of its own awaits it, holding a
place among the neuro's runners as a runner's handler would. Through the mailbox a runner
awaits the coroutine itself (sandbox/_inproc.py), and a sandbox's worker likewise.
"""

from __future__ import annotations

import math
from time import perf_counter
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable

import msgspec
import outcome
import trio

from neuro._errorinfo import error_info, relayed

from ._calls import Deadlines
from ._context import KernelContext
from ._envelope import ErrorInfo
from ._labels import delivery_refused, taint
from ._process import Letter, Process, State
from ._wallguard import WallGuard

__all__ = ["Deliveries", "type_name"]

_FAIRNESS = 32  # messages a runner serves back to back before it lets others run


class Deliveries:
    """Runners and delivery steps, mixed into `Router`, whose state and outcomes they use."""

    if TYPE_CHECKING:  # provided by Router
        nursery: trio.Nursery | None
        deadlines: Deadlines
        encoder: msgspec.msgpack.Encoder
        _event: Callable[..., None]
        _crashed: Callable[[Process, str], None]

        log: Any

        def _admit_blocked(self, proc: Process) -> None: ...
        def _count_in(self, proc: Process, letter: Letter) -> None: ...
        def _wake(self, proc: Process) -> None: ...
        def _finish(self, proc: Process, letter: Letter, kind: str, reason: str | None,
                    reply_raw: bytes | None, error: str | None, result: outcome.Outcome) -> None: ...
        def _wall_time_breached(self, proc: Process, letter: Letter) -> None: ...
        def _dead(self, proc: Process, letter: Letter, reason: str) -> None: ...
        def _error(self, proc: Process, letter: Letter, info: ErrorInfo, reason: str) -> None: ...

    def _start_runner(self, proc: Process) -> None:
        assert self.nursery is not None
        proc.runners += 1
        self.nursery.start_soon(self._run, proc, proc.worker)

    async def _run(self, proc: Process, worker: Any) -> None:
        ctx = KernelContext(self, proc)
        scope = trio.CancelScope()
        guard = WallGuard(scope, self.deadlines)
        proc.scopes.append(scope)
        served = 0
        # Background work lets everything else run after each message.
        fairness = 1 if proc.policy.priority == "background" else _FAIRNESS
        try:
            with scope:
                while proc.worker is worker:
                    state = proc.state
                    if state is not State.RUNNING and not (state is State.STOPPING and proc.draining):
                        return
                    queue = proc.queue
                    if not queue:
                        if state is State.STOPPING:
                            return
                        await self._park(proc)
                        continue
                    energy = proc.energy
                    if energy is not None and energy.hold and (pause := energy.wait()):
                        # throttled over its energy budget, or background work off mains: it waits
                        # with the letter still queued, so a stop meanwhile dead-letters it
                        await trio.sleep(pause)
                        continue
                    if proc.runners - len(proc.idle) > proc.policy.concurrency:
                        # a call from its caller's task holds a place (kernel/_sandboxcall.py); it wakes one
                        await self._park(proc)
                        continue
                    letter = queue.popleft()
                    if proc.blocked:
                        self._admit_blocked(proc)
                    await self._deliver(proc, worker, letter, ctx, guard)
                    served += 1
                    if served % fairness == 0:
                        await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            proc.scopes.remove(scope)
            proc.runners -= 1
            if proc.runners == 0 and proc.exited is not None:
                proc.exited.set()
            elif scope.cancelled_caught and proc.worker is worker and proc.state is State.RUNNING and proc.queue:
                self._start_runner(proc)  # a wall-time breach used up this runner's scope

    @staticmethod
    async def _park(proc: Process) -> None:
        task = trio.lowlevel.current_task()
        proc.idle.append(task)

        def abort(_: Any) -> trio.lowlevel.Abort:
            if task in proc.idle:
                proc.idle.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def _deliver(self, proc: Process, worker: Any, letter: Letter, ctx: KernelContext,
                       guard: WallGuard) -> None:
        if self._admissible(proc, letter):
            self._begin(proc, letter, ctx, guard)
            await self._handled(proc, worker, letter, ctx, guard, worker.invoke(ctx, letter.env.payload))

    def _admissible(self, proc: Process, letter: Letter) -> bool:
        """Whether `letter` may be handled now; if not, it is a dead letter saying why."""
        if letter.deadline != math.inf and letter.deadline < trio.current_time():
            self._dead(proc, letter, "deadline passed before delivery")
            return False
        labels = letter.env.labels
        if labels and not labels <= proc.labels:  # admitted under the policy it had then (a reload since?)
            why = delivery_refused(proc, letter.env.sender, labels, self._event)
            if why is not None:
                self._dead(proc, letter, why)
                return False
        return True

    async def _handled(self, proc: Process, worker: Any, letter: Letter, ctx: KernelContext, guard: WallGuard,
                       pending: Any) -> None:
        """Await the begun handler's `pending` reply, and give the letter its outcome."""
        try:
            result = await pending
        except trio.Cancelled:
            self._cancelled(proc, letter, ctx, guard)
            raise
        except Exception as exc:
            self._end(proc, worker, letter, ctx, guard, None, exc)
            return
        except BaseException:
            self._settle(proc, letter, ctx, guard)
            raise
        self._end(proc, worker, letter, ctx, guard, result, None)

    # -- the direct path (the module's docstring) ------------------------------------------------

    def _direct(self, proc: Process) -> tuple[Any, KernelContext, WallGuard] | None:
        """What `_handle_now` needs, when a call to `proc` may be handled in the caller's task:
        its handler is a plain function in this process, its mailbox is empty, no handler of it
        holds a place the policy's concurrency would need (one awaiting a returned coroutine)
        and nothing holds it to a schedule (wall time, background priority, an energy hold)."""
        worker = proc.worker
        if (worker is None or not worker.direct or proc.state is not State.RUNNING or proc.queue
                or proc.blocked or proc.in_flight >= proc.policy.concurrency or proc.policy.wall_time
                or proc.policy.priority == "background"
                or (proc.energy is not None and proc.energy.hold)):  # an energy wait is the runner's, before popleft
            return None
        direct = proc.direct
        if direct is None or direct[0] is not worker:
            direct = proc.direct = (worker, KernelContext(self, proc), WallGuard(trio.CancelScope(), self.deadlines))
        return direct

    def _handle_now(self, proc: Process, letter: Letter, direct: tuple[Any, KernelContext, WallGuard]) -> None:
        """Accept `letter` and run its plain handler here and now, as an idle runner would next;
        its outcome is settled before this returns, unless it returned a coroutine."""
        worker, ctx, guard = direct
        if self.log is not None:
            self.log.append_message(letter.env, letter.raw)
        self._count_in(proc, letter)
        if not self._admissible(proc, letter):
            return
        self._begin(proc, letter, ctx, guard)
        try:
            result = worker.handle(ctx, letter.env.payload)
        except Exception as exc:
            self._end(proc, worker, letter, ctx, guard, None, exc)
            return
        except BaseException:
            self._settle(proc, letter, ctx, guard)
            raise
        if type(result) is CoroutineType:
            self._finish_later(proc, worker, letter, ctx, guard, result)
        else:
            self._end(proc, worker, letter, ctx, guard, result, None)

    def _finish_later(self, proc: Process, worker: Any, letter: Letter, ctx: KernelContext, guard: WallGuard,
                      coro: Any) -> None:
        """A task of its own awaits the coroutine the handler returned. It holds a place among
        the runners from now on, so the policy's concurrency counts it and a stop, a swap or a
        crash finds it (`proc.scopes`, `proc.runners`) as it finds a runner's handler."""
        assert self.nursery is not None
        proc.direct = None  # ctx now serves this message (ctx._current): the next direct call makes its own
        scope = trio.CancelScope()
        proc.scopes.append(scope)
        proc.runners += 1
        self.nursery.start_soon(self._await_returned, proc, worker, letter, ctx, guard, coro, scope)

    async def _await_returned(self, proc: Process, worker: Any, letter: Letter, ctx: KernelContext,
                              guard: WallGuard, coro: Any, scope: trio.CancelScope) -> None:
        try:
            with scope:  # cancelled by a stop or a crash, maybe before this task started
                await self._handled(proc, worker, letter, ctx, guard, coro)
        finally:
            proc.scopes.remove(scope)
            proc.runners -= 1
            self._place_freed(proc)

    def _place_freed(self, proc: Process) -> None:
        """A place held outside the runners' loop (a returned coroutine's task, a sandboxed call
        from its caller's task) is free: hand the mailbox to a runner (a draining stop handles it
        first), or tell a stop that waits."""
        if proc.queue:
            if proc.state is State.RUNNING:
                self._wake(proc)
                return
            if proc.state is State.STOPPING and proc.draining:
                if proc.idle:  # one parked while this call held the last place
                    trio.lowlevel.reschedule(proc.idle.pop())
                elif not proc.runners:
                    self._start_runner(proc)
                return
        if proc.runners == 0 and proc.exited is not None:
            proc.exited.set()

    # A delivery in three steps, whichever task runs them: `_begin` as the handler starts, then
    # `_end` with what it returned or raised, or `_cancelled` when it was cancelled. A runner
    # runs all three (`_deliver`); a call sent from its caller's task (kernel/_sandboxcall.py)
    # begins there and ends in the task that reads the sandbox's reply.

    def _begin(self, proc: Process, letter: Letter, ctx: KernelContext, guard: WallGuard) -> None:
        """`letter`'s handler starts now (its deadline was checked)."""
        env = letter.env
        wall = proc.policy.wall_time
        if wall:
            guard.watch(letter, wall)
        ctx._current = env
        if env.labels:
            taint(proc, env.labels)
        proc.in_flight += 1
        letter.started = perf_counter()
        letter.version = proc.version  # the version whose handler runs: its outcome names it

    def _settle(self, proc: Process, letter: Letter, ctx: KernelContext, guard: WallGuard) -> None:
        proc.in_flight -= 1
        proc.busy_time += perf_counter() - letter.started
        ctx._current = None
        guard.letter = None

    def _cancelled(self, proc: Process, letter: Letter, ctx: KernelContext, guard: WallGuard) -> None:
        """The handler was cancelled: by its wall time, or by a stop (or a crash beside it)."""
        try:
            if guard.breached:
                self._wall_time_breached(proc, letter)
                return
            self._error(proc, letter, ErrorInfo(
                type="Cancelled", message=f"{proc.name} stopped while handling this message: "
                f"{proc.stop_reason or 'cancelled'}", neuro=proc.name, path=[proc.name]),
                reason=proc.stop_reason or "cancelled")
        finally:
            self._settle(proc, letter, ctx, guard)

    def _end(self, proc: Process, worker: Any, letter: Letter, ctx: KernelContext, guard: WallGuard,
             result: Any, exc: BaseException | None) -> None:
        """The handler returned `result`, or raised `exc`: the letter's outcome."""
        if exc is None:
            try:
                if proc.output_types is not None and not isinstance(result, proc.output_types):
                    raise TypeError(
                        f"handler of {proc.name!r} returned {type(result).__name__}, "
                        f"but its manifest's output is {type_name(proc.manifest.output)}")
                reply_raw = self.encoder.encode(result) if result is not None else None
            except Exception as e:
                exc = e
            else:
                self._settle(proc, letter, ctx, guard)
                self._finish(proc, letter, "handled", None, reply_raw, None, outcome.Value(result))
                return
        try:
            self._failed(proc, worker, letter, exc)
        finally:
            self._settle(proc, letter, ctx, guard)

    def _failed(self, proc: Process, worker: Any, letter: Letter, exc: BaseException) -> None:
        # What a sandbox's worker reported its handler raised, or what was raised here.
        sandboxed = getattr(exc, "error_info", None)
        if isinstance(sandboxed, ErrorInfo):
            info = sandboxed
        else:
            import traceback  # only on the error path

            info = error_info(exc, "".join(traceback.format_exception(exc)))
        passing = bool(info.path)  # a RemoteError from further along, not caught here
        info = relayed(info, proc.name)
        if info.type == "Reject" and not passing:  # refused on purpose: no crash
            self._error(proc, letter, info, reason="rejected")
            return
        self._error(proc, letter, info, reason="crashed")
        if proc.worker is worker and proc.state is State.RUNNING:
            # Only in this process is a MemoryError evidence; from a sandbox its type is the
            # worker's own claim (`raise MemoryError`), and a real breach there is seen by
            # the sandbox's own counters (the cgroup's OOM kills) when the worker dies.
            if info.type == "MemoryError" and sandboxed is None:
                self._event("quota.memory", proc.name, proc.name, error=str(exc), limit=proc.policy.memory)
            # OTP's rule: an error the handler did not catch crashes its neuro, relayed or not.
            self._crashed(proc, f"unhandled RemoteError from {info.neuro}: {info.type}: {info.message}"
                          if passing else f"{info.type}: {info.message}")


def type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)
