"""After a crash: every message the log accepted without an outcome gets one.

Run when a kernel opens a log it did not close: durable messages are handed back for
redelivery (to their neuro, once it is spawned again, with their privacy labels); the rest
end as dead letters with reason `kernel restarted`, in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import NamedTuple

import msgspec

__all__ = ["Unfinished", "recover", "start_run", "end_run"]

REASON = "kernel restarted"


class Unfinished(NamedTuple):
    id: int
    sender: str
    recipient: str
    kind: str
    correlation: int
    parent: int | None
    payload: bytes
    labels: frozenset[str] = frozenset()  # its privacy labels, which its redelivery carries


def recover(conn: sqlite3.Connection) -> tuple[int, dict[str, list[Unfinished]]]:
    """Dead-letter the non-durable messages without an outcome; return how many, and the
    durable ones by recipient, oldest first.

    After a clean close (the last kernel's `runs` row has its `closed` time) every message
    but a durable one has its outcome, so only durable messages are looked at, through their
    partial index; after a crash, or in a log older than `runs`, every message is."""
    last = conn.execute("SELECT closed FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    only_durable = "m.durable = 1 AND " if last is not None and last[0] is not None else ""
    rows = conn.execute(
        f"""SELECT m.id, m.sender, m.recipient, m.kind, m.correlation, m.parent, m.payload, m.durable, m.labels
            FROM messages m LEFT JOIN outcomes o ON o.id = m.id WHERE {only_durable}o.id IS NULL
            ORDER BY m.id""").fetchall()
    now = time.time()
    dead = [(r[0], now, "dead", REASON, r[2], None, None, None) for r in rows if not r[7]]
    durable: dict[str, list[Unfinished]] = {}
    for r in rows:
        if r[7]:
            try:
                labels = _labels(r[8]) if r[8] is not None else frozenset()
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                # Fail closed: a message whose labels cannot be read is never redelivered unlabelled.
                dead.append((r[0], now, "dead", f"{REASON}; its stored privacy labels are unreadable ({e}), so it "
                                                f"was not redelivered", r[2], None, None, None))
                continue
            durable.setdefault(r[2], []).append(Unfinished(*r[:7], labels))
    with conn:
        conn.executemany("INSERT INTO outcomes (id, time, outcome, reason, neuro, latency, reply, error) "
                         "VALUES (?,?,?,?,?,?,?,?)", dead)
    return len(dead), durable


_labels = msgspec.json.Decoder(frozenset[str]).decode


def start_run(conn: sqlite3.Connection) -> int:
    """Record that a kernel opened the log (not yet closed); returns its row's id."""
    with conn:
        return conn.execute("INSERT INTO runs (pid, started) VALUES (?, ?)", (os.getpid(), time.time())).lastrowid


def end_run(conn: sqlite3.Connection, run: int) -> None:
    """Record a clean close: everything this kernel accepted has its outcome, or is durable."""
    with conn:
        conn.execute("UPDATE runs SET closed = ? WHERE id = ?", (time.time(), run))
