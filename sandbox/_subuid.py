"""A host uid of its own for the sandbox of a kernel that is not root: a subordinate uid.

An ordinary user owns a range of subordinate uids and gids (/etc/subuid, /etc/subgid) that
the setuid helpers `newuidmap` and `newgidmap` (Debian package `uidmap`) let it map into a
user namespace of its own. A process that becomes one of them is, on the host, a uid that
user does not own: it cannot read the user's 0600 files, signal the user's processes or
ptrace the kernel, and what it writes into a granted folder is not the user's.

Why not bubblewrap's `--userns-block-fd` with the maps written from outside: bubblewrap that
is not setuid never changes its uid in that mode, and a map only says how a uid looks inside
a namespace; the process keeps its uid on the host. Mapping `65534 -> a subordinate uid`
left the worker the kernel's uid on the host (and unmapped, so bubblewrap could not even make
its root: EOVERFLOW); adding `0 -> the kernel's uid` gave a worker that is root inside and
still the kernel's uid outside. Something must call setuid after the maps are written.

So the launcher enters a user namespace first, `unshare --user` (util-linux 2.38 or newer,
which runs newuidmap and newgidmap on itself), with two entries in each map:

    inside 0      -> the kernel's uid   (the launcher: it mounts what the sandbox cannot reach)
    inside 65534  -> one subordinate id  (the sandbox)

then `setpriv --reuid=65534 --regid=65534 --clear-groups` (which also drops the kernel
user's supplementary groups) execs bubblewrap as the subordinate uid, with no capabilities.
bubblewrap then runs as it always does without setuid: it makes the sandbox's own user
namespace inside that one (`--disable-userns` still applies) and maps 65534 to 65534.

Which subordinate id: one, fixed per user, the last of the first range (165535 for the usual
`100000:65536`; rootless containers map their own uids from the start of the range). Not one
per sandbox: a restart, a hot swap or a rollback is a new worker, and each would lose the
files its last version wrote into its write grant; one uid is also what a grant can be opened
to (`setfacl -m u:165535:rwx`). Sandboxes still cannot signal or ptrace each other: each has
its own pid namespace, so no sandbox can name another's pid (and the seccomp filter refuses
ptrace). A root kernel's sandboxes share the one user neuro-sandbox in the same way.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field

from ._hostuid import HostIds

__all__ = ["INSIDE", "STAGE", "Subordinate", "detect", "ranges", "userns_command", "drop_command",
           "fallback_note"]

INSIDE = 65534  # the uid and gid the sandbox has in the launcher's namespace (and in bubblewrap's)
# Where the launcher mounts its private staging tmpfs (in its own mount namespace only): a
# folder every uid may reach on any Linux, that the sandbox gets a fresh one of anyway.
STAGE = "/dev/shm"
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
_TOOLS = ("unshare", "setpriv", "newuidmap", "newgidmap")
_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_FIRST_FREE = 100000  # SUB_UID_MIN in Debian's login.defs


@dataclass(frozen=True)
class Subordinate:
    """What a kernel that is not root found: the ids its sandboxes run as, or why none."""

    ids: HostIds | None
    tools: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why `ids` is None: each thing missing, and the command that fixes it


def ranges(path: str, name: str, uid: int) -> list[tuple[int, int]]:
    """(start, count) of each range `path` gives the user `name` (or its numeric `uid`), in
    file order, as newuidmap reads it; [] where the file is missing or names no range."""
    found: list[tuple[int, int]] = []
    for owner, start, count in _entries(path):
        if owner in (name, str(uid)) and count > 0:
            found.append((start, count))
    return found


def _entries(path: str) -> list[tuple[str, int, int]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            entries.append((parts[0], int(parts[1]), int(parts[2])))
    return entries


def _free_range(*paths: str) -> tuple[int, int]:
    """A range of 65536 ids that no entry of `paths` uses (what to add for a user who has none)."""
    end = max([_FIRST_FREE] + [start + count for path in paths for _, start, count in _entries(path)])
    return end, end + 65535


def userns_command(ids: HostIds, tools: dict[str, str], mount: bool) -> list[str]:
    """The launcher's own user namespace (and, with `mount`, a private mount namespace): the
    kernel's uid and gid as 0 inside, `ids` as INSIDE; unshare runs newuidmap/newgidmap."""
    namespaces = ["--user", *(["--mount", "--propagation", "private"] if mount else [])]
    return [tools["unshare"], *namespaces, "--map-user=0", f"--map-users={ids.uid},{INSIDE},1",
            "--map-group=0", f"--map-groups={ids.gid},{INSIDE},1", "--"]


def drop_command(tools: dict[str, str]) -> list[str]:
    """Become the subordinate ids (INSIDE in the launcher's namespace), with no other groups."""
    return [tools["setpriv"], f"--reuid={INSIDE}", f"--regid={INSIDE}", "--clear-groups", "--"]


def fallback_note(problem: str) -> str:
    """The `host_uid` entry of `unenforced` for a kernel that is not root and found no ids."""
    return (f"the kernel is not root and {problem}. Until then the sandbox shares the kernel's uid on the "
            "host: what it writes into a granted path is the kernel user's, every permission check there "
            "is made as that user, and a read grant shows it that user's 0600 files")


@functools.lru_cache(maxsize=None)
def detect(subuid: str = SUBUID, subgid: str = SUBGID) -> Subordinate:
    """The subordinate ids this (non-root) kernel's sandboxes run as, decided once: the user's
    ranges, the tools, and one real mapping of them (a range newuidmap refuses is found here,
    not at every spawn)."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = ""
    who = name or f"uid {uid}"
    problems: list[str] = []
    tools = {tool: shutil.which(tool, path=_SYSTEM_PATH) or "" for tool in _TOOLS}
    missing = [tool for tool in ("newuidmap", "newgidmap") if not tools[tool]]
    if missing:
        problems.append(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; install "
                        "them with `sudo apt-get install -y uidmap` (Debian package uidmap)")
    for tool in ("unshare", "setpriv"):
        if not tools[tool]:
            problems.append(f"`{tool}` is missing; install util-linux (2.38 or newer)")
    if tools["unshare"] and not _maps_subordinate(tools["unshare"]):
        problems.append(f"{tools['unshare']} cannot map subordinate ids (no --map-users); install util-linux "
                        "2.38 or newer")
    users, groups = ranges(subuid, name, uid), ranges(subgid, name, gid)
    if not users or not groups:
        low, high = _free_range(subuid, subgid)
        add = " ".join(([f"--add-subuids {low}-{high}"] if not users else [])
                       + ([f"--add-subgids {low}-{high}"] if not groups else []))
        lacks = " and no ".join(([f"subordinate uid range in {subuid}"] if not users else [])
                                + ([f"subordinate gid range in {subgid}"] if not groups else []))
        fix = (f"`sudo usermod {add} {name}`" if name else f"a line `{uid}:{low}:65536` in {subuid} and {subgid}")
        problems.append(f"{who} has no {lacks}; give it one with {fix}")
    if problems:
        return Subordinate(None, problem="; ".join(problems))
    (ustart, ucount), (gstart, gcount) = users[0], groups[0]
    ids = HostIds(ustart + ucount - 1, gstart + gcount - 1, f"a subordinate id of {who}")
    if ids.uid in (0, uid) or ids.gid in (0, gid):  # a range that holds root or the user itself: no isolation
        return Subordinate(None, problem=(
            f"the last id of its first subordinate range ({ids.uid}:{ids.gid}) is root or its own; fix the "
            f"lines for {who} in {subuid} and {subgid} so that neither range holds 0 or its own uid and gid"))
    command = userns_command(ids, tools, mount=False) + drop_command(tools) + [shutil.which("true") or "/bin/true"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
        failed = (done.stderr.strip() or f"exit status {done.returncode}") if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as e:
        failed = str(e)
    if failed:
        return Subordinate(None, problem=(
            f"mapping its subordinate ids {ids.uid}:{ids.gid} failed ({failed}); check the lines for {who} in "
            f"{subuid} and {subgid}, and that newuidmap and newgidmap are setuid root "
            "(`sudo chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap`)"))
    return Subordinate(ids, {tool: tools[tool] for tool in ("unshare", "setpriv")})


def _maps_subordinate(unshare: str) -> bool:
    try:
        return "--map-users" in subprocess.run([unshare, "--help"], capture_output=True, text=True,
                                               timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
