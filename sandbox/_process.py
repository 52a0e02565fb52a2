"""The process backend: each neuro in its own child process under bubblewrap.

What it isolates: the worker runs in new user, pid, ipc, uts and (unless the policy grants
network) network namespaces, as an unprivileged uid, in a new session (no TIOCSTI into the
kernel's terminal), with a read-only view of only Python, its packages and Neuro's own code,
a private /tmp (size-limited by the policy's disk quota), the paths the policy grants, an
empty environment plus the variables it grants, rlimits (CPU time, address space, open
files, file size) and a cgroup for memory, CPU and process count where the host allows.

What it does not: it shares the host's kernel (a kernel exploit escapes it); it does not
filter system calls (no seccomp profile); CPU time inside the neuro's own threads counts
against RLIMIT_CPU only per process. bubblewrap's own README says it is "not a complete,
ready-made sandbox"; this is that plus Neuro's limits.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import trio

from neuro._errors import NeuroError

from ._base import Backend
from ._cgroups import CgroupHost, detect
from ._child import start_child
from ._pool import WarmPool
from ._remote import WorkerProcess, RemoteWorker

__all__ = ["ProcessBackend", "bwrap_command", "BubblewrapMissing"]

UNPRIVILEGED = 65534  # nobody, inside the sandbox's user namespace


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
    for module in (neuro, neuro.kernel, neuro.sandbox, neuro.neuros):
        roots.add(os.path.dirname(os.path.realpath(module.__file__)))
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


def bwrap_command(policy: Any, fd: int, bwrap: str = "bwrap") -> list[str]:
    """The bubblewrap command line that runs a worker under `policy`."""
    caps = policy.capabilities
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-user", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--uid", str(UNPRIVILEGED), "--gid", str(UNPRIVILEGED)]
    if not caps.network:
        args.append("--unshare-net")
    # The private /tmp first: binds made after it land on top, so a checkout or virtual
    # environment that lives under /tmp stays visible.
    if caps.disk:
        args += ["--size", str(caps.disk)]
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
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if policy.gpu_memory:
        args += _gpu_access()
    for path in caps.read:
        if path != "*":
            args += ["--ro-bind-try", path, path]
    for path in caps.write:
        if path != "*":
            args += ["--bind-try", path, path]
    args[args.index("--proc"):args.index("--proc")] = ["--clearenv"]  # before any --setenv
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
        self._all: set[WorkerProcess] = set()

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
        return self.bwrap

    def unenforced(self, policy: Any) -> dict[str, Any]:
        """What this host cannot hold a process-backend neuro to."""
        self._require()
        assert self.cgroups is not None
        missing: dict[str, Any] = {}
        writable = [p for p in policy.capabilities.write if p != "*"]
        if policy.capabilities.disk and writable:
            missing["disk"] = (f"granted write paths {writable} are limited per file (RLIMIT_FSIZE), not in "
                               "total; the sandbox's own /tmp is limited in total")
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

    async def _spawn(self, policy: Any) -> WorkerProcess:
        bwrap = self._require()
        assert self.cgroups is not None
        self._count += 1
        cgroup = self.cgroups.create(f"w{os.getpid()}-{self._count}")
        unenforced = cgroup.apply(policy) if cgroup is not None else {}
        kernel_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = bwrap_command(policy, worker_end.fileno(), bwrap)
        if policy.priority == "background":  # the lowest CPU priority, beside a low cgroup weight
            command = ["nice", "-n", "19", *command]
        if cgroup is not None:  # join the cgroup before bubblewrap starts, so all it runs is in it
            joins = "; ".join(f"echo $$ > {f}" for f in cgroup.procs_files())
            command = ["/bin/sh", "-c", f'{joins}; exec "$@"', "sh", *command]
        started = time.perf_counter()
        # bubblewrap's own init is pid 1 in the sandbox and runs as the worker's uid: give it
        # an empty environment too, or /proc/1/environ shows the kernel's.
        # Forked from this thread, not trio's worker threads: see _child.
        process = start_child(command, pass_fds=(worker_end.fileno(),), stdin=subprocess.DEVNULL,
                              start_new_session=True, env={"PATH": "/usr/bin:/bin"})
        worker_end.close()
        kernel_end.setblocking(False)
        handle = WorkerProcess(process, kernel_end, cgroup, policy, unenforced, started)
        self._all.add(handle)
        assert self._nursery is not None
        self._nursery.start_soon(handle.read_frames)
        return handle

    async def warm(self, policy: Any) -> None:
        """Fill the pool for `policy` now (before the first spawn needs it)."""
        await self._pool.fill(policy)

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        return await self._pool.start(neuro, policy)

    async def aclose(self) -> None:
        self._pool.close()
        for handle in list(self._all):
            await handle.stop(0.5)
        self._all.clear()
