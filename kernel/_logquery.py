"""Reading the event log: the query API the CLI, the shell and the dream daemon use.

Reads go through sqlite-utils on their own connection; in WAL mode they never block the
writer. Blocking calls: the kernel runs them in a worker thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._eventlog import MessageColumns

__all__ = ["LogReader", "MessageRecord", "EventRecord", "TraceNode"]


class MessageRecord(MessageColumns, frozen=True):
    """A message as logged, with its outcome (``None`` while it has none yet)."""

    payload: Any
    outcome: str | None = None
    reason: str | None = None
    outcome_time: float | None = None
    latency: float | None = None
    reply: Any = None
    error: dict[str, Any] | None = None


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
       m.payload, o.outcome, o.reason, o.time AS outcome_time, o.latency, o.reply, o.error
FROM messages m LEFT JOIN outcomes o ON o.id = m.id
"""


class LogReader:
    """Queries over one log file. Each method is blocking; call it from a thread."""

    def __init__(self, path: str) -> None:
        import os
        import sqlite3

        import sqlite_utils  # imported here: the kernel's start-up never pays for it

        from neuro._errors import LogError

        self.path = str(path)
        if not os.path.isfile(self.path):
            raise LogError(f"no event log at {self.path!r}; give the path of a log a kernel wrote")
        # Used from worker threads one query at a time (the caller holds a lock).
        self.db = sqlite_utils.Database(sqlite3.connect(self.path, check_same_thread=False))

    def close(self) -> None:
        self.db.close()

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
            where.append("m.time >= ?")
            params.append(since)
        if until is not None:
            where.append("m.time < ?")
            params.append(until)
        if after_id is not None:
            where.append("m.id > ?")
            params.append(after_id)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY m.id {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_message(row) for row in self.db.execute(sql, params).fetchall()]

    def message(self, message_id: int) -> MessageRecord | None:
        rows = self.db.execute(_SELECT + " WHERE m.id = ?", [message_id]).fetchall()
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
        rows = self.db.execute(_SELECT + " WHERE m.parent = ? ORDER BY m.id", [record.id]).fetchall()
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
            for r in self.db.execute(sql, params).fetchall()
        ]

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """Per recipient: how many messages ended handled, error, dead, or have no outcome yet."""
        sql = """SELECT m.recipient, COALESCE(o.outcome, 'none'), COUNT(*)
                 FROM messages m LEFT JOIN outcomes o ON o.id = m.id GROUP BY 1, 2"""
        counts: dict[str, dict[str, int]] = {}
        for recipient, outcome, n in self.db.execute(sql).fetchall():
            counts.setdefault(recipient, {})[outcome] = n
        return counts

    def outcomes_per_message(self) -> dict[int, int]:
        """How many outcome rows each accepted message has (the invariant: exactly one)."""
        sql = "SELECT m.id, COUNT(o.id) FROM messages m LEFT JOIN outcomes o ON o.id = m.id GROUP BY m.id"
        return dict(self.db.execute(sql).fetchall())

    def replay_records(self, neuro: str, count: int) -> list[tuple[int, bytes, bytes | None]]:
        """The last `count` calls to `neuro` that were handled: (id, payload, reply), oldest first."""
        rows = self.db.execute(
            """SELECT m.id, m.payload, o.reply FROM messages m JOIN outcomes o ON o.id = m.id
               WHERE m.recipient = ? AND m.kind = 'call' AND o.outcome = 'handled'
               ORDER BY m.id DESC LIMIT ?""", [neuro, int(count)]).fetchall()
        return [(r[0], r[1], r[2]) for r in reversed(rows)]

    def versions(self, neuro: str) -> list[dict[str, Any]]:
        """Every version of `neuro` in the store, oldest first (without the source)."""
        rows = self.db.execute(
            "SELECT neuro, version, time, origin, parent FROM versions WHERE neuro = ? ORDER BY time",
            [neuro]).fetchall()
        return [dict(zip(("neuro", "version", "time", "origin", "parent"), r)) for r in rows]

    def version_source(self, neuro: str, version: str) -> dict[str, bytes] | None:
        row = self.db.execute("SELECT source FROM versions WHERE neuro = ? AND version = ?",
                              [neuro, version]).fetchone()
        if row is None or row[0] is None:
            return None
        return msgspec.msgpack.decode(row[0])

    def latencies(self) -> dict[str, list[float]]:
        """Per neuro: the seconds from acceptance to outcome of each handled message."""
        out: dict[str, list[float]] = {}
        for neuro, latency in self.db.execute(
                "SELECT neuro, latency FROM outcomes WHERE outcome = 'handled' AND latency IS NOT NULL"):
            out.setdefault(neuro, []).append(latency)
        return out

    def schema_version(self) -> int:
        return self.db.execute("SELECT MAX(version) FROM migrations").fetchone()[0]


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
        error=json.loads(r[15]) if r[15] else None,
    )
