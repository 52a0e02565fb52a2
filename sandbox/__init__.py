"""Sandboxes: where neuros run. `inproc` is built in; others register by name."""

from __future__ import annotations

from typing import Any, Callable

from ._base import Backend, Worker
from ._inproc import InprocBackend

__all__ = ["Backend", "Worker", "InprocBackend", "default_backends"]


class _OnFirstUse(Backend):
    """A backend imported and made when first used, so a kernel that never sandboxes a
    neuro pays nothing for the process and Docker backends at start-up. Every method of the
    interface is the real backend's; so is any other public attribute (pool settings,
    `statistics()`)."""

    def __init__(self, name: str, make: Callable[[], Backend]) -> None:
        self.name = name
        self._make = make
        self._real: Backend | None = None
        self._nursery: Any = None

    @property
    def real(self) -> Backend:
        if self._real is None:
            self._real = self._make()
            if self._nursery is not None:
                self._real.bind(self._nursery)
        return self._real

    @property
    def isolation(self) -> str:  # type: ignore[override]
        return self.real.isolation

    def bind(self, nursery: Any) -> None:
        self._nursery = nursery
        if self._real is not None:
            self._real.bind(nursery)

    async def start(self, neuro: type, policy: Any) -> Worker:
        return await self.real.start(neuro, policy)

    def unenforced(self, policy: Any) -> dict[str, Any]:
        return self.real.unenforced(policy)

    async def describe(self, source: dict[str, bytes], version: str, origin: str, policy: Any,
                       deadline: float) -> bytes:
        return await self.real.describe(source, version, origin, policy, deadline)

    async def warm(self, policy: Any) -> None:
        await self.real.warm(policy)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()

    def __getattr__(self, attr: str) -> Any:  # pool settings, statistics(), ...
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.real, attr)


# Not named after their modules: importing `._process` sets the package's `_process`
# attribute to that module, which would replace a function of the same name.
def _make_process_backend() -> Backend:
    from ._process import ProcessBackend

    return ProcessBackend()


def _make_docker_backend() -> Backend:
    from ._docker import DockerBackend

    return DockerBackend()


def _make_ray_backend(address: str | None) -> Backend:
    from ._ray import RayBackend

    return RayBackend(address=address)


def default_backends(ray: str | None = None) -> dict[str, Backend]:
    """The backends a kernel starts with. Each checks what it needs (bubblewrap, a Docker
    daemon, a Ray cluster) when first used, and says how to install it if it is missing.
    `ray`: the Ray cluster's address for the ray backend (None: see `RayBackend`)."""
    return {"inproc": InprocBackend(), "process": _OnFirstUse("process", _make_process_backend),
            "docker": _OnFirstUse("docker", _make_docker_backend),
            "ray": _OnFirstUse("ray", lambda: _make_ray_backend(ray))}
