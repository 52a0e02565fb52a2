"""The wall-time guard: cancels a runner's handler that runs past its policy's wall time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._calls import Deadlines
    from ._process import Letter

__all__ = ["WallGuard"]


class WallGuard:
    """Cancels a runner's handler that runs past its policy's wall time.

    One guard per runner, not per message: it sits in the timer heap at most once, and when
    its time comes it checks the message now in flight, re-arming itself for that message's
    own deadline if it started later. A message costs two attribute stores, not a heap push.
    """

    __slots__ = ("letter", "started", "wall", "scope", "breached", "armed", "deadlines")

    def __init__(self, scope: trio.CancelScope, deadlines: Deadlines) -> None:
        self.letter: Letter | None = None
        self.started = 0.0
        self.wall = 0.0
        self.scope = scope
        self.breached = False
        self.armed = False
        self.deadlines = deadlines

    resolved = False  # the timer always asks

    def watch(self, letter: Letter, wall: float) -> None:
        now = trio.current_time()
        self.letter, self.started, self.wall = letter, now, wall
        if not self.armed:
            self.armed = True
            self.deadlines.add(now + wall, self)

    def expire(self) -> None:
        self.armed = False
        letter = self.letter
        if letter is None or letter.done:
            return  # idle, or already answered: the next message arms it again
        due = self.started + self.wall
        if trio.current_time() >= due:
            self.breached = True
            self.scope.cancel()
        else:
            self.armed = True
            self.deadlines.add(due, self)
