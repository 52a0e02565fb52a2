"""The versions of a running neuro, as the kernel does them: swap, rollback, load, the
history and source of stored versions, recording a version, and the policy an instance runs
under (with read grants of its artifacts).

These are the bodies of `Kernel`'s methods of those names, which keep the signatures and
docstrings of the public API and call here in one line; the swap itself is kernel/_swap.py,
the version store kernel/_versions.py, and artifacts kernel/_artifactexport.py.
"""

from __future__ import annotations

import os
from os import PathLike
from typing import TYPE_CHECKING, Any

import trio

from neuro._checks import brief, check_count, check_number, check_source
from neuro._errors import ManifestError, NeuroError, NoSuchNeuro
from neuro._identity import canonical_files
from neuro._manifest import Neuro, source_files

from ._artifactexport import check_size as check_artifact_size
from ._artifactexport import find_artifacts
from ._artifactexport import prepare as prepare_artifacts
from ._artifactexport import with_grants as with_artifact_grants
from ._policy import Policy
from ._process import State
from ._versions import VersionInfo, VersionSource, adopt_source, stored_class

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._swap import SwapReport

__all__: list[str] = []


async def policy_of(kernel: Kernel, neuro: type[Neuro], policy: str | None = None, name: str | None = None) -> Policy:
    """The policy an instance of `neuro` runs under: `policy` (default: its manifest's)
    with its overrides, and read-only grants of its artifacts, which are made ready
    first and checked against the policy's ``artifact_bytes``."""
    manifest = neuro.__manifest__
    pol = kernel._store.get(policy or manifest.policy, manifest.policy_overrides)
    if not manifest.artifacts:
        await trio.lowlevel.checkpoint()
        return pol
    check_artifact_size(neuro, pol, name)  # before storing anything, where the sizes are known
    await prepare_artifacts(kernel, neuro)
    check_artifact_size(neuro, pol, name)  # a version read back from the log knows them now
    return with_artifact_grants(pol, neuro)


def record_version(kernel: Kernel, neuro: type[Neuro], origin: str, parent: str | None,
                   source: dict[str, bytes] | None = None) -> None:
    """Record `neuro` in the version store (and the log), dropping the codecs of versions it let go."""
    name = neuro.__manifest__.name

    def live() -> set[str]:
        return {p.version for p in kernel._router.procs.values() if p.manifest.name == name}

    for old in kernel._store_versions.record(neuro, origin, parent, kernel._eventlog, source, live):
        kernel._decoders.pop(old, None)


async def swap(kernel: Kernel, name: str, neuro: type[Neuro], *, replay: int | None = None,
               tolerance: float | None = None, accept: bool = False, origin: str = "api",
               source: dict[str, bytes] | None = None, dry_run: bool = False) -> SwapReport:
    """`Kernel.swap`: check the arguments, make the artifacts ready, then swap under the lifecycle lock."""
    from ._swap import SwapReport, swap_process  # on first swap: not on the start-up path

    kernel._check_open()
    if replay is not None:
        check_count(replay, "replay", maximum=(1 << 63) - 1)
    if tolerance is not None:
        check_number(tolerance, "tolerance")
    for flag, value in (("accept", accept), ("dry_run", dry_run)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {brief(value)}")
    if not isinstance(origin, str):  # it is the actor of the swap's log events
        raise TypeError(f"origin must be a str naming who asked for the swap, got {brief(origin)}")
    if not (isinstance(neuro, type) and issubclass(neuro, Neuro) and "__manifest__" in vars(neuro)):
        raise ManifestError(f"swap takes a Neuro subclass with a manifest, got {neuro!r}")
    if source is not None:
        check_source(source)
        await find_artifacts(neuro)  # part of the version the source makes
        adopt_source(neuro, source)
    await kernel._policy_of(neuro)  # artifacts stored, exported and size-checked before the lock
    async with kernel._lifecycle:
        proc = kernel._router.procs.get(name)
        if proc is None or proc.state in (State.STOPPED, State.FAILED):
            raise NoSuchNeuro(f"no neuro named {name!r} is running; spawn it first")
        old = proc.version
        if neuro.version() == old:
            return SwapReport(name=name, old_version=old, new_version=old, origin=origin, ok=True,
                              stage="unchanged", seconds=0.0, dry_run=dry_run)
        report = await swap_process(kernel, proc, neuro, replay=replay, tolerance=tolerance, accept=accept,
                                    origin=origin, dry_run=dry_run)
        if not dry_run:
            kernel._record_version(neuro, origin, old, source)
    return report


async def rollback(kernel: Kernel, name: str, version: str | None = None) -> SwapReport:
    """`Kernel.rollback`: find the version to go back to, read it from the store, and swap to it."""
    kernel._check_open()
    proc = kernel._router.procs.get(name)
    if proc is None:
        raise NoSuchNeuro(f"no neuro named {name!r} is running")
    history = kernel.versions(name)
    if version is None:
        current = next((v for v in history if v.version == proc.version), None)
        version = current.parent if current is not None else None
        if version is None:
            raise NeuroError(f"{name} has no earlier version to roll back to; see `neuro versions {name}`")
    target = kernel._store_versions.match(proc.manifest.name, version, name)
    neuro, _ = await stored_class(kernel, proc.manifest.name, target)  # with its source and stored version
    await prepare_artifacts(kernel, neuro)  # exported again from the log if they went
    return await kernel.swap(name, neuro, origin="rollback")


async def load(kernel: Kernel, path: str | PathLike[str], *, trusted: bool = False, policy: str = "untrusted",
               folder: str | PathLike[str] | None = None) -> Any:
    """`Kernel.load`: load the neuro at `path` (kernel/_loading.py)."""
    from ._loading import load_file

    kernel._check_open()
    path = os.path.abspath(os.fspath(path))
    return await load_file(kernel, path, folder=os.fspath(folder) if folder is not None else None,
                           trusted=trusted, policy=policy)


def versions(kernel: Kernel, name: str) -> list[VersionInfo]:
    """`Kernel.versions`: the version store's history of `name`, the running version marked live."""
    proc = kernel._router.procs.get(name)
    key = proc.manifest.name if proc is not None else name
    return kernel._store_versions.history(key, proc.version if proc is not None else None)


async def source(kernel: Kernel, name: str, version: str) -> VersionSource:
    """`Kernel.source`: the stored code of `version`, from the loaded class or the event log."""
    kernel._check_open()
    if not isinstance(name, str) or not isinstance(version, str):
        raise TypeError(f"source(name, version) takes two str, got {brief(name)} and {brief(version)}")
    proc = kernel._router.procs.get(name)
    key = proc.manifest.name if proc is not None else name
    target = kernel._store_versions.match(key, version, name)
    loaded = kernel._store_versions.loaded(key, target)
    await trio.lowlevel.checkpoint()  # always one, whichever way the source is found
    files = None
    if loaded is not None:
        files = vars(loaded).get("__neuro_source__") or await trio.to_thread.run_sync(source_files, loaded)
    if files is None and kernel._eventlog is not None:
        files = await kernel.log._query("version_source", key, target)
    if files is None:
        raise NeuroError(f"the source of {key} {target} is not in the version store (it keeps sources in the "
                         "event log: start the kernel with Kernel(log=...))")
    info = kernel._store_versions.info(key, target)
    return VersionSource(neuro=key, version=target,
                         files={rel: data.decode("utf-8", "replace") for rel, data in canonical_files(files).items()},
                         artifacts=dict(info.artifacts) if info is not None else {})
