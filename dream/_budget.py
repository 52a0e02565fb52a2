"""A dream job's energy, held to the ``per_dream_job`` budget of the neuro it dreams of (docs/energy.md).

The job is charged its CPU seconds as it runs: its trainer process's (read by the governor,
dream/_governor.py, every `METER_EVERY` seconds, from /proc) and the daemon's own work for it (each
`ctx.run_sync` step, timed by its thread's CPU clock); a learner's `sleep` hook is charged
its wall seconds, as a handler is. The kernel's meter turns them into joules
(`JobAccount`). Past the budget the job stops where it is, its trainer killed: an
``energy.budget`` event (budget ``per_dream_job``, action ``stop_job``) and the job ends
``rejected`` at the ``energy`` gate, saying why; nothing changes, as for any rejection.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

import outcome
import trio

from ._governor import METER_EVERY
from ._distil import Rejected
from ._jobs import Job
from ._kernelside import _event

__all__ = ["JobEnergy"]


class JobEnergy:
    """Charges one job's CPU seconds to its `account` (a kernel `JobAccount`) and stops the job
    past the budget (`spend` raises `Rejected`)."""

    def __init__(self, ctx: Any, job: Job, account: Any) -> None:
        self.ctx, self.job, self.account = ctx, job, account

    def spend(self, seconds: float) -> None:
        account = self.account
        account.charge(seconds)
        why = account.overrun()
        if why is None:
            return
        used = account.used
        _event("energy.budget", self.job.neuro, self.ctx, budget="per_dream_job", limit=account.limit, used=used,
               kind=account.meter.kind, action="stop_job")
        raise Rejected("energy", why, {"joules": used, "budget": float(account.limit), "cpu_seconds": account.seconds})

    async def timed(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """`await fn(*args)`, charged its wall seconds as it goes (every `METER_EVERY` s); past
        the budget it is cancelled and `Rejected` raised."""
        done: list[outcome.Outcome] = []  # its result or its error, raised as is (not in an exception group)
        stopped: list[Rejected] = []

        async def run() -> None:
            done.append(await outcome.acapture(fn, *args))
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            last = time.perf_counter()
            while True:
                await trio.sleep(METER_EVERY)
                now = time.perf_counter()
                try:
                    self.spend(now - last)
                except Rejected as r:  # raised past the nursery, not inside it (an exception group)
                    stopped.append(r)
                    nursery.cancel_scope.cancel()
                last = now
        if stopped:
            raise stopped[0]
        return done[0].unwrap()

    def context(self) -> Any:
        """The dream's `ctx` with each `run_sync` step charged to the job."""
        return _MeteredContext(self.ctx, self.spend)


class _MeteredContext:
    """A neuro's context whose `run_sync` charges the step's CPU seconds (and may stop the job);
    everything else is the context's own."""

    def __init__(self, ctx: Any, spend: Callable[[float], None]) -> None:
        self._ctx, self._spend = ctx, spend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        result, seconds = await self._ctx.run_sync(_timed, fn, *args)
        self._spend(seconds)
        return result


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    began = time.thread_time()
    return fn(*args), time.thread_time() - began
