"""The keep file (``$NEURO_HOME/keep.toml``): the neuros the daemon starts again at each start,
and the files `neuro apply` reads. No kernel here: the CLI reads and writes these files with
or without a daemon, and the daemon reads the keep file at start.

A keep file, as `neuro spawn --keep` and `neuro apply` write it:

    [[neuro]]
    name = "echo"
    spec = "neuro.neuros.echo:Echo"      # module:Class, or the absolute path of a neuro file
    policy = "default"                   # optional: the neuro's own otherwise
    trusted = false                      # a file imported and run in the daemon's process
    version = "3fa2..."                  # the version when it was kept (for the record)
    applied = "/home/ann/app.toml"       # kept by `neuro apply` of that file (absent: spawn --keep)

An apply file has the same `[[neuro]]` tables with `name`, `spec`, `policy` and `trusted`
only; a relative path in `spec` is relative to the apply file's folder.

Writes are atomic (a temporary file, fsynced, renamed over the old one; mode 0600) and
serialised between processes by an flock on ``keep.toml.lock``. A file that does not read,
a table of the wrong shape or a name given twice is a `KeepFileError` naming the file and line.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import msgspec

__all__ = ["Kept", "Wanted", "KeepFileError", "read_keep", "read_apply", "write_keep", "locked", "keep", "forget",
           "absolute_spec"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # the kernel's neuro names (neuro._manifest.NAME_PATTERN)


class KeepFileError(ValueError):
    """A keep or apply file does not read: `path` and `line` say where."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line


class Wanted(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One neuro of an apply file: its process `name`, its `spec` (module:Class or a file),
    its `policy` (None: its own) and whether its file is `trusted`."""

    name: str
    spec: str
    policy: str | None = None
    trusted: bool = False


class Kept(Wanted, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One neuro of the keep file: a `Wanted`, the `version` it ran when kept, and the apply
    file that keeps it (`applied`; None for `neuro spawn --keep`)."""

    version: str | None = None
    applied: str | None = None


def read_keep(path: str | os.PathLike[str]) -> list[Kept]:
    """The kept neuros ([] when there is no file). Raises KeepFileError."""
    if not os.path.exists(path):
        return []
    return _read(path, Kept)


def read_apply(path: str | os.PathLike[str]) -> list[Wanted]:
    """The neuros of an apply file, a relative file in `spec` made absolute against the file's
    folder. Raises KeepFileError (FileNotFoundError when there is no such file)."""
    wanted = _read(path, Wanted)
    base = Path(path).absolute().parent
    return [msgspec.structs.replace(w, spec=absolute_spec(w.spec, base)) for w in wanted]


def absolute_spec(spec: str, base: str | os.PathLike[str] | None = None) -> str:
    """`spec` with a file path in it made absolute (against `base`, default the current
    folder): the daemon runs elsewhere. `module:Class` is left as it is."""
    path, colon, cls = spec.partition(":")
    full = Path(base or ".") / path
    if path.endswith(".py") or os.sep in path or full.exists():
        return str(full.absolute()) + colon + cls
    return spec


def _read(path: str | os.PathLike[str], schema: type) -> list[Any]:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise KeepFileError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+), column \d+\)", str(e))
        raise KeepFileError(path, int(match.group(1)) if match else None,
                            f"not valid TOML: {e}; see docs/daemon.md for the file's shape") from None
    lines = raw.decode("utf-8").splitlines()
    unknown = sorted(set(doc) - {"neuro"})
    if unknown:
        raise KeepFileError(path, _key_line(lines, 0, len(lines), unknown[0]),
                            f"unknown key {unknown[0]!r}: the file holds [[neuro]] tables only")
    tables = doc.get("neuro", [])
    if not isinstance(tables, list):
        raise KeepFileError(path, _key_line(lines, 0, len(lines), "neuro"),
                            "`neuro` must be a list of tables: write each one as [[neuro]]")
    starts = [i for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*neuro\s*\]\]", line)]
    out: list[Any] = []
    seen: dict[str, int] = {}
    for n, table in enumerate(tables):
        start = starts[n] if n < len(starts) else 0
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        try:
            entry = msgspec.convert(table, schema)
        except msgspec.ValidationError as e:
            key = re.search(r"`\$\.(\w+)`", str(e))
            unknown_key = re.search(r"unknown field `(\w+)`", str(e))
            field = (unknown_key or key).group(1) if (unknown_key or key) else None
            line = _key_line(lines, start, end, field) if field else start + 1
            raise KeepFileError(path, line, f"neuro #{n + 1}: {e} (fields: {', '.join(schema.__struct_fields__)})") \
                from None
        if not _NAME.match(entry.name):
            raise KeepFileError(path, _key_line(lines, start, end, "name"),
                                f"{entry.name!r} is not a neuro name (lower case letters, digits, '_', '-', '.')")
        if entry.name in seen:
            raise KeepFileError(path, _key_line(lines, start, end, "name"),
                                f"{entry.name!r} is there twice (also at line {seen[entry.name]}); a name runs once")
        seen[entry.name] = _key_line(lines, start, end, "name") or start + 1
        out.append(entry)
    return out


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    """The line (1-based) of `key = ...` between lines `start` and `end`, else the table's first."""
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
    for i in range(start, end):
        if pattern.match(lines[i]):
            return i + 1
    return start + 1 if start < len(lines) else None


# -- writing --------------------------------------------------------------------------------

_HEADER = ("# The neuros the daemon starts again at each start: `neuro spawn --keep` and `neuro apply`\n"
           "# write this file, `neuro stop --forget NAME` takes one out. See docs/daemon.md.\n")


def write_keep(path: str | os.PathLike[str], entries: list[Kept]) -> None:
    """Write the keep file whole, atomically (a temporary file renamed over it), mode 0600."""
    parts = [_HEADER]
    for entry in entries:
        parts.append("\n[[neuro]]\n")
        for field in Kept.__struct_fields__:
            value = getattr(entry, field)
            if value is None or (field == "trusted" and value is False):
                continue
            parts.append(f"{field} = {json.dumps(value)}\n")  # JSON strings and booleans are TOML's too
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(parts))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[list[Kept]]:
    """``with locked(path) as kept:`` the kept neuros, changed in place and written back at the
    end of the block (if changed), with every other writer of the file waiting meanwhile."""
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        kept = read_keep(path)
        before = list(kept)
        yield kept
        if kept != before:
            write_keep(path, kept)
    finally:
        os.close(fd)


def keep(path: str | os.PathLike[str], entry: Kept) -> Kept | None:
    """Keep `entry` (replacing one of the same name); returns the one it replaced, if any."""
    with locked(path) as kept:
        old = next((k for k in kept if k.name == entry.name), None)
        kept[:] = [k for k in kept if k.name != entry.name] + [entry]
    return old


def forget(path: str | os.PathLike[str], name: str) -> Kept | None:
    """Stop keeping `name`; returns what was kept, or None if it was not."""
    if not os.path.exists(path):
        return None
    with locked(path) as kept:
        old = next((k for k in kept if k.name == name), None)
        kept[:] = [k for k in kept if k.name != name]
    return old
