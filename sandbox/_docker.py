"""The Docker backend: each neuro in its own long-lived container, through the `docker` SDK.

What it isolates: the worker runs in a container of the local image `neuro-sandbox:current`
(an empty root file system; the host's /usr, Python, virtual environment and Neuro's code
are bind-mounted read-only), as uid 65534 with every capability dropped and no new
privileges, under Docker's default seccomp profile, in its own pid, ipc, uts, mount and
(network "none" unless the policy grants network) network namespaces, with a read-only root
file system, a private /tmp and /dev/shm that share the policy's disk quota, only the paths
the policy grants (checked at every start for links and, after it, for the inode the
container holds; NEURO_HOME hidden), an environment of HOME, PATH and the variables it grants, cgroup limits
for memory (no swap), CPU (nano_cpus) and process count, and the worker's rlimits (CPU time,
address space, open files, file size). It talks to the kernel over a Unix socket in a host
folder of its own, bind-mounted into the container; the kernel accepts only a peer inside
that container.

What it does not: it shares the host's kernel (a kernel exploit escapes it); Docker's
defaults are not a sandbox in themselves (gVisor's README: "containers are not a sandbox");
whoever can reach the Docker daemon is root on the host, and that is the kernel, not the
neuro; writes into granted paths are limited per file (RLIMIT_FSIZE), not in total.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

import trio

from neuro._errors import NeuroError

from ._base import Backend
from ._grants import Grant, GrantError, check_writable, close_grants, home_cover, neuro_home, open_grants
from ._hostuid import DOCKER_IDS
from ._process import _python_roots, disk_split
from ._pool import WarmPool
from ._carrier import Limits, SocketCarrier
from ._protocol import WorkerProtocol
from ._remote import RemoteWorker

__all__ = ["DockerBackend", "DockerUnavailable", "IMAGE"]

IMAGE = "neuro-sandbox:current"
UNPRIVILEGED = "65534:65534"
LABEL = "org.neuro.sandbox"
SOCKET_DIR = "/run/neuro"  # where the worker finds its socket, inside the container
FIX = "run `bash scripts/docker.sh` as root (it installs docker.io, starts dockerd and builds the image)"


class DockerUnavailable(NeuroError):
    """The docker backend cannot start: the SDK, the daemon or the image is missing."""


class _Container:
    """A running container seen like a child process: wait(), kill(), returncode."""

    def __init__(self, container: Any, trio_token: Any) -> None:
        self.container = container
        self.id: str = container.id
        self.pid: int = container.attrs.get("State", {}).get("Pid") or 0  # its init, on the host
        self.returncode: int | None = None
        self.oom_killed = False
        self.removed = False
        self._done = trio.Event()
        self._token = trio_token
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name=f"docker-wait-{self.id[:12]}", daemon=True).start()

    def _watch(self) -> None:
        try:
            code = int(self.container.wait().get("StatusCode", -1))
        except Exception:  # the daemon went away: the container is as good as gone
            code = 255
        try:
            self.container.reload()
            self.oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
        except Exception:
            pass
        # tini (docker's --init) exits 128+N when the worker dies of signal N.
        self.returncode = -(code - 128) if 128 < code < 128 + 65 else code
        try:
            trio.from_thread.run_sync(self._done.set, trio_token=self._token)
        except (trio.RunFinishedError, RuntimeError):
            pass

    async def wait(self) -> int | None:
        await self._done.wait()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the container's init now; the whole container ends with it."""
        if self.returncode is not None:
            return
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                return
            except (ProcessLookupError, PermissionError):
                pass  # another pid namespace than the daemon's, or already gone
        threading.Thread(target=self._api_kill, daemon=True).start()

    def _api_kill(self) -> None:
        try:
            self.container.kill()
        except Exception:
            pass

    def remove(self) -> threading.Thread | None:
        with self._lock:
            if self.removed:
                return None
            self.removed = True
        thread = threading.Thread(target=self._api_remove, name=f"docker-rm-{self.id[:12]}")
        thread.start()  # not a daemon thread: the interpreter waits for it at exit
        return thread

    def _api_remove(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:
            pass


class _ContainerLimits(Limits):
    """A container's limits, as its carrier sees them: limits, OOM, CPU, kill, remove."""

    def __init__(self, backend: DockerBackend, process: _Container, folder: str, parent: str | None = None) -> None:
        self.backend = backend
        self.process = process
        self.folder = folder
        # A cgroup of Neuro's above the container's (cgroupfs driver): it outlives the
        # container, so its CPU counter can still be read after a kill.
        self.parent = parent

    def cpu_seconds(self) -> float | None:
        """CPU time the container used (the parent cgroup's counter); None without one."""
        if self.parent is None:
            return None
        root = "/sys/fs/cgroup"
        for path, scale in ((f"{root}/cpuacct{self.parent}/cpuacct.usage", 1e9),
                            (f"{root}/cpu,cpuacct{self.parent}/cpuacct.usage", 1e9)):
            try:
                with open(path) as f:
                    return int(f.read()) / scale
            except (OSError, ValueError):
                continue
        try:
            with open(f"{root}{self.parent}/cpu.stat") as f:
                return int(dict(line.split(None, 1) for line in f)["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            return None

    def apply(self, policy: Any) -> dict[str, str]:
        """A live policy change: memory and CPU apply to the running container at once."""
        args: dict[str, Any] = {}
        if policy.memory:
            args.update(mem_limit=policy.memory, memswap_limit=policy.memory)
        if policy.cpu_share:
            args.update(cpu_period=100_000, cpu_quota=max(1000, int(policy.cpu_share * 100_000)))
        if args:
            try:
                self.process.container.update(**args)
            except Exception as e:
                return {"memory/cpu": f"docker could not update the container: {e}"}
        return {}

    def oom_kills(self) -> int:
        """Docker's OOMKilled flag (1 when the container's memory cgroup killed it)."""
        return int(self.process.oom_killed)

    def memory_events(self) -> int:
        return int(self.process.oom_killed)

    def procs_files(self) -> list[str]:
        return []

    def kill_all(self) -> None:
        self.process.kill()

    def remove(self) -> None:
        thread = self.process.remove()
        if thread is not None:
            self.backend._removals.append(thread)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.parent is not None:
            self.backend._parents.append(self.parent)  # removed once the container is (aclose)


def container_config(policy: Any, socket_folder: str, grants: list[Grant] | None = None) -> dict[str, Any]:
    """The keyword arguments of `containers.run` for a worker under `policy`. `grants`: its
    granted paths, opened by `open_grants` (each a real path with no link in it)."""
    caps = policy.capabilities
    volumes: dict[str, dict[str, str]] = {}
    for system in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.isdir(system) and not os.path.islink(system):  # a merged-/usr host's links are in the image
            volumes[system] = {"bind": system, "mode": "ro"}
    for root in _python_roots():
        volumes[root] = {"bind": root, "mode": "ro"}
    # trio's import runs `/sbin/ldconfig -p`, which reads ld.so.cache (ctypes.util looking
    # for libpthread); without both it runs gcc instead, 20 ms a start. The image's /sbin
    # is its own folder (dockerd puts its init there), so ldconfig is bound in by itself.
    for host, inside in (("/etc/ld.so.cache", "/etc/ld.so.cache"), (os.path.realpath("/sbin/ldconfig"), "/sbin/ldconfig")):
        if os.path.isfile(host):
            volumes[host] = {"bind": inside, "mode": "ro"}
    if caps.network and os.path.isdir("/etc/ssl"):
        volumes["/etc/ssl"] = {"bind": "/etc/ssl", "mode": "ro"}
    for grant in grants or []:
        volumes[grant.path] = {"bind": grant.path, "mode": "rw" if grant.write else "ro"}
    volumes[socket_folder] = {"bind": SOCKET_DIR, "mode": "rw"}
    env = {"HOME": "/tmp", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in caps.env:
        if name != "*" and name in os.environ:
            env[name] = os.environ[name]
    # /tmp and /dev/shm share the disk quota: every writable place counts.
    tmp_size, shm_size = disk_split(caps.disk)
    tmpfs = {"/tmp": "rw,nosuid,nodev,mode=1777" + (f",size={tmp_size}" if tmp_size else "")}
    home = neuro_home()
    if os.path.isdir(home) and any(home == v or home.startswith(v.rstrip("/") + "/") for v in volumes):
        tmpfs[home] = "ro,nosuid,nodev,noexec,size=4k,mode=0555"  # Docker mounts it over the grant
    limits: list[str] = []
    if policy.cpu_time:
        limits += ["--cpu-time", str(int(policy.cpu_time))]
    if policy.memory:
        limits += ["--address-space", str(policy.memory + (256 << 20))]  # + the interpreter's own mappings
    if policy.open_files:
        limits += ["--open-files", str(policy.open_files)]
    if caps.disk:
        limits += ["--file-size", str(caps.disk)]
    config: dict[str, Any] = dict(
        command=[sys.executable, "-s", "-B", "-m", "neuro.sandbox.worker",
                 "--connect", f"{SOCKET_DIR}/worker.sock", *limits],
        user=UNPRIVILEGED, working_dir="/tmp", environment=env, volumes=volumes,
        tmpfs=tmpfs, read_only=True, init=True, detach=True, stdin_open=False, tty=False,
        network_mode="bridge" if caps.network else "none", ipc_mode="private", hostname="neuro-sandbox",
        cap_drop=["ALL"], security_opt=["no-new-privileges"],
        log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
    )
    if shm_size:
        config["shm_size"] = shm_size
    if policy.memory:
        config.update(mem_limit=policy.memory, memswap_limit=policy.memory)
    if policy.cpu_share:
        config["nano_cpus"] = int(policy.cpu_share * 1e9)
    if policy.processes:
        config["pids_limit"] = int(policy.processes)
    return config


class DockerBackend(Backend):
    name = "docker"
    isolation = __doc__.split("\n\n")[1].replace("\n", " ")

    def __init__(self, *, pool_size: int = 2, image: str = IMAGE, base_url: str | None = None,
                 start_timeout: float = 30.0) -> None:
        # Cheap on purpose: nothing here touches the daemon; the first start does.
        self.pool_size = pool_size
        self.image = image
        self.base_url = base_url
        self.start_timeout = start_timeout
        self._client: Any = None
        self._info: dict[str, Any] | None = None
        self._pool = WarmPool(self._spawn, pool_size)
        self._nursery: trio.Nursery | None = None
        self._all: set[WorkerProtocol] = set()
        self._removals: list[threading.Thread] = []
        self._parents: list[str] = []  # parent cgroups of removed containers, to remove at close
        self._count = 0
        self._connect_lock = trio.Lock()

    def bind(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._pool.nursery = nursery

    # -- the daemon, checked lazily --------------------------------------------------------

    def _connect_sync(self) -> Any:
        try:
            import docker
        except ImportError:
            raise DockerUnavailable(
                "the docker sandbox needs the `docker` Python package, which is not installed; install it "
                "with `.venv/bin/pip install 'neuro-runtime[docker]'` (scripts/setup.sh does)") from None
        where = self.base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            client = (docker.DockerClient(base_url=self.base_url, timeout=30) if self.base_url
                      else docker.from_env(timeout=30))
            client.ping()
            info = client.info()
        except docker.errors.DockerException as e:
            raise DockerUnavailable(f"no Docker daemon answers at {where} ({_short(e)}); {FIX}") from None
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"the sandbox image {self.image} is not built; {FIX}") from None
        except docker.errors.DockerException as e:
            raise DockerUnavailable(f"the Docker daemon at {where} failed to look up {self.image} "
                                    f"({_short(e)}); {FIX}") from None
        self._reap_orphans(client)
        self._info = info
        return client

    @staticmethod
    def _reap_orphans(client: Any) -> None:
        """Remove worker containers left by kernels on this host that no longer run."""
        host = socket.gethostname()
        try:  # the plain list (labels included): inspecting each races with kernels removing theirs
            listed = client.api.containers(all=True, filters={"label": LABEL})
        except Exception:
            return  # tidying up is best effort; it never blocks a start
        for c in listed:
            name, _, pid = (c.get("Labels") or {}).get(LABEL, "").rpartition(":")
            if name == host and pid.isdigit() and not _pid_alive(int(pid)):
                try:
                    client.api.remove_container(c["Id"], force=True)
                except Exception:
                    pass  # gone already, or Docker refused: the next start tries again

    async def _require(self) -> Any:
        if self._nursery is None:
            raise NeuroError("the docker backend is not bound to a running kernel")
        if self._client is None:
            async with self._connect_lock:
                if self._client is None:
                    self._client = await trio.to_thread.run_sync(self._connect_sync)
        return self._client

    def unenforced(self, policy: Any) -> dict[str, Any]:
        """What this host's Docker cannot hold a docker-backend neuro to."""
        missing: dict[str, Any] = {}
        info = self._info or {}
        for field, key in (("memory", "MemoryLimit"), ("cpu_share", "CpuCfsQuota"), ("processes", "PidsLimit")):
            if getattr(policy, field) and info and not info.get(key, True):
                missing[field] = f"this Docker daemon reports no {key} support (see `docker info` warnings)"
        if policy.memory and info and not info.get("SwapLimit", True):
            missing["memory.swap"] = "no swap accounting: the worker may swap past its memory limit"
        if policy.capabilities.disk and any(p != "*" for p in policy.capabilities.write):
            missing["capabilities.disk"] = ("in granted write paths only per file (RLIMIT_FSIZE); /tmp and /dev/shm "
                                            "are sized tmpfs")
        covers = home_cover(policy)
        if covers:
            missing["neuro_home"] = (f"the grants {covers} cover NEURO_HOME ({neuro_home()}), which holds the control "
                                     "socket and the message log: the container sees an empty read-only folder there")
        if policy.gpu_memory:
            missing["gpu_memory"] = "no GPU is passed into containers"
        return missing

    # -- starting workers ------------------------------------------------------------------

    async def _spawn(self, policy: Any) -> WorkerProtocol:
        client = await self._require()
        self._count += 1
        folder = tempfile.mkdtemp(prefix="neuro-docker-")
        os.chmod(folder, 0o711)  # the container's uid must reach its socket; nobody may list it
        path = os.path.join(folder, "worker.sock")
        listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        started = time.perf_counter()
        process: _Container | None = None
        try:
            await listener.bind(path)
            os.chmod(path, 0o777)
            listener.listen(1)
            # Opened again at every start: a link planted since the last one refuses the grant.
            grants = open_grants(policy)
            try:
                check_writable(grants, DOCKER_IDS, "docker")
            except BaseException:
                close_grants(grants)
                raise
            config = container_config(policy, folder, grants)
            parent = self._cgroup_parent()
            if parent is not None:
                config["cgroup_parent"] = parent
            config["labels"] = {LABEL: f"{socket.gethostname()}:{os.getpid()}"}
            config["name"] = f"neuro-{os.getpid()}-{self._count}-{uuid.uuid4().hex[:6]}"
            token = trio.lowlevel.current_trio_token()

            def run() -> _Container:
                container = client.containers.run(self.image, **config)
                try:
                    container.reload()
                except Exception:
                    pass
                return _Container(container, token)

            try:
                process = await trio.to_thread.run_sync(run)
            except Exception as e:
                raise NeuroError(f"docker could not start a worker container from {self.image}: {_short(e)}; "
                                 f"if the image is missing or stale, {FIX}") from None
            finally:
                close_grants(grants)
            _check_mounted(process, grants)
            conn = await self._accept(listener, process)
        except BaseException:
            if process is not None:
                process.kill()
                removal = process.remove()
                if removal is not None:
                    self._removals.append(removal)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            listener.close()
        os.unlink(path)  # one worker per socket: nothing else may connect later
        # The same fast path as the process backend: a plain non-blocking socket, not a trio
        # stream (whose checkpoints and conflict checks cost a tenth of a call here).
        sock = socket.socket(fileno=conn.detach())
        sock.setblocking(False)
        carrier = SocketCarrier(process, sock, _ContainerLimits(self, process, folder, parent))
        handle = WorkerProtocol(carrier, policy, started)
        self._all.add(handle)
        assert self._nursery is not None
        self._nursery.start_soon(handle.run)
        return handle

    async def _accept(self, listener: Any, process: _Container) -> Any:
        """The worker's connection, once the container is up; only a peer inside it counts."""
        conn = None
        async with trio.open_nursery() as nursery:
            async def exited() -> None:
                await process.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(exited)
            with trio.move_on_after(self.start_timeout):
                while conn is None:
                    candidate, _ = await listener.accept()
                    if _peer_in(candidate, process.id):
                        conn = candidate
                    else:
                        candidate.close()
            nursery.cancel_scope.cancel()
        if conn is None:
            logs = await trio.to_thread.run_sync(_logs, process)
            why = (f"its container exited with code {process.returncode}" if process.returncode is not None
                   else f"it did not connect within {self.start_timeout:g} s")
            raise NeuroError(f"the docker worker did not start: {why}; its output: {logs or '(none)'}")
        return conn

    async def warm(self, policy: Any) -> None:
        """Fill the pool for `policy` now (before the first spawn needs it)."""
        await self._require()
        await self._pool.fill(policy)

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        return await self._pool.start(neuro, policy)

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        """Import `source` in a warm container of `policy` (see WarmPool.describe)."""
        return await self._pool.describe(source, version, origin, policy, deadline)

    def statistics(self) -> dict[str, int]:
        return {"live": sum(h.alive for h in self._all), "idle": sum(len(v) for v in self._pool.idle.values()),
                "started": self._count}

    async def aclose(self) -> None:
        self._pool.close()
        with trio.CancelScope(shield=True):
            while self._pool.filling:  # a container being created finishes, then is killed and removed
                await trio.sleep(0.01)
            for handle in list(self._all):
                await handle.stop(0.5)
            self._all.clear()
            removals, self._removals = self._removals, []
            for thread in removals:
                await trio.to_thread.run_sync(thread.join, 10.0)
            parents, self._parents = self._parents, []
            for parent in parents:
                _remove_cgroup(parent)

    def _cgroup_parent(self) -> str | None:
        """A cgroup of Neuro's to put the next container under, where Docker uses the
        cgroupfs driver (with systemd it would have to be a slice; then there is none)."""
        if (self._info or {}).get("CgroupDriver") != "cgroupfs":
            return None
        return f"/neuro-docker/k{os.getpid()}-{self._count}"


def _check_mounted(process: _Container, grants: list[Grant]) -> None:
    """Docker binds a path, not a descriptor: check that the container holds the inode the
    kernel opened at each granted path (a link swapped in between would show another)."""
    for grant in grants:
        try:
            st = os.stat(f"/proc/{process.pid}/root{grant.path}", follow_symlinks=False)
        except OSError:
            if not process.pid or not os.path.exists(f"/proc/{process.pid}/root/"):
                return  # the daemon's processes are not visible here (a remote or rootless Docker)
            raise GrantError(f"the granted path {grant.spec!r} is missing in its container: it changed "
                             "while the container started; not starting it") from None
        if not grant.same_inode(st):
            raise GrantError(f"the granted path {grant.spec!r} changed while its container started (it now "
                             "names another file): not starting it")


def _peer_in(sock: Any, container_id: str) -> bool:
    """Is the process at the other end of `sock` inside the container `container_id`?"""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, _uid, _gid = struct.unpack("3i", creds)
        with open(f"/proc/{pid}/cgroup") as f:
            return container_id in f.read()
    except OSError:
        # The daemon runs in another pid namespace than the kernel (a remote or rootless
        # Docker): the socket folder, private to this container, is the only check left.
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _logs(process: _Container) -> str:
    try:
        return process.container.logs(tail=20).decode(errors="replace").strip()[-2000:]
    except Exception:
        return ""


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _remove_cgroup(parent: str) -> None:
    """Remove a parent cgroup of a container that is gone (every controller's folder on v1)."""
    root = "/sys/fs/cgroup"
    try:
        controllers = os.listdir(root)
    except OSError:
        return
    for folder in [f"{root}{parent}", *(f"{root}/{c}{parent}" for c in controllers)]:
        try:
            os.rmdir(folder)
        except OSError:
            pass
