"""Artifacts: files a version ships that are not code (weights, vocabularies, data), kept in the
event log by content hash, in chunks.

SQLite caps one value at 1e9 bytes, and a value is bound and read whole, so an artifact is a
row of `artifacts` (sha256 hex, size, media type, time) and its bytes are rows of
`artifact_chunks`, CHUNK_SIZE bytes each but the last. Nothing is ever held whole: storing
reads the source into one reused buffer a chunk at a time, reading hands out one chunk's
bytes at a time, and exporting streams them to a file.

Storing 1 GB must not lock the log's writer out: SQLite has one writer at a time, and the
kernel's log writer waits (its busy timeout) while a put holds the lock. So a put commits in
pieces that hold the write lock for about PIECE_SECONDS, and after each it lets go for a little
longer (PAUSE_SECONDS), long enough for the other writer's next retry to find the lock free.

An artifact is never visible half stored: its chunks are written under an upload (a row of
`artifact_uploads`), and its `artifacts` row appears in the commit that writes its last chunk.
Chunks no artifact or live upload owns (a put that was interrupted, a process that died
mid-put, a delete cut short) are swept when a store opens and by `delete`. Storing bytes that
are already there adds nothing: `put_file` and `put_bytes` hash first and write nothing, and
`put_stream`, which can only know the hash at the end, drops what it wrote.

Reading (the `ArtifactReader`, on a read-only connection with a large `mmap_size`) is
kernel/_artifactread.py; that connection stays open with the store, so a second read finds the
pages mapped already.

The privacy labels of artifacts a tainted neuro stored are rows of `artifact_labels` (hash ->
labels), kept before the bytes; kernel/_labels.py reads them back when a kernel starts using
the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from typing import BinaryIO, Iterable, Iterator

import msgspec

from neuro._errors import LogError

from ._artifactread import (ArtifactInfo, ArtifactReader, check_hash, has_artifacts, open_reader, read_info,
                            read_only_uri)
from ._logschema import CHECKPOINT_PAGES
from ._walspace import BUSY_TIMEOUT_MS

__all__ = ["ArtifactInfo", "ArtifactStore", "ArtifactReader", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 20  # bytes per chunk row: the unit of every read and write
# A put holds the write lock about PIECE_SECONDS per commit, then lets go for PAUSE_SECONDS
# (times 1 to 1.5). Another writer blocked meanwhile retries after 1 ms, then 2 ms more (SQLite's
# busy handler): whenever in our piece it blocked, one of those two lands in our pause.
PIECE_SECONDS = 0.002
PAUSE_SECONDS = 0.003
STALE_SECONDS = 3600.0  # an upload untouched this long is dead (on this host: or its pid gone)
MMAP_SIZE = 1 << 40  # SQLite clamps it to its SQLITE_MAX_MMAP_SIZE (2 GB in Debian's build)
_DELETE_ROWS = 16  # chunk rows deleted per commit
_HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex  # this process: tells our uploads from those of a dead one with our pid


def _check_media_type(value: object) -> str:
    if not (isinstance(value, str) and value and "\0" not in value):
        raise TypeError(f"media_type must be a non-empty str such as 'application/octet-stream', got {value!r}")
    return value


def _connect(path: str, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")  # as the log writer's
            # Freed chunk pages go to the freelist without being zeroed first (Debian builds
            # SQLite with SECURE_DELETE, which would write every deleted byte again).
            conn.execute("PRAGMA secure_delete=FAST")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as e:
        raise LogError(f"cannot open the event log {path!r} for artifacts: {e}; check the path") from e
    return conn


class ArtifactStore:
    """Stores and reads artifacts in a log file. Blocking; the kernel calls it from a worker
    thread. Safe to use from several threads: each put has its own connection."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise LogError(f"no event log at {self.path!r}; open it with neuro.Kernel(log=...) first")
        self._lock = threading.Lock()  # guards the shared read connection's statements
        self._read = _connect(self.path, readonly=True)
        try:
            if not has_artifacts(self._read):
                version = self._read.execute("SELECT MAX(version) FROM migrations").fetchall()[0][0]
                raise LogError(f"the event log {self.path!r} has schema version {version}, without artifacts "
                               "(they arrived in schema 4); open it once with neuro.Kernel(log=...) to upgrade it")
        except BaseException as e:
            self._read.close()
            if isinstance(e, sqlite3.Error):
                raise LogError(f"{self.path!r} is not an event log a kernel wrote ({e}); give the log's path") from e
            raise
        self.sweep()

    # -- storing -----------------------------------------------------------------------------

    def put_file(self, path: str | os.PathLike[str], media_type: str = "application/octet-stream") -> ArtifactInfo:
        """Store the bytes of the file at `path`. Already stored: nothing is written (the file
        is read twice otherwise: once for its hash, once to store it)."""
        _check_media_type(media_type)
        buffer = bytearray(CHUNK_SIZE)
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            for piece in _file_pieces(f, buffer):
                digest.update(piece)
            found = self.info(digest.hexdigest())
            if found is not None:
                return found
            f.seek(0)
            return self._store(_file_pieces(f, buffer), media_type)

    def put_bytes(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactInfo:
        """Store `data` (bytes, bytearray or memoryview)."""
        _check_media_type(media_type)
        view = memoryview(data).cast("B")
        found = self.info(hashlib.sha256(view).hexdigest())
        if found is not None:
            return found
        return self._store((view[i:i + CHUNK_SIZE] for i in range(0, len(view), CHUNK_SIZE)), media_type)

    def put_stream(self, chunks: Iterable[bytes], media_type: str = "application/octet-stream") -> ArtifactInfo:
        """Store the bytes `chunks` yields, of any sizes (re-cut into CHUNK_SIZE rows). If the
        iterable raises, nothing is stored and the error propagates."""
        _check_media_type(media_type)
        return self._store(_recut(chunks), media_type)

    def _store(self, pieces: Iterator[memoryview | bytes], media_type: str) -> ArtifactInfo:
        conn = _connect(self.path, readonly=False)
        try:
            return _Upload(conn, self.path).run(pieces, media_type)
        finally:
            conn.close()

    # -- reading ------------------------------------------------------------------------------

    def info(self, hash: str) -> ArtifactInfo | None:
        with self._lock:
            return read_info(self._read, hash)

    def open(self, hash: str) -> BinaryIO:
        """A reader of the artifact's bytes (`read`, `readinto`, lines, `seek`, `with`);
        LogError if it is not stored."""
        with self._lock:
            return open_reader(self._read, hash, self.path)  # type: ignore[return-value]

    def export(self, hash: str, path: str | os.PathLike[str]) -> None:
        """Write the artifact to `path`, read-only (0444), atomically: to a temporary file
        beside it, checked against its hash and flushed to disk, then renamed over `path`.
        A failure leaves `path` as it was."""
        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        reader = self.open(hash)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as e:
            reader.close()
            raise LogError(f"cannot export artifact {hash} to {target!r}: {e}; check the folder exists and is "
                           "writable") from e
        try:
            digest = hashlib.sha256()
            with reader:
                for piece in reader.chunks():  # type: ignore[attr-defined]
                    digest.update(piece)
                    view = memoryview(piece)
                    while view:
                        view = view[os.write(fd, view):]
            if digest.hexdigest() != hash:
                raise LogError(f"artifact {hash} in {self.path!r} reads back as {digest.hexdigest()}: the log is "
                               "damaged; store the file again")
            os.fchmod(fd, 0o444)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, target)
        except BaseException as e:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise LogError(f"cannot export artifact {hash} to {target!r}: {e}") from e
            raise
        try:  # the rename is durable once the folder is flushed
            dfd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    # -- privacy labels (kernel/_labels.py) ---------------------------------------------------

    def labels(self) -> dict[str, frozenset[str]]:
        """The privacy labels kept with artifacts, by hash: those a tainted neuro stored."""
        with self._lock:
            if not self._read.execute("SELECT 1 FROM sqlite_master WHERE name = 'artifact_labels'").fetchall():
                return {}  # a log older than schema 5 holds none
            rows = self._read.execute("SELECT hash, labels FROM artifact_labels").fetchall()
        return {hash: _decode_labels(labels) for hash, labels in rows}

    def keep_labels(self, hash: str, labels: Iterable[str]) -> None:
        """Add `labels` to those kept with artifact `hash` (stored, or about to be: the kernel
        keeps them first, so no crash leaves a tainted neuro's bytes without them)."""
        conn = _connect(self.path, readonly=False)
        try:
            with _write(conn):
                row = conn.execute("SELECT labels FROM artifact_labels WHERE hash = ?", (check_hash(hash),)).fetchone()
                held = _decode_labels(row[0]) if row else frozenset()
                conn.execute("INSERT OR REPLACE INTO artifact_labels (hash, labels) VALUES (?, ?)",
                             (hash, json.dumps(sorted(held | frozenset(labels)))))
        finally:
            conn.close()

    # -- retention ----------------------------------------------------------------------------

    def delete(self, hashes: Iterable[str]) -> int:
        """Delete these artifacts (for retention; the caller decides which are unreferenced);
        returns how many there were. Each disappears at once; its chunks go in small commits."""
        wanted = [check_hash(h) for h in hashes]
        conn = _connect(self.path, readonly=False)
        try:
            deleted = 0
            for hash in wanted:
                with _write(conn):
                    rows = conn.execute("DELETE FROM artifacts WHERE hash = ? RETURNING object", (hash,)).fetchall()
                for (obj,) in rows:  # all fetched: a RETURNING statement still stepping would block the commit
                    deleted += 1
                    _delete_chunks(conn, obj)
            _sweep(conn)
            return deleted
        finally:
            conn.close()

    def sweep(self) -> int:
        """Remove the chunks of puts that did not finish (their process died, or the put was
        interrupted); returns how many chunk rows went. A store does this when it opens."""
        conn = _connect(self.path, readonly=False)
        try:
            return _sweep(conn)
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._read.close()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A row that does not decode fails closed: its artifact keeps a label no policy can name
# (kernel/_governance.py refuses "!"), so only a neuro cleared for every label ("*") reads it.
UNREADABLE_LABELS = frozenset({"!unreadable-labels"})
_labels_decoder = msgspec.json.Decoder(frozenset[str])


def _decode_labels(text: str) -> frozenset[str]:
    try:
        return _labels_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return UNREADABLE_LABELS


class _Upload:
    """One put: chunks under an upload row, committed in pieces, the artifact row last."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self.conn = conn
        self.where = where
        self.object = 0

    def run(self, pieces: Iterator[memoryview | bytes], media_type: str) -> ArtifactInfo:
        conn = self.conn
        now = time.time()
        with _write(conn):
            self.object = conn.execute(
                "INSERT INTO artifact_uploads (started, touched, host, pid, token) VALUES (?, ?, ?, ?, ?) "
                "RETURNING object", (now, now, _HOST, os.getpid(), _TOKEN)).fetchall()[0][0]
        digest = hashlib.sha256()
        size = seq = 0
        try:
            _begin(conn)
            held_since = time.monotonic()
            for piece in pieces:
                digest.update(piece)
                conn.execute("INSERT INTO artifact_chunks (object, seq, data) VALUES (?, ?, ?)",
                             (self.object, seq, piece))
                seq += 1
                size += len(piece)
                held = time.monotonic() - held_since
                if held >= PIECE_SECONDS:
                    self._touch()
                    conn.execute("COMMIT")
                    time.sleep(PAUSE_SECONDS * random.uniform(1.0, 1.5))  # the other writer's turn
                    _begin(conn)
                    held_since = time.monotonic()
            info = self._finish(digest.hexdigest(), size, media_type)
        except BaseException:
            self._abandon()
            raise
        return info

    def _touch(self) -> None:
        cursor = self.conn.execute("UPDATE artifact_uploads SET touched = ? WHERE object = ?",
                                   (time.time(), self.object))
        if cursor.rowcount != 1:
            raise LogError(f"an artifact upload to {self.where!r} was swept as dead while it ran (no commit for "
                           f"{STALE_SECONDS:g} s?); store it again")

    def _finish(self, hash: str, size: int, media_type: str) -> ArtifactInfo:
        """In the open transaction: the artifact row (unless the bytes were there already),
        the upload gone; then commit."""
        conn = self.conn
        self._touch()
        row = conn.execute("SELECT hash, size, media_type, time FROM artifacts WHERE hash = ?", (hash,)).fetchone()
        conn.execute("DELETE FROM artifact_uploads WHERE object = ?", (self.object,))
        if row is None:
            info = ArtifactInfo(hash=hash, size=size, media_type=media_type, time=time.time())
            conn.execute("INSERT INTO artifacts (hash, size, media_type, time, object, chunk_size) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (hash, size, media_type, info.time, self.object, CHUNK_SIZE))
            conn.execute("COMMIT")
            return info
        conn.execute("COMMIT")
        _delete_chunks(conn, self.object)  # stored twice: the first copy stays
        return ArtifactInfo(*row)

    def _abandon(self) -> None:
        """The put failed: its chunks and upload row go (what this cannot remove, a sweep will)."""
        conn = self.conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self.object:
                _delete_chunks(conn, self.object)
                with _write(conn):
                    conn.execute("DELETE FROM artifact_uploads WHERE object = ?", (self.object,))
        except sqlite3.Error:
            pass  # the sweep at the next open removes them; the put's own error is what matters


class _write:
    """`with _write(conn):` one write transaction (BEGIN IMMEDIATE, waiting the busy timeout)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        _begin(self.conn)
        return self.conn

    def __exit__(self, kind: object, *rest: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


def _begin(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        raise LogError(f"the event log stayed locked by another writer for {BUSY_TIMEOUT_MS / 1000:g} s ({e}); "
                       "try the artifact operation again") from e


def _delete_chunks(conn: sqlite3.Connection, obj: int) -> None:
    """Delete object `obj`'s chunk rows, a few per commit, letting other writers in between."""
    while True:
        started = time.monotonic()
        with _write(conn):
            n = conn.execute("DELETE FROM artifact_chunks WHERE id IN (SELECT id FROM artifact_chunks "
                             "WHERE object = ? LIMIT ?)", (obj, _DELETE_ROWS)).rowcount
        if n < _DELETE_ROWS:
            return
        time.sleep(PAUSE_SECONDS * random.uniform(1.0, 1.5))


def _sweep(conn: sqlite3.Connection) -> int:
    """Drop dead uploads, then delete every chunk row no artifact or live upload owns."""
    now = time.time()
    dead = [obj for obj, touched, host, pid, token in
            conn.execute("SELECT object, touched, host, pid, token FROM artifact_uploads").fetchall()
            if _dead(now, touched, host, pid, token)]
    if dead:
        with _write(conn):
            conn.executemany("DELETE FROM artifact_uploads WHERE object = ?", [(o,) for o in dead])
    orphans = [r[0] for r in conn.execute(
        "SELECT DISTINCT object FROM artifact_chunks WHERE object NOT IN (SELECT object FROM artifacts) "
        "AND object NOT IN (SELECT object FROM artifact_uploads)")]
    removed = 0
    for obj in orphans:
        removed += conn.execute("SELECT COUNT(*) FROM artifact_chunks WHERE object = ?", (obj,)).fetchone()[0]
        _delete_chunks(conn, obj)
    return removed


def _dead(now: float, touched: float, host: str, pid: int, token: str) -> bool:
    """Whether an upload is dead: STALE_SECONDS without a commit (a live put commits every few
    ms), or, on this host, its process gone (or our pid with another token: an earlier
    process that had our pid)."""
    if now - touched > STALE_SECONDS:
        return True
    if host != _HOST:
        return False
    if pid == os.getpid():
        return token != _TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, under another user
    return False


def _file_pieces(f: io.RawIOBase, buffer: bytearray) -> Iterator[memoryview]:
    """The file's bytes, CHUNK_SIZE at a time, each in `buffer` (valid until the next)."""
    view = memoryview(buffer)
    while True:
        got = 0
        while got < len(buffer):  # a short read is not the end of the file
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
        if got:
            yield view[:got]
        if got < len(buffer):
            return


def _recut(chunks: Iterable[bytes]) -> Iterator[memoryview | bytes]:
    """Bytes of any sizes, as CHUNK_SIZE pieces (the last shorter) held in one reused buffer."""
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        raise TypeError("put_stream takes an iterable of bytes chunks; use put_bytes for one bytes object")
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    filled = 0
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_stream's chunks must be bytes, got {type(chunk).__name__}")
        data = memoryview(chunk).cast("B")
        while data:
            if filled == 0 and len(data) >= CHUNK_SIZE:  # a whole chunk as it is: no copy
                yield data[:CHUNK_SIZE]
                data = data[CHUNK_SIZE:]
                continue
            n = min(len(data), CHUNK_SIZE - filled)
            view[filled:filled + n] = data[:n]
            filled += n
            data = data[n:]
            if filled == CHUNK_SIZE:
                yield view
                filled = 0
    if filled:
        yield view[:filled]
