"""A warm pool: started workers waiting, per policy, so a spawn does not pay for a start.

Python's start-up and imports cost ~150 ms and bubblewrap ~5 ms, a container more: a backend
keeps `size` workers of each policy started and idle, takes one on `acquire`, and starts a
replacement afterwards (never before, so the refill cannot slow the start it replaces).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Awaitable, Callable

import trio

from ._remote import RemoteWorker, WorkerProcess

__all__ = ["WarmPool"]


class WarmPool:
    def __init__(self, spawn: Callable[[Any], Awaitable[WorkerProcess]], size: int) -> None:
        self.spawn = spawn
        self.size = size
        self.idle: dict[Any, list[WorkerProcess]] = defaultdict(list)
        self.nursery: trio.Nursery | None = None
        self._filling: set[Any] = set()
        self._fills: set[trio.CancelScope] = set()  # refills in flight; cancelled at close
        self._closed = False

    async def fill(self, policy: Any) -> None:
        """Start workers for `policy` until `size` wait."""
        if policy in self._filling or self._closed:
            return
        self._filling.add(policy)
        scope = trio.CancelScope()
        self._fills.add(scope)
        try:
            with scope:  # a warm start must not outlive the backend
                while len(self.idle[policy]) < self.size and not self._closed:
                    handle = await self.spawn(policy)
                    await handle.wait_hello()
                    self.idle[policy].append(handle)
        except Exception:
            pass  # the pool is an optimisation: a failed warm start shows up on the next cold one
        finally:
            self._fills.discard(scope)
            self._filling.discard(policy)

    async def acquire(self, policy: Any) -> WorkerProcess:
        """A started worker for `policy`: a waiting one if there is one, else a cold one."""
        idle = self.idle[policy]
        while idle:
            handle = idle.pop()
            if handle.alive:
                break
        else:
            handle = await self.spawn(policy)
        await handle.wait_hello()
        if self.size and self.nursery is not None:
            self.nursery.start_soon(self.fill, policy)
        return handle

    @property
    def filling(self) -> int:
        """Refills still in flight (cancelled ones finish their current start first)."""
        return len(self._fills)

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        """A worker for `policy` with an instance of `neuro` loaded in it."""
        handle = await self.acquire(policy)
        try:
            await handle.load(neuro, policy)
        except BaseException:
            await handle.stop(0.5)
            raise
        return RemoteWorker(handle, neuro, self.nursery)

    def close(self) -> None:
        self._closed = True
        for scope in list(self._fills):
            scope.cancel()
        self.idle.clear()
