"""Which host uid a sandbox runs as, and what that uid may reach on the host.

A sandbox must never be the kernel's uid on the host: a file it makes in a write grant, a
setuid bit it sets there, every permission check on a granted path is then the kernel's.
A root kernel starts bubblewrap as the system user `neuro-sandbox` (scripts/setup.sh makes
it), or, where that user does not exist, as a fixed uid and gid that no passwd or group
entry uses. A kernel that is not root can only be itself; `ProcessBackend.unenforced` says
so. Docker runs its containers as 65534:65534 on the host (no user-namespace remapping).
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import stat
from typing import NamedTuple

__all__ = ["HostIds", "sandbox_ids", "DOCKER_IDS", "can_write", "reachable", "grant_fix"]

USER = "neuro-sandbox"
# Searched downwards for a uid and gid no entry uses; below 65534 (nobody, which NFS and
# Docker use) and above the ranges adduser hands out.
_FALLBACK_FROM, _FALLBACK_TO = 65533, 65000


class HostIds(NamedTuple):
    uid: int
    gid: int
    name: str = ""  # the user's name; "" where no passwd entry names it

    def __str__(self) -> str:
        ids = f"uid {self.uid}, gid {self.gid}"
        return f"{self.name} ({ids})" if self.name else ids


DOCKER_IDS = HostIds(65534, 65534)


@functools.lru_cache(maxsize=None)
def sandbox_ids() -> HostIds:
    """The host uid and gid a root kernel runs its process sandboxes as (one place decides)."""
    try:
        entry = pwd.getpwnam(USER)
        return HostIds(entry.pw_uid, entry.pw_gid, USER)
    except KeyError:
        pass
    for n in range(_FALLBACK_FROM, _FALLBACK_TO, -1):
        if not _exists(pwd.getpwuid, n) and not _exists(grp.getgrgid, n):
            return HostIds(n, n)
    raise LookupError(f"no free uid from {_FALLBACK_FROM} down to {_FALLBACK_TO}; "
                      f"create the user {USER} (scripts/setup.sh does, as root)")


def _exists(lookup, n: int) -> bool:
    try:
        lookup(n)
        return True
    except KeyError:
        return False


def _allows(st: os.stat_result, ids: HostIds, bits: int) -> bool:
    """Do `st`'s mode bits give `ids` every permission in `bits` (rwx as 4, 2, 1)? POSIX
    ACLs are not read: a folder that only an ACL opens counts as closed (the safe side)."""
    if st.st_uid == ids.uid:
        return (st.st_mode >> 6) & bits == bits
    if st.st_gid == ids.gid:
        return (st.st_mode >> 3) & bits == bits
    return st.st_mode & bits == bits


def can_write(st: os.stat_result, ids: HostIds) -> bool:
    """Can `ids` create files in this folder (or write this file)?"""
    return _allows(st, ids, 3 if stat.S_ISDIR(st.st_mode) else 2)


def reachable(path: str, ids: HostIds) -> bool:
    """Can `ids` look up `path`: search permission on every folder above it?"""
    parent = os.path.dirname(path)
    while True:
        try:
            if not _allows(os.stat(parent), ids, 1):
                return False
        except OSError:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def grant_fix(path: str, st: os.stat_result, ids: HostIds) -> str:
    """What to run so that `ids` may write the granted `path`."""
    return (f"owned by uid {st.st_uid}, gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):o}; "
            f"fix it with `chown {ids.uid}:{ids.gid} {path}`, `setfacl -m u:{ids.uid}:rwx {path}` "
            f"or `chmod o+rwx {path}`")
