"""Loading a neuro from files by trust: where its code comes from decides where it may run.

Trusted files (a trusted drop folder, ``neuro spawn --trusted FILE``, an installed module)
are imported here, in the kernel, as before. Untrusted files are only read here, as bytes:
a sandbox worker of the folder's policy imports them and answers with the manifest as data
(`neuro.sandbox._described`), from which the kernel builds a stand-in class that can only
be started in a sandbox. Nothing of an untrusted file runs in the kernel's process.

An untrusted neuro runs under the folder's policy unless it names another; a policy it
names must not let it into the kernel's process (a policy that allows `inproc`), and its
`policy_overrides` may only tighten that policy.

Either way the neuro's declared artifacts cross as data too (the paths its manifest names):
the kernel finds them in the neuro's folder itself, refuses a path out of the folder, hashes
them into the version, checks them against the policy's ``artifact_bytes`` and stores and
exports them (`_artifactexport`) before anything can start the version.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import trio

from neuro._errors import ManifestError, PolicyError
from neuro._identity import hash_files
from neuro.sandbox._described import Description, TypeTooComplex, is_described, rebuild
from neuro.sandbox._pool import DescribeFailed

from neuro._neurofile import (
    LoadedNeuro, NeuroFileError, artifact_root, load_neuro_path, read_neuro_files, with_artifacts,
)
from ._governance import EGRESS_CHANNELS
from ._policy import Policy

__all__ = ["load_file", "describe_source", "reload_described", "is_described", "looser_than", "TRUST_HINT",
           "UNTRUSTED_POLICY"]

UNTRUSTED_POLICY = "untrusted"
TRUST_HINT = ("trust the folder (Kernel(trusted_dirs=[...]); for the daemon, NEURO_TRUSTED_DIRS=FOLDER) or spawn "
              "the file with `neuro spawn --trusted FILE`, if you wrote it yourself")
_RANK = {"background": 0, "normal": 1, "interactive": 2}
_LIMITS = ("rate", "burst", "send_rate", "wall_time", "cpu_share", "cpu_time", "memory", "processes", "open_files",
           "artifact_bytes")
_SIZES = ("mailbox_size", "max_message_bytes", "concurrency")


async def load_file(kernel: Any, path: str, *, folder: str | None = None, trusted: bool = False,
                    policy: str = UNTRUSTED_POLICY) -> LoadedNeuro:
    """Load the neuro at `path` (inside `folder`): imported here if `trusted`, else described
    in a sandbox of `policy`. Raises NeuroFileError naming the file and what to do."""
    folder = folder if folder is not None else os.path.dirname(os.path.normpath(path))
    if trusted:
        # In a thread: an import may take its time, and the loop (and other drops) must not wait.
        loaded = await trio.to_thread.run_sync(load_neuro_path, path, folder, abandon_on_cancel=True)
        policy_of = (loaded.cls.__manifest__.policy, loaded.cls.__manifest__.policy_overrides)
    else:
        files = await _maybe_thread(read_neuro_files, path, folder)
        cls = await describe_source(kernel, files, origin=os.path.dirname(os.path.normpath(path)), policy=policy,
                                    shown=path)
        d: Description = cls.__neuro_described__
        loaded = LoadedNeuro(cls=cls, name=d.name, version=cls.__version_cache__, files=files, path=path,
                             module=d.module, replay=d.replay)
        if d.artifacts:  # declared by code that is not trusted: found here, in its folder, never out of it
            loaded = await trio.to_thread.run_sync(with_artifacts, loaded, artifact_root(path), abandon_on_cancel=True)
        policy_of = (d.policy, d.policy_overrides)
    if loaded.artifacts:
        await _ready_artifacts(kernel, loaded, *policy_of)
    return loaded


async def _ready_artifacts(kernel: Any, loaded: LoadedNeuro, policy: str, overrides: dict[str, Any]) -> None:
    """Check a loaded version's artifacts against its policy's ``artifact_bytes`` and store and
    export them now, so any later start of it (a spawn, a swap) finds them ready."""
    from ._artifactexport import check_size, prepare

    try:
        effective = kernel._store.get(policy, overrides)
    except PolicyError:
        effective = None  # an unknown policy: the spawn says so
    if effective is not None:
        try:
            check_size(loaded.cls, effective)
        except PolicyError as e:
            raise NeuroFileError(str(e), file=loaded.path) from None
    await prepare(kernel, loaded.cls)


async def describe_source(kernel: Any, files: dict[str, bytes], *, origin: str, policy: str,
                          shown: str | None = None) -> type:
    """A stand-in class for untrusted `files`, described by a sandbox worker of `policy`."""
    shown = shown or origin
    loader = kernel._store.get(policy)
    backend_name = loader.sandbox
    if backend_name == "inproc" or backend_name not in kernel._backends:
        raise NeuroFileError(f"the policy {policy!r} for untrusted files runs neuros in {backend_name!r}, not in a "
                             "sandbox: give untrusted folders a policy whose sandbox is process or docker", file=shown)
    backend = kernel._backends[backend_name]
    version = hash_files(files)
    try:
        raw = await backend.describe(files, version, origin, loader, loader.wall_time or 10.0)
    except DescribeFailed as e:
        raise NeuroFileError(e.error, file=e.file or shown, line=e.line or None, traceback=e.traceback or None) from None
    try:
        d = msgspec.msgpack.decode(raw, type=Description)
    except msgspec.DecodeError as e:
        raise NeuroFileError(f"its sandbox sent a manifest the kernel cannot read ({e}); the file was not loaded",
                             file=shown) from None
    d = _with_policy(kernel, d, policy, shown)
    try:
        cls = rebuild(d, files, version)
    except (TypeTooComplex, ManifestError) as e:  # ManifestError: a name or artifact list the class refuses
        raise NeuroFileError(f"manifest error: {e}", file=shown) from None
    except (TypeError, ValueError) as e:  # defstruct refused what the sandbox described
        raise NeuroFileError(f"manifest error: its message types cannot be rebuilt: {e}", file=shown) from None
    cls.__neuro_loader_policy__ = policy
    return cls


def _with_policy(kernel: Any, d: Description, folder_policy: str, shown: str) -> Description:
    """Apply the trust rule: the folder's policy unless the file names a sandboxed one."""
    if d.sandbox == "inproc":
        raise NeuroFileError(f"it asks for sandbox = 'inproc', the kernel's own process, but it comes from "
                             f"untrusted code: remove that line, or {TRUST_HINT}", file=shown)
    if not d.policy_declared:
        d = msgspec.structs.replace(d, policy=folder_policy)
    try:
        base = kernel._store.get(d.policy)
        effective = kernel._store.get(d.policy, d.policy_overrides) if d.policy_overrides else base
    except Exception as e:  # noqa: BLE001 - an unknown policy or a bad override: this file's error
        raise NeuroFileError(f"manifest error: {e}", file=shown) from None
    if "inproc" in base.sandboxes:
        raise NeuroFileError(f"it declares policy = {d.policy!r}, which lets a neuro run in the kernel's process, "
                             f"but it comes from untrusted code: remove the policy line (it then runs under "
                             f"{folder_policy!r}), name a sandboxed policy such as 'untrusted', or {TRUST_HINT}",
                             file=shown)
    looser = looser_than(base, effective)
    if looser:
        raise NeuroFileError(f"its policy_overrides loosen policy {d.policy!r} ({', '.join(looser)}); untrusted code "
                             f"may only tighten its policy: remove them, or {TRUST_HINT}", file=shown)
    return d


def looser_than(base: Policy, effective: Policy) -> list[str]:
    """The fields in which `effective` grants more than `base` (0 means unlimited)."""
    out = []
    for field in _LIMITS:
        b, e = getattr(base, field), getattr(effective, field)
        if b and (not e or e > b):
            out.append(field)
    out += [f for f in _SIZES if getattr(effective, f) > getattr(base, f)]
    if effective.gpu_memory > base.gpu_memory:
        out.append("gpu_memory")
    if _RANK[effective.priority] > _RANK[base.priority]:
        out.append("priority")
    if not set(effective.sandboxes) <= set(base.sandboxes):
        out.append("sandboxes")
    bc, ec = base.capabilities, effective.capabilities
    if ec.network and not bc.network:
        out.append("capabilities.network")
    for field in ("read", "write", "env"):
        if not set(getattr(ec, field)) <= set(getattr(bc, field)):
            out.append(f"capabilities.{field}")
    if bc.disk and (not ec.disk or ec.disk > bc.disk):
        out.append("capabilities.disk")
    return out + _looser_labels(base.labels, effective.labels) + _looser_energy(base.energy, effective.energy)


def _grows(base: tuple[str, ...], effective: tuple[str, ...]) -> bool:
    """Whether a set of labels a rule lets through ("*": any) lets more through."""
    return "*" not in base and not set(effective) <= set(base)


def _looser_labels(base: Any, effective: Any) -> list[str]:
    """Labels loosen where more may be received, declassified or let out, or less is put on data."""
    out = [f"labels.{f}" for f in ("clearance", "declassify") if _grows(getattr(base, f), getattr(effective, f))]
    out += [f"labels.egress.{c}" for c in EGRESS_CHANNELS
            if _grows(getattr(base.egress, c), getattr(effective.egress, c))]
    out += [f"labels.{f}" for f in ("inputs", "outputs") if not set(getattr(base, f)) <= set(getattr(effective, f))]
    return out


def _looser_energy(base: Any, effective: Any) -> list[str]:
    """An energy budget loosens where it is raised or dropped (0), its breach handled otherwise,
    or background work let run off mains power."""
    out = []
    for field in ("per_hour", "per_message", "per_dream_job"):
        b, e = getattr(base, field), getattr(effective, field)
        if b and (not e or e > b):
            out.append(f"energy.{field}")
    if effective.on_breach != base.on_breach:
        out.append("energy.on_breach")
    if base.mains_only and not effective.mains_only:
        out.append("energy.mains_only")
    return out


async def reload_described(kernel: Any, neuro: type, files: dict[str, bytes], origin: str) -> type:
    """Load stored source of a neuro that was described (a rollback): described again."""
    return await describe_source(kernel, files, origin=origin,
                                 policy=getattr(neuro, "__neuro_loader_policy__", UNTRUSTED_POLICY))


async def _maybe_thread(fn: Any, *args: Any) -> Any:
    """Small reads here (~1 ms: cheaper than a thread's hand-off on a busy loop), big ones in a thread."""
    if _small(args[0]):
        result = fn(*args)
        await trio.lowlevel.checkpoint()
        return result
    return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


def _small(path: str, limit: int = 64 << 10, entries: int = 64) -> bool:
    """A single file (or a package folder of at most `entries` files) under `limit` bytes in
    all. It looks at no more than that: a folder of 10^5 files must not be walked here, on
    the event loop."""
    try:
        if os.path.isfile(path):
            return os.path.getsize(path) < limit
        total = seen = 0
        folders = [path]
        while folders:  # os.scandir, not os.walk: walk lists a whole folder before it yields
            with os.scandir(folders.pop()) as it:
                for item in it:
                    seen += 1
                    if seen > entries:
                        return False
                    if item.is_dir():  # as os.walk: a link to a folder counts, and is not entered
                        if not item.is_symlink():
                            folders.append(item.path)
                    else:
                        total += item.stat().st_size
                        if total >= limit:
                            return False
        return True
    except OSError:
        return False
