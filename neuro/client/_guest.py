"""An embedded kernel under asyncio: trio runs as a guest on the asyncio loop.

The kernel is trio code. Under trio, `connect(embedded=True)` runs it in the caller's trio run
(`Local`). Under asyncio (a textual app, a script run with ``asyncio.run``) there is no trio
run, so trio starts one as a *guest* of the asyncio loop (``trio.lowlevel.start_guest_run``):
both loops share the thread, trio waits for I/O in a thread of its own, and code on either
side may call the other's synchronous operations directly. So the bridge is small:

    asyncio task                          trio guest run
    request(frame) -- send_nowait(job) -->  session task: start_soon(job)
                   <-- future.set_result --  job: await Local.request(frame)

Each client is a session: one trio task that opens a `Local` (the same kernel, the same
`Ops`, the same exceptions as under trio), runs the client's jobs, and closes it. trio allows
one run per thread, so the sessions on one asyncio loop share one guest run, which ends when
the last of them closes; `aclose` returns once the kernel has stopped and, for the last
session, once the guest run has finished.

A request the asyncio side cancels cancels its trio job. A stream (``subscribe``, ``tail``)
is a trio task that hands over one event per pull, so nothing is buffered or dropped, as in
the trio client; leaving the block ends the task.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Callable

import trio

from neuro._errors import KernelClosed, NeuroError

__all__ = ["Embedded", "Guest"]

_END = object()  # a stream's last pull


class Embedded:
    """An embedded kernel's transport for the loop `open()` runs in: `Local` under trio,
    `Local` inside a trio guest run (`Guest`) under asyncio."""

    remote = False

    def __init__(self, local: Any) -> None:
        self.local = local
        self.inner: Any = local

    async def open(self) -> None:
        import sniffio

        flavour = sniffio.current_async_library()
        if flavour == "asyncio":
            self.inner = Guest(self.local)
        elif flavour != "trio":
            raise NeuroError(f"connect(embedded=True) runs under trio or asyncio, not {flavour}: "
                             "run the kernel as a daemon (`neuro daemon start`) and connect() to its socket")
        await self.inner.open()
        self.request, self.stream = self.inner.request, self.inner.stream  # no lookup per call

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _settle(future: asyncio.Future, value: Any = None, error: BaseException | None = None) -> None:
    """Give `future` its outcome unless it has one (its awaiter may have cancelled it)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _closed() -> KernelClosed:
    return KernelClosed("the embedded kernel stopped before answering: the client was closed meanwhile")


class _Host:
    """The trio guest run on one asyncio loop: a nursery that runs each open session's task."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sessions = 0
        self.finished: asyncio.Future = loop.create_future()
        self._starts, starts = trio.open_memory_channel[Callable[[], Awaitable[None]]](math.inf)
        try:
            trio.lowlevel.start_guest_run(
                self._main, starts, run_sync_soon_threadsafe=loop.call_soon_threadsafe,
                run_sync_soon_not_threadsafe=loop.call_soon, done_callback=partial(_settle, self.finished),
                host_uses_signal_set_wakeup_fd=True)
        except RuntimeError as e:
            raise NeuroError(f"connect(embedded=True) cannot start trio as a guest of this asyncio loop ({e}): "
                             "a trio run is already active in this thread; open the client from a trio task, "
                             "where the kernel runs in that run") from None

    @staticmethod
    async def _main(starts: trio.MemoryReceiveChannel) -> None:
        async with trio.open_nursery() as nursery:
            async with starts:
                async for session in starts:
                    nursery.start_soon(session)

    def start(self, session: Callable[[], Awaitable[None]]) -> None:
        self.sessions += 1
        self._starts.send_nowait(session)

    async def leave(self) -> None:
        """One session fewer; the last one ends the guest run and waits until it has."""
        self.sessions -= 1
        if self.sessions == 0:
            self._starts.close()
            (await asyncio.shield(self.finished)).unwrap()


_HOSTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Host] = weakref.WeakKeyDictionary()


async def _host() -> _Host:
    """This loop's guest run: the running one, or a new one once a closing one has finished."""
    loop = asyncio.get_running_loop()
    host = _HOSTS.get(loop)
    if host is not None and host.sessions == 0:  # its last session is closing it
        await asyncio.shield(host.finished)
        host = None
    if host is None:
        host = _HOSTS[loop] = _Host(loop)
    return host


class Guest:
    """`Local`, driven from asyncio: its kernel runs in this loop's trio guest run."""

    remote = False

    def __init__(self, local: Any) -> None:
        self._local = local
        self._jobs: trio.MemorySendChannel | None = None

    @property
    def kernel(self) -> Any:
        """The kernel: its plain methods (``ps``, ``info``) work here; its async ones are trio's."""
        return self._local.kernel

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._host = await _host()
        self._jobs, jobs = trio.open_memory_channel[Callable[[], Awaitable[None]]](math.inf)
        opened, self._stopped = loop.create_future(), loop.create_future()
        self._host.start(partial(self._session, jobs, opened))
        try:
            await opened
        except BaseException:
            await self.aclose()
            raise

    async def _session(self, jobs: trio.MemoryReceiveChannel, opened: asyncio.Future) -> None:
        """The client's life in trio: open the kernel, run the jobs, close it. The jobs run in a
        nursery around the kernel, so the calls in flight when the client closes see the kernel
        stop, as they would under trio."""
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await self._local.open()
                except Exception as e:
                    _settle(opened, error=e)
                    return
                _settle(opened)
                async with jobs:
                    async for job in jobs:
                        nursery.start_soon(job)
                try:
                    await self._local.aclose()
                except Exception as e:
                    _settle(self._stopped, error=e)
                nursery.cancel_scope.cancel()  # what still waits on the stopped kernel
        finally:
            _settle(opened, error=_closed())
            _settle(self._stopped)

    async def aclose(self) -> None:
        if self._jobs is None:
            return
        jobs, self._jobs = self._jobs, None
        jobs.close()
        try:
            await asyncio.shield(self._stopped)
        finally:
            await self._host.leave()

    def _submit(self, job: Callable[[], Awaitable[None]]) -> None:
        closed = KernelClosed("the embedded client is closed: open a new one with "
                              "`async with neuro.connect(embedded=True)`")
        if self._jobs is None or self._stopped.done():
            raise closed
        try:
            self._jobs.send_nowait(job)
        except trio.BrokenResourceError:
            raise closed from None

    async def request(self, frame: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        scope = trio.CancelScope()
        self._submit(partial(_answer, self._local.request, frame, future, scope))
        try:
            return await future
        except asyncio.CancelledError:
            scope.cancel()  # guest mode: the host may call trio's synchronous operations
            raise

    @asynccontextmanager
    async def stream(self, frame: Any) -> AsyncIterator[AsyncIterator[Any]]:
        live = asyncio.get_running_loop().create_future()
        pulls, pulled = trio.open_memory_channel[asyncio.Future](math.inf)
        scope = trio.CancelScope()
        self._submit(partial(self._pump, frame, live, pulled, scope))
        try:
            await live
            yield _pull(pulls)
        finally:
            pulls.close()
            scope.cancel()

    async def _pump(self, frame: Any, live: asyncio.Future, pulled: trio.MemoryReceiveChannel,
                    scope: trio.CancelScope) -> None:
        """Runs the stream in trio; each future from `pulled` gets the next event, or `_END`
        when the stream ends (also when the kernel stops under it, as a trio subscriber's does)."""
        future: asyncio.Future | None = None
        try:
            with scope:
                async with self._local.stream(frame) as events, pulled:
                    _settle(live)
                    async for future in pulled:
                        try:
                            item = await events.__anext__()
                        except StopAsyncIteration:
                            item = _END
                        except Exception as e:
                            _settle(future, error=e)
                            return
                        _settle(future, item)
                        if item is _END:
                            return
        except Exception as e:
            _settle(live, error=e)
        finally:
            _settle(live, error=_closed())
            if future is not None:
                _settle(future, _END)


async def _answer(fn: Callable[[Any], Awaitable[Any]], arg: Any, future: asyncio.Future,
                  scope: trio.CancelScope) -> None:
    """A job: `fn(arg)` in trio, its outcome to `future`."""
    try:
        with scope:
            _settle(future, await fn(arg))
    except Exception as e:
        _settle(future, error=e)
    finally:
        _settle(future, error=_closed())


async def _pull(pulls: trio.MemorySendChannel) -> AsyncIterator[Any]:
    loop = asyncio.get_running_loop()
    while True:
        future = loop.create_future()
        try:
            pulls.send_nowait(future)
        except (trio.ClosedResourceError, trio.BrokenResourceError):  # the block was left; the stream ended
            return
        item = await future
        if item is _END:
            return
        yield item
