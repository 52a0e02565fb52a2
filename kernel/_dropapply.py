"""What a drop folder does with a loaded entry: spawn or swap its neuro, hold it while a person
pinned it, stop the neuro of an entry that went away, and the ``drop.*`` events that say so.

`Applying` is mixed into `DropFolder` (kernel/_dropfolder.py), whose state it uses: `kernel`,
`path`, `stop_timeout`, `_entries`, `_broken`, `_pins` and `_counts`.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any

import msgspec

from neuro._errors import NeuroError, NoSuchNeuro
from neuro._neurofile import LoadedNeuro, shown_path

from ._dropstate import Broken, Pin, one_line

__all__ = ["ACTOR", "Applying", "owner_of"]

ACTOR = "dropfolder"
LIVE = ("running", "starting", "restarting", "crashed", "swapping")

# name -> (folder, entry) of every neuro a drop folder of that kernel runs
_owners: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, str]]] = weakref.WeakKeyDictionary()


def owner_of(kernel: Any, name: str) -> tuple[str, str] | None:
    """The (folder, entry) that runs neuro `name` of `kernel`, or None."""
    return _owners.get(kernel, {}).get(name)


class _Entry(msgspec.Struct):
    name: str
    version: str


class Applying:
    """Spawns, swaps, holds and stops for `DropFolder`, one entry at a time."""

    kernel: Any
    path: str
    stop_timeout: float
    _entries: dict[str, _Entry]
    _broken: dict[str, Broken]
    _pins: Any
    _counts: dict[str, int]

    async def _apply(self, entry: str, loaded: LoadedNeuro) -> None:
        owners = _owners.setdefault(self.kernel, {})
        mine = (self.path, entry)
        previous = self._entries.get(entry)
        name = loaded.name
        pin = self._pins.for_entry(self.path, entry)
        if pin is not None:  # a person stopped or rolled it back: this save does not undo that
            await self._hold(entry, loaded, pin)
            return
        running = self._running(name)
        owner = owners.get(name)
        if running and owner != mine:
            who = f"the drop folder entry {owner[0]}/{owner[1]}" if owner else "the API (or a supervisor)"
            self._error(name, loaded.path, f"{loaded.path}: a neuro named {name!r} is already running, started by "
                                           f"{who}; rename this one (its manifest's name) or stop that one first",
                        None, None, entry)
            return
        try:
            if running:
                report = await self.kernel.swap(name, loaded.cls, replay=loaded.replay, origin="file",
                                                source=loaded.files)
                if getattr(report, "stage", None) == "unchanged":
                    self._entries[entry] = _Entry(name, loaded.version)
                    self._fixed(entry, name, loaded)
                    return
                self._counts["swapped"] += 1
                self.kernel._event("drop.swapped", name, ACTOR, file=loaded.path, folder=self.path,
                                   old_version=getattr(report, "old_version", previous.version if previous else None),
                                   version=loaded.version)
            else:
                info = await self.kernel.spawn(loaded.cls, source=loaded.files)
                self._counts["spawned"] += 1
                self.kernel._event("drop.spawned", name, ACTOR, file=loaded.path, folder=self.path,
                                   version=loaded.version, pid=info.pid)
        except NeuroError as e:
            report = getattr(e, "report", None)
            err = getattr(report, "error", None)
            self._error(name, getattr(err, "file", None) or loaded.path, f"{loaded.path}: {e}",
                        getattr(err, "line", None), getattr(err, "traceback", None), entry)
            return
        owners[name] = mine
        self._entries[entry] = _Entry(name, loaded.version)
        self._fixed(entry, name, loaded)
        if previous is not None and previous.name != name:  # the manifest's name changed
            await self._stop(entry, previous.name, loaded.path)

    async def _hold(self, entry: str, loaded: LoadedNeuro, pin: Pin) -> None:
        """A pinned entry's file loaded: say it is held. After a restart, a neuro rolled back
        starts again at its pinned version (from the version store), not the file's."""
        self._fixed(entry, pin.name, loaded)
        if pin.how == "rolled_back" and pin.version and entry not in self._entries and not self._running(pin.name):
            try:
                info = await self.kernel.spawn(pin.name, version=pin.version)
            except NeuroError as e:
                self._error(pin.name, loaded.path, f"{loaded.path}: could not start {pin.name} at its pinned version "
                                                   f"{pin.version[:12]}: {e}; `neuro unpin {pin.name}` starts the "
                                                   "file's version instead", None, None, entry)
                return
            _owners.setdefault(self.kernel, {})[pin.name] = (self.path, entry)
            self._entries[entry] = _Entry(pin.name, info.version)
            self._counts["spawned"] += 1
            self.kernel._event("drop.spawned", pin.name, ACTOR, file=loaded.path, folder=self.path,
                               version=info.version, pid=info.pid)
        self.kernel._event("drop.held", pin.name, ACTOR, file=loaded.path, folder=self.path, how=pin.how,
                           version=loaded.version, pinned_version=pin.version)

    def _fixed(self, entry: str, name: str, loaded: LoadedNeuro) -> None:
        """A version of `entry` loaded: if it was broken, it is no longer, and the log says so."""
        broken = self._broken.pop(entry, None)
        if broken is not None:
            self.kernel._event("drop.fixed", name, ACTOR, file=loaded.path, folder=self.path, version=loaded.version,
                               error=broken.error)

    async def _removed(self, entry: str) -> None:
        self._broken.pop(entry, None)
        pin = self._pins.for_entry(self.path, entry)
        if pin is not None:  # its file is gone: nothing left to hold
            self._pins.pop(pin.name)
        previous = self._entries.pop(entry, None)
        if previous is not None:
            await self._stop(entry, previous.name, os.path.join(self.path, entry))

    async def _stop(self, entry: str, name: str, file: str) -> None:
        owners = _owners.setdefault(self.kernel, {})
        if owners.get(name) != (self.path, entry):
            return
        del owners[name]
        try:
            await self.kernel.stop(name, drain=True, timeout=self.stop_timeout, reason="removed")
        except NoSuchNeuro:
            pass  # stopped already (by the API): nothing left to do
        except NeuroError as e:
            self._error(name, file, f"{file}: could not stop {name}: {e}", None, None)
            return
        self._counts["removed"] += 1
        self.kernel._event("drop.removed", name, ACTOR, file=file, folder=self.path)

    def _running(self, name: str) -> bool:
        try:
            info = self.kernel.info(name)
        except NoSuchNeuro:
            return False
        return str(getattr(info.state, "value", info.state)) in LIVE

    def _error(self, name: str | None, file: str | None, error: str, line: int | None,
               traceback: str | None, entry: str | None = None) -> None:
        self._counts["errors"] += 1
        if entry is not None:  # broken until a version of it loads again
            self._broken[entry] = Broken(name=name, file=shown_path(file) if file is not None else None, line=line,
                                         error=one_line(shown_path(error)), time=time.time())
        self.kernel._event("drop.error", name, ACTOR, folder=shown_path(self.path),
                           file=shown_path(file) if file is not None else None, line=line, error=shown_path(error),
                           traceback=traceback)

