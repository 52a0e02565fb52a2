"""What a drop folder remembers beyond what runs: files that are broken, and pins.

A file that does not load (or whose version the kernel refused) is `Broken` until a version
of it loads again (a ``drop.fixed`` event): `ps_rows` shows it in the process table, as a row
of state ``broken`` when nothing runs from it, else as the `error` of the row that still
serves its last good version.

Pins: what a person did to a drop-folder neuro that the next save of its file must not undo.

`neuro stop NAME` of a neuro that a drop folder runs pins it stopped; `neuro rollback NAME`
pins it to the version it went back to. While pinned, a save of its file is loaded (so a
broken file still shows) but not applied: a ``drop.held`` event says so. `Kernel.unpin`
(`neuro unpin NAME`) removes the pin and loads the file's current version again.

With a file (the daemon's ``$NEURO_HOME/drop-pins.jsonl``), pins last across restarts: at
start a stopped pin keeps its neuro stopped, a rollback pin starts the pinned version from
the version store. The file is one JSON object a line, written whole to a temporary file and
renamed over the old one (a crash leaves the old file or the new, never half of one), mode
0600; a line that does not read is an error naming the file and the line.
"""

from __future__ import annotations

import os
import time
from typing import Literal

import msgspec

from neuro._errors import NeuroError

__all__ = ["Pin", "PinStore", "PinFileError", "Broken", "Unpinned", "ps_rows"]

How = Literal["stopped", "rolled_back"]


class PinFileError(NeuroError):
    """The pins file does not read; the message names the file and the line."""


class Pin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Neuro `name`, run from `entry` of drop folder `folder`, is held as `how` says: stopped,
    or rolled back to `version`; since `time` (UTC seconds)."""

    name: str
    folder: str
    entry: str
    how: How
    version: str | None = None
    time: float = 0.0


_decoder = msgspec.json.Decoder(Pin)


class Unpinned(msgspec.Struct, frozen=True):
    """What `Kernel.unpin` did: the pin it removed (`how`, the pinned `version`), and what
    runs from the file now: `state` running (its `version`), broken (`error`) or stopped."""

    name: str
    file: str
    how: str
    pinned_version: str | None
    state: str
    version: str | None = None
    error: str = ""


class Broken(msgspec.Struct, frozen=True):
    """A drop-folder entry whose last load failed: its neuro's `name` when known, the `file`
    and `line` of the error, the `error` (one line, starting with file:line) and its `time`."""

    name: str | None
    file: str | None
    line: int | None
    error: str
    time: float


def one_line(error: str) -> str:
    """An error as a table cell holds it: its lines joined, blank ones dropped."""
    return " | ".join(line.strip() for line in error.splitlines() if line.strip())


def ps_rows(kernel: object, rows: list) -> list:
    """The process table `rows` (ProcessInfo), with what the drop folders of `kernel` know is
    broken: the `error` of the row that serves a broken file's last good version, and a row of
    state ``broken`` (pid 0) for a file from which nothing runs."""
    from ._dropfolder import owner_of

    index = {row.name: i for i, row in enumerate(rows)}
    for drop in kernel.drop_folders():  # type: ignore[attr-defined]
        for entry, broken in sorted(drop.broken().items()):
            running = drop.running_name(entry)
            name = running or broken.name or entry
            at = index.get(name)
            if at is not None and owner_of(kernel, name) == (drop.path, entry):
                rows[at] = msgspec.structs.replace(rows[at], error=broken.error)
                continue
            if at is not None:  # the name runs, started by someone else: name the row by its file
                name = entry
            row = _broken_row(name, entry, broken, drop.policy)
            index[name] = len(rows)
            rows.append(row)
    return rows


def _broken_row(name: str, entry: str, broken: Broken, policy: str) -> object:
    from ._process import ProcessInfo

    return ProcessInfo(pid=0, name=name, neuro=entry, version="", state="broken", policy=policy, sandbox="-",
                       supervisor="-", mailbox=0, mailbox_capacity=0, received=0, handled=0, errors=0,
                       dead_letters=0, restarts=0, in_flight=0, busy_time=0.0, error=broken.error)


class PinStore:
    """The pins of one kernel's drop folders, by neuro name; kept in `path` when given."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self._pins: dict[str, Pin] = {}

    def load(self) -> None:
        """Read the file (a missing one holds no pins). Raises PinFileError naming the line."""
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        pins: dict[str, Pin] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                pin = _decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise PinFileError(f"{self.path}:{number}: not a pin the kernel wrote ({e}); fix the line, or "
                                   "delete the file to forget every pin (each neuro then follows its file)") from None
            pins[pin.name] = pin
        self._pins = pins

    def get(self, name: str) -> Pin | None:
        return self._pins.get(name)

    def for_entry(self, folder: str, entry: str) -> Pin | None:
        for pin in self._pins.values():
            if pin.folder == folder and pin.entry == entry:
                return pin
        return None

    def all(self) -> list[Pin]:
        return sorted(self._pins.values(), key=lambda p: p.name)

    def put(self, name: str, folder: str, entry: str, how: How, version: str | None) -> Pin:
        pin = self._pins[name] = Pin(name=name, folder=folder, entry=entry, how=how, version=version,
                                     time=time.time())
        self._save()
        return pin

    def pop(self, name: str) -> Pin | None:
        pin = self._pins.pop(name, None)
        if pin is not None:
            self._save()
        return pin

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for pin in self.all():
                f.write(msgspec.json.encode(pin) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
