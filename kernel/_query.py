"""`kernel.log`: the event log's queries as async calls, for code running in the kernel's loop,
live followers of what the writer commits, and retention by hand (`vacuum`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, AsyncIterator

import trio

from neuro._errors import NeuroError

from ._eventlog import EventLog
from ._follow import PAGE, Committed, CommitWatch, follow

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._logquery import EventRecord, LogReader, MessageRecord, TraceNode
    from ._retention import PruneReport

__all__ = ["LogQuery"]


class LogQuery:
    """The event log's query API, as `kernel.log`. Each query first flushes what is queued,
    so it sees every message accepted before it was asked. `follow` and `wait_committed` ask
    the writer for nothing: they wait for its commits."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._reader: LogReader | None = None
        self._lock = threading.Lock()

    def _require(self) -> EventLog:
        log = self._kernel._eventlog
        if log is None:
            raise NeuroError("this kernel has no event log; start it with Kernel(log='run.db')")
        return log

    def _watch(self) -> CommitWatch:
        self._require()
        watch = self._kernel._commits
        if watch is None:
            raise NeuroError("the kernel is not running; follow its log inside `async with Kernel(...)`")
        return watch

    async def flush(self) -> None:
        """Wait until everything logged so far is committed."""
        log = self._require()
        await trio.to_thread.run_sync(log.flush_sync, 30.0)

    async def _query(self, method: str, *args: Any, **kwargs: Any) -> Any:
        log = self._require()
        if log._thread is not None:
            await trio.to_thread.run_sync(log.flush_sync, 30.0)
        return await self._read(method, *args, **kwargs)

    async def _read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A query of what is committed now, without asking the writer to flush."""
        log = self._require()

        def run() -> Any:
            with self._lock:
                if self._reader is None:
                    from ._logquery import LogReader  # sqlite-utils too: only once someone asks

                    self._reader = LogReader(log.path)
                return getattr(self._reader, method)(*args, **kwargs)

        return await trio.to_thread.run_sync(run)

    # -- live: what the writer committed ---------------------------------------------------

    def committed(self) -> Committed:
        """Where the log stands on disk as this loop last heard: the highest message id and
        event seq committed, and the commits since the kernel started."""
        return self._watch().current

    async def wait_committed(self, after_id: int | None = None, after_seq: int | None = None) -> Committed:
        """Wait until a message with an id past `after_id`, or an event with a seq past
        `after_seq`, is committed (with neither: until the next commit of anything); return
        where the log then stands. Always a checkpoint; raises KernelClosed once the log is
        closed (and LogError if its writer failed) with nothing past them committed."""
        return await self._watch().wait(after_id, after_seq)

    async def follow(self, *, events: bool = False, after_id: int | None = None, after_seq: int | None = None,
                     since: float | None = None, **filters: Any) -> AsyncIterator[Any]:
        """Rows as they are committed, oldest first, for ever: messages (MessageRecord; filters
        neuro, sender, kind, correlation, outcome) or, with `events`, events (EventRecord;
        filters name, neuro). It starts after `after_id` (`after_seq`), else at `since`, else
        at the log's start. ``async for row in kernel.log.follow(neuro="echo"): ...``

        A message shows once its row is committed, with the outcome it has by then (often
        none yet). With an `outcome` filter it shows once it has that outcome."""
        watch = self._watch()
        if events:
            method, cursor, key = "events", "after_seq", _seq
            start = after_seq

            async def wait(mark: Committed) -> Any:
                return await watch.wait(after_seq=mark.event_seq)
        else:
            method, cursor, key = "messages", "after_id", _id
            start = after_id
            outcome = filters.get("outcome") is not None

            async def wait(mark: Committed) -> Any:
                # An outcome comes in a later commit than its message: any commit may be news.
                if outcome:
                    return await watch.wait(after_commits=mark.commits)
                return await watch.wait(after_id=mark.message_id)

        async def read(after: int | None, since: float | None) -> list[Any]:
            return await self._read(method, **filters, since=since, limit=PAGE, **{cursor: after})

        async for row in follow(read, key, wait, lambda: watch.current, after=start, since=since, page=PAGE):
            yield row

    # -- retention -------------------------------------------------------------------------

    async def vacuum(self, *, keep: Any = None, dry_run: bool = False, compact: bool = False,
                     actor: str = "api") -> PruneReport:
        """Prune the log now, by `keep` (``"30d"``, ``"10GB"``, ``"30d,10GB"``, a Retention;
        default: the kernel's `log_retention`), in small steps as the background task does;
        `dry_run` says what would go and removes nothing; `compact` then runs VACUUM, which
        rewrites the file (durable senders wait for it). Returns a PruneReport; what went is a
        `log.pruned` event."""
        from ._retention import parse_retention

        self._require()
        self._kernel._check_open()
        retainer = self._kernel._retention
        policy = retainer.policy if keep is None else parse_retention(keep, "keep")
        if not isinstance(actor, str):
            raise TypeError(f"actor must be a str naming who asked, got {type(actor).__name__}")
        return await retainer.apply(policy, dry_run=bool(dry_run), compact=bool(compact), actor=actor)

    async def messages(self, **filters: Any) -> list[MessageRecord]:
        """Messages with their outcomes; filters: neuro, sender, kind, correlation, outcome
        (``handled``, ``error``, ``dead``, ``none``), since, until, after_id, limit, newest_first."""
        return await self._query("messages", **filters)

    async def message(self, message_id: int) -> MessageRecord | None:
        return await self._query("message", message_id)

    async def trace(self, message_id: int) -> TraceNode | None:
        """A message and, recursively, every message sent while handling it."""
        return await self._query("trace", message_id)

    async def events(self, **filters: Any) -> list[EventRecord]:
        """Events; filters: name (``*`` globs), neuro, since, until, after_seq, limit, newest_first."""
        return await self._query("events", **filters)

    async def outcome_counts(self) -> dict[str, dict[str, int]]:
        return await self._query("outcome_counts")

    async def outcomes_per_message(self) -> dict[int, int]:
        return await self._query("outcomes_per_message")

    def _close(self) -> None:
        if self._kernel._commits is not None:  # followers still waiting learn it is over
            self._kernel._commits.close()
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


def _id(row: Any) -> int:
    return row.id


def _seq(row: Any) -> int:
    return row.seq
