"""After a crash: every message the log accepted without an outcome gets one.

Run when a kernel opens a log it did not close: durable messages are handed back for
redelivery (to their neuro, once it is spawned again); the rest end as dead letters with
reason `kernel restarted`, in one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

__all__ = ["Unfinished", "recover"]

REASON = "kernel restarted"


class Unfinished(NamedTuple):
    id: int
    sender: str
    recipient: str
    kind: str
    correlation: int
    parent: int | None
    payload: bytes


def recover(conn: sqlite3.Connection) -> tuple[int, dict[str, list[Unfinished]]]:
    """Dead-letter the non-durable messages without an outcome; return how many, and the
    durable ones by recipient, oldest first."""
    rows = conn.execute(
        """SELECT m.id, m.sender, m.recipient, m.kind, m.correlation, m.parent, m.payload, m.durable
           FROM messages m LEFT JOIN outcomes o ON o.id = m.id WHERE o.id IS NULL ORDER BY m.id""").fetchall()
    now = time.time()
    dead = [(r[0], now, "dead", REASON, r[2], None, None, None) for r in rows if not r[7]]
    with conn:
        conn.executemany("INSERT INTO outcomes VALUES (?,?,?,?,?,?,?,?)", dead)
    durable: dict[str, list[Unfinished]] = {}
    for r in rows:
        if r[7]:
            durable.setdefault(r[2], []).append(Unfinished(*r[:7]))
    return len(dead), durable
