"""Waiting for replies, and every deadline in the kernel kept by one timer task.

A cancel scope per call (`fail_after`) costs about a third of the call rate, so callers
park with `wait_task_rescheduled` and one task wakes whoever's deadline has passed.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Any, Callable

import outcome
import trio

from neuro._aio import Parked

__all__ = ["Parked", "PendingCall", "Deadlines"]

class PendingCall(Parked):
    """A caller waiting for the reply to message `id`; a timeout resolves it with an error."""

    __slots__ = ("make_timeout", "labels", "callee")

    def __init__(self, make_timeout: Callable[[], BaseException]) -> None:
        super().__init__()
        self.make_timeout = make_timeout
        self.labels: frozenset[str] = frozenset()  # the callee's taint when its handler gave the outcome
        self.callee: Any = None  # the Process that gave it (kernel/_router.py's _finish)

    def expire(self) -> None:
        self.resolve(outcome.Error(self.make_timeout()))


class Deadlines:
    """A heap of (deadline, item); one task calls `item.expire()` when its time comes.

    Items already resolved stay in the heap until their time or the next compaction (when the
    heap has doubled), whichever is first: cheaper than removing each as it resolves.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Parked]] = []
        self._seq = itertools.count()
        self._scope: trio.CancelScope | None = None
        self._compact_at = 4096

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, when: float, item: Parked) -> None:
        if when == math.inf:
            return
        if when != when:
            # Every timeout is checked where it enters; this keeps a NaN that slipped past
            # from reaching the timer task, whose failure would end the kernel.
            raise ValueError("kernel bug: a deadline is NaN; every timeout must be checked where it enters")
        heap = self._heap
        if len(heap) >= self._compact_at:
            # Most entries are calls answered long ago: drop them, so the heap (and what the
            # garbage collector walks) stays the size of what is really waiting.
            heap[:] = [entry for entry in heap if not entry[2].resolved]
            heapq.heapify(heap)
            self._compact_at = max(4096, 2 * len(heap))
        heapq.heappush(heap, (when, next(self._seq), item))
        scope = self._scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when

    async def run(self) -> None:
        heap = self._heap
        while True:
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)[2]
                if not item.resolved:
                    item.expire()
