"""The version store: every version of every neuro, its origin and lineage, and its source.

Rows go to the event log's `versions` table (with the source, for rollback after a restart);
the classes of recent versions stay loaded for a quick rollback.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from neuro._manifest import Neuro, source_files

if TYPE_CHECKING:
    from ._eventlog import EventLog

__all__ = ["VersionInfo", "VersionStore"]


class VersionInfo(msgspec.Struct, frozen=True):
    """One version of a neuro in the version store."""

    neuro: str
    version: str
    time: float
    origin: str  # spawn, file, api, rollback, dream
    parent: str | None
    live: bool = False


class VersionStore:
    """What versions each neuro has had, keyed by its manifest name."""

    # Classes of this many recent versions per neuro stay loaded for a quick rollback; older
    # ones are loaded again from the stored source when asked for.
    KEEP_CLASSES = 8

    def __init__(self) -> None:
        self._versions: dict[str, list[VersionInfo]] = {}
        self._classes: dict[tuple[str, str], type[Neuro]] = {}

    def record(self, neuro: type[Neuro], origin: str, parent: str | None, log: EventLog | None,
               source: dict[str, bytes] | None = None, live: Any = None) -> list[type[Neuro]]:
        """Keep a version: hash, origin, parent, and its source; returns classes let go of.
        `live()` gives the versions still running (asked only when old classes are pruned)."""
        name, version = neuro.__manifest__.name, neuro.version()
        key = (name, version)
        history = self._versions.setdefault(name, [])
        if key in self._classes and any(v.version == version for v in history):
            return []  # the same version again (another instance): nothing new
        self._classes[key] = neuro
        dropped: list[type[Neuro]] = []
        if len(history) >= self.KEEP_CLASSES:
            dropped = self._forget_old_classes(name, (live() if live else set()) | {version})
        if any(v.version == version for v in history):
            return dropped
        history.append(VersionInfo(neuro=name, version=version, time=time.time(), origin=origin, parent=parent))
        if log is not None:
            files = source if source is not None else source_files(neuro)
            blob = msgspec.msgpack.encode(files) if files is not None else None
            log.append_version(name, version, origin, parent, blob)
            log.append_event("version", name, origin, {
                "version": version, "parent": parent, "module": neuro.__manifest__.module,
                "path": neuro.__manifest__.source_path})
        return dropped

    def _forget_old_classes(self, name: str, live: set[str]) -> list[type[Neuro]]:
        keys = [key for key in self._classes if key[0] == name]
        return [self._classes.pop(key) for key in keys[:-self.KEEP_CLASSES] if key[1] not in live]

    def loaded(self, name: str, version: str) -> type[Neuro] | None:
        return self._classes.get((name, version))

    def history(self, name: str, live: str | None) -> list[VersionInfo]:
        return [msgspec.structs.replace(v, live=v.version == live) for v in self._versions.get(name, [])]
