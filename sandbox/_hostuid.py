"""Which host uid a sandbox runs as, and what that uid may reach on the host.

A sandbox must never be the kernel's uid on the host: a file it makes in a write grant, a
setuid bit it sets there, every permission check on a granted path is then the kernel's.
A root kernel starts bubblewrap as the system user `neuro-sandbox` (scripts/setup.sh makes
it), or, where that user does not exist, as a fixed uid and gid that no passwd or group
entry uses. A kernel that is not root runs it as one of its user's subordinate uids
(sandbox/_subuid.py); where the user has none, or newuidmap is missing, it can only be
itself, and `ProcessBackend.unenforced` says so and what to run. Docker runs its containers
as 65534:65534 on the host (no user-namespace remapping).

Whether that uid may write a granted folder is read from the folder's mode bits and, where
it has one, its POSIX access ACL (so `setfacl -m u:UID:rwx`, the fix a refusal offers,
is what the check then sees).
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import stat
import struct
from typing import NamedTuple

__all__ = ["HostIds", "sandbox_ids", "DOCKER_IDS", "can_write", "access_acl", "reachable", "grant_fix"]

USER = "neuro-sandbox"
# Searched downwards for a uid and gid no entry uses; below 65534 (nobody, which NFS and
# Docker use) and above the ranges adduser hands out.
_FALLBACK_FROM, _FALLBACK_TO = 65533, 65000


class HostIds(NamedTuple):
    uid: int
    gid: int
    name: str = ""  # what they are: the user's name, or whose subordinate ids; "" where nothing names them

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
    """Do `st`'s mode bits give `ids` every permission in `bits` (rwx as 4, 2, 1)? (Where
    the file has an access ACL, `_acl_allows` decides instead.)"""
    if st.st_uid == ids.uid:
        return (st.st_mode >> 6) & bits == bits
    if st.st_gid == ids.gid:
        return (st.st_mode >> 3) & bits == bits
    return st.st_mode & bits == bits


# acl(5): the tags of a POSIX ACL entry, as Linux stores them in system.posix_acl_access.
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_ACL_VERSION = 2


def access_acl(path: str, *, follow_symlinks: bool = False) -> list[tuple[int, int, int]] | None:
    """The (tag, perm, id) entries of `path`'s POSIX access ACL; None where it has none
    beyond its mode bits (or the file system keeps none). `follow_symlinks` for a
    /proc/self/fd/N of a descriptor opened without following links."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access", follow_symlinks=follow_symlinks)
    except OSError:
        return None
    if len(raw) < 4 or (len(raw) - 4) % 8 or struct.unpack_from("<I", raw)[0] != _ACL_VERSION:
        return None
    return [struct.unpack_from("<HHI", raw, at) for at in range(4, len(raw), 8)]


def _acl_allows(st: os.stat_result, acl: list[tuple[int, int, int]], ids: HostIds, bits: int) -> bool:
    """The access check of acl(5) for a process of `ids` with no supplementary groups."""
    perms = {tag: perm for tag, perm, _ in acl if tag in (_USER_OBJ, _GROUP_OBJ, _MASK, _OTHER)}
    mask = perms.get(_MASK, 7)
    if st.st_uid == ids.uid:
        return perms.get(_USER_OBJ, 0) & bits == bits
    named = [perm for tag, perm, n in acl if tag == _USER and n == ids.uid]
    if named:
        return named[0] & mask & bits == bits
    groups = ([perms.get(_GROUP_OBJ, 0)] if st.st_gid == ids.gid else []) + [
        perm for tag, perm, n in acl if tag == _GROUP and n == ids.gid]
    if groups:
        return any(perm & mask & bits == bits for perm in groups)
    return perms.get(_OTHER, 0) & bits == bits


def can_write(st: os.stat_result, ids: HostIds, acl: list[tuple[int, int, int]] | None = None) -> bool:
    """Can `ids` create files in this folder (or write this file)? `acl`: its access ACL
    (`access_acl`), where it has one."""
    bits = 3 if stat.S_ISDIR(st.st_mode) else 2
    return _acl_allows(st, acl, ids, bits) if acl else _allows(st, ids, bits)


def reachable(path: str, ids: HostIds) -> bool:
    """Can `ids` look up `path`: search permission on every folder above it?"""
    parent = os.path.dirname(path)
    while True:
        try:
            st, acl = os.stat(parent), access_acl(parent, follow_symlinks=True)
            if not (_acl_allows(st, acl, ids, 1) if acl else _allows(st, ids, 1)):
                return False
        except OSError:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def grant_fix(path: str, st: os.stat_result, ids: HostIds) -> str:
    """What to run so that `ids` may write the granted `path` (a kernel that is not root
    cannot chown, so it is offered the ACL first and no chown)."""
    acl = f"`setfacl -m u:{ids.uid}:rwx {path}` (Debian package acl)"
    fixes = f"{acl} or `chmod o+rwx {path}`"
    if os.geteuid() == 0:
        fixes = f"`chown {ids.uid}:{ids.gid} {path}`, {fixes}"
    return f"owned by uid {st.st_uid}, gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):o}; fix it with {fixes}"
