"""A neuro's artifacts: the files it needs that are not code (weights, vocabularies, data).

A neuro declares them by path, relative to its folder (its package folder, or the folder of
its module): ``artifacts = ("weights.bin", "vocab.txt")`` in its class, or ``artifacts =
["weights.bin"]`` in its neuro.toml. They are part of its version: the identity covers each
one's path and the sha256 of its bytes (`neuro._identity.hash_files`); the 1 MiB limit of
source files does not apply to them, the policy's ``artifact_bytes`` does. The kernel keeps
them in the log's artifact store and hands them to the neuro read-only, exported once as
``NEURO_HOME/artifacts/<sha256>``; the neuro finds each one with ``ctx.artifact(path)``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import msgspec

from neuro._errors import ManifestError

from ._identity import NeuroFileError, is_code, open_inside, shown_path

__all__ = ["Artifact", "MAX_ARTIFACTS", "check_artifact_names", "hash_artifacts", "artifact_home", "export_path",
           "artifact_hashes", "artifact_paths", "sha256_of"]

MAX_ARTIFACTS = 256  # declared files per neuro: data sets of many files belong in one archive
_CHUNK = 1 << 20


class Artifact(msgspec.Struct, frozen=True):
    """One declared artifact of a version: its `path` as declared (relative to the neuro's
    folder), the `sha256` and `size` of its bytes, and the `file` they were read from on this
    machine (None for a version read back from the log: its bytes are in the artifact store)."""

    path: str
    sha256: str
    size: int
    file: str | None = None


def check_artifact_names(value: Any, where: str) -> tuple[str, ...]:
    """The declared artifact paths, checked: plain relative paths inside the neuro's folder,
    each once, not one of its code files. Raises ManifestError naming `where` and the fix."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise ManifestError(f"{where}: `artifacts` must be a tuple of paths relative to the neuro's folder, such "
                            f"as (\"weights.bin\",), got {value!r:.100}")
    if len(value) > MAX_ARTIFACTS:
        raise ManifestError(f"{where}: `artifacts` names {len(value)} files, more than {MAX_ARTIFACTS}: pack a data "
                            "set of many files into one archive")
    seen: set[str] = set()
    for name in value:
        if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name or "\0" in name or any(
                part in ("", ".", "..") for part in name.split("/")):
            raise ManifestError(f"{where}: artifact {name!r:.100} must be a plain path inside the neuro's folder "
                                "(like \"weights.bin\" or \"data/vocab.txt\": no leading /, no '..', no '.')")
        if is_code(name):
            raise ManifestError(f"{where}: artifact {name!r} is one of the neuro's code files, which are its source "
                                "already; declare only data files as artifacts")
        if name in seen:
            raise ManifestError(f"{where}: artifact {name!r} is declared twice")
        seen.add(name)
    return tuple(value)


# (st_dev, st_ino, st_size, st_mtime_ns) -> sha256: a file is hashed again only once it changed.
_hashes: dict[tuple[int, int, int, int], str] = {}


def hash_artifacts(root: str, names: tuple[str, ...], *, checked: bool = True) -> dict[str, Artifact]:
    """Hash each declared artifact under `root` (blocking: streams the bytes). `checked`
    (files from outside) refuses a symlink out of the folder and anything but a regular
    file, looking at the file opened; a missing file is a NeuroFileError naming it."""
    root_real = os.path.realpath(root)
    found: dict[str, Artifact] = {}
    for name in names:
        path = os.path.join(root, *name.split("/"))
        if not os.path.lexists(path):
            raise NeuroFileError(f"the declared artifact {name!r} is not in the neuro's folder ({shown_path(root)}): "
                                 "add the file, or remove it from `artifacts`", file=shown_path(path))
        fd = open_inside(path, root_real) if checked else _open_plain(path)
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            sha = _hashes.get(key)
            if sha is None:
                sha = _hashes[key] = sha256_of(f)
        found[name] = Artifact(path=name, sha256=sha, size=st.st_size, file=path)
    return found


def _open_plain(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NeuroFileError(f"the declared artifact cannot be read: {e.strerror or e}", file=shown_path(path)) from None


def sha256_of(f: Any) -> str:
    """The sha256 of a binary file object's bytes from where it is, read in chunks."""
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def artifact_hashes(artifacts: dict[str, Artifact] | None) -> dict[str, str]:
    """What a version's identity and its row in the log keep of its artifacts: path -> sha256."""
    return {name: a.sha256 for name, a in (artifacts or {}).items()}


def artifact_home() -> str:
    """Where artifacts are exported for neuros to read: ``NEURO_HOME/artifacts``."""
    from neuro._home import neuro_home

    return os.path.join(os.path.abspath(neuro_home()), "artifacts")


def export_path(sha256: str) -> str:
    """The read-only file an artifact with these bytes is exported as."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"an artifact is named by the sha256 of its bytes (64 hex digits), got {sha256!r:.80}")
    return os.path.join(artifact_home(), sha256)


def artifact_paths(neuro: type) -> dict[str, str]:
    """Declared path -> the read-only file it is exported as, for a class whose artifacts the
    kernel has made ready: what ``ctx.artifact`` answers, and what a sandbox must be given
    (read-only) and told (its worker's Load frame) to answer the same."""
    found: dict[str, Artifact] = vars(neuro).get("__neuro_artifacts__") or {}
    return {path: export_path(a.sha256) for path, a in found.items()}
