"""On-demand neuros: a name the kernel spawns the first time someone sends to it.

    Kernel(on_demand={"eqprop": OnDemand("neuro.neuros.learning.eqprop:EqPropNeuro", policy="learning")})

A send or call to a name in the table, when no process of that name runs, first spawns it
(once: concurrent first calls wait for the one spawn), then goes on as usual; a name not in
the table is the usual `NoSuchNeuro`, and so is one whose process is still in the table but
not serving (failed, stopping); one stopped for good has left it, so the next use spawns it
afresh. The daemon
passes the table of installed learners (`neuro.neuros.learning.registry`); the kernel knows
nothing of learning.

The code a spec names is never imported in the kernel's process unless the spec says
`trusted`: the kernel writes a one-class shim module that subclasses the named class, has a
sandbox of the spec's policy import it and describe its manifest (as for an untrusted file,
`kernel/_loading.py`), and spawns that description, so the class is imported only in the
sandbox that runs it. The shim carries a sha256 of the named module's package files (read as
bytes here, not imported), so a changed learner is a new version. The spec's policy must
run neuros in a sandbox only (the `learning` policy does); `trusted=True` imports the class
here and spawns it as code you wrote.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping

import msgspec
import trio

from neuro._errors import KernelClosed, ManifestError, NeuroError

__all__ = ["OnDemand", "OnDemandTable", "shim_source"]


class OnDemand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to start one on-demand neuro: `target` is ``module:Class``; `policy` the policy it
    runs under (None: the class's own); `trusted` imports it in the kernel's process."""

    target: str
    policy: str | None = None
    trusted: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        module, _, cls = self.target.partition(":")
        if not module or not cls or not all(p.isidentifier() for p in module.split(".") + cls.split(".")):
            raise ManifestError(f"an on-demand neuro is named by `module:Class` (for example "
                                f"neuro.neuros.echo:Echo), got {self.target!r}")


class OnDemandTable:
    """The kernel's table of on-demand neuros and the spawns in flight."""

    def __init__(self, kernel: Any, table: Mapping[str, OnDemand | str | Mapping[str, Any]]) -> None:
        self.kernel = kernel
        self.specs: dict[str, OnDemand] = {}
        for name, spec in dict(table).items():
            if not isinstance(name, str):
                raise TypeError(f"on_demand maps neuro names (str) to specs, got the key {name!r}")
            try:
                self.specs[name] = (spec if isinstance(spec, OnDemand) else OnDemand(target=spec)
                                    if isinstance(spec, str) else msgspec.convert(spec, OnDemand))
            except msgspec.ValidationError as e:
                raise ManifestError(f"on_demand[{name!r}]: {e}; give `module:Class` or "
                                    "{target, policy, trusted, description}") from None
        self._spawning: dict[str, trio.Event] = {}
        self.spawned = 0

    async def ensure(self, name: str) -> None:
        """Spawn `name` if it is in the table and has no process yet; return once it runs
        (or once the spawn failed: the caller's lookup then says so). A spawn that fails
        raises NeuroError naming the spec, so the sender learns why."""
        spec = self.specs.get(name)
        if spec is None or name in self.kernel._router.procs:
            return
        waiting = self._spawning.get(name)
        if waiting is not None:
            await waiting.wait()
            return
        done = self._spawning[name] = trio.Event()
        try:
            await self._spawn(name, spec)
        finally:
            del self._spawning[name]
            done.set()

    async def _spawn(self, name: str, spec: OnDemand) -> None:
        kernel = self.kernel
        try:
            if spec.trusted:
                from ._control_ops import resolve_neuro

                cls = await trio.to_thread.run_sync(resolve_neuro, spec.target)
                await kernel.spawn(cls, name=name, policy=spec.policy)
            else:
                from ._loading import describe_source

                files = await trio.to_thread.run_sync(shim_source, spec.target)
                policy = spec.policy or "untrusted"
                cls = await describe_source(kernel, files, origin=f"on-demand:{spec.target}", policy=policy,
                                            shown=spec.target)
                await kernel.spawn(cls, name=name, policy=spec.policy, source=files)
        except KernelClosed:
            raise  # shutting down: the sender's error is that, not the spec's
        except Exception as e:
            # The spawn's own events say what the log needs (neuro.start_failed, or none for a
            # describe that failed); the sender gets why, naming the spec.
            raise NeuroError(f"could not start on-demand neuro {name!r} ({spec.target}): {e}") from e
        self.spawned += 1  # its `neuro.spawned` event is logged by the spawn


def shim_source(target: str) -> dict[str, bytes]:
    """The one-file neuro that stands for `target` (``module:Class``): a subclass of it,
    importable only where the module is (a sandbox binds the installed packages), with the
    sha256 of the module's package files so its version follows the code."""
    module, _, cls = target.partition(":")
    digest = _package_digest(module)
    text = (f'"""On-demand neuro {target}: imported in its sandbox, never in the kernel."""\n'
            f"# code sha256: {digest}\n"
            f"from {module} import {cls.split('.')[0]} as _Installed\n"
            + "".join(f"_Installed = _Installed.{part}\n" for part in cls.split(".")[1:])
            + f"\n\nclass {cls.split('.')[-1]}(_Installed):\n"
            f"    __doc__ = _Installed.__doc__\n")
    return {"ondemand.py": text.encode()}


def _package_digest(module: str) -> str:
    """sha256 over the .py files of the folder `module` lives in, read as bytes, not imported."""
    from neuro._modulefiles import ModuleNotFound, module_file

    try:
        folder = os.path.dirname(module_file(module))
    except ModuleNotFound as e:
        raise ManifestError(str(e)) from None
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                h.update(os.path.relpath(full, folder).encode() + b"\0")
                with open(full, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()
