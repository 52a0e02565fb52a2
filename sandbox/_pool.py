"""A warm pool: started workers waiting, per policy, so a spawn does not pay for a start.

Python's start-up and imports cost ~150 ms and bubblewrap ~5 ms, a container more: a backend
keeps `size` workers of each policy started and idle, takes one on `acquire`, and starts a
replacement afterwards (never before, so the refill cannot slow the start it replaces).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Awaitable, Callable

import trio

from ._protocol import WorkerDied, WorkerProtocol
from ._remote import RemoteWorker

__all__ = ["WarmPool", "DescribeFailed"]

# A worker that described a neuro keeps its class loaded for the start that usually follows
# at once; past these, it is stopped (an unused one must not hold a sandbox for long).
ADOPT_SECONDS = 30.0
ADOPT_MAX = 8


class DescribeFailed(Exception):
    """The neuro's files did not load in the sandbox: `error`, `file`, `line`, `traceback`."""

    def __init__(self, error: str, file: str = "", line: int = 0, traceback: str = "") -> None:
        super().__init__(error)
        self.error, self.file, self.line, self.traceback = error, file, line, traceback


class WarmPool:
    def __init__(self, spawn: Callable[[Any], Awaitable[WorkerProtocol]], size: int) -> None:
        self.spawn = spawn
        self.size = size
        self.idle: dict[Any, list[WorkerProtocol]] = defaultdict(list)
        self.nursery: trio.Nursery | None = None
        self._filling: set[Any] = set()
        self._fills: set[trio.CancelScope] = set()  # refills in flight; cancelled at close
        self._closed = False
        # (policy, version) -> (worker with that version's class imported, trio time it did)
        self._described: dict[tuple[Any, str], tuple[WorkerProtocol, float]] = {}

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

    async def acquire(self, policy: Any, refill: bool = True) -> WorkerProtocol:
        """A started worker for `policy`: a waiting one if there is one, else a cold one.
        Then a replacement is started (`refill`), unless the caller does that itself later."""
        idle = self.idle[policy]
        while idle:
            handle = idle.pop()
            if handle.alive:
                break
        else:
            handle = await self.spawn(policy)
        await handle.wait_hello()
        if refill:
            self._refill(policy)
        return handle

    def _refill(self, policy: Any) -> None:
        if self.size and self.nursery is not None:
            self.nursery.start_soon(self.fill, policy)

    @property
    def filling(self) -> int:
        """Refills still in flight (cancelled ones finish their current start first)."""
        return len(self._fills)

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        """Import `source` in a fresh worker of `policy` and return its manifest as data (an
        encoded Description). An import that runs past `deadline` seconds, exits or breaks
        the protocol costs only that worker. Raises DescribeFailed saying why."""
        from ._frames import Describe

        # Its replacement starts once this worker is taken (by the start that follows, or
        # dropped): a Python start beside the describe and the swap would slow both.
        handle = await self.acquire(policy, refill=False)
        ok = False
        try:
            with trio.move_on_after(deadline) as scope:
                described = await handle.describe(Describe(source=source, version=version, origin=origin))
            if scope.cancelled_caught:
                raise DescribeFailed(f"importing it took longer than {deadline:g} s (the loader's wall time), so "
                                     "its sandbox was killed: move slow work out of the module's top level")
            if not described.ok:
                raise DescribeFailed(described.error, described.file, described.line, described.traceback)
            ok = True
        except WorkerDied as e:
            raise DescribeFailed(f"importing it ended its sandbox: {e}") from None
        finally:
            if not ok:
                self._refill(policy)
                await handle.stop(0.2)
        self._adopt(policy, version, handle)
        return described.description

    def _adopt(self, policy: Any, version: str, handle: WorkerProtocol) -> None:
        now = trio.current_time()
        for key, (old, at) in list(self._described.items()):
            if key == (policy, version) or now - at > ADOPT_SECONDS or len(self._described) >= ADOPT_MAX:
                del self._described[key]
                self._discard(old)
                self._refill(key[0])
        self._described[(policy, version)] = (handle, now)

    def _discard(self, handle: WorkerProtocol) -> None:
        if self.nursery is not None:
            self.nursery.start_soon(handle.stop, 0.2)
        else:  # pragma: no cover - the pool always has a nursery once bound
            handle.kill()

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        """A worker for `policy` with an instance of `neuro` loaded in it (the worker that
        described this version, when it is still waiting)."""
        adopted = self._described.pop((policy, neuro.version()), None)
        if adopted is not None and not adopted[0].alive:
            self._refill(policy)
            adopted = None
        handle = adopted[0] if adopted is not None else await self.acquire(policy)
        try:
            await handle.load(neuro, policy)
        except BaseException:
            await handle.stop(0.5)
            raise
        finally:
            if adopted is not None:
                self._refill(policy)  # the describe left this to the start that took its worker
        return RemoteWorker(handle, neuro)

    def close(self) -> None:
        self._closed = True
        for handle, _at in self._described.values():
            handle.kill()
        self._described.clear()
        for scope in list(self._fills):
            scope.cancel()
        self.idle.clear()
