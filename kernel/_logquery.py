"""Reading the event log: the query API the CLI, the shell and the dream daemon use.

Reads go through sqlite-utils on their own read-only connection; in WAL mode they never block
the writer, and a log file is read the same with a kernel running on it or none. A log of an
older schema is read as it is, never migrated here: what it lacks reads as None, `missing`
says what that is, and artifact reads say the schema has none. A newer schema is refused.
Blocking calls: the kernel runs them in a worker thread. The tables are described in
`docs/log.md`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from ._eventlog import MessageColumns
from ._logschema import SCHEMA_VERSION

if TYPE_CHECKING:
    import sqlite3

    from ._artifacts import ArtifactInfo

__all__ = ["LogReader", "MessageRecord", "EventRecord", "TraceNode"]

# What each schema added that a reader of an older log goes without ("table.column" or "table").
ADDED_IN = {
    4: ("outcomes.version", "outcomes.service", "versions.lineage", "versions.artifacts", "artifacts"),
}


class MessageRecord(MessageColumns, frozen=True):
    """A message as logged, with its outcome (``None`` while it has none yet): `latency` is
    the seconds from acceptance to outcome, `service` those the handler ran (no queue wait),
    `version` the version of the neuro whose handler ran (both None where none ran, such as a
    dead letter from the mailbox, and in a log older than schema 4)."""

    payload: Any
    outcome: str | None = None
    reason: str | None = None
    outcome_time: float | None = None
    latency: float | None = None
    reply: Any = None
    error: dict[str, Any] | None = None
    version: str | None = None
    service: float | None = None


class EventRecord(msgspec.Struct, frozen=True):
    """A lifecycle or error event: what happened, to which neuro, caused by whom."""

    seq: int
    time: float
    name: str
    neuro: str | None
    actor: str
    data: dict[str, Any]


class TraceNode(msgspec.Struct, frozen=True):
    """A message and the messages sent while handling it."""

    message: MessageRecord
    children: list["TraceNode"]


_SELECT = """
SELECT m.id, m.time, m.sender, m.recipient, m.kind, m.topic, m.correlation, m.parent, m.deadline,
       m.payload, o.outcome, o.reason, o.time AS outcome_time, o.latency, o.reply, o.error, {added}
FROM messages m LEFT JOIN outcomes o ON o.id = m.id
"""
_ADDED_4 = "o.version, o.service"
_WITHOUT_4 = "NULL AS version, NULL AS service"
# Message ids are wall-clock times in ns (`id_time`) and a message's `time` is its id / 1e9,
# so a time range is an id range too: bounded by id (with a millisecond to spare, then by
# time exactly), a query by time is a range of the primary key or of (recipient, id).
_ID_SLACK = 1_000_000


class LogReader:
    """Queries over one log file, with or without a kernel running on it. Each method is
    blocking; call it from a thread. `schema` is the file's schema version and `missing`
    what this Neuro's schema has that the file lacks (empty for a current log)."""

    def __init__(self, path: str) -> None:
        import os
        import sqlite3

        from neuro._errors import LogError

        from ._artifacts import read_only_uri

        self.path = str(path)
        if not os.path.isfile(self.path):
            raise LogError(f"no event log at {self.path!r}; give the path of a log a kernel wrote")
        conn = None
        try:
            # Read-only: a reader never migrates, creates or changes a log (used from worker
            # threads one query at a time; the caller holds a lock).
            conn = sqlite3.connect(read_only_uri(self.path), uri=True, check_same_thread=False)
            self.schema = _schema_of(conn, self.path)
        except BaseException as e:
            if conn is not None:
                conn.close()
            if isinstance(e, sqlite3.Error):
                raise LogError(f"cannot read the event log {self.path!r}: {e}; is it a log a kernel wrote?") from e
            raise
        self.conn = conn  # the read-only connection every query runs on
        self._db: Any = None
        self.missing: tuple[str, ...] = tuple(
            item for version, items in sorted(ADDED_IN.items()) if version > self.schema for item in items)
        self._select = _SELECT.format(added=_ADDED_4 if self.schema >= 4 else _WITHOUT_4)
        self._artifact_conn: sqlite3.Connection | None = None

    @property
    def db(self) -> Any:
        """The connection as a `sqlite_utils.Database`, for ad-hoc reads (`reader.db["events"]`);
        made on first use: importing sqlite-utils takes longer than the queries here (0.5 s)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def close(self) -> None:
        if self._artifact_conn is not None:
            self._artifact_conn.close()
            self._artifact_conn = None
        self.conn.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def last_ids(self) -> tuple[int, int]:
        """The newest committed message id and event seq (0 where there are none): a live
        reader's place to start from, or to compare with."""
        from ._eventlog import high_marks  # the one query for it, shared with the writer

        return high_marks(self.conn)

    def messages(
        self,
        *,
        neuro: str | None = None,
        sender: str | None = None,
        kind: str | None = None,
        correlation: int | None = None,
        outcome: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int | None = 100,
        newest_first: bool = False,
    ) -> list[MessageRecord]:
        """Messages matching every filter given, oldest first (or newest first)."""
        where, params = [], []
        for column, value in (("m.recipient", neuro), ("m.sender", sender), ("m.kind", kind),
                              ("o.outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if correlation is not None:  # the first message by id, the rest by the partial index
            where.insert(0, "((m.correlation = ? AND m.correlation != m.id) OR (m.id = ? AND m.correlation = m.id))")
            params[:0] = [correlation, correlation]
        if outcome == "none":
            where[-1] = "o.outcome IS NULL"
            params.pop()
        if since is not None:
            if isinstance(since, (int, float)) and math.isfinite(since):
                where.append("m.id >= ?")
                params.append(int(since * 1e9) - _ID_SLACK)
            where.append("m.time >= ?")
            params.append(since)
        if until is not None:
            if isinstance(until, (int, float)) and math.isfinite(until):
                where.append("m.id < ?")
                params.append(int(until * 1e9) + _ID_SLACK)
            where.append("m.time < ?")
            params.append(until)
        if after_id is not None:
            where.append("m.id > ?")
            params.append(after_id)
        sql = self._select + (" WHERE " + " AND ".join(where) if where else "")
        # By an outcome alone, walk outcomes by id (the same ids) and stop at the limit: ordered
        # by m.id, SQLite scans every outcome and sorts (0.6 s at 1 M messages, not 15 ms).
        by_outcome = outcome not in (None, "none") and neuro is None and correlation is None
        sql += f" ORDER BY {'o.id' if by_outcome else 'm.id'} {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_message(row) for row in self.conn.execute(sql, params).fetchall()]

    def message(self, message_id: int) -> MessageRecord | None:
        rows = self.conn.execute(self._select + " WHERE m.id = ?", [message_id]).fetchall()
        return _message(rows[0]) if rows else None

    def trace(self, message_id: int) -> TraceNode | None:
        """A message and, recursively, everything sent while handling it."""
        root = self.message(message_id)
        if root is None:
            return None
        return self._subtree(root, depth=0)

    def _subtree(self, record: MessageRecord, depth: int) -> TraceNode:
        if depth > 64:  # a cycle of calls cannot make this recurse forever
            return TraceNode(message=record, children=[])
        rows = self.conn.execute(self._select + " WHERE m.parent = ? ORDER BY m.id", [record.id]).fetchall()
        return TraceNode(message=record, children=[self._subtree(_message(r), depth + 1) for r in rows])

    def events(
        self,
        *,
        name: str | None = None,
        neuro: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_seq: int | None = None,
        limit: int | None = 100,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        where, params = [], []
        if name is not None:
            where.append("name = ?" if "*" not in name else "name GLOB ?")
            params.append(name)
        if neuro is not None:
            where.append("neuro = ?")
            params.append(neuro)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if until is not None:
            where.append("time < ?")
            params.append(until)
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        sql = "SELECT seq, time, name, neuro, actor, data FROM events"
        sql += (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        import json

        return [
            EventRecord(seq=r[0], time=r[1], name=r[2], neuro=r[3], actor=r[4], data=json.loads(r[5]))
            for r in self.conn.execute(sql, params).fetchall()
        ]

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """Per recipient: how many messages ended handled, error, dead, or have no outcome yet."""
        sql = """SELECT m.recipient, COALESCE(o.outcome, 'none'), COUNT(*)
                 FROM messages m LEFT JOIN outcomes o ON o.id = m.id GROUP BY 1, 2"""
        counts: dict[str, dict[str, int]] = {}
        for recipient, outcome, n in self.conn.execute(sql).fetchall():
            counts.setdefault(recipient, {})[outcome] = n
        return counts

    def outcomes_per_message(self) -> dict[int, int]:
        """How many outcome rows each accepted message has (the invariant: exactly one)."""
        sql = "SELECT m.id, COUNT(o.id) FROM messages m LEFT JOIN outcomes o ON o.id = m.id GROUP BY m.id"
        return dict(self.conn.execute(sql).fetchall())

    def replay_records(self, neuro: str, count: int) -> list[tuple[int, bytes, bytes | None]]:
        """The last `count` calls to `neuro` that were handled: (id, payload, reply), oldest first."""
        rows = self.conn.execute(
            """SELECT m.id, m.payload, o.reply FROM messages m JOIN outcomes o ON o.id = m.id
               WHERE m.recipient = ? AND m.kind = 'call' AND o.outcome = 'handled'
               ORDER BY m.id DESC LIMIT ?""", [neuro, int(count)]).fetchall()
        return [(r[0], r[1], r[2]) for r in reversed(rows)]

    def versions(self, neuro: str) -> list[dict[str, Any]]:
        """Every version of `neuro` in the store, oldest first (without the source): neuro,
        version, time, origin, parent, and `lineage` (a dict: parents, origin, teacher, trace
        window, gate figures, notes) and `artifacts` (relative path -> sha256), None where
        none were recorded (always, in a log older than schema 4)."""
        added = "lineage, artifacts" if self.schema >= 4 else "NULL, NULL"
        rows = self.conn.execute(
            f"SELECT neuro, version, time, origin, parent, {added} FROM versions WHERE neuro = ? ORDER BY time",
            [neuro]).fetchall()
        return [{**dict(zip(("neuro", "version", "time", "origin", "parent"), r[:5])),
                 "lineage": _json(r[5]), "artifacts": _json(r[6])} for r in rows]

    def version_source(self, neuro: str, version: str) -> dict[str, bytes] | None:
        row = self.conn.execute("SELECT source FROM versions WHERE neuro = ? AND version = ?",
                              [neuro, version]).fetchone()
        if row is None or row[0] is None:
            return None
        return msgspec.msgpack.decode(row[0])

    def latencies(self) -> dict[str, list[float]]:
        """Per neuro: the seconds from acceptance to outcome of each handled message."""
        out: dict[str, list[float]] = {}
        for neuro, latency in self.conn.execute(
                "SELECT neuro, latency FROM outcomes WHERE outcome = 'handled' AND latency IS NOT NULL"):
            out.setdefault(neuro, []).append(latency)
        return out

    def runs(self) -> list[dict[str, Any]]:
        """Each kernel that opened this log, oldest first: id, pid, started, and closed (None
        while it runs, or when it crashed); empty in a log older than schema 4 (no `runs`)."""
        if self.schema < 4:
            return []
        rows = self.conn.execute("SELECT id, pid, started, closed FROM runs ORDER BY id").fetchall()
        return [dict(zip(("id", "pid", "started", "closed"), r)) for r in rows]

    def schema_version(self) -> int:
        return self.conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0]

    # -- artifacts ----------------------------------------------------------------------------

    def artifact_info(self, hash: str) -> ArtifactInfo | None:
        """The artifact with this sha256 (hex): size, media type, when stored; None if absent."""
        from ._artifacts import read_info

        return read_info(self._artifacts(), hash)

    def open_artifact(self, hash: str) -> BinaryIO:
        """A reader of the artifact's bytes, a chunk at a time (`read`, `readinto`, lines,
        `seek`, `with`); LogError if it is not in the log. Close it when done."""
        from ._artifacts import open_reader

        return open_reader(self._artifacts(), hash, self.path)  # type: ignore[return-value]

    def _artifacts(self) -> sqlite3.Connection:
        """The read connection for artifact bytes (memory-mapped; see `_artifacts`)."""
        from neuro._errors import LogError

        if self.schema < 4:
            raise LogError(f"the event log {self.path!r} has schema version {self.schema}, which has no artifacts "
                           "(they arrived in schema 4); a kernel opening it with neuro.Kernel(log=...) upgrades it")
        if self._artifact_conn is None:
            from ._artifacts import _connect

            self._artifact_conn = _connect(self.path, readonly=True)
        return self._artifact_conn


def _decode(blob: bytes | None) -> Any:
    if blob is None:
        return None
    try:
        return msgspec.msgpack.decode(blob)
    except msgspec.DecodeError:
        return {"undecodable": len(blob)}


def _message(r: tuple) -> MessageRecord:
    import json

    return MessageRecord(
        id=r[0], time=r[1], sender=r[2], recipient=r[3], kind=r[4], topic=r[5], correlation=r[6],
        parent=r[7], deadline=r[8], payload=_decode(r[9]), outcome=r[10], reason=r[11],
        outcome_time=r[12], latency=r[13], reply=_decode(r[14]),
        error=json.loads(r[15]) if r[15] else None, version=r[16], service=r[17],
    )


def _json(text: str | None) -> Any:
    import json

    return None if text is None else json.loads(text)


def _schema_of(conn: sqlite3.Connection, path: str) -> int:
    """The log's schema version; LogError if it is newer than this Neuro's or not a log."""
    from neuro._errors import LogError

    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone() is None:
        raise LogError(f"{path!r} is a SQLite file but not an event log (it has no migrations table); "
                       "give the path of a log a kernel wrote")
    version = conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0
    if version > SCHEMA_VERSION:
        raise LogError(f"the event log {path!r} has schema version {version}, newer than this Neuro reads "
                       f"({SCHEMA_VERSION}); upgrade Neuro to read it")
    return version
