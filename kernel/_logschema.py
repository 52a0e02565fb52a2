"""The event log's schema: the migrations that make a log file what this Neuro reads and
writes, applied in one transaction and recorded in a `migrations` table, and how a log file
is opened (0600, WAL mode, NORMAL sync). The writer (`_eventlog`) and every reader of the
file open it through `open_database`."""

from __future__ import annotations

import os
import sqlite3
import time

from neuro._errors import LogError

from ._events import legacy_rename_statements
from ._walspace import BUSY_TIMEOUT_MS

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "CHECKPOINT_PAGES", "migrate", "open_database"]


MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial schema", [
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY, time REAL NOT NULL, sender TEXT NOT NULL,
            recipient TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT,
            correlation INTEGER NOT NULL, parent INTEGER, deadline REAL, payload BLOB)""",
        # One outcome per message: the primary key makes a second one an error, not a row.
        """CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY, time REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT,
            neuro TEXT NOT NULL, latency REAL, reply BLOB, error TEXT)""",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, name TEXT NOT NULL,
            neuro TEXT, actor TEXT NOT NULL, data TEXT NOT NULL)""",
        """CREATE TABLE versions (
            neuro TEXT NOT NULL, version TEXT NOT NULL, time REAL NOT NULL, origin TEXT NOT NULL,
            parent TEXT, source TEXT, PRIMARY KEY (neuro, version))""",
        "CREATE INDEX messages_recipient_time ON messages (recipient, time)",
        "CREATE INDEX messages_correlation ON messages (correlation)",
        "CREATE INDEX messages_parent ON messages (parent)",
        "CREATE INDEX events_neuro_time ON events (neuro, time)",
        "CREATE INDEX events_name_time ON events (name, time)",
    ]),
    (2, "durable messages", [
        # Durable messages are redelivered after a crash; the rest are dead-lettered.
        "ALTER TABLE messages ADD COLUMN durable INTEGER NOT NULL DEFAULT 0",
    ]),
    (3, "partial indexes on correlation and parent", [
        # Most messages start their own conversation (correlation = id, no parent): leaving
        # them out of these indexes saves two of five B-tree inserts per logged call. Queries
        # by correlation find the conversation's first message by its id instead.
        "DROP INDEX messages_correlation",
        "CREATE INDEX messages_correlation ON messages (correlation) WHERE correlation != id",
        "DROP INDEX messages_parent",
        "CREATE INDEX messages_parent ON messages (parent) WHERE parent IS NOT NULL",
    ]),
    (4, "handler version and service time, lineage, artifacts", [
        # Which version of the neuro answered, and how long its handler took (the latency
        # includes the wait in the mailbox); both NULL when no handler ran (a dead letter).
        "ALTER TABLE outcomes ADD COLUMN version TEXT",
        "ALTER TABLE outcomes ADD COLUMN service REAL",
        # JSON: where a version came from (parents, origin, teacher, trace window, gate
        # figures, notes), and its files that are not code (relative path -> sha256).
        "ALTER TABLE versions ADD COLUMN lineage TEXT",
        "ALTER TABLE versions ADD COLUMN artifacts TEXT",
        # Content-addressed bytes (`_artifacts`). A row here appears in the commit that stores
        # its last chunk; until then its chunks belong to an upload, and a crashed upload's
        # chunks are swept. Chunks, because SQLite caps a value at 1e9 bytes.
        """CREATE TABLE artifacts (
            hash TEXT PRIMARY KEY, size INTEGER NOT NULL, media_type TEXT NOT NULL, time REAL NOT NULL,
            object INTEGER NOT NULL UNIQUE, chunk_size INTEGER NOT NULL)""",
        """CREATE TABLE artifact_chunks (
            id INTEGER PRIMARY KEY, object INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL)""",
        "CREATE UNIQUE INDEX artifact_chunks_object_seq ON artifact_chunks (object, seq)",
        # AUTOINCREMENT: an object id is never handed out twice, even after its row is gone.
        """CREATE TABLE artifact_uploads (
            object INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, touched REAL NOT NULL,
            host TEXT NOT NULL, pid INTEGER NOT NULL, token TEXT NOT NULL)""",
        # Pages of one neuro's messages by id (`messages(neuro=X, after_id=...)`, `tail`, the
        # replay gate's newest calls): an index on the recipient holds (recipient, id), so
        # they are a range scan, not a sort of all that neuro's rows. It replaces (recipient,
        # time): ids are times in ns (`id_time`), so a time range is an id range too.
        "DROP INDEX messages_recipient_time",
        "CREATE INDEX messages_recipient ON messages (recipient)",
        # Event names before the catalogue (crashed, swapped, version, ...) -> their names now.
        *legacy_rename_statements(),
        # Each kernel that opened the log, and when it closed it (NULL: it did not, it crashed).
        # After a clean close only durable messages can lack an outcome, and these are found
        # by this small index: a start no longer scans every message of a big log (5 s at 10 M).
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, started REAL NOT NULL, closed REAL)",
        "CREATE INDEX messages_durable ON messages (id) WHERE durable = 1",
    ]),
    (5, "privacy labels of durable messages and artifacts", [
        # A durable message's labels (JSON list; NULL: none), so its redelivery after a crash
        # carries them (docs/privacy.md). Written for durable rows only: the rest are never
        # delivered again.
        "ALTER TABLE messages ADD COLUMN labels TEXT",
        # The labels of artifacts a tainted neuro stored (JSON list): reading one back taints
        # the reader, in this kernel and the next (kernel/_labels.py).
        "CREATE TABLE artifact_labels (hash TEXT PRIMARY KEY, labels TEXT NOT NULL)",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration not yet recorded, all in one transaction (all of them or none:
    SQLite's schema changes are transactional; one commit also makes a new log quick to
    create); return the version. The transaction is begun here, IMMEDIATE: sqlite3 begins
    none before DDL by itself (each ALTER would commit alone), and a second process opening
    the log meanwhile waits for the lock and then finds the migrations done."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _apply_migrations(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return SCHEMA_VERSION


def _apply_migrations(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM migrations")}
    newest = max(done, default=0)
    if newest > SCHEMA_VERSION:
        raise LogError(
            f"the event log has schema version {newest}, newer than this Neuro knows ({SCHEMA_VERSION}); "
            "upgrade Neuro or use another log file"
        )
    for version, name, statements in MIGRATIONS:
        if version in done:
            continue
        for sql in statements:
            conn.execute(sql)
        conn.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, time.time()))


CHECKPOINT_PAGES = 8000


def _create_private(path: str) -> None:
    """Create a new log file 0600 before SQLite does (it would make it 0644 under the usual
    umask): it holds every payload. SQLite gives the -wal and -shm files the mode of the
    database, so they are 0600 too. An existing file keeps its mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError:
        pass  # it exists, or cannot be made: sqlite3 says which, below


def open_database(path: str) -> sqlite3.Connection:
    """Open (creating if needed, 0600) and migrate a log file; WAL mode, NORMAL sync."""
    _create_private(str(path))
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoint every ~32 MB of WAL, not SQLite's 4 MB: the pages a log appends to (the
        # right edge of each B-tree) are copied back to the database once per checkpoint.
        conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        conn.isolation_level = ""  # deferred transactions, so `with conn:` commits batches
        migrate(conn)
    except sqlite3.Error as e:
        raise LogError(f"cannot open the event log {str(path)!r}: {e}; check the path exists and is writable") from e
    return conn
