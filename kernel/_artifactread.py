"""Reading artifacts (kernel/_artifacts.py stores them): an artifact's record, and its bytes
read a chunk at a time.

An artifact is a row of `artifacts` (sha256 hex, size, media type, time) and its bytes are rows
of `artifact_chunks`. Reading goes through `Connection.blobopen`, one chunk's handle at a time,
on a read-only connection with `mmap_size` as large as this SQLite allows (kernel/_artifacts.py
opens it): SQLite then copies an overflow page's bytes out of the map (its direct overflow read)
rather than through its page cache. Nothing is held whole: a reader hands out one chunk's bytes
at a time, and holds a read snapshot only while it is inside a chunk.
"""

from __future__ import annotations

import io
import os
import sqlite3
from typing import Iterator

import msgspec

from neuro._errors import LogError

__all__ = ["ArtifactInfo", "ArtifactReader", "check_hash", "has_artifacts", "open_reader", "read_info",
           "read_only_uri"]

_PEEK = 8192
_HEX = frozenset("0123456789abcdef")


class ArtifactInfo(msgspec.Struct, frozen=True):
    """One stored artifact: the sha256 (hex) of its bytes, their size, their media type and
    when they were first stored."""

    hash: str
    size: int
    media_type: str
    time: float


def check_hash(value: object) -> str:
    """`value` if it is a sha256 in lower-case hex, else a ValueError saying so."""
    if not (isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)):
        raise ValueError(f"an artifact hash is the sha256 of its bytes in lower-case hex (64 characters), "
                         f"got {value!r}")
    return value


def read_only_uri(path: str) -> str:
    """The URI that opens the SQLite file at `path` read-only (for `sqlite3.connect(uri=True)`)."""
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode=ro"


def has_artifacts(conn: sqlite3.Connection) -> bool:
    """Whether this log has the artifact tables (schema 4 on)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'artifacts'").fetchall()
    return bool(found)


def read_info(conn: sqlite3.Connection, hash: str) -> ArtifactInfo | None:
    rows = conn.execute("SELECT hash, size, media_type, time FROM artifacts WHERE hash = ?", (check_hash(hash),)).fetchall()
    return ArtifactInfo(*rows[0]) if rows else None


def open_reader(conn: sqlite3.Connection, hash: str, where: str) -> ArtifactReader:
    """A reader of artifact `hash` over `conn` (a read connection); LogError if there is none."""
    row = conn.execute("SELECT hash, size, media_type, time, object, chunk_size FROM artifacts WHERE hash = ?",
                       (check_hash(hash),)).fetchone()
    if row is None:
        raise LogError(f"no artifact {hash} in the event log {where!r}; store it first (ArtifactStore.put_file)")
    ids = [r[0] for r in conn.execute("SELECT id FROM artifact_chunks WHERE object = ? ORDER BY seq", (row[4],))]
    info = ArtifactInfo(*row[:4])
    expected = -(-info.size // row[5]) if info.size else 0
    if len(ids) != expected:
        raise LogError(f"artifact {hash} in {where!r} has {len(ids)} of its {expected} chunks: the log is damaged "
                       "or the artifact is being deleted")
    return ArtifactReader(conn, info, row[5], ids)


class ArtifactReader(io.BufferedIOBase):
    """The bytes of one artifact, read a chunk at a time: `read(n)`, `readinto`, `readline`
    and iteration over lines, `seek`, and `with`. A read within one chunk returns SQLite's
    bytes as they come (no copy); `chunks()` yields each chunk's rest whole.

    A reader holds a read snapshot of the log only while it is inside a chunk: one left open
    there keeps checkpoints from finishing, so close it (or read it to the end)."""

    def __init__(self, conn: sqlite3.Connection, info: ArtifactInfo, chunk_size: int, ids: list[int]) -> None:
        super().__init__()
        self.info = info
        self._conn = conn
        self._chunk_size = chunk_size
        self._ids = ids
        self._pos = 0
        self._blob: sqlite3.Blob | None = None
        self._blob_index = -1

    # -- io.BufferedIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.info.size}.get(whence)
        if base is None:
            raise ValueError(f"whence must be io.SEEK_SET, SEEK_CUR or SEEK_END, got {whence!r}")
        if base + offset < 0:
            raise ValueError(f"cannot seek to {base + offset}: before the start of artifact {self.info.hash}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            size = self.info.size - self._pos
        first = self._piece(size)
        if len(first) == size or not first:
            return first
        parts = [first]
        got = len(first)
        while got < size:
            more = self._piece(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    read1 = read

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self._check_open()
        view = memoryview(buffer).cast("B")
        got = 0
        while got < len(view):
            piece = self._piece(len(view) - got)
            if not piece:
                break
            view[got:got + len(piece)] = piece
            got += len(piece)
        return got

    readinto1 = readinto

    def peek(self, size: int = 0) -> bytes:
        """Bytes from here on (8 KiB, or `size` if more; fewer at a chunk's end), not consumed:
        what `readline` and line iteration look ahead with."""
        self._check_open()
        pos = self._pos
        piece = self._piece(max(size, _PEEK))
        self._pos = pos
        return piece

    def chunks(self) -> Iterator[bytes]:
        """The rest of the artifact, a chunk (or its rest) at a time."""
        while piece := self._piece(self._chunk_size):
            yield piece

    def close(self) -> None:
        self._drop_blob()
        super().close()

    # -- inside ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed artifact reader")

    def _piece(self, size: int) -> bytes:
        """Up to `size` bytes from the current position, all from one chunk."""
        if size <= 0 or self._pos >= self.info.size:
            return b""
        index, offset = divmod(self._pos, self._chunk_size)
        if index != self._blob_index:
            self._drop_blob()
            try:
                self._blob = self._conn.blobopen("artifact_chunks", "data", self._ids[index], readonly=True)
            except sqlite3.Error as e:
                raise LogError(f"chunk {index} of artifact {self.info.hash} is gone ({e}): it was deleted while "
                               "being read") from e
            self._blob_index = index
        blob = self._blob
        assert blob is not None
        blob.seek(offset)
        piece = blob.read(size)
        self._pos += len(piece)
        if offset + len(piece) >= len(blob):  # the end of this chunk: let go of its snapshot now
            self._drop_blob()
        return piece

    def _drop_blob(self) -> None:
        if self._blob is not None:
            self._blob.close()
            self._blob = None
            self._blob_index = -1
