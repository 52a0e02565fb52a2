"""A version's artifacts reach its neuro: stored in the log, exported once, granted read-only.

Before an instance of a neuro that declares artifacts starts (`prepare`), each artifact is
checked against the policy's ``artifact_bytes``, put in the log's artifact store (with a log;
`kernel._artifacts`, bytes kept by content hash), and exported as the read-only (0444) file
``NEURO_HOME/artifacts/<sha256>``, once for all versions and neuros that share those bytes.
The neuro's policy then grants it read access to exactly those files (`with_grants`: read-only
path grants, so the process and docker sandboxes bind them read-only), and
``ctx.artifact(path)`` gives it each file's path.

Every step checks the bytes against the hash its version was named with: a file changed (or
swapped for a symlink) since it was hashed is refused, never handed out under an old name.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import msgspec
import trio

from neuro._artifactfiles import Artifact, artifact_home, artifact_paths, export_path, sha256_of
from neuro._context import register_artifacts
from neuro._errors import NeuroError, PolicyError

from ._policy import Policy

__all__ = ["prepare", "find_artifacts", "with_grants", "check_size", "artifact_paths"]

# kernel -> hashes its log's artifact store is known to hold (so a start looks only at the export)
_stored: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def check_size(neuro: type, policy: Policy, name: str | None = None) -> None:
    """Refuse artifacts past the policy's ``artifact_bytes`` (their total; 0: no limit),
    naming the policy, the key and the files."""
    limit = policy.artifact_bytes
    found: dict[str, Artifact] = vars(neuro).get("__neuro_artifacts__") or {}
    total = sum(max(a.size, 0) for a in found.values())
    if limit and total > limit:
        big = ", ".join(f"{a.path} ({a.size:,} bytes)" for a in sorted(found.values(), key=lambda a: -a.size)[:3])
        raise PolicyError(
            f"{name or neuro.__manifest__.name}: its artifacts hold {total:,} bytes ({big}), over the "
            f"{limit:,} that policy {policy.name!r} allows (`artifact_bytes`); raise `artifact_bytes` in that "
            "policy, or ship smaller artifacts")


def with_grants(policy: Policy, neuro: type) -> Policy:
    """`policy` with read-only grants of exactly the exported files of `neuro`'s artifacts."""
    paths = tuple(sorted(set(artifact_paths(neuro).values())))
    caps = policy.capabilities
    if not paths:  # granted even beside "*", which a process or docker sandbox takes as no path at all
        return policy
    read = caps.read + tuple(p for p in paths if p not in caps.read)
    return msgspec.structs.replace(policy, capabilities=msgspec.structs.replace(caps, read=read))


async def find_artifacts(neuro: type) -> None:
    """Find and hash the declared artifacts of an imported class in its folder (in a thread),
    unless they are known already (a class loaded from files, or read back from the log)."""
    if neuro.__manifest__.artifacts and "__neuro_artifacts__" not in vars(neuro):
        from neuro._manifest import class_artifacts

        await trio.to_thread.run_sync(class_artifacts, neuro)
    else:
        await trio.lowlevel.checkpoint()


async def prepare(kernel: Any, neuro: type) -> None:
    """Make `neuro`'s declared artifacts ready for an instance to start: hashed (an imported
    class's, in a thread), stored in the log, exported read-only, known to ``ctx.artifact``.
    Once they are exported, this only looks that they still are; always a checkpoint."""
    names = neuro.__manifest__.artifacts
    if not names:
        await trio.lowlevel.checkpoint()
        return
    name = neuro.__manifest__.name
    await find_artifacts(neuro)
    found: dict[str, Artifact] | None = vars(neuro).get("__neuro_artifacts__")
    if found is None:
        raise NeuroError(f"{name} declares artifacts ({', '.join(names)}) but has no folder they could be in: "
                         "define the neuro in a file, beside them")
    missing = [n for n in names if n not in found]
    if missing:
        raise NeuroError(f"{name}: the declared artifacts {missing} were not found with its version; load it "
                         "again from its folder")
    stored = _stored.setdefault(kernel, set())
    if not all(a.size >= 0 and _exported(export_path(a.sha256), a.size)
               and (kernel._eventlog is None or a.sha256 in stored) for a in found.values()):
        store = await _store(kernel)
        ready = {}
        for path, artifact in found.items():
            ready[path] = await trio.to_thread.run_sync(_ready, store, artifact, name)
            if store is not None:
                stored.add(artifact.sha256)
        neuro.__neuro_artifacts__ = found = ready  # sizes filled in for versions read back from the log
    else:
        await trio.lowlevel.checkpoint()
    register_artifacts(neuro.version(), {path: export_path(a.sha256) for path, a in found.items()})


async def _store(kernel: Any) -> Any:
    """The log's artifact store, opened on first use (None without a log)."""
    if kernel._eventlog is None:
        return None
    if kernel._artifacts is None:
        from ._artifacts import ArtifactStore

        kernel._artifacts = await trio.to_thread.run_sync(ArtifactStore, kernel._log_path)
    return kernel._artifacts


def _ready(store: Any, artifact: Artifact, name: str) -> Artifact:
    """Store (with a log) and export one artifact; blocking. Returns it with its size."""
    os.makedirs(artifact_home(), mode=0o755, exist_ok=True)
    dest = export_path(artifact.sha256)
    if store is not None:
        info = store.info(artifact.sha256)
        if info is None:
            info = _put(store, artifact, name)
        if not _exported(dest, info.size):
            store.export(artifact.sha256, dest)
        return msgspec.structs.replace(artifact, size=info.size)
    if artifact.file is None:
        raise NeuroError(f"{name}: artifact {artifact.path!r} ({artifact.sha256[:12]}) is not on disk, and this "
                         "kernel has no log to keep artifacts in; start it with Kernel(log=...)")
    if not _exported(dest, artifact.size):
        _copy(artifact, dest, name)
    return artifact


def _exported(dest: str, size: int) -> bool:
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return False
    import stat

    return stat.S_ISREG(st.st_mode) and st.st_size == size and stat.S_IMODE(st.st_mode) == 0o444


def _open_source(artifact: Artifact, name: str) -> Any:
    if artifact.file is None:
        raise NeuroError(f"{name}: artifact {artifact.path!r} ({artifact.sha256[:12]}) is neither in the log's "
                         "artifact store nor on disk; load the neuro again from its folder")
    try:
        return open(artifact.file, "rb", buffering=0)
    except OSError as e:
        raise NeuroError(f"{name}: artifact {artifact.path!r} cannot be read from {artifact.file}: {e.strerror}") from e


def _changed(artifact: Artifact, name: str, got: str) -> NeuroError:
    return NeuroError(f"{name}: artifact {artifact.path!r} changed since its version was named ({artifact.file} "
                      f"now holds {got[:12]}, not {artifact.sha256[:12]}); load the neuro again")


def _put(store: Any, artifact: Artifact, name: str) -> Any:
    import mimetypes

    media = mimetypes.guess_type(artifact.path)[0] or "application/octet-stream"
    with _open_source(artifact, name) as f:
        info = store.put_stream(iter(lambda: f.read(1 << 20), b""), media)
    if info.hash != artifact.sha256:
        raise _changed(artifact, name, info.hash)
    return info


def _copy(artifact: Artifact, dest: str, name: str) -> None:
    """Without a log: copy the file to `dest`, checked against its hash, 0444, atomically."""
    tmp = f"{dest}.{os.getpid()}.tmp"
    with _open_source(artifact, name) as src:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            with open(fd, "wb", closefd=False) as out:
                got = sha256_of(_Tee(src, out))
            if got != artifact.sha256:
                raise _changed(artifact, name, got)
            os.fchmod(fd, 0o444)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
    os.replace(tmp, dest)


class _Tee:
    """A file object whose reads are also written to `out` (one pass: hashed as copied)."""

    def __init__(self, src: Any, out: Any) -> None:
        self.src, self.out = src, out

    def read(self, n: int) -> bytes:
        data = self.src.read(n)
        self.out.write(data)
        return data
