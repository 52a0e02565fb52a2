"""Small pieces of low-level trio that the kernel, the sandbox worker, its kernel side, the
control server and its client share: a task parked until it is resolved, running a started
coroutine on in the same task, sending on a
raw non-blocking socket under a lock that costs no checkpoint when nobody else holds it, and
keeping the event loop polling for a moment after a request instead of going to sleep."""

from __future__ import annotations

import socket
import time
import types
from typing import Any

import outcome
import trio

__all__ = ["Parked", "carry_on", "send_locked", "send_start", "send_rest", "keep_hot", "cool_down",
           "others_runnable", "recv_polling"]

_ABANDONED = outcome.Value(None)


class Parked:
    """A task parked until someone resolves it with a value or an error.

    Resolving before the task parks is fine: it finds the result waiting. Whatever comes
    after the first resolution, or after the waiter was cancelled, is ignored.
    """

    __slots__ = ("task", "result", "parked")

    def __init__(self) -> None:
        self.task = trio.lowlevel.current_task()
        self.result: outcome.Outcome | None = None
        self.parked = False

    @property
    def resolved(self) -> bool:
        return self.result is not None

    def resolve(self, result: outcome.Outcome) -> bool:
        if self.result is not None:
            return False
        self.result = result
        if self.parked:
            trio.lowlevel.reschedule(self.task, result)
        return True

    def expire(self) -> None:  # overridden where a deadline means something
        pass

    async def wait(self) -> Any:
        if self.result is not None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return self.result.unwrap()
        self.parked = True

        def abort(_: Any) -> trio.lowlevel.Abort:
            self.result = _ABANDONED
            self.on_abandon()
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def on_abandon(self) -> None:
        pass


@types.coroutine
def carry_on(coro: Any, step: Any) -> Any:
    """Go on running `coro`, which has just yielded `step` to trio, in this task.

    A caller may start a coroutine with `coro.send(None)` to finish cheap work inline; if it
    yields instead, the task that started it must be the one that finishes it: what it
    awaits may already have registered this task to be woken."""
    while True:
        try:
            sent = yield step
        except BaseException as exc:
            try:
                step = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                step = coro.send(sent)
            except StopIteration as done:
                return done.value


async def send_locked(sock: Any, lock: trio.Lock, data: bytes | memoryview) -> None:
    """Send all of `data` on `sock`, one sender at a time, never blocking the thread (a
    blocking socket works too). Takes `lock` without a checkpoint when it is free, and waits
    for room only when the socket is full.

    Cancelled before any of the frame went out, it sends nothing. Once part of it is out, the
    rest goes out even if the sender is cancelled meanwhile (the peer would read the next
    frame as its tail): shielded, for up to FINISH_FRAME_S, then BrokenPipeError."""
    if lock.locked():
        await lock.acquire()
        sent = 0
    else:
        # Most frames go in one send, before any other task can run: then the lock need
        # not be taken at all.
        sent = _send_now(sock, data)
        if sent == len(data):
            return
        lock.acquire_nowait()
    try:
        view = memoryview(data)[sent:]
        while view and not sent:  # none of it out yet: a cancelled wait loses nothing
            await trio.lowlevel.wait_writable(sock)
            sent = _send_now(sock, view)
            view = view[sent:]
        if view:
            await _finish_frame(sock, view)
    finally:
        lock.release()


def send_start(sock: Any, lock: trio.Lock, data: bytes) -> int:
    """What of `data` goes out now, without waiting, unless another sender holds `lock`: the
    bytes sent (0: none, and nothing changed). When only a part went, this task now holds
    `lock` and must send the rest with `send_rest` before anyone else sends."""
    if lock.locked():
        return 0
    sent = _send_now(sock, data)
    if 0 < sent < len(data):
        lock.acquire_nowait()
    return sent


async def send_rest(sock: Any, lock: trio.Lock, rest: bytes | memoryview) -> None:
    """Finish a frame `send_start` sent a part of (shielded, as in `send_locked`), and let go
    of `lock`."""
    try:
        await _finish_frame(sock, memoryview(rest))
    finally:
        lock.release()


FINISH_FRAME_S = 10.0


def _send_now(sock: Any, data: bytes | memoryview) -> int:
    try:
        return sock.send(data, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return 0


async def _finish_frame(sock: Any, view: memoryview) -> None:
    with trio.CancelScope(shield=True, deadline=trio.current_time() + FINISH_FRAME_S):
        while view:
            await trio.lowlevel.wait_writable(sock)
            view = view[_send_now(sock, view):]
    if view:
        raise BrokenPipeError(f"the peer took none of the rest of a frame for {FINISH_FRAME_S:g} s")


# -- busy polling: see neuro._busy_poll ------------------------------------------------------

class _HotLoop:
    """One per trio run: a system task that, while `until` is ahead, keeps the run loop going
    round (each pass polls epoll without a timeout and runs whatever is ready) instead of
    letting it sleep in epoll."""

    def __init__(self) -> None:
        self.until = 0.0
        self.parked: Any = None

    def touch(self, window: float) -> None:
        self.until = max(self.until, time.perf_counter() + window)
        task, self.parked = self.parked, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    async def run(self) -> None:
        try:
            while True:
                self.parked = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(_abort_ok)
                while time.perf_counter() < self.until:
                    await trio.lowlevel.checkpoint()
        except trio.Cancelled:
            self.parked = None  # the run is ending
            raise


def _abort_ok(_: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.SUCCEEDED


_HOT: trio.lowlevel.RunVar = trio.lowlevel.RunVar("neuro_hot_loop")


def keep_hot(window: float) -> None:
    """Keep this trio run's loop polling, not sleeping, for `window` seconds from now.

    Call it where a frame is expected soon: after sending a request, after answering one
    (why: `neuro._busy_poll`). Other tasks run as usual meanwhile."""
    if window <= 0:
        return
    try:
        hot = _HOT.get()
    except LookupError:
        hot = _HotLoop()
        _HOT.set(hot)
        trio.lowlevel.spawn_system_task(hot.run, name="neuro.busy_poll")
    hot.touch(window)


def cool_down() -> None:
    """Stop busy polling now: this task is about to wait for another thread of this process
    (the log writer's fsync, say). A loop that polls hardly ever lets go of the GIL, so that
    thread would wait for it up to the interpreter's switch interval (5 ms)."""
    try:
        _HOT.get().until = 0.0
    except LookupError:
        pass


def others_runnable() -> int:
    """How many other tasks of this trio run are ready to run now, not counting the busy
    poller (it only keeps the loop awake)."""
    runnable = trio.lowlevel.current_statistics().tasks_runnable
    try:
        polling = _HOT.get().parked is None
    except LookupError:
        polling = False
    return runnable - 1 if polling and runnable else runnable


async def recv_polling(sock: socket.socket, size: int, window: float) -> bytes:
    """`sock.recv(size)` on a non-blocking socket, from trio: tried on each pass of the event
    loop (other tasks run between) for up to `window` seconds, then after `wait_readable`.
    The polling try is the read itself: once the data is in, no peek before the real recv."""
    if window > 0:
        end = time.perf_counter() + window
        while True:
            await trio.lowlevel.checkpoint()
            try:
                return sock.recv(size)
            except BlockingIOError:
                if time.perf_counter() >= end:
                    break
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            return sock.recv(size)
        except BlockingIOError:  # woken for nothing: wait again
            continue
