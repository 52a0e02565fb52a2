"""Granted paths, resolved once on the host without following links, at every start.

A path a policy grants is opened one component at a time with O_PATH|O_NOFOLLOW. A
component that is a symbolic link refuses the grant: a neuro with a write grant could plant
one (`G/ref -> /some/host/folder`) and have its next start bind whatever the link names. The
process backend binds the descriptor itself (bwrap `--bind-fd`, or a mount of it made by the
root launcher); Docker takes only paths, so it gets the verified path and the backend checks
after the start that the container holds that same inode.

`NEURO_HOME` holds the control socket and the message log: a grant that covers it gets an
empty read-only folder mounted over it inside the sandbox, and a grant inside it is refused,
save one kind: a read-only grant of an exported artifact, ``NEURO_HOME/artifacts/<sha256>``
(the kernel adds one for each artifact a neuro's version declares). That file is opened like
any grant (no link in its path, the folder's links resolved first: `artifact_grant_path`)
and must be a regular file nobody may write (the kernel exports it 0444), so a neuro sees
those bytes and nothing else of NEURO_HOME: not the log, not the other artifacts.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from neuro._errors import NeuroError

from ._hostuid import HostIds, access_acl, can_write, grant_fix

__all__ = ["Grant", "GrantError", "open_grants", "close_grants", "neuro_home", "home_cover", "check_writable",
           "artifact_grant_path"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class GrantError(NeuroError):
    """A granted path cannot be given to a sandbox as it is; the message names it and the fix."""


@dataclass
class Grant:
    spec: str  # as the policy wrote it
    path: str  # absolute, no symbolic link in it: where it is bound, on the host and inside
    write: bool
    fd: int  # an O_PATH descriptor of it, opened without following links; closed by close_grants
    st: os.stat_result

    def same_inode(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.st.st_dev, self.st.st_ino)


def neuro_home() -> str:
    """NEURO_HOME as the daemon computes it, links resolved (a grant is compared with it)."""
    from neuro._home import neuro_home as home

    return os.path.realpath(home())


def _absolute(spec: str) -> str:
    return os.path.abspath(os.path.expanduser(spec))


def _specs(policy: Any) -> list[tuple[str, bool]]:
    """(spec, write) for each granted path, a path in both lists once (as a write), parents
    before the paths inside them, so that a bind inside another lands on top of it."""
    caps = policy.capabilities
    seen: dict[str, tuple[str, bool]] = {}
    for spec in caps.read:
        if spec != "*":
            seen.setdefault(_absolute(spec), (spec, False))
    for spec in caps.write:
        if spec != "*":
            seen[_absolute(spec)] = (spec, True)
    return [seen[p] for p in sorted(seen, key=lambda p: (p.count("/"), p))]


def home_cover(policy: Any) -> list[str]:
    """The grants of `policy` that cover NEURO_HOME (it, or a folder above it)."""
    home = neuro_home()
    return [spec for spec, _ in _specs(policy)
            if home == _absolute(spec) or home.startswith(_absolute(spec).rstrip("/") + "/")]


def artifact_grant_path(exported: str) -> str:
    """Where an exported artifact (``NEURO_HOME/artifacts/<sha256>``, as the kernel names it)
    is granted, bound and seen inside a sandbox: NEURO_HOME's `artifacts` folder with links
    resolved (a grant has no link in its path, and NEURO_HOME may be a link to a larger
    disk), the file's name as it is. A worker's Load frame tells the neuro this path
    (`ctx.artifact`); a path that names no exported artifact is returned as it is."""
    path = _absolute(exported)
    return _artifact_of(path) or path


def _artifact_of(path: str) -> str | None:
    """The resolved path of the exported artifact `path` names, or None where it names none:
    a file of exactly 64 lower-case hex digits in NEURO_HOME's `artifacts` folder, written as
    the kernel writes it (NEURO_HOME as set, or resolved), never reached through another link."""
    folder, name = os.path.split(path)
    if not _SHA256.fullmatch(name):
        return None
    from neuro._home import neuro_home as home_as_set

    home = neuro_home()
    if folder not in (os.path.join(home, "artifacts"), os.path.join(os.path.abspath(home_as_set()), "artifacts")):
        return None
    return os.path.join(os.path.realpath(os.path.join(home, "artifacts")), name)


def _open_artifact(spec: str, write: bool, resolved: str) -> Grant | None:
    """Open the exported artifact `resolved` for a read-only grant: no link on the way, a
    regular file that no one may write; None where it is missing (as for any grant)."""
    if write:
        raise GrantError(
            f"the write grant {spec!r} is refused: it is an exported artifact in NEURO_HOME, which a sandbox may "
            "only read; grant it in `read`, or a folder outside NEURO_HOME in `write`")
    grant = _open(spec, False, resolved)
    if grant is not None and (not stat.S_ISREG(grant.st.st_mode) or grant.st.st_mode & 0o222):
        close_grants([grant])
        raise GrantError(
            f"the granted artifact {spec!r} is refused: it is not a read-only regular file (mode "
            f"{stat.filemode(grant.st.st_mode)}); the kernel exports artifacts as 0444 files, so something else "
            f"changed it: remove {resolved} and the kernel exports it again at the next start")
    return grant


def _open(spec: str, write: bool, path: str | None = None) -> Grant | None:
    """Open `spec` (or the `path` it was resolved to) component by component without following
    links; None where it is missing."""
    path = path or _absolute(spec)
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    walked = ""
    try:
        for name in [c for c in path.split("/") if c]:
            try:
                child = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                return None  # bound only once it exists, as bwrap's --bind-try did
            os.close(fd)
            fd = child
            walked += "/" + name
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(walked)
                raise GrantError(
                    f"the granted path {spec!r} is refused: {walked} is a symbolic link (to {target!r}); "
                    "a grant must name a real path with no link in it, or a neuro could plant a link "
                    "and have its next start bind what it names; grant the link's target instead")
        grant = Grant(spec, path, write, fd, os.fstat(fd))
        fd = -1
        return grant
    finally:
        if fd >= 0:
            os.close(fd)


def open_grants(policy: Any) -> list[Grant]:
    """Every granted path of `policy` that exists, opened; refuses one inside NEURO_HOME, but
    for a read-only grant of an exported artifact there."""
    home = neuro_home()
    grants: list[Grant] = []
    try:
        for spec, write in _specs(policy):
            path = _absolute(spec)
            artifact = _artifact_of(path)
            if artifact is not None:
                grant = _open_artifact(spec, write, artifact)
                if grant is not None:
                    grants.append(grant)
                continue
            if path.startswith(home + "/"):
                raise GrantError(
                    f"the granted path {spec!r} is refused: it is inside NEURO_HOME ({home}), which holds "
                    "the control socket and the message log, and no sandbox may see them; "
                    "grant a folder outside it")
            grant = _open(spec, write)
            if grant is not None:
                grants.append(grant)
    except BaseException:
        close_grants(grants)
        raise
    grants.sort(key=lambda g: (g.path.count("/"), g.path))  # as resolved: parents still first
    return grants


def close_grants(grants: list[Grant]) -> None:
    for grant in grants:
        if grant.fd >= 0:
            os.close(grant.fd)
            grant.fd = -1


def check_writable(grants: list[Grant], ids: HostIds, backend: str) -> None:
    """Refuse a write grant the sandbox's host uid cannot write, saying why and how to fix it
    (otherwise the neuro meets EACCES later, and nothing says why). The mode bits decide, or
    the folder's access ACL where it has one, read through the descriptor opened without
    following links. The same holds for a root kernel's neuro-sandbox user, a subordinate
    uid of a kernel that is not root, and docker's 65534."""
    for grant in grants:
        if grant.write and not can_write(grant.st, ids, access_acl(f"/proc/self/fd/{grant.fd}", follow_symlinks=True)):
            raise GrantError(
                f"the write grant {grant.spec!r} cannot be written by the {backend} sandbox, which runs as "
                f"{ids} on the host: {grant.path} is {grant_fix(grant.path, grant.st, ids)}")
