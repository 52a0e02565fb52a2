"""RowInserter's JSON path must store exactly what binding the values would have stored."""

from __future__ import annotations

import gc
import math
import sqlite3

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro.kernel import _bulkinsert
from neuro.kernel._bulkinsert import RowInserter, insert_bound

SCHEMA = "CREATE TABLE t (a INTEGER, b REAL, c TEXT, d BLOB, e TEXT, f INTEGER)"


class Row(msgspec.Struct, array_like=True, gc=False):
    a: int | None
    b: float | None
    c: str | None
    d_size: int | None
    e: str | None


def _inserter(tail: str = ", 7") -> RowInserter:
    return RowInserter("t", Row, "d_size", ("b",), tail=tail)


def _rows(values: list[tuple]) -> tuple[list[Row], list[bytes | None]]:
    blobs = [v[3] for v in values]
    return [Row(a, b, c, None if d is None else len(d), e) for a, b, c, d, e in values], blobs


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(SCHEMA)
    return conn


def _stored(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT a, b, c, d, e, f, typeof(d) FROM t ORDER BY rowid").fetchall()


def _encodable(values: list[tuple]) -> bool:
    try:
        for row in values:
            for v in row:
                if isinstance(v, str):
                    v.encode()
    except UnicodeEncodeError:
        return False
    return True


values_strategy = st.lists(st.tuples(
    st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)),
    st.one_of(st.none(), st.floats()),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.binary()),
    st.one_of(st.none(), st.text()),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(values_strategy)
def test_json_path_stores_what_binding_stores(values):
    if not _encodable(values):
        return  # a lone surrogate: sqlite3 refuses it on both paths
    fast, slow = _db(), _db()
    _inserter().insert(fast, *_rows(values))
    insert_bound(slow, "INSERT INTO t VALUES", "(?,?,?,?,?,7)", values)
    assert _stored(slow) == _stored(fast)


def test_json_path_is_taken_for_ordinary_rows(monkeypatch):
    calls = []
    monkeypatch.setattr(_bulkinsert, "insert_bound", lambda *a: calls.append(a))
    conn = _db()
    values = [(1, 0.5, "x", b"\x00\x01", None), (2, math.pi, "é", b"", "y"), (3, None, None, None, ""),
              (4, -0.0, "z", b"abc", "w")]
    _inserter(", 0").insert(conn, *_rows(values))
    assert [] == calls
    assert [(1, 0.5, "x", b"\x00\x01", None, 0, "blob"), (2, math.pi, "é", b"", "y", 0, "blob"),
            (3, None, None, None, "", 0, "null"), (4, -0.0, "z", b"abc", "w", 0, "blob")] == _stored(conn)


def test_a_text_with_nul_goes_the_bound_way_and_keeps_all_of_it():
    conn = _db()
    values = [(1, 1.0, "before\x00after", b"p", "e\x00")] * 3
    _inserter(", 0").insert(conn, *_rows(values))
    assert [(1, 1.0, "before\x00after", b"p", "e\x00", 0, "blob")] * 3 == _stored(conn)


@pytest.mark.parametrize("odd", [math.inf, -math.inf])
def test_an_infinite_float_goes_the_bound_way(odd):
    conn = _db()
    _inserter(", 0").insert(conn, *_rows([(1, 2.0, "a", b"", None), (2, odd, "b", b"q", None)]))
    assert [(2.0,), (odd,)] == conn.execute("SELECT b FROM t ORDER BY rowid").fetchall()


def test_batches_longer_than_one_statement():
    """Seven rows a statement, with the caller's hook run between statements: every row and
    blob lands in order."""
    conn = _db()
    values = [(i, i / 3, str(i), bytes([i % 256]) * (i % 5) if i % 11 else None, None) for i in range(100)]
    between = []
    _inserter(", 1").insert(conn, *_rows(values), lambda: between.append(1), 7)
    assert [(*v, 1, "null" if v[3] is None else "blob") for v in values] == _stored(conn)
    assert 100 // 7 == len(between)  # 15 statements, 14 gaps


def test_rows_waiting_for_the_writer_are_not_tracked_by_the_collector():
    rows, _ = _rows([(1, 1.0, "a", b"x", None)])
    assert not gc.is_tracked(rows[0])


@pytest.mark.parametrize("extreme", [1e31, -1e200, 1e-31, -5e-324])
def test_a_float_beyond_the_exact_bounds_goes_the_bound_way(monkeypatch, extreme):
    """Newer SQLite reads some floats past about 1e100 from JSON one unit in the last place off."""
    json_calls = []
    real = RowInserter._insert_json

    def spy(self, conn, rows, blobs):
        took = real(self, conn, rows, blobs)
        json_calls.append(took)
        return took

    monkeypatch.setattr(RowInserter, "_insert_json", spy)
    conn = _db()
    _inserter(", 0").insert(conn, *_rows([(1, 2.5, "a", b"", None), (2, extreme, "b", b"q", None)]))
    assert [False] == json_calls
    assert [(2.5,), (extreme,)] == conn.execute("SELECT b FROM t ORDER BY rowid").fetchall()


def test_blobs_over_the_byte_budget_go_in_pieces_and_a_big_one_alone(monkeypatch):
    """The joined blobs are one bound value, which SQLite caps (SQLITE_LIMIT_LENGTH): a chunk
    stays under _CHUNK_BYTES, and a blob bigger than that is bound by itself."""
    monkeypatch.setattr(_bulkinsert, "_CHUNK_BYTES", 10)
    conn = _db()
    values = [(i, float(i), "t", bytes([i]) * (i % 7) if i % 5 else None, None) for i in range(40)]
    values[17] = (17, 17.0, "big", b"B" * 25, None)  # over the budget on its own
    _inserter(", 1").insert(conn, *_rows(values))
    assert [(*v, 1, "null" if v[3] is None else "blob") for v in values] == _stored(conn)


def test_a_blob_over_sqlites_length_limit_is_dropped_not_the_log(monkeypatch):
    """One oversized reply must not stop the writer: its row is kept, without the blob."""
    monkeypatch.setattr(_bulkinsert, "_CHUNK_BYTES", 10)
    conn = _db()
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    values = [(1, 1.0, "a", b"x" * 5, None), (2, 2.0, "huge", b"H" * 5000, None), (3, 3.0, "c", b"y", None)]
    _inserter(", 0").insert(conn, *_rows(values))
    assert [(1, b"x" * 5), (2, None), (3, b"y")] == conn.execute("SELECT a, d FROM t ORDER BY rowid").fetchall()
