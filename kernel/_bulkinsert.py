"""Bulk inserts whose per-row work runs inside SQLite, with the GIL released.

sqlite3 binds parameters one Python object at a time with the GIL held. For the log's hot
tables that was most of the writer thread's cost, and the event loop waited for the GIL
meanwhile: calls/s with the log on fell to 0.58 of the rate with it off. Here a batch goes
in as two parameters: the rows as one JSON text (msgspec encodes it in C) and their blobs
joined into one blob. SQLite's `json_each` takes the rows apart, and `substr` cuts each
row's blob out at the running sum of the sizes before it, inside `sqlite3_step`, which runs
without the GIL.

Rows are msgspec Structs with gc=False whose blob column holds the blob's size (None for a
NULL blob); the blobs travel beside them in a list. Neither is tracked by the garbage
collector, so thousands of rows waiting for the writer do not make collections slower.

What JSON cannot carry goes the bound way: a text with a NUL in it (SQLite's JSON functions
stop a text at NUL), an infinite or NaN float (JSON has none), and a float whose magnitude is
over 1e30 or under 1e-30 (newer SQLite reads some of those, past about 1e100, one unit in
the last place off; within these bounds every float and 64-bit integer comes back exactly).
Blobs are bound as one value, and SQLite refuses a value over SQLITE_LIMIT_LENGTH (1e9 bytes by
default): a chunk's blobs are kept under _CHUNK_BYTES, and a blob over that goes in alone.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from itertools import chain
from math import isfinite
from operator import attrgetter
from typing import Any, Callable, Sequence

import msgspec

__all__ = ["RowInserter", "insert_bound", "JSON_PATH", "CHUNK"]

# `->>` arrived in SQLite 3.38 (with JSON built in by default).
JSON_PATH = sqlite3.sqlite_version_info >= (3, 38, 0)

_encode = msgspec.json.Encoder().encode
_astuple = msgspec.structs.astuple
_NUL = b"\\u0000"
# Rows per statement by default: the JSON text is encoded with the GIL held, so keep each
# piece short; but a thread that needs the GIL back after every statement waits for it up to
# the interpreter's switch interval while the event loop is busy, so not too short. Callers
# may ask for less (the writer does while durable senders wait on it: see _eventlog).
CHUNK = 1024
# Blob bytes per statement: they travel as one bound value (see above).
_CHUNK_BYTES = 32 << 20
# Floats JSON carries exactly through every SQLite version checked (3.40, 3.51).
_EXACT_MIN, _EXACT_MAX = 1e-30, 1e30


class RowInserter:
    """INSERTs rows of `row_type` (an array_like Struct, one field per column, in order)
    into `table`. Field `blob` holds the size of that column's blob; the fields in `floats`
    are floats or None. `tail` is SQL for trailing constant columns (", 1"). `columns` names
    the columns the fields and then the tail's values go to (default: the table's, in order),
    so that a column a later migration adds does not shift them."""

    def __init__(self, table: str, row_type: type, blob: str, floats: Sequence[str] = (), tail: str = "",
                 columns: Sequence[str] | None = None) -> None:
        fields = row_type.__struct_fields__
        if columns is not None:
            table = f"{table} ({', '.join(columns)})"
        self._blob = b = fields.index(blob)
        self._floats = [attrgetter(name) for name in floats]
        size = f"coalesce(value->>{b}, 0)"
        columns = [f"substr(?2, 1 + sum({size}) OVER w - {size}, value->>{b})" if i == b else f"value->>{i}"
                   for i in range(len(fields))]
        self.json_sql = f"INSERT INTO {table} SELECT {', '.join(columns)}{tail} FROM json_each(?1) WINDOW w AS (ORDER BY key)"
        self._head = f"INSERT INTO {table} VALUES"
        self._row_sql = "(" + ",".join(["?"] * len(fields)) + tail + ")"

    def insert(self, conn: sqlite3.Connection, rows: Sequence[Any], blobs: Sequence[bytes | None],
               between: Callable[[], None] | None = None, chunk_rows: int = CHUNK) -> None:
        """`blobs[i]` is row i's blob, of the size the row says; `chunk_rows` rows go in a
        statement, and `between` is called between two statements."""
        for i in range(0, len(rows), chunk_rows):
            if i and between is not None:
                between()
            chunk, chunk_blobs = rows[i:i + chunk_rows], blobs[i:i + chunk_rows]
            if sum(map(len, filter(None, chunk_blobs))) > _CHUNK_BYTES:
                self._insert_by_size(conn, chunk, chunk_blobs)
            elif not (JSON_PATH and self._insert_json(conn, chunk, chunk_blobs)):
                self._insert_bound(conn, chunk, chunk_blobs)

    def _insert_by_size(self, conn: sqlite3.Connection, rows: Sequence[Any], blobs: Sequence[bytes | None]) -> None:
        """Rows whose blobs together pass _CHUNK_BYTES: in pieces under it, a bigger blob alone."""
        start = size = 0
        for i, blob in enumerate(blobs):
            n = len(blob) if blob else 0
            if n > _CHUNK_BYTES or size + n > _CHUNK_BYTES:
                self.insert(conn, rows[start:i], blobs[start:i])
                start, size = i, 0
            if n > _CHUNK_BYTES:
                self._insert_bound(conn, rows[i:i + 1], [_storable(conn, blob)])
                start = i + 1
            else:
                size += n
        self.insert(conn, rows[start:], blobs[start:])

    def _insert_bound(self, conn: sqlite3.Connection, rows: Sequence[Any], blobs: Sequence[bytes | None]) -> None:
        b = self._blob
        bound = [(*t[:b], blob, *t[b + 1:]) for t, blob in zip(map(_astuple, rows), blobs)]
        insert_bound(conn, self._head, self._row_sql, bound)

    def _insert_json(self, conn: sqlite3.Connection, rows: Sequence[Any], blobs: Sequence[bytes | None]) -> bool:
        text = _encode(rows)
        if (b"\\" in text and _NUL in text) or not self._floats_exact(rows):  # one byte first: a memchr
            return False
        # One byte more: an empty blob would bind as NULL, and substr of NULL is NULL, not b"".
        conn.execute(self.json_sql, (text, b"".join([*filter(None, blobs), b"."])))
        return True

    def _floats_exact(self, rows: Sequence[Any]) -> bool:
        # filter(None) drops None and 0.0; the rest must lie within the exact bounds. An
        # infinity or NaN makes the sum one (so can an overflow: then the bound path runs,
        # which is only slower). All of it runs in C: no Python frame per row.
        for get in self._floats:
            values = list(filter(None, map(get, rows)))
            if values and not (isfinite(sum(values)) and _EXACT_MIN <= min(map(abs, values))
                               and max(map(abs, values)) <= _EXACT_MAX):
                return False
        return True


def _storable(conn: sqlite3.Connection, blob: bytes | None) -> bytes | None:
    """`blob`, or None where it is over SQLite's length limit: one oversized reply must not stop
    the log (the row is kept, without its blob)."""
    if blob is not None and len(blob) > conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH):
        return None
    return blob


# The bound path: multi-row INSERTs of up to _BOUND_CHUNK rows, one statement per chunk (so
# the GIL is let go once per chunk, not per row as with `executemany`). Chunks are powers of
# two so that few statements are prepared (and cached by sqlite3).
_BOUND_CHUNK = 256


def insert_bound(conn: sqlite3.Connection, head: str, row_sql: str, rows: Sequence[tuple]) -> None:
    """`head` ("INSERT INTO t (a, b) VALUES") then one `row_sql` ("(?,?)") per row."""
    i, n = 0, len(rows)
    while i < n:
        size = min(_BOUND_CHUNK, 1 << ((n - i).bit_length() - 1))
        conn.execute(_statement(head, row_sql, size), list(chain.from_iterable(rows[i:i + size])))
        i += size


@lru_cache(maxsize=64)
def _statement(head: str, row_sql: str, size: int) -> str:
    return f"{head} {','.join([row_sql] * size)}"
