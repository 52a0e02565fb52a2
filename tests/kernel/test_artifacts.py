"""Artifacts in the event log: content-addressed bytes stored and read in chunks, never visible
half stored, deduplicated, exported atomically, deleted for retention."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import trio

import neuro
from neuro.kernel import _artifacts
from neuro.kernel._artifacts import CHUNK_SIZE, ArtifactInfo, ArtifactStore
from neuro.testing import Echo, Ping


@pytest.fixture
def log(tmp_path):
    """A log file a kernel made (so at the current schema)."""
    path = str(tmp_path / "run.db")

    async def main():
        async with neuro.Kernel(log=path):
            pass

    trio.run(main)
    return path


@pytest.fixture
def store(log):
    with ArtifactStore(log) as s:
        yield s


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def counts(path):
    conn = sqlite3.connect(path)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                     for t in ("artifacts", "artifact_chunks", "artifact_uploads"))
    finally:
        conn.close()


def big(n: int, seed: int = 1) -> bytes:
    """`n` bytes that differ from chunk to chunk (so a chunk mixed up with another shows)."""
    return b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(-(-n // 32)))[:n]


# -- storing and reading ------------------------------------------------------------------


def test_bytes_stored_read_back_the_same_under_their_sha256(store):
    """put_bytes returns the sha256, size and media type; open().read() gives the bytes back."""
    info = store.put_bytes(b"weights", media_type="application/x-test")
    assert (sha(b"weights"), 7, "application/x-test") == (info.hash, info.size, info.media_type)
    assert info == store.info(info.hash)
    with store.open(info.hash) as f:
        assert b"weights" == f.read()


def test_a_file_bigger_than_a_chunk_is_stored_in_chunks_and_reads_back_whole(store, log, tmp_path):
    """A file of two chunks and a bit is three chunk rows, full but the last, and reads back
    exactly, by read(), by readinto and in fixed-size reads."""
    data = big(2 * CHUNK_SIZE + 123)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    info = store.put_file(path)
    sizes = [r[0] for r in sqlite3.connect(log).execute(
        "SELECT length(data) FROM artifact_chunks ORDER BY object, seq")]
    assert [CHUNK_SIZE, CHUNK_SIZE, 123] == sizes
    with store.open(info.hash) as f:
        assert data == f.read()
    with store.open(info.hash) as f:
        buffer = bytearray(len(data) + 10)
        assert len(data) == f.readinto(buffer)
        assert data == bytes(buffer[:len(data)])
    with store.open(info.hash) as f:
        pieces = iter(lambda: f.read(300_001), b"")
        assert data == b"".join(pieces)


def test_a_stream_of_odd_sized_pieces_is_recut_into_chunks(store, log):
    """put_stream takes pieces of any size (tiny, huge, empty) and stores the bytes they make
    in chunks of CHUNK_SIZE."""
    data = big(3 * CHUNK_SIZE + 7, seed=2)
    cuts = [0, 1, 1, 100, CHUNK_SIZE + 5, 3 * CHUNK_SIZE, len(data)]
    info = store.put_stream(data[a:b] for a, b in zip(cuts, cuts[1:]))
    assert (sha(data), len(data)) == (info.hash, info.size)
    sizes = [r[0] for r in sqlite3.connect(log).execute("SELECT length(data) FROM artifact_chunks ORDER BY seq")]
    assert [CHUNK_SIZE] * 3 + [7] == sizes
    with store.open(info.hash) as f:
        assert data == f.read()


def test_an_empty_artifact_is_stored_and_reads_back_empty(store):
    """Zero bytes are an artifact like any other, with no chunks."""
    info = store.put_bytes(b"")
    assert (sha(b""), 0) == (info.hash, info.size)
    with store.open(info.hash) as f:
        assert b"" == f.read()


def test_a_reader_seeks_tells_and_iterates_lines_across_chunks(store):
    """The reader is a binary file: seek and tell by byte, and lines that straddle a chunk
    boundary come out whole."""
    line = b"x" * 1000 + b"\n"
    data = line * (2 * CHUNK_SIZE // len(line) + 3)
    info = store.put_bytes(data)
    with store.open(info.hash) as f:
        assert data.splitlines(keepends=True) == list(f)
        f.seek(CHUNK_SIZE - 2)
        assert (CHUNK_SIZE - 2, data[CHUNK_SIZE - 2:CHUNK_SIZE + 2]) == (f.tell(), f.read(4))
        f.seek(-3, os.SEEK_END)
        assert data[-3:] == f.read()


def test_a_closed_reader_refuses_reads(store):
    """Reading a reader after close raises ValueError, as a closed file does."""
    info = store.put_bytes(b"abc")
    f = store.open(info.hash)
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f.read()


def test_an_artifact_that_is_not_stored_is_none_and_cannot_be_opened(store, log):
    """info of an unknown hash is None; open is a LogError naming the hash and the log."""
    missing = sha(b"never stored")
    assert store.info(missing) is None
    with pytest.raises(neuro.LogError) as err:
        store.open(missing)
    assert f"no artifact {missing} in the event log {log!r}" in str(err.value)


def test_a_malformed_hash_is_refused_saying_what_a_hash_is(store):
    """A hash that is not 64 lower-case hex digits is a ValueError that says so."""
    with pytest.raises(ValueError) as err:
        store.info("ABC")
    assert "an artifact hash is the sha256 of its bytes in lower-case hex (64 characters), got 'ABC'" == str(err.value)


def test_put_stream_refuses_a_bytes_object_and_chunks_that_are_not_bytes(store, log):
    """put_stream wants an iterable of bytes: one bytes object, or a str in it, is a TypeError,
    and nothing is stored."""
    with pytest.raises(TypeError, match="use put_bytes"):
        store.put_stream(b"abc")
    with pytest.raises(TypeError, match="must be bytes, got str"):
        store.put_stream([b"a", "b"])
    assert (0, 0, 0) == counts(log)


# -- deduplication ------------------------------------------------------------------------


def test_the_same_bytes_stored_twice_add_nothing(store, log, tmp_path):
    """Bytes already stored, by put_bytes, put_file or put_stream, add no row: the first
    artifact (its media type and time) is what comes back."""
    data = big(CHUNK_SIZE + 5, seed=3)
    first = store.put_bytes(data, media_type="application/x-first")
    before = counts(log)
    path = tmp_path / "again.bin"
    path.write_bytes(data)
    again = [store.put_bytes(data), store.put_file(path, media_type="text/plain"),
             store.put_stream([data[:10], data[10:]])]
    assert [first] * 3 == again
    assert (1, 2, 0) == before == counts(log)


def test_different_bytes_are_different_artifacts(store, log):
    """Two byte strings are two artifacts with their own chunks."""
    a, b = store.put_bytes(b"a" * 10), store.put_bytes(b"b" * 10)
    assert a.hash != b.hash
    assert (2, 2, 0) == counts(log)


# -- never visible half stored ------------------------------------------------------------


def test_a_put_whose_stream_fails_leaves_nothing_behind(store, log, monkeypatch):
    """A stream that raises after some chunks were committed: the error propagates, no
    artifact appears, and its chunks and upload are gone."""
    monkeypatch.setattr(_artifacts, "PIECE_SECONDS", 0.0)  # commit after every chunk
    seen = []

    def pieces():
        for i in range(3):
            yield big(CHUNK_SIZE, seed=10 + i)
            seen.append(counts(log))
        raise OSError("the network went away")

    with pytest.raises(OSError, match="the network went away"):
        store.put_stream(pieces())
    assert (0, 1, 1) == seen[0]  # a committed chunk, under an upload, and no artifact yet
    assert (0, 0, 0) == counts(log)


CRASHING_PUT = textwrap.dedent("""
    import os, sys
    from neuro.kernel import _artifacts
    _artifacts.PIECE_SECONDS = 0.0
    store = _artifacts.ArtifactStore(sys.argv[1])
    def pieces():
        for i in range(3):
            yield bytes([i]) * _artifacts.CHUNK_SIZE
        os._exit(3)  # the process dies mid-put: no cleanup runs
    store.put_stream(pieces())
""")


def test_chunks_of_a_process_that_died_mid_put_are_invisible_and_swept_at_the_next_open(log):
    """A process killed in the middle of a put leaves chunks and an upload row but no
    artifact; the next store to open the log removes them."""
    done = subprocess.run([sys.executable, "-c", CRASHING_PUT, log], capture_output=True, text=True, timeout=120)
    assert 3 == done.returncode, done.stderr
    artifacts, chunks, uploads = counts(log)
    assert (0, 1) == (artifacts, uploads)
    assert chunks >= 2
    with ArtifactStore(log):
        pass
    assert (0, 0, 0) == counts(log)


def upload(log, host, pid, touched):
    """An upload row with one chunk, as another process's put in progress would leave."""
    conn = sqlite3.connect(log)
    with conn:
        conn.execute("INSERT INTO artifact_uploads (object, started, touched, host, pid, token) "
                     "VALUES (1000, ?, ?, ?, ?, 'other')", (touched, touched, host, pid))
        conn.execute("INSERT INTO artifact_chunks (object, seq, data) VALUES (1000, 0, x'00')")
    conn.close()


def test_an_upload_in_progress_elsewhere_is_not_swept(store, log):
    """A sweep keeps the chunks of an upload whose process is alive (here: a live pid on
    this host that is not ours) and that committed lately."""
    upload(log, _artifacts._HOST, os.getppid(), time.time())
    assert 0 == store.sweep()
    assert (0, 1, 1) == counts(log)


def test_an_upload_from_another_host_is_swept_only_once_it_went_stale(store, log):
    """An upload from another host (its pid means nothing here) is kept while it commits,
    and swept after STALE_SECONDS without a commit."""
    upload(log, "elsewhere", 1, time.time() - _artifacts.STALE_SECONDS + 60)
    assert (0, (0, 1, 1)) == (store.sweep(), counts(log))
    conn = sqlite3.connect(log)
    with conn:
        conn.execute("UPDATE artifact_uploads SET touched = ?", (time.time() - _artifacts.STALE_SECONDS - 60,))
    conn.close()
    assert (1, (0, 0, 0)) == (store.sweep(), counts(log))


# -- export -------------------------------------------------------------------------------


def test_export_writes_the_bytes_to_a_read_only_file(store, tmp_path):
    """export writes the artifact's bytes to the path, mode 0444, and leaves no temporary
    file beside it."""
    data = big(CHUNK_SIZE + 99, seed=4)
    info = store.put_bytes(data)
    target = tmp_path / "out" / "weights.bin"
    target.parent.mkdir()
    store.export(info.hash, target)
    assert data == target.read_bytes()
    assert 0o444 == stat.S_IMODE(target.stat().st_mode)
    assert ["weights.bin"] == os.listdir(target.parent)


def test_an_export_that_fails_midway_leaves_the_old_file_and_no_temporary(store, tmp_path, monkeypatch):
    """A write error in the middle of an export raises LogError; the file at the path keeps
    its old bytes and the temporary file is removed."""
    info = store.put_bytes(big(2 * CHUNK_SIZE, seed=5))
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "weights.bin"
    target.write_bytes(b"the old weights")
    real_write, calls = os.write, []

    def failing_write(fd, data):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(neuro.LogError, match="No space left on device"):
        store.export(info.hash, target)
    assert b"the old weights" == target.read_bytes()
    assert ["weights.bin"] == os.listdir(folder)


def test_an_export_whose_bytes_do_not_match_their_hash_is_refused(store, log, tmp_path):
    """Bytes changed in the log under an artifact are caught on export: LogError, no file."""
    info = store.put_bytes(b"good bytes")
    conn = sqlite3.connect(log)
    with conn:
        conn.execute("UPDATE artifact_chunks SET data = x'00'")
        conn.execute("UPDATE artifacts SET size = 1")
    conn.close()
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(neuro.LogError, match=f"artifact {info.hash} .* reads back as {sha(bytes(1))}"):
        store.export(info.hash, folder / "out.bin")
    assert [] == os.listdir(folder)


def test_an_export_to_a_folder_that_does_not_exist_says_so(store, tmp_path):
    """Exporting into a missing folder is a LogError naming the path and the fix."""
    info = store.put_bytes(b"x")
    target = tmp_path / "missing" / "out.bin"
    with pytest.raises(neuro.LogError, match="check the folder exists and is writable"):
        store.export(info.hash, target)


# -- delete -------------------------------------------------------------------------------


def test_delete_removes_the_artifacts_and_their_chunks_and_counts_them(store, log):
    """delete returns how many of the hashes were stored; those are gone, chunks and all;
    the others stay readable."""
    keep = store.put_bytes(b"keep me")
    gone = store.put_bytes(big(2 * CHUNK_SIZE + 1, seed=6))
    assert 1 == store.delete([gone.hash, sha(b"never stored")])
    assert store.info(gone.hash) is None
    assert (1, 1, 0) == counts(log)
    with store.open(keep.hash) as f:
        assert b"keep me" == f.read()
    with pytest.raises(neuro.LogError, match="no artifact"):
        store.open(gone.hash)


def test_a_deleted_artifact_can_be_stored_again(store):
    """After a delete, storing the same bytes makes the artifact again."""
    info = store.put_bytes(b"again")
    store.delete([info.hash])
    assert info.hash == store.put_bytes(b"again").hash
    with store.open(info.hash) as f:
        assert b"again" == f.read()


# -- the store and the log ------------------------------------------------------------------


def test_log_reader_reads_what_the_store_wrote(store, log):
    """LogReader's artifact_info and open_artifact see the store's artifacts."""
    data = big(CHUNK_SIZE + 1, seed=7)
    info = store.put_bytes(data, media_type="application/x-npy")
    with neuro.LogReader(log) as reader:
        assert info == reader.artifact_info(info.hash)
        with reader.open_artifact(info.hash) as f:
            assert data == f.read()
        assert reader.artifact_info(sha(b"none")) is None


def test_a_store_on_a_log_without_artifact_tables_says_how_to_upgrade(tmp_path):
    """A store on a schema-3 log is a LogError telling to open it with a kernel first."""
    path = tmp_path / "old.db"
    path.write_bytes(open(os.path.join(os.path.dirname(__file__), "data", "log_schema3.db"), "rb").read())
    with pytest.raises(neuro.LogError, match=r"schema version 3, without artifacts .* neuro.Kernel\(log=...\)"):
        ArtifactStore(str(path))


def test_a_store_on_a_missing_file_says_so(tmp_path):
    """A store on a path with no log raises LogError and creates nothing."""
    with pytest.raises(neuro.LogError, match="no event log at"):
        ArtifactStore(str(tmp_path / "none.db"))
    assert [] == os.listdir(tmp_path)


def test_a_kernel_keeps_logging_while_a_big_artifact_is_stored(log, monkeypatch):
    """A multi-chunk put in a thread, committing in pieces, and a kernel making calls on the
    same log at the same time: every call is logged with its outcome, and the artifact reads
    back whole."""
    monkeypatch.setattr(_artifacts, "PIECE_SECONDS", 0.0)
    data = big(6 * CHUNK_SIZE, seed=8)
    stored: list[ArtifactInfo] = []

    async def main():
        async with neuro.Kernel(log=log, flush_interval=0.005) as k:
            await k.spawn(Echo)
            with ArtifactStore(log) as store:
                thread = threading.Thread(target=lambda: stored.append(store.put_bytes(data)))
                thread.start()
                n = 0
                while thread.is_alive() or n < 50:
                    await k.call("echo", Ping(n=n))
                    n += 1
                    await trio.sleep(0.001)
                thread.join()
                return n

    calls = trio.run(main)
    with neuro.LogReader(log) as reader:
        assert {"handled": calls} == reader.outcome_counts()["echo"]
        with reader.open_artifact(stored[0].hash) as f:
            assert data == f.read()
