"""The process backend: each neuro in its own child process under bubblewrap.

What it isolates: the worker runs in new user, pid, ipc, uts and (unless the policy grants
network) network namespaces, as uid 65534 inside and, outside, never the kernel's uid: the
host user neuro-sandbox under a root kernel, one of the kernel user's subordinate uids under
any other (sandbox/_subuid.py), unable to make namespaces of its own, with
no new privileges, under a seccomp filter close to Docker's default profile, in a new
session whose stdin is /dev/null and whose stdout and stderr are a pipe only the kernel
reads, with a read-only root holding only Python, its packages and Neuro's code, a
read-only /proc/sys, a private /tmp and /dev/shm that share the policy's disk quota, the
paths the policy grants (opened on the host without following links at every start;
NEURO_HOME hidden), an empty environment plus the variables it grants, rlimits (CPU time,
address space, open files, file size) and a cgroup for memory, CPU and process count where
the host allows.

What it does not: it shares the host's kernel (a kernel exploit escapes it); under a kernel
that is not root and whose user has no subordinate uid range (or no newuidmap) the sandbox
is the kernel's own uid on the host (a `quota.unenforceable` event says so and what to run);
CPU time inside the neuro's own threads counts against RLIMIT_CPU only per
process; writes into granted paths are limited per file, not in total. bubblewrap's own
README says it is "not a complete, ready-made sandbox"; this is that plus Neuro's limits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import trio

from neuro._errors import NeuroError

from ._base import Backend
from ._cgroups import CgroupHost, detect
from ._child import start_child
from ._grants import Grant, check_writable, close_grants, home_cover, neuro_home, open_grants
from ._hostuid import HostIds, reachable, sandbox_ids
from . import _subuid
from ._pool import WarmPool
from ._carrier import SocketCarrier
from ._protocol import WorkerProtocol
from ._remote import RemoteWorker
from . import _seccomp

__all__ = ["ProcessBackend", "bwrap_command", "BubblewrapMissing", "disk_split"]

UNPRIVILEGED = 65534  # nobody, inside the sandbox's user namespace
# An empty folder on the host; the root launcher mounts its private staging tmpfs on it.
STAGE = "/run/neuro-sandbox"
# /dev/shm's share of the disk quota (the rest is /tmp's): an eighth, at most this.
SHM_MAX = 8 << 20
# Parts of /proc a neuro must never write, made read-only whatever bwrap decides.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")


class BubblewrapMissing(NeuroError):
    """bubblewrap is not installed: the process backend cannot start."""


def _python_roots() -> list[str]:
    """The folders Python and Neuro's packages are read from, to bind read-only."""
    import neuro
    import neuro.kernel
    import neuro.neuros
    import neuro.sandbox

    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and "site-packages" in entry:
            roots.add(os.path.realpath(entry))
    for module in (neuro, neuro.kernel, neuro.sandbox, neuro.neuros):  # neuro.client (ctx.kernel) is in neuro/
        roots.add(os.path.dirname(os.path.realpath(module.__file__)))
    # neuro.dream: a class's `dream = {...}` is checked by neuro.dream._settings where it is
    # defined, in the sandbox too (found, not imported: the kernel does not load the daemon here).
    import importlib.util

    dream = importlib.util.find_spec("neuro.dream")
    if dream is not None and dream.submodule_search_locations:
        roots.update(os.path.realpath(p) for p in dream.submodule_search_locations)
    policies = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(neuro.kernel.__file__))), "policies")
    if os.path.isdir(policies):
        roots.add(policies)
    # Drop folders inside others, so each is bound once.
    ordered = sorted(roots, key=len)
    kept: list[str] = []
    for root in ordered:
        if not any(root == k or root.startswith(k + os.sep) for k in kept):
            kept.append(root)
    return kept


def _gpu_access() -> list[str]:
    """What a policy that grants GPU memory adds: the NVIDIA device nodes, the driver's
    folder, /sys (read-only; CUDA enumerates devices there) and the driver's environment."""
    import glob

    args: list[str] = []
    for node in sorted(glob.glob("/dev/nvidia*")) + ["/dev/dri"]:
        args += ["--dev-bind-try", node, node]
    args += ["--ro-bind-try", "/usr/local/nvidia", "/usr/local/nvidia", "--ro-bind-try", "/sys", "/sys"]
    for name, value in os.environ.items():
        if name in ("LD_LIBRARY_PATH", "CUDA_HOME") or name.startswith(("NVIDIA_", "CUDA_VISIBLE")):
            args += ["--setenv", name, value]
    return args


@dataclass
class _Bind:
    """One host path bound into the sandbox, at the same path."""

    path: str
    write: bool = False
    fd: int = -1  # bind this descriptor (bwrap --bind-fd: it checks the inode it mounted)
    stage: str = ""  # bind this mount the root launcher made of it (see _launcher)
    st: os.stat_result | None = None

    def args(self) -> list[str]:
        if self.stage:
            return ["--bind" if self.write else "--ro-bind", self.stage, self.path]
        if self.fd >= 0:
            return ["--bind-fd" if self.write else "--ro-bind-fd", str(self.fd), self.path]
        return ["--bind" if self.write else "--ro-bind", self.path, self.path]


def disk_split(disk: int) -> tuple[int, int]:
    """(/tmp, /dev/shm) sizes whose sum is the disk quota: every writable place counts."""
    if not disk:
        return 0, 0
    shm = min(disk // 8, SHM_MAX)
    return disk - shm, shm


def bwrap_command(policy: Any, fd: int, bwrap: str = "bwrap", *, binds: list[_Bind] | None = None,
                  seccomp: int | None = None, mask: str = "", disable_userns: bool = True) -> list[str]:
    """The bubblewrap command line that runs a worker under `policy`. `binds`: Python's
    folders and the granted paths (default: Python's folders, bound by path); `seccomp`: a
    descriptor holding the filter; `mask`: a folder (NEURO_HOME) to hide under an empty one;
    `disable_userns`: bwrap 0.8's --disable-userns (the filter refuses namespaces anyway)."""
    caps = policy.capabilities
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-user", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--uid", str(UNPRIVILEGED), "--gid", str(UNPRIVILEGED)]
    if disable_userns:
        args.append("--disable-userns")
    if not caps.network:
        args.append("--unshare-net")
    if seccomp is not None:
        args += ["--seccomp", str(seccomp)]
    tmp_size, shm_size = disk_split(caps.disk)
    # The private /tmp first: binds made after it land on top, so a checkout or virtual
    # environment that lives under /tmp stays visible.
    if tmp_size:
        args += ["--size", str(tmp_size)]
    args += ["--tmpfs", "/tmp"]
    for system in ("/usr", "/lib", "/lib64", "/bin", "/sbin"):
        if os.path.exists(system):
            args += ["--ro-bind", system, system]
    # trio's import asks ctypes.util.find_library for libpthread, which runs `/sbin/ldconfig
    # -p` (it reads this cache); without both, it falls back to running gcc: 20 ms a start.
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if caps.network:
        for name in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl"):
            args += ["--ro-bind-try", name, name]
    binds = binds if binds is not None else [_Bind(root) for root in _python_roots()]
    inside = [b for b in binds if mask and b.path.startswith(mask.rstrip("/") + "/")]  # exported artifacts
    for bind in binds:
        if not any(bind is b for b in inside):
            args += bind.args()
    if mask:  # after the grant that covers it, so it lands on top; the artifacts in it on top of that
        args += ["--size", "4096", "--tmpfs", mask]
        for bind in inside:
            args += bind.args()
    args += ["--clearenv", "--proc", "/proc"]  # --clearenv before any --setenv
    # bwrap makes these read-only only where access(W_OK) succeeds; as an unprivileged uid
    # it does not, yet a neuro must never write a sysctl or sysrq: read-only, always.
    for name in PROC_READ_ONLY:
        if os.path.exists(f"/proc/{name}"):
            args += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    args += ["--dev", "/dev"]
    if policy.gpu_memory:
        args += _gpu_access()
    if shm_size:
        args += ["--size", str(shm_size)]
    args += ["--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    if mask:
        args += ["--remount-ro", mask]
    args += ["--remount-ro", "/"]  # last: / and /etc are bwrap's own tmpfs, unbounded
    args += ["--setenv", "HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--chdir", "/tmp"]
    for name in caps.env:
        if name == "*":
            continue
        if name in os.environ:
            args += ["--setenv", name, os.environ[name]]
    limits = []
    if policy.cpu_time:
        limits += ["--cpu-time", str(int(policy.cpu_time))]
    if policy.memory:
        limits += ["--address-space", str(policy.memory + (256 << 20))]  # + the interpreter's own mappings
    if policy.open_files:
        limits += ["--open-files", str(policy.open_files)]
    if caps.disk:
        limits += ["--file-size", str(caps.disk)]
    args += ["--", sys.executable, "-s", "-B", "-m", "neuro.sandbox.worker", "--fd", str(fd), *limits]
    return args


def _launcher(joins: list[str], staged: list[_Bind], ids: HostIds | None, tools: dict[str, str],
              subordinate: bool = False) -> list[str]:
    """What runs before bwrap, as the kernel's uid: join the worker's cgroup (so all that
    follows is in it), then mount the paths the sandbox's uid cannot reach in a private
    mount namespace (checking each is the inode the kernel opened) and become that uid. A
    root kernel mounts as root. A kernel that is not root (`subordinate`: `ids` are its
    user's subordinate ids) joins the cgroup as itself, enters a user namespace of its own
    that maps its uid to 0 and `ids` to 65534 (sandbox/_subuid.py), mounts as root there,
    and becomes 65534 there, which is `ids` on the host."""
    join = [f"echo $$ > {shlex.quote(f)}" for f in joins]
    mounts = _stage_script(staged, _subuid.STAGE if subordinate else STAGE) if staged else []
    if subordinate:
        assert ids is not None
        return [*_sh(join), *_subuid.userns_command(ids, tools, mount=bool(staged)), *_sh(mounts),
                *_subuid.drop_command(tools)]
    unshare = [tools["unshare"], "--mount", "--propagation", "private", "--"] if staged else []
    setpriv = [] if ids is None else [tools["setpriv"], f"--reuid={ids.uid}", f"--regid={ids.gid}",
                                      "--clear-groups", "--"]
    return [*unshare, *_sh(join + mounts), *setpriv]


def _stage_script(staged: list[_Bind], stage: str) -> list[str]:
    """Mount a private tmpfs on `stage`, bind each of `staged` under it, check the inodes."""
    script = [f"mount -t tmpfs -o size=64k,mode=0755,nosuid,nodev,noexec neuro-stage {stage}"]
    folders = [b.stage for b in staged if b.st is not None and stat.S_ISDIR(b.st.st_mode)]
    if folders:
        script.append("mkdir " + " ".join(folders))
    script += [f": > {b.stage}" for b in staged if b.stage not in folders]
    script += [f"mount --rbind {shlex.quote(b.path)} {b.stage}" for b in staged]
    want = shlex.quote("\n".join(f"{b.st.st_dev}:{b.st.st_ino}" for b in staged if b.st is not None))
    script.append(f'[ "$(stat -c %d:%i {" ".join(b.stage for b in staged)})" = {want} ] || '
                  '{ echo "neuro: a granted path changed while it was being bound; not starting" >&2; exit 125; }')
    return script


def _sh(lines: list[str]) -> list[str]:
    """A shell that runs `lines` and then execs the rest of the command line; [] for none."""
    return ["/bin/sh", "-c", "set -e; " + "; ".join(lines) + '; exec "$@"', "sh"] if lines else []


class ProcessBackend(Backend):
    name = "process"
    isolation = __doc__.split("\n\n")[1].replace("\n", " ")

    def __init__(self, *, pool_size: int = 2, bwrap: str | None = None) -> None:
        self.pool_size = pool_size
        self.bwrap = bwrap or shutil.which("bwrap")
        self.cgroups: CgroupHost | None = None
        self._pool = WarmPool(self._spawn, pool_size)
        self._nursery: trio.Nursery | None = None
        self._count = 0
        self._all: set[WorkerProtocol] = set()
        # The host uid the sandboxes run as (None: the kernel's own). A root kernel's is decided
        # now; any other kernel's, its user's subordinate ids, at first use (_require: it runs
        # newuidmap once). `_subordinate` None: not looked for yet.
        self.ids: HostIds | None = sandbox_ids() if os.geteuid() == 0 else None
        self._subordinate: bool | None = False if os.geteuid() == 0 else None
        self._uid_problem = ""  # why a kernel that is not root found no subordinate ids, and the fix
        self._tools: dict[str, str] = {}
        self._options: str | None = None  # bwrap --help: which options this bubblewrap has

    def bind(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._pool.nursery = nursery

    def _require(self) -> str:
        if not self.bwrap:
            raise BubblewrapMissing(
                "the process sandbox needs bubblewrap, which is not installed; install it with "
                "`apt-get install -y bubblewrap` (or run scripts/setup.sh --sandboxes)")
        if self._nursery is None:
            raise NeuroError("the process backend is not bound to a running kernel")
        if self.cgroups is None:
            self.cgroups = detect()
            # what kernels killed before they could clean up left (thousands, after a crash
            # loop): removed off the event loop
            threading.Thread(target=self.cgroups.reap, name="neuro-cgroup-reap", daemon=True).start()
        if self._options is None:
            try:
                self._options = subprocess.run([self.bwrap, "--help"], capture_output=True, text=True,
                                               timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                self._options = ""
        if self._subordinate is None:
            found = _subuid.detect()
            self.ids, self._tools, self._uid_problem = found.ids, dict(found.tools), found.problem
            self._subordinate = found.ids is not None
        if self.ids is not None and not self._tools:
            for tool in ("setpriv", "unshare"):
                found = shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/sbin")
                if found is None:
                    raise NeuroError(f"the process sandbox of a root kernel needs `{tool}` (Debian package "
                                     "util-linux) to run sandboxes as an unprivileged uid; install util-linux")
                self._tools[tool] = found
            os.makedirs(STAGE, mode=0o755, exist_ok=True)  # only ever a mount point, in private namespaces
        return self.bwrap

    def unenforced(self, policy: Any) -> dict[str, Any]:
        """What this host cannot hold a process-backend neuro to."""
        self._require()
        assert self.cgroups is not None
        missing: dict[str, Any] = {}
        writable = [p for p in policy.capabilities.write if p != "*"]
        if policy.capabilities.disk and writable:
            missing["disk"] = (f"granted write paths {writable} are limited per file (RLIMIT_FSIZE), not in "
                               "total; the sandbox's own /tmp and /dev/shm are limited in total")
        if self.ids is None:
            missing["host_uid"] = _subuid.fallback_note(
                self._uid_problem or "its sandboxes were given no host uid of their own (ProcessBackend.ids is None)")
        if not _seccomp.machine_supported():
            import platform

            missing["seccomp"] = (f"no system-call table for {platform.machine()}: the worker runs without a "
                                  "seccomp filter")
        covers = home_cover(policy)
        if covers:
            missing["neuro_home"] = (f"the grants {covers} cover NEURO_HOME ({neuro_home()}), which holds the control "
                                     "socket and the message log: the sandbox sees an empty read-only folder there")
        if not self.cgroups.version:
            for name in ("memory", "cpu_share", "processes"):
                if getattr(policy, name):
                    missing[name] = f"no usable cgroups: {self.cgroups.problem}"
        elif self.cgroups.problem:
            for controller, name in (("memory", "memory"), ("cpu", "cpu_share"), ("pids", "processes")):
                if getattr(policy, name) and controller not in self.cgroups.base:
                    missing[name] = self.cgroups.problem
        if policy.gpu_memory:
            missing["gpu_memory"] = "applied by torch inside the worker, only when the neuro uses CUDA"
        return missing

    async def _spawn(self, policy: Any) -> WorkerProtocol:
        bwrap = self._require()
        assert self.cgroups is not None
        self._count += 1
        cgroup = self.cgroups.create(f"w{os.getpid()}-{self._count}")
        unenforced = cgroup.apply(policy) if cgroup is not None else {}
        try:
            binds, grants = self._binds(policy)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        kernel_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        seccomp = _seccomp.pipe_fd()
        output, output_end = os.pipe()  # the worker's stdout and stderr: only the kernel reads them
        home = neuro_home()
        mask = home if os.path.isdir(home) and any(
            home == b.path or home.startswith(b.path.rstrip("/") + "/") for b in binds) else ""
        try:
            command = bwrap_command(policy, worker_end.fileno(), bwrap, binds=binds, seccomp=seccomp, mask=mask,
                                    disable_userns="--disable-userns" in (self._options or ""))
            # Joins the cgroup before bubblewrap starts, so all it runs is in it.
            joins = cgroup.procs_files() if cgroup is not None else []
            command = _launcher(joins, [b for b in binds if b.stage], self.ids, self._tools,
                                subordinate=bool(self._subordinate)) + command
            if policy.priority == "background":  # the lowest CPU priority, beside a low cgroup weight
                command = ["nice", "-n", "19", *command]
            fds = [worker_end.fileno(), *(b.fd for b in binds if b.fd >= 0)]
            if seccomp is not None:
                fds.append(seccomp)
            started = time.perf_counter()
            # bubblewrap's own init is pid 1 in the sandbox and runs as the worker's uid: give it
            # an empty environment too, or /proc/1/environ shows the kernel's.
            # Forked from this thread, not trio's worker threads: see _child.
            process = start_child(command, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=output_end,
                                  stderr=output_end, start_new_session=True, env={"PATH": "/usr/bin:/bin"})
        except BaseException:
            os.close(output)
            kernel_end.close()
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            close_grants(grants)
            worker_end.close()
            os.close(output_end)
            if seccomp is not None:
                os.close(seccomp)
        kernel_end.setblocking(False)
        carrier = SocketCarrier(process, kernel_end, cgroup, unenforced)
        handle = WorkerProtocol(carrier, policy, started)
        self._all.add(handle)
        assert self._nursery is not None
        self._nursery.start_soon(handle.run)
        self._nursery.start_soon(carrier.read_output, output)
        return handle

    def _binds(self, policy: Any) -> tuple[list[_Bind], list[Grant]]:
        """Python's folders and the granted paths, opened now (at every start), each bound by
        path, by descriptor, or, where the sandbox's host uid cannot reach it, staged."""
        ids = self.ids
        stage = _subuid.STAGE if self._subordinate else STAGE
        grants = open_grants(policy)
        try:
            if ids is not None:
                check_writable(grants, ids, "process")
            binds: list[_Bind] = []
            for root in _python_roots():
                if ids is not None and not reachable(root, ids):
                    binds.append(_Bind(root, stage=f"{stage}/{len(binds)}", st=os.stat(root)))
                else:
                    binds.append(_Bind(root))
            for grant in grants:
                if ids is not None and not reachable(grant.path, ids):
                    binds.append(_Bind(grant.path, grant.write, stage=f"{stage}/{len(binds)}", st=grant.st))
                elif "--bind-fd" in (self._options or ""):
                    binds.append(_Bind(grant.path, grant.write, fd=grant.fd, st=grant.st))
                else:  # bubblewrap before 0.5: by path, as resolved (and checked for links) just now
                    binds.append(_Bind(grant.path, grant.write, st=grant.st))
        except BaseException:
            close_grants(grants)
            raise
        return binds, grants

    async def warm(self, policy: Any) -> None:
        """Fill the pool for `policy` now (before the first spawn needs it)."""
        await self._pool.fill(policy)

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        return await self._pool.start(neuro, policy)

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        """Import `source` in a warm worker of `policy` (see WarmPool.describe)."""
        return await self._pool.describe(source, version, origin, policy, deadline)

    async def aclose(self) -> None:
        self._pool.close()
        for handle in list(self._all):
            await handle.stop(0.5)
        self._all.clear()
        cgroups = self.cgroups
        for _ in range(20):  # the last workers' processes were killed: they exit within moments
            if cgroups is None or not cgroups.pending:
                break
            cgroups.sweep()
            await trio.sleep(0.05)
