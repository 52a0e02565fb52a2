"""The ray backend: each neuro in a Ray actor, anywhere on a Ray cluster, supervised by the kernel.

What it isolates: each instance is its own Ray actor, a process of its own on whichever node
of the cluster the policy's placement picks (CPUs, GPUs, memory, node labels, custom
resources, a placement group); a crash, a memory breach or a lost node ends that actor only,
and the kernel's supervisor restarts it with its strategy and intensity. The host actor holds
it to the policy's memory (resident bytes) and CPU time, which Ray itself does not.

What it does not: the actor runs as the Ray worker's user on its node, with that user's file
system, network and environment; no namespace, seccomp filter or grant applies. It is for
code the policy trusts, not for a stranger's: the `untrusted` policy does not allow it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import trio

from neuro._errors import NeuroError

from ._base import Backend
from ._protocol import WorkerProtocol
from ._remote import RemoteWorker

__all__ = ["RayBackend", "RayUnavailable", "INSTALL"]

INSTALL = ("install the `ray` extra: `.venv/bin/pip install 'neuro-runtime[ray]'` (or `NEURO_EXTRAS=ray "
           "scripts/setup.sh`)")


# Threads of a host actor: its exchanges (a reader, MAX_WAITING waiting, the writers) and `watch`.
HOST_THREADS = 16
ISOLATION = " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " ")


class RayUnavailable(NeuroError):
    """The ray backend cannot start: Ray is not installed, or no cluster answers."""


class RayBackend(Backend):
    """Neuros in Ray actors. `address`: the cluster to join (``"auto"``, ``"ray://host:10001"``,
    ``"host:6379"``), or None for the Ray this process is already connected to, else a local
    one started on first use (`init` adds `ray.init` keywords). `pool_size` actors per policy
    are kept started and waiting (0 by default: an idle actor holds its CPUs and GPUs).
    `start_timeout` bounds how long a start waits for the cluster to place and start one."""

    name = "ray"
    isolation = ISOLATION

    def __init__(self, address: str | None = None, *, pool_size: int = 0, init: dict[str, Any] | None = None,
                 start_timeout: float = 60.0) -> None:
        self.address = address
        self.pool_size = pool_size
        self.init = dict(init or {})
        self.start_timeout = start_timeout
        self._ray: Any = None
        self._host: Any = None  # NeuroHost as a Ray actor class
        self._started_ray = False
        self._connect_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._idle: dict[Any, list[WorkerProtocol]] = defaultdict(list)
        self._all: set[WorkerProtocol] = set()
        self._count = 0

    def bind(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    # -- the cluster, joined on first use -------------------------------------------------

    async def _connect(self) -> Any:
        if self._nursery is None:
            raise NeuroError("the ray backend is not bound to a running kernel")
        if self._ray is None:
            async with self._connect_lock:
                if self._ray is None:
                    if self.address is None and not _connected():
                        # Starting a local Ray installs signal handlers: only on the main thread, so
                        # the kernel waits here, once, for the seconds it takes.
                        self._ray = self._connect_sync()
                    else:
                        self._ray = await trio.to_thread.run_sync(self._connect_sync)
        return self._ray

    def _connect_sync(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RayUnavailable(f"the ray sandbox needs Ray, which is not installed; {INSTALL}") from None
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, **self.init}
            try:
                ray.init(address=self.address, **options)
            except Exception as e:  # noqa: BLE001 - Ray's own errors say what it tried
                where = self.address or "a new local Ray"
                raise RayUnavailable(f"could not join the Ray cluster at {where}: {type(e).__name__}: {e}; start one "
                                     "with `ray start --head` and pass its address (`Kernel(ray=ADDRESS)`, "
                                     "`RayBackend(address=...)`), or `auto` to join the one on this machine") from None
            self._started_ray = True
        from ._ray_host import NeuroHost

        self._host = ray.remote(NeuroHost)
        return ray

    # -- workers ----------------------------------------------------------------------------

    def unenforced(self, policy: Any) -> dict[str, Any]:
        from ._ray_options import ray_unenforced

        return ray_unenforced(policy)

    async def _spawn(self, policy: Any) -> WorkerProtocol:
        await self._connect()
        from ._ray_carrier import RayCarrier
        from ._ray_options import actor_options

        options = actor_options(policy)
        self._count += 1
        started = time.perf_counter()
        actor = self._host.options(max_concurrency=HOST_THREADS, **options).remote(int(policy.memory), float(policy.cpu_time))
        handle = WorkerProtocol(RayCarrier(actor), policy, started)
        handle.ray_options = options  # type: ignore[attr-defined]  # said in a start's timeout error
        self._all.add(handle)
        assert self._nursery is not None
        self._nursery.start_soon(self._run, handle)
        return handle

    async def _run(self, handle: WorkerProtocol) -> None:
        try:
            await handle.run()
        finally:
            self._all.discard(handle)

    async def start(self, neuro: type, policy: Any) -> RemoteWorker:
        """An actor placed by `policy`, with `neuro` loaded in it; a waiting one if the pool has one."""
        idle = self._idle[policy]
        handle = None
        while idle and handle is None:
            candidate = idle.pop()
            handle = candidate if candidate.alive else None
        if handle is None:
            handle = await self._spawn(policy)
        try:
            with trio.move_on_after(self.start_timeout) as waited:
                await handle.wait_hello()
                await handle.load(neuro, policy)
            if waited.cancelled_caught:
                raise NeuroError(f"{neuro.__manifest__.name}: the Ray cluster did not place and start its actor within "
                                 f"{self.start_timeout:g} s; it asks for {_shown(handle)}: check that a node has "
                                 "them free (`ray status`), or loosen the policy's `placement`")
        except BaseException:
            with trio.CancelScope(shield=True):
                await handle.stop(0.5)
            raise
        finally:
            if self.pool_size and self._nursery is not None:
                self._nursery.start_soon(self._fill, policy)
        return RemoteWorker(handle, neuro)

    async def warm(self, policy: Any) -> None:
        await self._fill(policy)

    async def _fill(self, policy: Any) -> None:
        """Start actors for `policy` until `pool_size` wait (best effort)."""
        try:
            while len(self._idle[policy]) < self.pool_size:
                handle = await self._spawn(policy)
                with trio.move_on_after(self.start_timeout):
                    await handle.wait_hello()
                if handle.ready_at is None:
                    await handle.stop(0)
                    return
                self._idle[policy].append(handle)
        except Exception:  # noqa: BLE001 - a failed warm start shows again at the next cold one
            pass

    def statistics(self) -> dict[str, int]:
        return {"live": sum(h.alive for h in self._all), "idle": sum(len(v) for v in self._idle.values()),
                "started": self._count}

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            self._idle.clear()
            if self._ray is not None:  # nets' compiled graphs first: their actors are about to go
                from ._ray_graph import close_all

                await trio.to_thread.run_sync(close_all)
            for handle in list(self._all):
                await handle.stop(0.5)
            self._all.clear()
            if self._started_ray and self._ray is not None:
                self._ray.shutdown()  # on this thread: Ray's start and stop touch signal handlers
                self._ray = None
                self._started_ray = False


def _connected() -> bool:
    """Is this process already a Ray driver? (False where Ray is not installed.)"""
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()


def _shown(handle: WorkerProtocol) -> str:
    options = {k: v for k, v in getattr(handle, "ray_options", {}).items()
               if k not in ("max_restarts", "max_task_retries", "runtime_env")}
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "nothing"
