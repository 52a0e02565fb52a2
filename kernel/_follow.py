"""Live notification of committed rows: followers wait for the log's writer instead of polling.

After each commit the log's writer says what is now on disk (`EventLog.on_committed`, from
the thread that committed: the writer's, or the event loop's for a durable row it committed
itself): the highest message id and event seq it wrote. `CommitWatch` turns that into one
wakeup on the kernel's trio loop however many commits came meanwhile (at most one
`TrioToken.run_sync_soon` pending), and wakes every task in `wait`. A follower reads what is
on disk, waits for a commit past what it had seen, and reads again (`follow`): no polling,
and no flush asked of the writer. Live views used to poll every 0.2 s and force a flush each
time, so each follower made the writer commit small batches, which cost every logged call.

A process without a kernel (a follower on the file) has no writer to hear from. It polls
`PRAGMA data_version` instead (`wait_for_change`): the number changes when another connection
commits, and reading it costs a look at the WAL index in shared memory (about 3 µs), not a
query; `follow_file` is the follower built on it.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, AsyncIterator, Awaitable, Callable

import msgspec
import trio

from neuro._errors import KernelClosed, LogError

from ._eventlog import high_marks

__all__ = ["Committed", "CommitWatch", "high_marks", "follow", "data_version", "wait_for_change", "follow_file"]

PAGE = 500  # rows a follower reads at a time


class Committed(msgspec.Struct, frozen=True):
    """What the log holds on disk: the highest message id and event seq committed, and how
    many commits were announced since the kernel opened the log."""

    message_id: int = 0
    event_seq: int = 0
    commits: int = 0


class CommitWatch:
    """What the writer has committed, as the kernel's trio loop sees it.

    `note` is for any thread (the writer's, after a commit); `current` and `wait` for the loop.
    """

    def __init__(self, token: trio.lowlevel.TrioToken, marks: tuple[int, int] = (0, 0)) -> None:
        self._token = token
        self._lock = threading.Lock()
        self._id, self._seq = marks
        self._commits = 0
        self._scheduled = False  # a wakeup is on its way to the loop
        self._current = Committed(self._id, self._seq, 0)
        self._lot = trio.lowlevel.ParkingLot()
        self._closed: BaseException | None = None
        self.notes = 0  # commits announced
        self.wakeups = 0  # wakeups run on the loop: at most one per batch of notes

    @classmethod
    def attach(cls, log: Any) -> CommitWatch:
        """A watch of the open EventLog `log`, for the trio loop this is called from: it hears
        every commit (`on_committed`), and the writer's failure too (after the kernel's own
        `on_failure`), so that no follower waits for ever on a writer that stopped."""
        token = trio.lowlevel.current_trio_token()
        watch = cls(token, log.marks)
        log.on_committed = watch.note
        failed = log.on_failure

        def on_failure(error: BaseException) -> None:
            if failed is not None:
                failed(error)
            try:
                token.run_sync_soon(watch.close, error)
            except trio.RunFinishedError:
                pass

        log.on_failure = on_failure
        return watch

    @property
    def current(self) -> Committed:
        return self._current

    def note(self, message_id: int, event_seq: int) -> None:
        """From the thread that committed: `message_id` and `event_seq` (0: none) are on disk."""
        with self._lock:
            if message_id > self._id:
                self._id = message_id
            if event_seq > self._seq:
                self._seq = event_seq
            self._commits += 1
            self.notes += 1
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._token.run_sync_soon(self._wake)
        except trio.RunFinishedError:
            pass  # the loop has ended: nobody waits any more

    def _wake(self) -> None:
        with self._lock:  # notes after this schedule another wakeup
            self._scheduled = False
            self._current = Committed(self._id, self._seq, self._commits)
        self.wakeups += 1
        self._lot.unpark_all()

    def close(self, error: BaseException | None = None) -> None:
        """No more commits will come (the log closed, or its writer failed with `error`):
        waiters get KernelClosed, or a LogError naming the writer's error."""
        if self._closed is None:
            self._closed = (LogError(f"the event log writer failed ({error!r}); no more rows will be committed")
                            if error is not None else KernelClosed("the kernel stopped; its event log is closed"))
        self._lot.unpark_all()

    async def wait(self, after_id: int | None = None, after_seq: int | None = None,
                   after_commits: int | None = None) -> Committed:
        """Wait until a message past `after_id`, an event past `after_seq`, or a commit past
        the `after_commits`-th is on disk (with none of them: the next commit after this
        call); return where the log then stands. Always a checkpoint."""
        if after_id is None and after_seq is None and after_commits is None:
            after_commits = self._current.commits

        def done(c: Committed) -> bool:
            return ((after_id is not None and c.message_id > after_id)
                    or (after_seq is not None and c.event_seq > after_seq)
                    or (after_commits is not None and c.commits > after_commits))

        if done(self._current):
            await trio.lowlevel.checkpoint()
            return self._current
        while True:
            if self._closed is not None:
                await trio.lowlevel.checkpoint()
                raise self._closed
            await self._lot.park()
            if done(self._current):
                return self._current


async def follow(read: Callable[[int | None, float | None], Awaitable[list[Any]]], key: Callable[[Any], int],
                 wait: Callable[[Committed], Awaitable[Any]], current: Callable[[], Committed], *,
                 after: int | None = None, since: float | None = None, page: int = PAGE) -> AsyncIterator[Any]:
    """Rows as they are committed, oldest first, for ever: `read(after, since)` reads a page of
    at most `page` rows past `after` (or from `since` while nothing was read), `key` is a row's
    cursor (its id or seq), and `wait(mark)` returns once something past `mark` is committed.

    The mark is taken before the read: a commit that lands during the read wakes the wait at
    once, so nothing committed is missed, and a commit of rows the filter does not match costs
    one read, not a loop."""
    while True:
        mark = current()
        rows = await read(after, since if after is None else None)
        for row in rows:
            yield row
            after = key(row)
        if len(rows) < page:
            await wait(mark)


# -- a follower on the file, without a kernel ----------------------------------------------------


def data_version(conn: sqlite3.Connection) -> int:
    """SQLite's `data_version` of `conn`: it changes when another connection commits."""
    return conn.execute("PRAGMA data_version").fetchone()[0]


async def wait_for_change(conn: sqlite3.Connection, version: int, *, interval: float = 0.01) -> int:
    """Wait until another connection (a kernel in another process) has committed to the file
    since `conn` read `version` (from `data_version`); return the new version. Polls every
    `interval` seconds: the pragma reads shared memory, so it runs on the loop. Always a checkpoint."""
    while True:
        now = data_version(conn)
        if now != version:
            await trio.lowlevel.checkpoint()
            return now
        await trio.sleep(interval)


async def follow_file(reader: Any, *, events: bool = False, after: int | None = None, since: float | None = None,
                      interval: float = 0.01, page: int = PAGE, **filters: Any) -> AsyncIterator[Any]:
    """Rows of a log file as another process commits them (messages with `filters`, or events
    with `events`), oldest first, for ever; `reader` is a `LogReader` on the file. Its queries
    run in a worker thread, one at a time."""
    conn = reader.conn  # LogReader's read-only connection
    lock = trio.Lock()
    method, cursor = ("events", "after_seq") if events else ("messages", "after_id")

    async def read(after: int | None, since: float | None) -> list[Any]:
        async with lock:
            return await trio.to_thread.run_sync(
                lambda: getattr(reader, method)(**filters, since=since, limit=page, **{cursor: after}))

    def current() -> Committed:  # the file's data_version stands in for the commit count
        return Committed(commits=data_version(conn))

    async def wait(mark: Committed) -> None:
        await wait_for_change(conn, mark.commits, interval=interval)

    key = (lambda r: r.seq) if events else (lambda r: r.id)
    async for row in follow(read, key, wait, current, after=after, since=since, page=page):
        yield row
