"""The version store: every version of every neuro, its origin and lineage, and its source.

It lives in the event log: each version is a row of the `versions` table (its source, its
`lineage` and its `artifacts` as JSON), written when it is first recorded and read back when
a kernel starts on that log (`read_history`), so history, lineage and rollback survive a
restart. The classes of recent versions stay loaded for a quick rollback. `stored_class` is
the one way back from a stored version to a class, for a rollback and for spawning a stored
version under another name: code that was trusted is imported again, code that was not is
described in a sandbox again (the lineage records which, by the policy that loaded it).

Lineage is what a version came from: its origin (spawn, file, api, rollback, dream), its
parents, and what made it; a maker such as the dream daemon adds its own figures by setting
``__neuro_lineage__`` (a dict of `Lineage` fields) on the class before it is swapped in.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Callable

import msgspec

from neuro._artifactfiles import Artifact, artifact_hashes
from neuro._errors import NeuroError
from neuro._identity import canonical_files, hash_files
from neuro._manifest import Neuro, source_files

from ._events import event_data

if TYPE_CHECKING:
    from ._eventlog import EventLog

__all__ = ["VersionInfo", "VersionStore", "VersionSource", "Lineage", "stored_class", "read_history",
           "adopt_source", "diff_sources"]


class Lineage(msgspec.Struct, frozen=True):
    """Where a version came from (the `versions.lineage` JSON of the log)."""

    origin: str = ""  # spawn, file, api, rollback, dream
    parents: list[str] = []  # the version(s) it was made from
    # Whether its code was vouched for: trusted code is imported by the kernel; the rest is
    # read in a sandbox of `loader` (the policy that described it), after a restart too.
    trusted: bool = False
    loader: str = "untrusted"
    teacher: str | None = None  # a distilled version: the version whose traces it learnt from
    traces: list[int] = []  # the trace window it learnt from: first and last message id
    gate: dict[str, float] = {}  # the figures of the gates it passed (agreement, accuracy, ...)
    notes: dict[str, Any] = {}  # anything else its maker wants kept


class VersionInfo(msgspec.Struct, frozen=True):
    """One version of a neuro in the version store: its `artifacts` are path -> sha256."""

    neuro: str
    version: str
    time: float
    origin: str  # spawn, file, api, rollback, dream
    parent: str | None
    live: bool = False
    lineage: Lineage = msgspec.field(default_factory=Lineage)
    artifacts: dict[str, str] = {}


class VersionSource(msgspec.Struct, frozen=True):
    """The code of one stored version: `files` (path -> text, in the layout of
    `neuro._identity`) and its `artifacts` (path -> sha256 of the bytes)."""

    neuro: str
    version: str
    files: dict[str, str]
    artifacts: dict[str, str] = {}


_lineage = msgspec.json.Decoder(Lineage)
_artifacts = msgspec.json.Decoder(dict[str, str])


def read_history(path: str) -> list[VersionInfo]:
    """Every version row of the log at `path`, oldest first, without the sources (blocking).
    A row from before lineage was kept (an upgraded log) counts as untrusted code."""
    if path == ":memory:":
        return []
    import urllib.parse

    uri = path if path.startswith("file:") else f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(versions)")}
        extra = [c if c in columns else "NULL" for c in ("lineage", "artifacts")]
        rows = conn.execute(f"SELECT neuro, version, time, origin, parent, {extra[0]}, {extra[1]} FROM versions "
                            "ORDER BY time, rowid").fetchall()
    finally:
        conn.close()
    out = []
    for neuro, version, at, origin, parent, lineage, artifacts in rows:
        try:
            lin = _lineage.decode(lineage) if lineage else Lineage(origin=origin, parents=[parent] if parent else [])
            arts = _artifacts.decode(artifacts) if artifacts else {}
        except msgspec.DecodeError:  # a row this Neuro cannot read: it counts as untrusted, with no artifacts
            lin, arts = Lineage(origin=origin, parents=[parent] if parent else []), {}
        out.append(VersionInfo(neuro=neuro, version=version, time=at, origin=origin, parent=parent, lineage=lin,
                               artifacts=arts))
    return out


def adopt_source(neuro: type[Neuro], source: dict[str, bytes]) -> None:
    """Give `neuro` the exact `source` it was loaded from (any layout; kept in the one
    layout, without tests and caches) and the version that source and its declared
    artifacts make: how a ``source=`` dict (the control socket, a drop folder) enters."""
    files = canonical_files(source)
    neuro.__neuro_source__ = files
    neuro.__version_cache__ = hash_files(files, artifact_hashes(vars(neuro).get("__neuro_artifacts__")))


class VersionStore:
    """What versions each neuro has had, keyed by its manifest name."""

    # Classes of this many recent versions per neuro stay loaded for a quick rollback; older
    # ones are loaded again from the stored source when asked for.
    KEEP_CLASSES = 8

    def __init__(self) -> None:
        self._versions: dict[str, list[VersionInfo]] = {}
        self._classes: dict[tuple[str, str], type[Neuro]] = {}

    def load(self, history: list[VersionInfo]) -> None:
        """Take the versions a log holds (`read_history`), before anything is recorded."""
        for info in history:
            versions = self._versions.setdefault(info.neuro, [])
            if not any(v.version == info.version for v in versions):
                versions.append(info)

    def record(self, neuro: type[Neuro], origin: str, parent: str | None, log: EventLog | None,
               source: dict[str, bytes] | None = None, live: Callable[[], set[str]] | None = None,
               ) -> list[type[Neuro]]:
        """Keep a version: hash, origin, lineage, artifacts and its source; returns classes
        let go of. `live()` gives the versions still running (asked only when old classes are
        pruned)."""
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
        lineage = _lineage_of(neuro, origin, parent)
        artifacts = artifact_hashes(vars(neuro).get("__neuro_artifacts__"))
        history.append(VersionInfo(neuro=name, version=version, time=time.time(), origin=origin, parent=parent,
                                   lineage=lineage, artifacts=artifacts))
        if log is not None:
            files = source if source is not None else vars(neuro).get("__neuro_source__") or source_files(neuro)
            blob = msgspec.msgpack.encode(canonical_files(files)) if files is not None else None
            log.append_version(name, version, origin, parent, blob, lineage=msgspec.to_builtins(lineage),
                               artifacts=artifacts or None)
            log.append_event("version.recorded", name, origin, event_data("version.recorded", {
                "version": version, "parent": parent, "module": neuro.__manifest__.module,
                "path": neuro.__manifest__.source_path}))
        return dropped

    def _forget_old_classes(self, name: str, live: set[str]) -> list[type[Neuro]]:
        keys = [key for key in self._classes if key[0] == name]
        return [self._classes.pop(key) for key in keys[:-self.KEEP_CLASSES] if key[1] not in live]

    def loaded(self, name: str, version: str) -> type[Neuro] | None:
        return self._classes.get((name, version))

    def history(self, name: str, live: str | None) -> list[VersionInfo]:
        return [msgspec.structs.replace(v, live=v.version == live) for v in self._versions.get(name, [])]

    def info(self, name: str, version: str) -> VersionInfo | None:
        return next((v for v in self._versions.get(name, []) if v.version == version), None)

    def loader_policy(self, name: str, version: str) -> str | None:
        """The policy whose sandbox must describe this version again (None: trusted code).
        A version whose lineage does not say it was trusted counts as untrusted."""
        info = self.info(name, version)
        if info is None:
            return "untrusted"
        return None if info.lineage.trusted else info.lineage.loader

    def match(self, name: str, version: str, shown: str | None = None) -> str:
        """The one version of `name` that `version` is (or is a prefix of); NeuroError if none or several."""
        history = self._versions.get(name, [])
        matches = [v.version for v in history if v.version.startswith(version)]
        if len(matches) != 1:
            known = ", ".join(v.version for v in history) or "none"
            raise NeuroError(f"{shown or name} has {'no' if not matches else 'several'} versions matching "
                             f"{version!r}; known: {known} (see `neuro versions {shown or name}`)")
        return matches[0]


def _lineage_of(neuro: type[Neuro], origin: str, parent: str | None) -> Lineage:
    """The lineage of a version being recorded: what the kernel knows, and what its maker
    added as ``__neuro_lineage__`` (the kernel's own facts win: origin, parent and trust)."""
    described = "__neuro_described__" in vars(neuro)
    added = vars(neuro).get("__neuro_lineage__") or {}
    unknown = sorted(set(added) - set(Lineage.__struct_fields__)) if isinstance(added, dict) else []
    if unknown:
        raise NeuroError(f"{neuro.__manifest__.name}: its __neuro_lineage__ has unknown keys {unknown}; known: "
                         f"{', '.join(Lineage.__struct_fields__)} (put anything else under `notes`)")
    try:
        extra = msgspec.convert(added, Lineage) if added else Lineage()
    except msgspec.ValidationError as e:
        raise NeuroError(f"{neuro.__manifest__.name}: its __neuro_lineage__ is not a lineage: {e}") from None
    parents = [parent] if parent else []
    parents += [p for p in extra.parents if p not in parents]
    return msgspec.structs.replace(
        extra, origin=origin, parents=parents, trusted=not described,
        loader=getattr(neuro, "__neuro_loader_policy__", "untrusted") if described else "untrusted")


async def stored_class(kernel: Any, name: str, version: str) -> tuple[type[Neuro], dict[str, bytes] | None]:
    """The class of stored `version` of neuro `name` (its manifest name), and the source it
    was loaded from when it had to be loaded again (None when its class was still loaded).
    A class loaded again keeps the stored version's name and artifacts."""
    store: VersionStore = kernel._store_versions
    neuro = store.loaded(name, version)
    if neuro is not None:
        return neuro, None
    source = await kernel.log._query("version_source", name, version) if kernel._eventlog is not None else None
    if source is None:
        raise NeuroError(f"the source of {name} {version} is not in the version store (it keeps sources in the "
                         "event log: start the kernel with Kernel(log=...))")
    shown = f"<{name} {version}>"
    loader = store.loader_policy(name, version)
    if loader is not None:  # untrusted code: described in a sandbox again, never imported here
        from ._loading import describe_source

        cls = await describe_source(kernel, source, origin=shown, policy=loader)
    else:
        from neuro._neurofile import load_neuro_files

        cls = load_neuro_files(source, f"neuro_stored.{name.replace('.', '_')}_{version}")
    info = store.info(name, version)
    if info is not None and info.artifacts:
        cls.__neuro_artifacts__ = {path: Artifact(path=path, sha256=sha, size=-1)
                                   for path, sha in info.artifacts.items()}
    cls.__neuro_source__ = canonical_files(source)
    cls.__version_cache__ = version  # the name it was stored under, whatever hashed it then
    return cls, source


def diff_sources(old: VersionSource, new: VersionSource, context: int = 3) -> str:
    """A unified diff of two stored versions' code (files by their path inside the neuro: a
    single module's own name does not count), then a line for each artifact that changed;
    empty when both are the same code."""
    import difflib

    def inner(src: VersionSource) -> dict[str, tuple[str, str]]:
        if len(src.files) == 1 and "/" not in next(iter(src.files)):
            rel, text = next(iter(src.files.items()))
            return {"": (rel, text)}
        return {rel.split("/", 1)[1]: (rel, text) for rel, text in src.files.items()}

    a, b = inner(old), inner(new)
    out: list[str] = []
    for key in sorted(set(a) | set(b)):
        a_rel, a_text = a.get(key, (None, ""))
        b_rel, b_text = b.get(key, (None, ""))
        for line in difflib.unified_diff(
                a_text.splitlines(keepends=True), b_text.splitlines(keepends=True),
                fromfile=f"{old.neuro}@{old.version}/{a_rel}" if a_rel else "/dev/null",
                tofile=f"{new.neuro}@{new.version}/{b_rel}" if b_rel else "/dev/null", n=context):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    for path in sorted(set(old.artifacts) | set(new.artifacts)):
        was, now = old.artifacts.get(path), new.artifacts.get(path)
        if was != now:
            out.append(f"artifact {path}: {was[:12] if was else '(none)'} -> {now[:12] if now else '(none)'}\n")
    return "".join(out)
