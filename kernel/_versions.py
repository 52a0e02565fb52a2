"""The version store: every version of every neuro, its origin and lineage, and its source.

Rows go to the event log's `versions` table (with the source, for rollback after a restart);
the classes of recent versions stay loaded for a quick rollback. `stored_class` is the one way
back from a stored version to a class, for a rollback and for spawning a stored version under
another name; code that was not trusted is described in a sandbox again, never imported here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from neuro._errors import NeuroError
from neuro._manifest import Neuro, source_files

if TYPE_CHECKING:
    from ._eventlog import EventLog

__all__ = ["VersionInfo", "VersionStore", "stored_class"]


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
        # The policy a sandbox described each untrusted version under; None: trusted code.
        self._loaders: dict[tuple[str, str], str | None] = {}

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
        described = "__neuro_described__" in vars(neuro)
        self._loaders[key] = getattr(neuro, "__neuro_loader_policy__", "untrusted") if described else None
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

    def loader_policy(self, name: str, version: str) -> str | None:
        """The policy whose sandbox must describe this version again (None: trusted code).
        A version this store did not record itself counts as untrusted."""
        return self._loaders.get((name, version), "untrusted")

    def match(self, name: str, version: str, shown: str | None = None) -> str:
        """The one version of `name` that `version` is (or is a prefix of); NeuroError if none or several."""
        history = self._versions.get(name, [])
        matches = [v.version for v in history if v.version.startswith(version)]
        if len(matches) != 1:
            known = ", ".join(v.version for v in history) or "none"
            raise NeuroError(f"{shown or name} has {'no' if not matches else 'several'} versions matching "
                             f"{version!r}; known: {known} (see `neuro versions {shown or name}`)")
        return matches[0]


async def stored_class(kernel: Any, name: str, version: str) -> tuple[type[Neuro], dict[str, bytes] | None]:
    """The class of stored `version` of neuro `name` (its manifest name), and the source it
    was loaded from when it had to be loaded again (None when its class was still loaded)."""
    store: VersionStore = kernel._store_versions
    neuro = store.loaded(name, version)
    if neuro is not None:
        return neuro, None
    source = await kernel.log._query("version_source", name, version)
    if source is None:
        raise NeuroError(f"the source of {name} {version} is not in the version store (it keeps sources in the "
                         "event log: start the kernel with Kernel(log=...))")
    shown = f"<{name} {version}>"
    loader = store.loader_policy(name, version)
    if loader is not None:  # untrusted code: described in a sandbox again, never imported here
        from ._loading import describe_source

        return await describe_source(kernel, source, origin=shown, policy=loader), source
    from neuro._neurofile import load_neuro_files

    return load_neuro_files(source, f"neuro_stored.{name.replace('.', '_')}_{version}"), source
