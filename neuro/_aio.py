"""Two small pieces of low-level trio that the sandbox worker, its kernel side and the
control server share: running a started coroutine on in the same task, and sending on a
raw non-blocking socket under a lock that costs no checkpoint when nobody else holds it."""

from __future__ import annotations

import types
from typing import Any

import trio

__all__ = ["carry_on", "send_locked"]


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
    """Send all of `data` on non-blocking `sock`, one sender at a time. Takes `lock` without
    a checkpoint when it is free, and waits for room only when the socket is full."""
    if lock.locked():
        await lock.acquire()
    else:
        lock.acquire_nowait()
    try:
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            view = view[sent:]
    finally:
        lock.release()
