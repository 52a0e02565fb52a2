"""A call to a sandboxed handler, sent from its caller's task.

A runner would take the letter from the mailbox, send the frame and wait for the reply, and
wake the caller: two task switches a call on top of the sandbox reader's (four scheduler
passes a call instead of two, and a third more Python calls). Here the caller sends the
frame itself and waits for its outcome as it always does; the sandbox's reader, which takes
the reply, settles the call (`Router._end`) and so wakes the caller. Nothing of a call
changes but who runs it: the letter is logged, counted and timed as a runner's, its outcome
is the same, and a timeout or a cancelled caller leaves the call in flight to settle when the
reply comes.

It holds a place among its neuro's runners (`proc.runners`, `proc.scopes`) for as long as it
is in flight, so a stop, a swap, a crash or a wall-time breach finds and ends it as it does a
runner's handler (its `cancel` kills the worker, as a cancelled runner does), and the policy's
concurrency counts it. One per process at a time: a call that comes while one is in flight
goes to the mailbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


from ._context import KernelContext
from ._wallguard import WallGuard

if TYPE_CHECKING:
    from ._process import Letter, Process
    from ._router import Router

__all__ = ["SandboxedCall"]


class SandboxedCall:
    """Process `proc`'s call in flight from a caller's task to `worker` (one that
    `starts_nowait`), kept by the router in `proc.sandboxed` for the next one."""

    __slots__ = ("router", "proc", "worker", "ctx", "guard", "letter", "started")

    def __init__(self, router: Router, proc: Process, worker: Any) -> None:
        self.router = router
        self.proc = proc
        self.worker = worker
        self.ctx = KernelContext(router, proc)
        self.guard = WallGuard(self, router.deadlines)  # type: ignore[arg-type] - it only calls `cancel`
        self.letter: Letter | None = None  # in flight now; None: free
        self.started: Any = None

    def start(self, letter: Letter) -> bool:
        """Send `letter`'s frame now and take it as delivered; False: it could not go now
        (nothing changed; the mailbox takes it)."""
        router, proc = self.router, self.proc
        # A letter comes this way only if its labels are the process's already (Router._sandboxed):
        # one that would taint it goes by the mailbox, whose delivery checks them against the
        # policy as it is then. So the frame's taint (`ctx.labels` in the sandbox) is right.
        started = self.worker.invoke_nowait(self.ctx, letter.env.payload, self.settle)
        if started is None:
            return False
        self.letter, self.started = letter, started
        proc.runners += 1
        proc.scopes.append(self)  # type: ignore[arg-type] - a stop or a crash calls `cancel`
        self.guard.breached = False
        if router.log is not None:
            router.log.append_message(letter.env, letter.raw)
        router._count_in(proc, letter)
        router._begin(proc, letter, self.ctx, self.guard)
        return True

    def settle(self, reply: Any, error: BaseException | None) -> None:
        """The worker answered (or died): the call's outcome, as a runner would give it."""
        letter = self.letter
        if letter is None:
            return  # cancelled already, and settled then
        self.letter = self.started = None
        self._release()
        self.router._end(self.proc, self.worker, letter, self.ctx, self.guard, reply, error)
        self.router._place_freed(self.proc)  # its place is free: the mailbox's turn

    def cancel(self) -> None:
        """A stop, a crash or the wall time ends the call: kill the worker (the only sure way to
        stop code we do not trust) and settle the call now, as a cancelled runner does."""
        letter = self.letter
        if letter is None:
            return
        death = self.started.death()
        if death is not None:  # a crash ends its calls: the outcome is why it died, as a runner's call's is
            self.settle(None, death)
            return
        started, self.letter, self.started = self.started, None, None
        started.cancel()
        self._release()
        self.router._cancelled(self.proc, letter, self.ctx, self.guard)
        self.router._place_freed(self.proc)  # its place is free: the mailbox's turn

    def _release(self) -> None:
        proc = self.proc
        proc.scopes.remove(self)  # type: ignore[arg-type]
        proc.runners -= 1
