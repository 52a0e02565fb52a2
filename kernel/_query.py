"""`kernel.log`: the event log's queries as async calls, for code running in the kernel's loop."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import trio

from neuro._errors import NeuroError

from ._eventlog import EventLog

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._logquery import EventRecord, LogReader, MessageRecord, TraceNode

__all__ = ["LogQuery"]


class LogQuery:
    """The event log's query API, as `kernel.log`. Each query first flushes what is queued,
    so it sees every message accepted before it was asked."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._reader: LogReader | None = None
        self._lock = threading.Lock()

    def _require(self) -> EventLog:
        log = self._kernel._eventlog
        if log is None:
            raise NeuroError("this kernel has no event log; start it with Kernel(log='run.db')")
        return log

    async def flush(self) -> None:
        """Wait until everything logged so far is committed."""
        log = self._require()
        await trio.to_thread.run_sync(log.flush_sync, 30.0)

    async def _query(self, method: str, *args: Any, **kwargs: Any) -> Any:
        log = self._require()
        if log._thread is not None:
            await trio.to_thread.run_sync(log.flush_sync, 30.0)

        def run() -> Any:
            with self._lock:
                if self._reader is None:
                    from ._logquery import LogReader  # sqlite-utils too: only once someone asks

                    self._reader = LogReader(log.path)
                return getattr(self._reader, method)(*args, **kwargs)

        return await trio.to_thread.run_sync(run)

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
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
