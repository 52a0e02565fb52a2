"""The event log's writer: SQLite in WAL mode, written in batches by one thread.

The event loop only appends rows (untracked structs) to thread-safe deques; a writer thread drains them every
`flush_interval` seconds (sooner when a batch fills) in one transaction, through the raw
connection (sqlite-utils' dict rows cost 3-4x more on this path); the hot tables' rows go
in as JSON that SQLite takes apart without the GIL (`_bulkinsert`). The schema and its
migrations are `_logschema`'s; reading goes through `_logquery` with sqlite-utils.

Durability: `synchronous=NORMAL` in WAL mode survives a crash of this process with nothing
lost that was committed; on power loss the last committed batches may roll back (SQLite
docs, "WAL mode ... synchronous=NORMAL"). Messages that must survive that are written with
`synchronous=FULL` before they are acknowledged (the daemon's `durable=True`): by the event
loop itself when nothing else is waiting to run and the writer is between transactions, else
by the writer, in a group with every other durable message waiting then.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from typing import Any

import msgspec

from neuro._errors import LogError

from ._bulkinsert import CHUNK, RowInserter, insert_bound
from ._envelope import Envelope
from ._logschema import CHECKPOINT_PAGES, open_database
from ._walspace import WalSpace

__all__ = ["EventLog", "MessageRow", "OutcomeRow"]


class MessageColumns(msgspec.Struct):
    """The columns of `messages` other than the payload: shared by the row the writer inserts
    and the record a query returns."""

    id: int
    time: float
    sender: str
    recipient: str
    kind: str
    topic: str | None
    correlation: int
    parent: int | None
    deadline: float | None


class MessageRow(MessageColumns, array_like=True, gc=False):
    """A row of `messages` as it waits for the writer; the payload waits beside it."""

    payload_size: int


class DurableRow(MessageRow, array_like=True, gc=False):
    """A durable message's row: its privacy labels too, for its redelivery after a crash."""

    labels: str | None = None  # JSON list; None: none


class OutcomeRow(msgspec.Struct, array_like=True, gc=False):
    """A row of `outcomes` as it waits for the writer; the reply waits beside it."""

    id: int
    time: float
    outcome: str
    reason: str | None
    neuro: str
    latency: float | None
    reply_size: int | None
    error: str | None
    version: str | None = None  # the handler's version; None when no handler ran
    service: float | None = None  # seconds from the handler's start to this outcome


class EventLog:
    """Batches rows into a SQLite file from a writer thread. `append_*` are for the event loop."""

    # Past this many queued rows, senders wait for the writer (a slow disk must not make
    # the backlog grow without bound); about 100 MB of rows at worst.
    HIGH_WATER = 200_000

    def __init__(self, path: str, *, flush_interval: float = 0.05, batch_size: int = 8192) -> None:
        self.path = str(path)
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        # Rows and their blobs, in step: a blob is appended before its row, and the writer
        # takes as many blobs as rows it took.
        self._messages: deque[MessageRow] = deque()
        self._payloads: deque[bytes] = deque()
        self._outcomes: deque[OutcomeRow] = deque()
        self._replies: deque[bytes | None] = deque()
        self._events: deque[tuple[float, str, str | None, str, str]] = deque()
        self._versions: deque[tuple[str, str, float, str, str | None, bytes | None, str | None, str | None]] = deque()
        # Durable messages: committed with synchronous=FULL, in groups, before they are acked.
        self._durable: deque[tuple[int, MessageRow, bytes]] = deque()
        self._tickets = 0
        self.durable_committed = 0
        self.on_durable: Any = None  # called from the writer thread with the last ticket committed
        self.on_failure: Any = None  # called from the writer thread, once, when it stops on an error
        # Called after every commit, from the thread that made it (the writer's, or the event
        # loop's in commit_durable_now), with the highest message id and event seq it wrote
        # (0: none); `marks` is where the file stood when it was opened (see _follow).
        self.on_committed: Any = None
        self.marks = (0, 0)
        self._forced_flushes = 0  # flush_sync calls: a reader that wanted rows now
        self._wake = threading.Event()
        # Set with _wake when the next pass must write everything queued, not only durable rows.
        self._flush_wanted = False
        self._wal: WalSpace | None = None
        # Held by the writer thread through each of its transactions; the event loop commits a
        # durable row itself (`commit_durable_now`) only when it gets this without waiting.
        self._writing = threading.Lock()
        self._now: sqlite3.Connection | None = None
        self._cond = threading.Condition()
        self._passes_started = 0
        self._passes_done = 0
        self._closing = False
        self._stopped = True  # no writer thread runs (not opened yet, or it has ended)
        self._error: BaseException | None = None
        self._rows_written = 0
        self._durable_on_loop = 0  # durable rows committed by commit_durable_now
        self._last_durable = -1e9  # monotonic time of the last durable commit on the event loop
        self._inline_after = 0.0  # no commits on the event loop before this (a slow disk)
        self._slow_pause = 0.0  # the last such pause, doubled while commits stay slow
        self._durable_groups = 0  # durable commits by the writer, each for one or more rows
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._run_id = 0  # this kernel's row in `runs`

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> tuple[int, dict[str, list[Any]]]:
        """Open the file and start the writer; first give every message a crash left without
        an outcome its outcome. Returns (dead-lettered, durable ones to redeliver by neuro)."""
        from ._recovery import recover, start_run

        self._conn = open_database(self.path)
        recovered = recover(self._conn)
        self._run_id = start_run(self._conn)
        self.marks = high_marks(self._conn)
        self._wal = WalSpace(self.path, self._conn, CHECKPOINT_PAGES)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="neuro-log-writer", daemon=True)
        self._thread.start()
        return recovered

    def close(self) -> None:
        """Write everything still queued, stop the thread, close the file."""
        if self._thread is None:
            return
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._thread = None
        if self._conn is not None and self._error is None:
            from ._recovery import end_run

            end_run(self._conn, self._run_id)  # everything written: the next start need not scan
        if self._now is not None:
            self._now.close()
            self._now = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._wal is not None:
            self._wal.close()
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise LogError(f"the event log writer failed: {self._error!r}") from self._error

    # -- the event loop's side: append only ------------------------------------------------

    def append_message(self, env: Envelope, payload: bytes) -> None:
        """Queue the row of a message (`payload` is its encoded payload)."""
        self._payloads.append(payload)
        self._messages.append(_message_row(env, payload))
        if len(self._messages) >= self.batch_size:
            self._flush_wanted = True
            self._wake.set()

    def append_durable(self, env: Envelope, payload: bytes) -> int:
        """Queue a durable message's row; returns the ticket that `durable_committed` reaches
        once it is on disk. The writer starts a pass at once."""
        if self._thread is None:
            raise LogError(f"durable message {env.id} was not accepted: the event log is closed")
        self._tickets += 1
        self._durable.append((self._tickets, _durable_row(env, payload), payload))
        self._wake.set()
        return self._tickets

    def commit_durable_now(self, env: Envelope, payload: bytes) -> bool:
        """Commit a durable message's row from the calling thread, with synchronous=FULL, if
        that can start at once; True when it is on disk, False when the writer is busy (then
        use `append_durable`). Raises LogError if the commit failed.

        For a lone durable sender this saves two thread hand-offs, each a wake-up of a sleeping
        thread, and the GIL contention between them: the event loop waits out one fsync
        instead, which it would have slept through anyway when it has nothing else to do.
        Not while the disk is slow: a commit that took over _SLOW_COMMIT_S turns this off for
        _FIRST_SLOW_PAUSE_S, twice as long after each slow one in a row up to _SLOW_PAUSE_S,
        and the writer thread waits for the disk instead of the whole loop."""
        if (self._thread is None or self._closing or self._durable or time.monotonic() < self._inline_after
                or not self._writing.acquire(blocking=False)):
            return False
        started = time.monotonic()
        try:
            if self._now is None:  # opened at the first durable send: most kernels never make one
                self._now = _open_durable_connection(self.path)
            now = self._now
            with now:  # BEGIN (no write lock yet): the insert takes it or fails at once as busy
                _DURABLE_MESSAGES.insert(now, [_durable_row(env, payload)], [payload])
        except sqlite3.OperationalError as e:
            # Another process writes the log: queue it for the writer (any busy code, such as
            # SQLITE_BUSY_SNAPSHOT when a commit came between our read and our write).
            if getattr(e, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY:
                return False
            raise LogError(f"durable message {env.id} was not committed to the event log: {e}") from e
        except sqlite3.Error as e:
            raise LogError(f"durable message {env.id} was not committed to the event log: {e}") from e
        finally:
            self._writing.release()
        self._durable_on_loop += 1  # its own counter: the writer thread adds to _rows_written
        self._last_durable = done = time.monotonic()
        if done - started > _SLOW_COMMIT_S:
            # One slow fsync is most often a burst of the neighbours' writes: a short pause, then
            # the next commit here tries the disk again; while it stays slow, each pause doubles.
            self._slow_pause = min(2 * self._slow_pause, _SLOW_PAUSE_S) if self._slow_pause else _FIRST_SLOW_PAUSE_S
            self._inline_after = done + self._slow_pause
        else:
            self._slow_pause = 0.0
        if self.on_committed is not None:
            self.on_committed(env.id, 0)
        return True

    @property
    def overloaded(self) -> bool:
        return len(self._messages) + len(self._outcomes) > self.HIGH_WATER

    def append_outcome(self, message_id: int, at: float, outcome: str, reason: str | None, neuro: str,
                       latency: float | None, reply: bytes | None, error: str | None, *,
                       version: str | None = None, service: float | None = None) -> None:
        """Queue a message's outcome: handled, error or dead (with `reason`); `version` is the
        version of the neuro whose handler ran and `service` the seconds it ran (None: none ran)."""
        self._replies.append(reply)
        self._outcomes.append(OutcomeRow(message_id, at, outcome, reason, neuro, latency,
                                         None if reply is None else len(reply), error, version, service))

    def append_event(self, name: str, neuro: str | None, actor: str, data: dict[str, Any]) -> None:
        self._events.append((time.time(), name, neuro, actor, _encode_json(data).decode()))

    def append_version(self, neuro: str, version: str, origin: str, parent: str | None,
                       source: bytes | None, *, lineage: dict[str, Any] | None = None,
                       artifacts: dict[str, str] | None = None) -> None:
        """A row for the version store (kept once per neuro and version: the first row wins).
        `lineage` (parents, origin, teacher, trace window, gate figures, notes) and `artifacts`
        (relative path -> sha256 of the bytes, stored with `ArtifactStore`) are kept as JSON."""
        self._versions.append((neuro, version, time.time(), origin, parent, source,
                               None if lineage is None else _encode_json(lineage).decode(),
                               None if artifacts is None else _encode_json(artifacts).decode()))

    def flush_sync(self, timeout: float | None = None) -> None:
        """Block until everything appended before this call is committed."""
        self._forced_flushes += 1
        with self._cond:
            target = self._passes_started + 1
            self._flush_wanted = True
            self._wake.set()
            ok = self._cond.wait_for(lambda: self._passes_done >= target or self._error is not None
                                     or self._stopped, timeout)
            done = self._passes_done >= target
        self.raise_if_failed()
        if ok and not done:  # the writer ended (the log closes): its last pass wrote all it had
            if self._pending():
                raise LogError("the event log is closed: rows appended after its last write are not written")
            return
        if not ok:
            raise LogError(f"the event log writer did not flush within {timeout} s")

    def statistics(self) -> dict[str, int]:
        return {
            "rows_written": self._rows_written + self._durable_on_loop,
            "durable_commits_on_loop": self._durable_on_loop,
            "durable_group_commits": self._durable_groups,
            "forced_flushes": self._forced_flushes,
            "queued": len(self._messages) + len(self._outcomes) + len(self._events),
        }

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._passes()
        finally:
            with self._cond:  # a flush_sync waiting now, or coming later, need not wait for it
                self._stopped = True
                self._cond.notify_all()

    def _passes(self) -> None:
        assert self._conn is not None and self._wal is not None
        next_flush = time.monotonic() + self.flush_interval
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            closing = self._closing
            with self._cond:
                self._passes_started += 1
                number = self._passes_started
                # Read after the count: a flush_sync that counted this pass has set it by now.
                flush, self._flush_wanted = self._flush_wanted, False
            # A pass woken only by durable rows writes only them: the rest keeps its own
            # schedule, so a durable sender never waits behind a batch of ordinary rows, nor
            # the event loop for the GIL while that batch is prepared.
            flush = flush or closing or time.monotonic() >= next_flush
            wrote = False
            try:
                with self._writing:
                    wrote = self._write_pass(self._conn, flush)
                if flush:
                    next_flush = time.monotonic() + self.flush_interval
            except BaseException as e:  # surfaced to the kernel by flush/close
                self._fail(e)
            with self._cond:
                self._passes_done = number
                self._cond.notify_all()
            if self._error is not None or (closing and not self._pending()):
                return
            try:  # after the pass is counted: flush_sync need not wait for these
                if wrote and not self._durable:  # a durable row waiting: its FULL commit flushes these too,
                    self._wal.sync()  # in the one fsync its sender waits for, not after a second
                if flush and not self._durable:
                    with self._writing:
                        self._wal.fill(self._conn)
            except BaseException as e:
                self._fail(e)
                return

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self.on_failure is not None:
            self.on_failure(error)

    def _pending(self) -> int:
        return (len(self._messages) + len(self._outcomes) + len(self._events) + len(self._versions)
                + len(self._durable))

    def _write_pass(self, conn: sqlite3.Connection, flush: bool) -> bool:
        """One transaction for the durable rows, one for the rest (if `flush`); True if the
        second wrote anything."""
        durable = _drain(self._durable)
        if durable:
            self._commit_durable(conn, durable)
        if not flush:
            return False
        messages = _drain(self._messages)
        payloads = _take(self._payloads, len(messages))
        outcomes = _drain(self._outcomes)
        replies = _take(self._replies, len(outcomes))
        events = _drain(self._events)
        versions = _drain(self._versions)
        if not (messages or outcomes or events or versions):
            return False
        # While durable senders are about and the loop has time (it commits them itself only
        # when nothing else is ready to run), write in small pieces and let the CPU go between
        # them. On two cores the event loop, a client polling for its reply and this writer
        # make three threads for two CPUs: woken for a pass, the writer held the loop's CPU
        # for all of it (1 ms for 300 rows), and a durable sender's reply waited that long.
        # Otherwise big pieces: each takes the GIL again, which a busy loop makes slow (an
        # 8192-row pass took 10x longer in 64-row pieces beside a thread that kept the GIL).
        durable_about = time.monotonic() - self._last_durable < _DURABLE_ABOUT_S
        between, rows = (_yield_cpu, _DURABLE_CHUNK) if durable_about else (None, CHUNK)
        with conn:
            if messages:
                _MESSAGES.insert(conn, messages, payloads, between, rows)
            if outcomes:
                _OUTCOMES.insert(conn, outcomes, replies, between, rows)
            if events:
                insert_bound(conn, "INSERT INTO events (time, name, neuro, actor, data) VALUES", "(?,?,?,?,?)", events)
            if versions:
                conn.executemany(_INSERT_VERSION, versions)
        self._rows_written += len(messages) + len(outcomes) + len(events)
        if self.on_committed is not None:  # two B-tree lookups, outside the transaction
            self.on_committed(*high_marks(conn))
        return True

    def _commit_durable(self, conn: sqlite3.Connection, durable: list[tuple[int, MessageRow, bytes]]) -> None:
        """Commit durable rows on their own, with synchronous=FULL, and tell the kernel.

        Nothing else rides in this transaction: each page it touches is another 4 KB that
        the fsync the senders wait for must carry. The other rows follow in a NORMAL one."""
        conn.execute("PRAGMA synchronous=FULL")
        with conn:
            _DURABLE_MESSAGES.insert(conn, [d[1] for d in durable], [d[2] for d in durable])
        self._rows_written += len(durable)  # counted before the senders hear of it
        self._durable_groups += 1
        self.durable_committed = durable[-1][0]
        if self.on_committed is not None:
            self.on_committed(max(d[1].id for d in durable), 0)
        if self.on_durable is not None:
            self.on_durable(self.durable_committed)
        conn.execute("PRAGMA synchronous=NORMAL")


def high_marks(conn: sqlite3.Connection) -> tuple[int, int]:
    """The highest message id and event seq in the log (0 for none): two B-tree lookups.
    What `on_committed` reports (kernel/_follow.py turns it into wakeups)."""
    row = conn.execute("SELECT (SELECT MAX(id) FROM messages), (SELECT MAX(seq) FROM events)").fetchone()
    return row[0] or 0, row[1] or 0


def _open_durable_connection(path: str) -> sqlite3.Connection:
    """A second connection for durable rows committed on the event loop: FULL sync; never
    waits for a lock (busy means: leave it to the writer) and never checkpoints (a checkpoint
    copies up to 32 MB; the writer's connection does that, off the loop)."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level="")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except sqlite3.Error as e:
        raise LogError(f"cannot open the event log {path!r}: {e}; check the path exists and is writable") from e
    return conn


_SQLITE_BUSY = 5
# Durable senders count as about for this long after the last durable commit; meanwhile the
# writer inserts this many rows a statement (about 0.2 ms of SQLite's time) and yields between.
_DURABLE_ABOUT_S = 1.0
_DURABLE_CHUNK = 64
_SLOW_COMMIT_S = 0.005
_FIRST_SLOW_PAUSE_S = 0.05
_SLOW_PAUSE_S = 1.0  # the longest
_yield_cpu = getattr(os, "sched_yield", lambda: None)
_encode_json = msgspec.json.Encoder(enc_hook=str).encode

# CPython 3.11's sqlite3 looks for an adapter for every None and bytes parameter, and the
# failed lookup formats an AttributeError each time: that doubled the writer's cost per row
# (2.0 -> 4.1 µs for a message row here). Registered identity adapters end the lookup at
# once; C callables, so no Python frame per value: `{}.get(None)` is None, `bytes(b)` is b.
# They change no value, so other users of sqlite3 in this process see no difference.
sqlite3.register_adapter(type(None), {}.get)
sqlite3.register_adapter(bytes, bytes)

_MESSAGE_COLUMNS = (*MessageColumns.__struct_fields__, "payload", "durable")
_OUTCOME_COLUMNS = ("id", "time", "outcome", "reason", "neuro", "latency", "reply", "error", "version", "service")
_DURABLE_MESSAGES = RowInserter("messages", DurableRow, "payload_size", ("time", "deadline"), tail=", 1",
                                columns=(*MessageColumns.__struct_fields__, "payload", "labels", "durable"))
_MESSAGES = RowInserter("messages", MessageRow, "payload_size", ("time", "deadline"), tail=", 0",
                        columns=_MESSAGE_COLUMNS)
_OUTCOMES = RowInserter("outcomes", OutcomeRow, "reply_size", ("time", "latency", "service"),
                        columns=_OUTCOME_COLUMNS)
_INSERT_VERSION = ("INSERT OR IGNORE INTO versions (neuro, version, time, origin, parent, source, lineage, artifacts) "
                   "VALUES (?,?,?,?,?,?,?,?)")


def _message_row(env: Envelope, payload: bytes) -> MessageRow:
    return MessageRow(env.id, env.time, env.sender, env.recipient, env.kind, env.topic, env.correlation,
                      env.parent, env.deadline, len(payload))


def _durable_row(env: Envelope, payload: bytes) -> DurableRow:
    labels = _encode_json(sorted(env.labels)).decode() if env.labels else None
    return DurableRow(*msgspec.structs.astuple(_message_row(env, payload)), labels)


def _drain(queue: deque) -> list:
    """Take what is in `queue` now; appends racing with this land in the next pass."""
    return _take(queue, len(queue))


def _take(queue: deque, n: int) -> list:
    pop = queue.popleft
    return [pop() for _ in range(n)]
