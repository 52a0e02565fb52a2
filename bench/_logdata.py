"""The synthetic event log bench/log queries: rows shaped like real traffic, generated inside
SQLite for the 10 M-message log, and the same shapes as Python rows for the real writer.

A conversation is eight messages: a client's call to `planner` (the root), which calls
`retriever` and `summarizer` and publishes to `logger`, `summarizer` calling `critic`; beside it
a lone call and a lone send to `echo` and a lone call to `retriever`. Payloads and replies are
msgpack maps of 16 B to 4 KB; every message has its outcome, with the handler's version and
service time; ~0.8 % are errors and ~0.4 % dead letters. Ids are nanosecond times, as the
kernel's. The generated log is cached under /tmp, keyed by its size, the schema version and
RECIPE, so only the first full run pays for building it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from neuro.kernel._envelope import Envelope
from neuro.kernel._logschema import SCHEMA_VERSION, open_database

from ._harness import ProgressBar

__all__ = ["CACHE", "NEUROS", "log_with", "synthetic_rows"]

CACHE = Path(tempfile.gettempdir()) / "neuro-bench-log"
RECIPE = 1  # bump when the generated rows change: the cached log is then built again
SPACING_NS = 1_000_000  # ids of the generated log: one message a millisecond, plus jitter
JITTER_NS = 500_000
CHUNK_ROWS = 16_384  # messages per INSERT ... SELECT while building
# A conversation of eight rows: (sender, recipient, kind); position 0 is the root call.
PATTERN = (
    ("client", "planner", "call"),  # the root: a client's call
    ("planner", "retriever", "call"),  # parent: the root
    ("planner", "summarizer", "call"),  # parent: the root
    ("summarizer", "critic", "call"),  # parent: position 2
    ("client", "echo", "call"),  # lone call
    ("client", "echo", "send"),  # lone send: no reply
    ("planner", "logger", "event"),  # a publish to topic "progress" while handling the root
    ("client", "retriever", "call"),  # lone call
)
NEUROS = sorted({r for _, r, _ in PATTERN})
PAYLOAD_SIZES = ((35, 16), (30, 64), (22, 256), (11, 1024), (2, 4096))  # (percent, bytes)
REPLY_SIZES = ((40, 16), (30, 64), (20, 256), (9, 1024), (1, 4096))
ERROR_PER_MILLE, DEAD_PER_MILLE = 8, 4


# -- realistic rows ---------------------------------------------------------------------------

def _blobs(sizes: tuple[tuple[int, int], ...], seed: int) -> list[bytes]:
    """100 msgpack payloads, one per percentile, sized by `sizes`."""
    rng = random.Random(seed)
    words = "the of model plan retrieve summary critic token weight answer query context step".split()
    out = []
    for k in range(100):
        cumulative = 0
        for percent, size in sizes:
            cumulative += percent
            if k < cumulative:
                break
        text = " ".join(rng.choice(words) for _ in range(size // 6 + 1))[:max(1, size - 12)]
        out.append(msgspec.msgpack.encode({"text": text, "n": k}))
    return out


PAYLOADS = _blobs(PAYLOAD_SIZES, 1)
REPLIES = _blobs(REPLY_SIZES, 2)
ERROR = json.dumps({"type": "ValueError", "message": "could not parse the plan", "neuro": "critic",
                    "path": ["critic"], "traceback": 'Traceback (most recent call last):\n  File "critic.py", '
                    'line 42, in handle\n    plan = parse(msg.text)\nValueError: could not parse the plan\n' * 3})


def _version(neuro_name: str, idx: int) -> str:
    return hashlib.sha256(f"{neuro_name}:{idx}".encode()).hexdigest()[:16]  # as neuro._identity's


def _hash(x: int) -> int:
    return x * 2654435761 % 4294967296


def synthetic_rows(first_id: int, n: int) -> list[tuple[Envelope, bytes, tuple, bytes | None]]:
    """`n` messages in the generated log's shapes (ids `first_id` on, 1 µs apart), each with
    its outcome: (envelope, payload, outcome arguments, reply) for EventLog's append_*."""
    rows = []
    now = time.time()
    for x in range(n):
        p, g, h = x % 8, x - x % 8, _hash(x)
        mid, root = first_id + x * 1000, first_id + g * 1000
        sender, recipient, kind = PATTERN[p]
        parent = root if p in (1, 2, 6) else (first_id + (g + 2) * 1000 if p == 3 else None)
        env = Envelope(id=mid, time=now, sender=sender, recipient=recipient, kind=kind, payload=None,
                       correlation=root if parent is not None else mid, topic="progress" if p == 6 else None,
                       deadline=None if p in (5, 6) else now + 30, parent=parent)
        cls, service, queue = (h >> 13) % 1000, 1e-4 + (h >> 8) % 2000 / 1e5, (h >> 4) % 300 / 1e5
        if cls < DEAD_PER_MILLE:
            outcome = ("dead", "mailbox full: dropped the oldest message", recipient, queue, None, None)
            reply, version, service = None, None, None
        elif cls < ERROR_PER_MILLE + DEAD_PER_MILLE and p not in (5, 6):
            outcome = ("error", "crashed", recipient, queue + service, None, ERROR)
            reply, version = None, _version(recipient, 0)
        else:
            reply = None if p in (5, 6) else REPLIES[(h >> 6) % 100]
            outcome = ("handled", None, recipient, queue + service, reply, None)
            version = _version(recipient, 0)
        rows.append((env, PAYLOADS[(h >> 6) % 100], (mid, now, *outcome[:4], reply, outcome[5], version, service),
                     reply))
    return rows


# -- the 10 M-message log ---------------------------------------------------------------------

def _id(v: str) -> str:
    """SQL for the id of generated row `v` (an expression of x)."""
    return f"(:base + ({v}) * {SPACING_NS} + (({v}) * 2654435761 % 4294967296) % {JITTER_NS})"


def _case(column: int) -> str:
    return "CASE p " + " ".join(f"WHEN {i} THEN '{row[column]}'" for i, row in enumerate(PATTERN)) + " END"


_ROWS = f"""WITH RECURSIVE c(x) AS (SELECT :lo UNION ALL SELECT x + 1 FROM c WHERE x + 1 < :hi),
r AS (SELECT x, x % 8 AS p, x - x % 8 AS g, x * 2654435761 % 4294967296 AS h FROM c),
s AS (SELECT *, {_id('x')} AS id, {_case(0)} AS sender, {_case(1)} AS recipient, {_case(2)} AS kind,
             (h / 8192) % 1000 AS cls, 1e-4 + (h / 256) % 2000 / 1e5 AS service, (h / 16) % 300 / 1e5 AS queue
      FROM r)"""
_INSERT_MESSAGES = f"""INSERT INTO messages
(id, time, sender, recipient, kind, topic, correlation, parent, deadline, payload, durable)
{_ROWS} SELECT id, id / 1e9, sender, recipient, kind, CASE p WHEN 6 THEN 'progress' END,
       CASE WHEN p IN (1, 2, 3, 6) THEN {_id('g')} ELSE id END,
       CASE WHEN p IN (1, 2, 6) THEN {_id('g')} WHEN p = 3 THEN {_id('g + 2')} END,
       CASE WHEN p IN (5, 6) THEN NULL ELSE id / 1e9 + 30 END,
       (SELECT blob FROM temp.gen_payloads WHERE k = (h / 64) % 100), 0
FROM s"""
_INSERT_OUTCOMES = f"""INSERT INTO outcomes
(id, time, outcome, reason, neuro, latency, reply, error, version, service)
{_ROWS}, o AS (SELECT *, CASE WHEN cls < {DEAD_PER_MILLE} THEN 'dead'
                        WHEN cls < {DEAD_PER_MILLE + ERROR_PER_MILLE} AND p NOT IN (5, 6) THEN 'error'
                        ELSE 'handled' END AS outcome FROM s)
SELECT id, id / 1e9 + queue + service, outcome,
       CASE outcome WHEN 'dead' THEN 'mailbox full: dropped the oldest message' WHEN 'error' THEN 'crashed' END,
       recipient, CASE outcome WHEN 'dead' THEN queue ELSE queue + service END,
       CASE WHEN outcome = 'handled' AND p NOT IN (5, 6) THEN (SELECT blob FROM temp.gen_replies WHERE k = (h / 64) % 100) END,
       CASE outcome WHEN 'error' THEN :error END,
       CASE WHEN outcome != 'dead' THEN (SELECT version FROM temp.gen_versions WHERE neuro = recipient
                                         AND idx = x * 3 / :n) END,
       CASE WHEN outcome != 'dead' THEN service END
FROM o"""


def build_log(path: Path, n: int) -> None:
    """Write a log of `n` messages, each with its outcome, as fast as SQLite takes them: the
    rows are generated by SQL in the database itself, no journal, no sync; big transactions."""
    tmp = path.with_name(path.name + ".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    open_database(str(tmp)).close()  # the real schema, migrated as a kernel would
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("CREATE TEMP TABLE gen_payloads (k INTEGER PRIMARY KEY, blob BLOB)")
    conn.execute("CREATE TEMP TABLE gen_replies (k INTEGER PRIMARY KEY, blob BLOB)")
    conn.execute("CREATE TEMP TABLE gen_versions (neuro TEXT, idx INTEGER, version TEXT, PRIMARY KEY (neuro, idx))")
    conn.executemany("INSERT INTO temp.gen_payloads VALUES (?, ?)", enumerate(PAYLOADS))
    conn.executemany("INSERT INTO temp.gen_replies VALUES (?, ?)", enumerate(REPLIES))
    conn.executemany("INSERT INTO temp.gen_versions VALUES (?, ?, ?)",
                     [(name, i, _version(name, i)) for name in NEUROS for i in range(3)])
    base = (time.time_ns() - (n + 10) * SPACING_NS) // 1000 * 1000  # ends a moment ago
    bar = ProgressBar(n, f"building a {n:,}-message log")
    conn.execute("BEGIN")
    for lo in range(0, n, CHUNK_ROWS):
        args = {"lo": lo, "hi": min(n, lo + CHUNK_ROWS), "base": base, "n": n, "error": ERROR}
        conn.execute(_INSERT_MESSAGES, {k: v for k, v in args.items() if k not in ("n", "error")})
        conn.execute(_INSERT_OUTCOMES, args)
        if (lo // CHUNK_ROWS) % 64 == 63:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
        bar.update(min(n, lo + CHUNK_ROWS))
    # Lifecycle events, one per 10,000 messages, and the versions the outcomes name.
    conn.executemany("INSERT INTO main.events (time, name, neuro, actor, data) VALUES (?, ?, ?, ?, ?)",
                     [((base + i * 10_000 * SPACING_NS) / 1e9, "neuro.spawned", NEUROS[i % len(NEUROS)], "kernel",
                       json.dumps({"version": _version(NEUROS[i % len(NEUROS)], 0)})) for i in range(n // 10_000)])
    conn.executemany("INSERT INTO main.versions (neuro, version, time, origin, parent, source, lineage) "
                     "VALUES (?, ?, ?, 'file', ?, NULL, ?)",
                     [(name, _version(name, i), base / 1e9 + i, _version(name, i - 1) if i else None,
                       json.dumps({"origin": "file", "parents": [_version(name, i - 1)] if i else []}))
                      for name in NEUROS for i in range(3)])
    conn.execute("COMMIT")
    bar.close()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.replace(path)


def log_with(n: int, folder: Path, cache: bool) -> tuple[Path, dict[str, Any]]:
    """The path of a log of `n` generated messages: from the cache if it holds one, else built
    (into the cache when `cache`, else into `folder`)."""
    path = (CACHE if cache else folder) / f"messages-{n}-schema{SCHEMA_VERSION}-recipe{RECIPE}.db"
    if path.exists():
        conn = sqlite3.connect(path)
        counts = conn.execute("SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM outcomes)").fetchone()
        conn.close()
        if counts == (n, n):
            return path, {"cached": True, "path": str(path), "bytes": path.stat().st_size}
        path.unlink()  # a run that stopped before putting it back as built
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build_log(path, n)
    return path, {"cached": False, "path": str(path), "bytes": path.stat().st_size,
                  "build_seconds": round(time.perf_counter() - t0, 1)}
