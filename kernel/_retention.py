"""Retention: how much of the event log to keep, and pruning the rest in small steps.

A policy keeps everything (the default), the last N days, at most N bytes, or both:
`Retention`, or a string such as ``"all"``, ``"30d"``, ``"10GB"``, ``"30d,10GB"``. What a
pass removes, oldest first:

- messages, each together with its outcome, and never a message without one: that includes
  every durable message not handled yet, which a crash would deliver again;
- events;
- artifacts that no version references (versions are never pruned, so an artifact a version
  uses stays), and only those stored over an hour ago: a version being recorded has stored
  its artifacts before its row reaches the log.

Size is the log's logical size, the pages in use times the page size: SQLite reuses the pages
a pass frees, so the file stops growing but does not shrink. `compact` (``neuro log vacuum
--compact``) also runs VACUUM, which rewrites the whole file; the writer waits meanwhile.

A pass is a sequence of steps, each one transaction of at most `STEP_ROWS` messages and as
many events (a few ms). The kernel runs each step in a worker thread and sleeps between them
for several times the step's length, so the log's writer and the event loop never wait on
retention for long, and interactive work keeps the disk (background work yields). Within
this process the step holds the writer's lock instead of SQLite's, so the writer resumes the
moment the step commits instead of after SQLite's busy back-off.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import msgspec
import trio

from neuro._checks import brief

from ._walspace import BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["Retention", "PruneReport", "Pruner", "Retainer", "parse_retention", "logical_size", "prune_file"]

DAY = 86400.0
STEP_ROWS = 256  # rows of each table per transaction: about 3 ms here (500 took 6 ms, up to 20 under load)
EVERY = 60.0  # seconds between the kernel's passes
ARTIFACT_GRACE = 3600.0
# A row's bytes are estimated as its blobs plus this; the pages a pass frees show what an
# estimated byte is worth (a 2 KB row can take a whole 4 KB page). Until they do, and in a dry
# run, which frees none, it is assumed worth _ASSUMED_WORTH.
_MESSAGE_OVERHEAD = 160  # a message row, its outcome row and their index entries
_EVENT_OVERHEAD = 60
_ASSUMED_WORTH = 1.5
# Between the kernel's steps it sleeps this many times as long as the step took (at least
# _MIN_PAUSE): a pass takes at most a fifth of the disk's time (half, for one asked for by hand).
_BACKGROUND_PAUSE = 4.0
_BY_HAND_PAUSE = 1.0
_MIN_PAUSE = 0.002

_AGES = {"h": 3600.0, "d": DAY, "w": 7 * DAY}
_SIZES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_FORMS = ("an age ('30d', '12h', '2w'), a size ('10GB', '500MB', '2GiB'), both ('30d,10GB'), "
          "or 'all' to keep everything")
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)")


class Retention(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the event log keeps: rows younger than `days` (None: of any age) while its logical
    size is at most `max_bytes` (None: of any size); with neither, everything (the default).
    `every`: seconds between the kernel's passes."""

    days: float | None = None
    max_bytes: int | None = None
    every: float = EVERY

    def __post_init__(self) -> None:
        if self.days is not None and not (isinstance(self.days, (int, float)) and math.isfinite(self.days)
                                          and self.days >= 0):
            raise ValueError(f"Retention.days must be a finite number of days >= 0 (or None: any age), "
                             f"got {brief(self.days)}")
        if self.max_bytes is not None and not (isinstance(self.max_bytes, int) and self.max_bytes >= 0):
            raise ValueError(f"Retention.max_bytes must be a whole number of bytes >= 0 (or None: any size), "
                             f"got {brief(self.max_bytes)}")
        if not (isinstance(self.every, (int, float)) and math.isfinite(self.every) and self.every > 0):
            raise ValueError(f"Retention.every must be a number of seconds > 0, got {brief(self.every)}")

    @property
    def keeps_all(self) -> bool:
        return self.days is None and self.max_bytes is None

    def __str__(self) -> str:
        """The policy as `parse_retention` reads it: ``all``, ``30d``, ``10GB``, ``30d,10GB``."""
        parts = []
        if self.days is not None:
            parts.append(f"{self.days:g}d")
        if self.max_bytes is not None:
            parts.append(_size_text(self.max_bytes))
        return ",".join(parts) or "all"


def _size_text(n: int) -> str:
    for unit in ("TB", "GB", "MB", "KB", "TiB", "GiB", "MiB", "KiB"):
        size = _SIZES[unit.lower()]
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def parse_retention(value: Any, name: str = "log_retention") -> Retention:
    """`value` as a Retention: one already, None (everything), or a string such as ``all``,
    ``30d``, ``10GB`` or ``30d,10GB``. A bad one is a ValueError (TypeError for another type)
    naming `name`, the value and the forms it takes."""
    if value is None:
        return Retention()
    if isinstance(value, Retention):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a Retention or a string: {_FORMS}; got {brief(value)}")
    text = value.strip().lower()
    if text in ("all", "everything"):
        return Retention()
    days: float | None = None
    size: int | None = None
    for part in text.split(","):
        match = _PART.fullmatch(part.strip())
        unit = match.group(2) if match else ""
        if match is None or (unit not in _AGES and unit not in _SIZES):
            raise ValueError(f"{name}: cannot read {value!r}; give {_FORMS}")
        number = float(match.group(1))
        if unit in _AGES:
            if days is not None:
                raise ValueError(f"{name}: {value!r} gives two ages; give one age and at most one size")
            days = number * _AGES[unit] / DAY
        else:
            if size is not None:
                raise ValueError(f"{name}: {value!r} gives two sizes; give one size and at most one age")
            size = int(number * _SIZES[unit])
    return Retention(days=days, max_bytes=size)


class PruneReport(msgspec.Struct, frozen=True):
    """What a pass of retention removed from the log (in a dry run: what it would remove)."""

    keep: str  # the policy, as `--keep` takes it
    dry_run: bool
    cutoff: float | None  # rows from before this time went (the age's limit, or how far the size needed)
    messages: int  # messages removed, each with its outcome
    events: int
    artifacts: int  # artifacts no version referenced
    kept_unfinished: int  # messages before the cut-off kept because they have no outcome yet
    bytes_before: int  # the log's logical size: pages in use x page size
    bytes_after: int  # in a dry run, an estimate
    over_limit: bool  # still over the size limit: what is left is what retention keeps
    compacted: bool  # VACUUM rewrote the file
    file_bytes: int  # the file's size on disk afterwards (its -wal file apart)
    steps: int  # transactions


def logical_size(conn: sqlite3.Connection) -> int:
    """Bytes of the log's pages in use: what a size limit measures (freed pages are reused)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * conn.execute("PRAGMA page_size").fetchone()[0]


_CANDIDATES = """SELECT m.id, o.id IS NOT NULL,
       coalesce(length(m.payload), 0) + coalesce(length(o.reply), 0) + coalesce(length(o.error), 0)
FROM messages m LEFT JOIN outcomes o ON o.id = m.id WHERE m.id > ?{bound} ORDER BY m.id LIMIT ?"""


class Pruner:
    """One pass of `policy` over the log at `path`, a step at a time, on its own connection.
    Blocking: the kernel runs each step in a worker thread. `lock` is the log writer's lock
    when a kernel in this process writes the file (each step holds it)."""

    def __init__(self, path: str, policy: Retention, *, dry_run: bool = False, now: float | None = None,
                 lock: threading.Lock | None = None, step_rows: int = STEP_ROWS) -> None:
        from neuro._errors import LogError

        if not os.path.isfile(path):
            raise LogError(f"no event log at {path!r}; give the path of a log a kernel wrote")
        self.path, self.policy, self.dry_run = path, policy, dry_run
        self._lock = lock
        self._rows = step_rows
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if lock is not None:  # the kernel's writer checkpoints; this connection never does
                self.conn.execute("PRAGMA wal_autocheckpoint=0")
            self.bytes_before = logical_size(self.conn)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as e:
            raise LogError(f"cannot prune the event log {path!r}: {e}") from e
        if not {"messages", "outcomes", "events"} <= tables:
            self.conn.close()
            raise LogError(f"{path!r} is not a Neuro event log (it has no messages, outcomes and events tables)")
        self._artifacts_table = "artifacts" in tables
        now = time.time() if now is None else now
        self._now = now
        self._cutoff = None if policy.days is None else now - policy.days * DAY
        self._size = self.bytes_before
        self._freed = self._estimated = 0  # bytes the pages freed so far, and the rows' estimate of them
        self._after_id = 0
        self._after_seq = 0
        self._reached: float | None = None  # the time of the newest row removed
        self.messages = self.events = self.artifacts = self.kept_unfinished = self.steps = 0
        self.compacted = False
        self.done = policy.keeps_all
        self.over_limit = False

    def close(self) -> None:
        self.conn.close()

    # -- rows ----------------------------------------------------------------------------

    def _over(self) -> bool:
        return self.policy.max_bytes is not None and self._size > self.policy.max_bytes

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """The writer's lock (when a kernel here writes) and one SQLite transaction: a write
        one that commits, or, in a dry run, a read one that ends in ROLLBACK."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn.execute("BEGIN" if self.dry_run else "BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("ROLLBACK" if self.dry_run else "COMMIT")
        finally:
            if self._lock is not None:
                self._lock.release()

    def step(self) -> bool:
        """Remove (or, in a dry run, count) the next rows: at most `step_rows` messages with
        their outcomes and as many events. False once nothing more is to go."""
        if self.done:
            return False
        over = self._over()
        if self._cutoff is None and not over:
            self.done = True
            return False
        rows = self._rows
        with self._transaction():
            if over:  # the oldest rows, of any age
                messages = self.conn.execute(_CANDIDATES.format(bound=""), (self._after_id, rows)).fetchall()
            else:
                messages = self.conn.execute(_CANDIDATES.format(bound=" AND m.id < ?"),
                                             (self._after_id, int(self._cutoff * 1e9), rows)).fetchall()
            events = self.conn.execute("SELECT seq, time, length(data) FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                       (self._after_seq, rows)).fetchall()
            messages, events = self._choose(messages, events, over)
            if not messages and not events:
                self.done = True
                self.over_limit = over
                return False
            finished = [m[0] for m in messages if m[1]]
            if not self.dry_run:
                if finished:
                    ids = msgspec.json.encode(finished).decode()
                    self.conn.execute("DELETE FROM outcomes WHERE id IN (SELECT value FROM json_each(?))", (ids,))
                    self.conn.execute("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))", (ids,))
                if events:
                    self.conn.execute("DELETE FROM events WHERE seq > ? AND seq <= ?", (self._after_seq, events[-1][0]))
        self.steps += 1
        self.messages += len(finished)
        self.kept_unfinished += len(messages) - len(finished)
        self.events += len(events)
        if messages:
            self._after_id = messages[-1][0]
        if events:
            self._after_seq = events[-1][0]
        times = [i / 1e9 for i in finished[-1:]] + [e[1] for e in events[-1:]]
        if times:
            self._reached = max(times) if self._reached is None else max(self._reached, *times)
        estimate = (sum(m[2] + _MESSAGE_OVERHEAD for m in messages if m[1])
                    + sum((e[2] or 0) + _EVENT_OVERHEAD for e in events))
        if self.dry_run:
            self._size -= int(estimate * _ASSUMED_WORTH)
        else:
            size = logical_size(self.conn)
            self._freed += self._size - size
            self._estimated += estimate
            self._size = size
        return True

    def _choose(self, messages: list[tuple], events: list[tuple], over: bool) -> tuple[list[tuple], list[tuple]]:
        """Of the next candidates of each table, those that go in this step, in time order:
        below the age's cut-off, or, over the size limit, the oldest of both tables together."""
        if not over:
            cutoff = self._cutoff
            return messages, _prefix(events, lambda e: e[1] < cutoff)
        rows = self._rows
        edge = min(messages[-1][0] / 1e9 if len(messages) == rows else math.inf,
                   events[-1][1] if len(events) == rows else math.inf)
        take_m = _prefix(messages, lambda m: m[0] / 1e9 <= edge)
        take_e = _prefix(events, lambda e: e[1] <= edge)
        if not take_m and not take_e:  # times out of order: take the table whose head is older
            if messages and (not events or messages[0][0] / 1e9 <= events[0][1]):
                take_m = messages[:1]
            elif events:
                take_e = events[:1]
        excess = self._size - (self.policy.max_bytes or 0)
        if self._freed > 0 and self._estimated > 0:
            budget = excess * self._estimated / self._freed
        else:  # no page freed yet to tell what a row is worth: a quarter of the guess, to learn it
            budget = excess / _ASSUMED_WORTH / (4 if not self.dry_run else 1)
        return self._within(take_m, take_e, int(budget))

    @staticmethod
    def _within(messages: list[tuple], events: list[tuple], excess: int) -> tuple[list[tuple], list[tuple]]:
        """The oldest of these rows, both tables merged in time order, whose estimated bytes
        fit in `excess` (at least one row): a step removes about what the limit needs, not a
        whole step's rows from a log that was a little over."""
        i = j = 0
        spent = 0
        while i < len(messages) or j < len(events):
            if j >= len(events) or (i < len(messages) and messages[i][0] / 1e9 <= events[j][1]):
                cost = (messages[i][2] + _MESSAGE_OVERHEAD) if messages[i][1] else 0  # one kept costs nothing
                if spent and spent + cost > excess:
                    break
                i += 1
            else:
                cost = (events[j][2] or 0) + _EVENT_OVERHEAD
                if spent and spent + cost > excess:
                    break
                j += 1
            spent += cost
        return messages[:i], events[:j]

    # -- artifacts -------------------------------------------------------------------------

    def sweep_artifacts(self) -> int:
        """Remove (or count) the artifacts no version references that are older than the
        cut-off (any age, over the size limit), stored over ARTIFACT_GRACE ago; how many."""
        if not self._artifacts_table or self.policy.keeps_all:
            return 0
        before = self._now - ARTIFACT_GRACE
        if not self._over():
            if self._cutoff is None:
                return 0
            before = min(before, self._cutoff)
        self.conn.execute("BEGIN")  # one read snapshot for both queries
        try:
            used = {r[0] for r in self.conn.execute(
                "SELECT j.value FROM versions v, json_each(v.artifacts) j WHERE v.artifacts IS NOT NULL")}
            stale = [r[0] for r in self.conn.execute("SELECT hash FROM artifacts WHERE time < ?", (before,))
                     if r[0] not in used]
            sizes = sum(r[0] for r in self.conn.execute(
                "SELECT size FROM artifacts WHERE hash IN (SELECT value FROM json_each(?))",
                (msgspec.json.encode(stale).decode(),)))
        finally:
            self.conn.execute("ROLLBACK")
        if not stale:
            return 0
        if self.dry_run:
            self._size -= sizes
            self.artifacts += len(stale)
            return len(stale)
        from ._artifacts import ArtifactStore  # its own commits, a few chunks each (not under our lock)

        store = ArtifactStore(self.path)
        try:
            deleted = store.delete(stale)
        finally:
            store.close()
        self.artifacts += deleted
        self.steps += 1
        self._size = logical_size(self.conn)
        return deleted

    # -- the file --------------------------------------------------------------------------

    def compact(self) -> None:
        """VACUUM: rewrite the file without its free pages (the writer waits meanwhile)."""
        if self.dry_run:
            return
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            if self._lock is not None:
                self._lock.release()
        self.compacted = True
        self._size = logical_size(self.conn)

    def report(self) -> PruneReport:
        # The age's cut-off, or as far as the size limit took the pass, whichever is later.
        cuts = [c for c in (self._cutoff, self._reached if self.policy.max_bytes is not None else None)
                if c is not None]
        cutoff = max(cuts) if cuts else None
        return PruneReport(
            keep=str(self.policy), dry_run=self.dry_run, cutoff=cutoff, messages=self.messages, events=self.events,
            artifacts=self.artifacts, kept_unfinished=self.kept_unfinished, bytes_before=self.bytes_before,
            bytes_after=max(0, self._size), over_limit=self.over_limit, compacted=self.compacted,
            file_bytes=os.path.getsize(self.path), steps=self.steps)

    def run(self, *, compact: bool = False) -> PruneReport:
        """The whole pass at once, blocking (for a log no kernel in this process writes)."""
        while self.step():
            pass
        self.sweep_artifacts()
        if compact:
            self.compact()
        return self.report()


def _prefix(rows: list[tuple], keep: Any) -> list[tuple]:
    for i, row in enumerate(rows):
        if not keep(row):
            return rows[:i]
    return rows


def pruned_event(report: PruneReport) -> dict[str, Any]:
    """The data of the `log.pruned` event for `report`."""
    return {"messages": report.messages, "events": report.events, "artifacts": report.artifacts,
            "bytes": max(0, report.bytes_before - report.bytes_after), "cutoff": report.cutoff,
            "keep": report.keep, "bytes_after": report.bytes_after, "compacted": report.compacted}


def removed_anything(report: PruneReport) -> bool:
    return bool(report.messages or report.events or report.artifacts or report.compacted)


def prune_file(path: str, policy: Retention, *, dry_run: bool = False, compact: bool = False,
               actor: str = "cli") -> PruneReport:
    """Prune a log file no kernel in this process writes (``neuro log vacuum`` without a
    daemon), and record what went as a `log.pruned` event in it. Blocking."""
    from ._events import encode

    pruner = Pruner(path, policy, dry_run=dry_run)
    try:
        report = pruner.run(compact=compact)
        if not dry_run and removed_anything(report):
            data = encode("log.pruned", pruned_event(report)).decode()
            with pruner.conn:
                pruner.conn.execute("BEGIN IMMEDIATE")
                pruner.conn.execute("INSERT INTO events (time, name, neuro, actor, data) VALUES (?, ?, ?, ?, ?)",
                                    (time.time(), "log.pruned", None, actor, data))
    finally:
        pruner.close()
    return report


class Retainer:
    """The kernel's retention: its policy, the background task that applies it every
    `policy.every` seconds, and passes asked for by hand (`kernel.log.vacuum`), one at a time."""

    def __init__(self, kernel: Kernel, policy: Any, log_path: str | None) -> None:
        self.policy = parse_retention(policy)
        if not self.policy.keeps_all and log_path is None:
            raise ValueError(f"log_retention={str(self.policy)!r} needs an event log: give Kernel(log='run.db', "
                             "log_retention=...)")
        self._kernel = kernel
        self._one_at_a_time = trio.Lock()
        self._passes: set[trio.CancelScope] = set()
        self._stopping = False
        self.passes = 0
        self.failures = 0

    async def stop(self) -> None:
        """Cancel the passes under way and wait until each has ended its step and said what
        went, so that the log's last rows include its `log.pruned` (the kernel's shutdown)."""
        self._stopping = True
        for scope in self._passes:
            scope.cancel()
        async with self._one_at_a_time:
            pass

    async def run(self) -> None:
        """The background task: a pass soon after start, then one every `policy.every` s."""
        if self.policy.keeps_all or self._kernel._eventlog is None:
            return
        from neuro._errors import KernelClosed, LogError

        await trio.sleep(min(self.policy.every, 1.0))
        while not self._stopping:
            try:
                await self.apply(self.policy, actor="retention", pause=_BACKGROUND_PAUSE)
            except KernelClosed:
                return
            except (sqlite3.Error, LogError) as e:
                # The disk or another process's lock, not a bug: the log and the kernel go on,
                # the next pass tries again, and the event says what happened.
                self.failures += 1
                self._kernel._event("log.prune_failed", None, "retention", error=f"{type(e).__name__}: {e}",
                                    keep=str(self.policy))
            await trio.sleep(self.policy.every)

    async def apply(self, policy: Retention, *, dry_run: bool = False, compact: bool = False,
                    actor: str = "api", pause: float = _BY_HAND_PAUSE) -> PruneReport:
        """One pass of `policy` over the kernel's log, a step per worker-thread call, sleeping
        `pause` times each step's length between them; logs `log.pruned` when rows went."""
        log = self._kernel._eventlog
        if log is None:
            from neuro._errors import NeuroError

            raise NeuroError("this kernel has no event log; start it with Kernel(log='run.db')")
        async with self._one_at_a_time:
            if self._stopping:
                from neuro._errors import KernelClosed

                raise KernelClosed("the kernel is stopping; its log is pruned no more")
            lock = None if dry_run else log._writing
            pruner = await trio.to_thread.run_sync(lambda: Pruner(log.path, policy, dry_run=dry_run, lock=lock))
            scope = trio.CancelScope()
            self._passes.add(scope)
            if self._stopping:  # `stop` came while the pruner was being opened
                scope.cancel()
            try:
                with scope:
                    await self._steps(pruner, pause, compact)
                    if pruner.compacted and log._wal is not None:
                        log._wal.done = False  # the WAL was truncated: the writer fills it ahead again
            finally:
                # Also when cancelled (the kernel stopping) part way: what went is said. A step
                # in a worker thread always finishes before the cancellation arrives.
                self._passes.discard(scope)
                report = pruner.report()
                pruner.close()
                self.passes += 1
                if not dry_run and removed_anything(report):
                    data = pruned_event(report)
                    self._kernel._event("log.pruned", None, actor, messages=data["messages"], events=data["events"],
                                        artifacts=data["artifacts"], bytes=data["bytes"], cutoff=data["cutoff"],
                                        keep=data["keep"], bytes_after=data["bytes_after"],
                                        compacted=data["compacted"])
        return report

    @staticmethod
    async def _steps(pruner: Pruner, pause: float, compact: bool) -> None:
        while True:
            started = time.monotonic()
            if not await trio.to_thread.run_sync(pruner.step):
                break
            await trio.sleep(max(_MIN_PAUSE, pause * (time.monotonic() - started)))
        await trio.to_thread.run_sync(pruner.sweep_artifacts)
        if compact:
            await trio.to_thread.run_sync(pruner.compact)
