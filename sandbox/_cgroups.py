"""Cgroups for sandboxed workers: memory, CPU and process limits, on cgroup v1 or v2.

`detect()` says which hierarchy this host mounts and which controllers Neuro may use. A
limit that cannot be set here is returned by `Cgroup.apply` as unenforced, so the kernel can
say so in the log instead of pretending.
"""

from __future__ import annotations

import os
import secrets
import signal
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CgroupHost", "Cgroup", "detect"]

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "pids")
PERIOD_US = 100_000
# cpu weights for the priority classes (v2 cpu.weight range 1..10000; v1 cpu.shares 2..262144)
WEIGHTS = {"interactive": (1000, 10240), "normal": (100, 1024), "background": (1, 2)}


@dataclass
class CgroupHost:
    version: int  # 1, 2, or 0 when none can be used
    base: dict[str, str] = field(default_factory=dict)  # controller -> our parent folder
    problem: str = ""
    # Removed while their processes were still dying (a cgroup with processes cannot be
    # removed): tried again before each new one is made, and by `sweep`.
    pending: list[Cgroup] = field(default_factory=list)

    def sweep(self) -> None:
        """Remove the cgroups whose removal waited for their last processes to exit."""
        self.pending = [c for c in self.pending if not c.try_remove()]

    def reap(self) -> int:
        """Remove the cgroups that kernels no longer running left behind (killed before they
        could remove them): a `w<pid>-...` folder of a pid that is gone, once it is empty.
        Returns how many were removed."""
        removed = 0
        for parent in dict.fromkeys(self.base.values()):
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            for folder in names:
                pid = _kernel_pid(folder)
                if pid is None or pid == os.getpid() or _alive(pid):
                    continue
                try:
                    os.rmdir(os.path.join(parent, folder))
                    removed += 1
                except OSError:
                    pass  # still holds processes, or not ours to remove
        return removed

    def create(self, name: str) -> Cgroup | None:
        """A new cgroup named `name` (or `name` and a random suffix, where a folder of that name
        is left over): always made fresh, never one that exists already. A left-over folder
        (one whose processes outlived `remove`, or a past kernel's with the same pid) holds its
        old counters, and an OOM kill counted there would be taken as this worker's."""
        if not self.version:
            return None
        if self.pending:
            self.sweep()
        for attempt in range(8):
            folder = name if not attempt else f"{name}-{secrets.token_hex(3)}"
            paths: dict[str, str] = {}
            made: dict[str, str] = {}  # real path -> folder: two controllers of one hierarchy share it
            try:
                for controller, parent in self.base.items():
                    path = os.path.join(parent, folder)
                    real = os.path.realpath(path)
                    if real not in made:
                        os.mkdir(path)
                        made[real] = path
                    paths[controller] = made[real]
            except FileExistsError:
                Cgroup(self, paths).remove()
                continue
            except OSError:
                Cgroup(self, paths).remove()
                return None
            return Cgroup(self, paths)
        return None


class Cgroup:
    """One worker's cgroup (one folder per controller on v1, one folder on v2)."""

    def __init__(self, host: CgroupHost, paths: dict[str, str]) -> None:
        self.host = host
        self.paths = paths

    def procs_files(self) -> list[str]:
        return sorted({os.path.join(p, "cgroup.procs") for p in self.paths.values()})

    def apply(self, policy: Any) -> dict[str, str]:
        """Set memory, CPU and process limits from `policy`; return those it could not set."""
        unenforced: dict[str, str] = {}
        v2 = self.host.version == 2
        weight = WEIGHTS.get(policy.priority, WEIGHTS["normal"])
        wanted = [
            ("memory", "memory.max" if v2 else "memory.limit_in_bytes",
             str(policy.memory) if policy.memory else ("max" if v2 else "-1"), policy.memory),
            ("cpu", "cpu.max" if v2 else "cpu.cfs_quota_us",
             _cpu_quota(policy.cpu_share, v2), policy.cpu_share),
            ("cpu", "cpu.weight" if v2 else "cpu.shares", str(weight[0] if v2 else weight[1]), True),
            ("pids", "pids.max", str(policy.processes) if policy.processes else "max", policy.processes),
        ]
        if v2 and policy.memory:
            wanted.append(("memory", "memory.swap.max", "0", True))
        for controller, filename, value, asked in wanted:
            folder = self.paths.get(controller)
            if folder is None:
                if asked:
                    unenforced[filename] = f"no {controller} controller here ({self.host.problem or 'not delegated'})"
                continue
            try:
                if not v2 and filename == "cpu.cfs_quota_us":
                    _write(os.path.join(folder, "cpu.cfs_period_us"), str(PERIOD_US))
                _write(os.path.join(folder, filename), value)
            except OSError as e:
                if asked:
                    unenforced[filename] = f"cannot write {filename}: {e.strerror}"
        return unenforced

    def memory_events(self) -> int:
        """How often the memory limit was hit (v1 failcnt, v2 memory.events max+oom_kill)."""
        folder = self.paths.get("memory")
        if folder is None:
            return 0
        try:
            if self.host.version == 1:
                return int(_read(os.path.join(folder, "memory.failcnt")))
            events = dict(line.split() for line in _read(os.path.join(folder, "memory.events")).splitlines())
            return int(events.get("oom_kill", 0)) + int(events.get("max", 0))
        except (OSError, ValueError):
            return 0

    def oom_kills(self) -> int | None:
        """How many of this cgroup's processes the kernel OOM-killed (v1 memory.oom_control,
        v2 memory.events); None where this host keeps no count."""
        folder = self.paths.get("memory")
        if folder is None:
            return None
        name = "memory.events" if self.host.version == 2 else "memory.oom_control"
        try:
            counts = dict(line.split(None, 1) for line in _read(os.path.join(folder, name)).splitlines() if line.strip())
            return int(counts["oom_kill"]) if "oom_kill" in counts else None
        except (OSError, ValueError):
            return None

    def cpu_seconds(self) -> float | None:
        """CPU time this cgroup's processes used (v1 cpuacct.usage, v2 cpu.stat usage_usec);
        None where no counter can be read. Evidence for a CPU-time kill no worker can forge."""
        try:
            if self.host.version == 2:
                folder = next(iter(self.paths.values()), None)
                if folder is None:
                    return None
                stat = dict(line.split(None, 1) for line in _read(os.path.join(folder, "cpu.stat")).splitlines())
                return int(stat["usage_usec"]) / 1e6
            for controller in ("cpuacct", "cpu"):
                folder = self.paths.get(controller)
                if folder is not None and os.path.exists(os.path.join(folder, "cpuacct.usage")):
                    return int(_read(os.path.join(folder, "cpuacct.usage"))) / 1e9
        except (OSError, ValueError, KeyError):
            pass
        return None

    def kill_all(self) -> None:
        """Kill every process still in this cgroup (v2: cgroup.kill; v1: one by one)."""
        if self.host.version == 2:
            folder = next(iter(self.paths.values()), None)
            if folder and os.path.exists(os.path.join(folder, "cgroup.kill")):
                try:
                    _write(os.path.join(folder, "cgroup.kill"), "1")
                    return
                except OSError:
                    pass
        for procs in self.procs_files():
            try:
                for pid in _read(procs).split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            except OSError:
                pass

    def remove(self) -> None:
        """Remove the folders now, or, while processes just killed are still exiting, later
        (`CgroupHost.sweep`): left alone, a busy folder would stay until the host reboots."""
        if not self.try_remove():
            self.host.pending.append(self)

    def try_remove(self) -> bool:
        """True when every folder is gone."""
        gone = True
        for folder in self.paths.values():
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            except OSError:
                gone = False  # still has processes: they die shortly
        return gone


def _kernel_pid(folder: str) -> int | None:
    """The kernel's pid in a worker's cgroup name (`w<pid>-<n>`, maybe `-<suffix>`), else None."""
    head, _, rest = folder.partition("-")
    if head[:1] != "w" or not head[1:].isdigit() or not rest:
        return None
    return int(head[1:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's: it runs
    return True


def _cpu_quota(share: float, v2: bool) -> str:
    if not share:
        return f"max {PERIOD_US}" if v2 else "-1"
    quota = max(1000, int(share * PERIOD_US))
    return f"{quota} {PERIOD_US}" if v2 else str(quota)


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def detect(name: str = "neuro") -> CgroupHost:
    """Find a cgroup hierarchy this process may write, and make Neuro's parent folders in it."""
    if not os.path.isdir(ROOT):
        return CgroupHost(0, problem="no /sys/fs/cgroup on this host")
    if os.path.exists(os.path.join(ROOT, "cgroup.controllers")):
        return _detect_v2(name)
    base, mounts = {}, set()
    for controller in (*V1_CONTROLLERS, "cpuacct"):  # cpuacct: a counter only (CPU time used), no limit
        if controller == "cpuacct" and not os.path.isdir(os.path.join(ROOT, controller)):
            continue
        # cpu and cpuacct are usually links to one `cpu,cpuacct` hierarchy: one folder per worker there
        mount = os.path.realpath(os.path.join(ROOT, controller))
        if mount in mounts:
            continue
        mounts.add(mount)
        parent = os.path.join(ROOT, controller, name)
        try:
            os.makedirs(parent, exist_ok=True)
            base[controller] = parent
        except OSError:
            continue
    if not base:
        return CgroupHost(0, problem="cgroup v1 is mounted but not writable by this user")
    missing = [c for c in V1_CONTROLLERS if c not in base]
    return CgroupHost(1, base, problem=f"controllers not writable: {', '.join(missing)}" if missing else "")


def _detect_v2(name: str) -> CgroupHost:
    # Our own cgroup's folder; make a child for Neuro's workers and delegate controllers to it.
    try:
        own = _read("/proc/self/cgroup").strip().split("::", 1)[-1]
    except OSError:
        own = "/"
    parent = os.path.join(ROOT, own.lstrip("/"), name)
    try:
        os.makedirs(parent, exist_ok=True)
        available = _read(os.path.join(os.path.dirname(parent), "cgroup.controllers")).split()
        wanted = [c for c in V1_CONTROLLERS if c in available]
        _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))
    except OSError as e:
        return CgroupHost(0, problem=f"cgroup v2 is mounted but {parent} is not usable: {e.strerror}")
    missing = [c for c in V1_CONTROLLERS if c not in wanted]
    return CgroupHost(2, {c: parent for c in wanted},
                      problem=f"controllers not delegated: {', '.join(missing)}" if missing else "")
