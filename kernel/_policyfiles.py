"""Policy files: TOML in the shipped `policies/` folder and the user's, with inheritance.

A file's name is its policy's name; a later folder's file replaces an earlier one of the
same name (so the user can redefine `default`). A bad file gets an error that names the
file, the key and what was expected; the store keeps the policies it had.

The store remembers a content hash of each file it read, so a watcher can tell a real change
from a file merely opened, touched or saved unchanged (`PolicyStore.stale`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any

import msgspec

from ._policy import Capabilities, Policy, PolicyError, parse_size

__all__ = ["PolicyStore", "BUILTIN_DIR", "check_policy_file", "user_policy_dir"]

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "policies")
_SIZE_KEYS = ("memory", "max_message_bytes", "artifact_bytes")
_FIELDS = set(Policy.__struct_fields__) - {"name"}
_CAPABILITY_FIELDS = set(Capabilities.__struct_fields__)
_MAX_FILE = 1 << 20  # a policy is a few lines; this keeps a huge or endless file out of memory


def user_policy_dir() -> str:
    from neuro._home import neuro_home

    return os.path.join(neuro_home(), "policies")


def shown(path: str) -> str:
    """`path` as errors and events show it: a name that is not UTF-8 keeps its bytes, escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _read_bytes(path: str) -> bytes:
    """A policy file's bytes. Opened without blocking and checked to be a regular file of at
    most 1 MiB, so a FIFO or a link to /dev/zero named `*.toml` cannot hang or bloat a reload."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise PolicyError(f"policy file {shown(path)}: cannot be read: {e.strerror}") from None
    with open(fd, "rb", closefd=True) as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PolicyError(f"policy file {shown(path)}: not a regular file; a policy is a TOML text file")
        try:
            data = f.read(_MAX_FILE + 1)
        except OSError as e:
            raise PolicyError(f"policy file {shown(path)}: cannot be read: {e.strerror}") from None
    if len(data) > _MAX_FILE:
        raise PolicyError(f"policy file {shown(path)}: larger than {_MAX_FILE:,} bytes; a policy is a few lines")
    return data


def _parse_toml(path: str, data: bytes) -> dict[str, Any]:
    import tomllib  # only when policies are first needed: start-up stays cheap

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PolicyError(f"policy file {shown(path)}: not valid UTF-8 (byte {e.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy file {shown(path)}: not valid TOML: {e}") from None
    except RecursionError:
        raise PolicyError(f"policy file {shown(path)}: not valid TOML: nested too deeply") from None
    except ValueError as e:  # tomllib lets int()'s own errors out (a number of 5,000 digits)
        raise PolicyError(f"policy file {shown(path)}: not valid TOML: {e}") from None


def _read_toml(path: str) -> dict[str, Any]:
    return _parse_toml(path, _read_bytes(path))


def _digest(path: str) -> str:
    """What `stale` compares: the content hash of a file, or why it cannot be read."""
    try:
        return hashlib.sha256(_read_bytes(path)).hexdigest()
    except PolicyError as e:
        return str(e)


def _toml_files(folders: list[str]) -> tuple[list[tuple[str, str]], dict[str, PolicyError]]:
    """(policy name, path) of every `*.toml` in `folders`, in load order, and folders that
    cannot be listed. A name that is not UTF-8 is listed with its bytes escaped."""
    found, errors = [], {}
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        try:
            entries = sorted(os.listdir(folder))
        except OSError as e:
            errors[shown(folder)] = PolicyError(f"policy folder {shown(folder)}: cannot be listed: {e.strerror}")
            continue
        for entry in entries:
            if entry.endswith(".toml"):
                found.append((shown(entry[:-5]), os.path.join(folder, entry)))
    return found, errors


def _normalize(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Check keys, and turn sizes like "256MiB" into bytes, naming the key on error."""
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise PolicyError(f"{where}: unknown key `{unknown[0]}`; known keys: {', '.join(sorted(_FIELDS))}")
    out = dict(raw)
    for key in _SIZE_KEYS:
        if key in out:
            try:
                out[key] = parse_size(out[key])
            except ValueError as e:
                raise PolicyError(f"{where}: key `{key}`: {e}") from None
    caps = out.get("capabilities")
    if caps is not None:
        if not isinstance(caps, dict):
            raise PolicyError(f"{where}: key `capabilities`: expected a table, got {type(caps).__name__}")
        bad = sorted(set(caps) - _CAPABILITY_FIELDS)
        if bad:
            raise PolicyError(f"{where}: unknown key `capabilities.{bad[0]}`; known: {', '.join(sorted(_CAPABILITY_FIELDS))}")
        if "disk" in caps:
            try:
                caps = {**caps, "disk": parse_size(caps["disk"])}
            except ValueError as e:
                raise PolicyError(f"{where}: key `capabilities.disk`: {e}") from None
        out["capabilities"] = caps
    return out


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` over `parent`; its tables (capabilities, labels and labels.egress, energy) key by
    key, so what a child does not say it inherits (a child that sets only `labels.clearance`
    keeps its parent's `labels.outputs`)."""
    merged = {**parent, **child}
    for key in ("capabilities", "labels", "energy"):
        if isinstance(parent.get(key), dict) and isinstance(child.get(key), dict):
            merged[key] = {**parent[key], **child[key]}
            if key == "labels" and isinstance(parent[key].get("egress"), dict) \
                    and isinstance(child[key].get("egress"), dict):
                merged[key]["egress"] = {**parent[key]["egress"], **child[key]["egress"]}
    return merged


def _build(name: str, fields: dict[str, Any], where: str) -> Policy:
    try:
        return msgspec.convert({**fields, "name": name}, Policy)
    except msgspec.ValidationError as e:
        text = str(e).replace("`$.", "`").replace(" - at `$`", "")
        raise PolicyError(f"{where}: {text}") from None


def resolve_all(raw: dict[str, tuple[dict[str, Any], str]]) -> dict[str, Policy]:
    """Resolve inheritance for every policy; `raw` maps name -> (normalized fields, where)."""
    flat: dict[str, dict[str, Any]] = {}

    def flatten(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in flat:
            return flat[name]
        fields, where = raw[name]
        parent = fields.get("inherit")
        base: dict[str, Any] = {}
        if parent is not None:
            if not isinstance(parent, str):
                raise PolicyError(f"{where}: key `inherit`: expected the name of a policy, got {parent!r}")
            if parent in chain:
                raise PolicyError(f"{where}: key `inherit`: policies inherit in a circle: {' -> '.join(chain + (parent,))}")
            if parent not in raw:
                raise PolicyError(f"{where}: key `inherit`: no policy named {parent!r}; known: {', '.join(sorted(raw))}")
            base = {k: v for k, v in flatten(parent, chain + (parent,)).items() if k != "description"}
        flat[name] = _merge(base, fields)
        return flat[name]

    return {name: _build(name, flatten(name, (name,)), raw[name][1]) for name in raw}


def _scan(folders: list[str], digests: dict[str, str] | None = None,
          ) -> tuple[dict[str, tuple[dict[str, Any], str]], dict[str, PolicyError]]:
    """Read every policy file in `folders`; `digests` gets the content hash of each as read."""
    raw: dict[str, tuple[dict[str, Any], str]] = {}
    files, errors = _toml_files(folders)
    for name, path in files:
        where = f"policy file {shown(path)}"
        try:
            if shown(path) != path:  # bytes that are not UTF-8, held as surrogates
                raise PolicyError(f"{where}: its name is not UTF-8, so it cannot name a policy; rename it")
            data = _read_bytes(path)
            if digests is not None:
                digests[path] = hashlib.sha256(data).hexdigest()
            raw[name] = (_normalize(_parse_toml(path, data), where), where)
        except PolicyError as e:
            if digests is not None and path not in digests:
                digests[path] = str(e)
            errors[name] = e
    return raw, errors


class PolicyStore:
    """The policies a kernel knows, loaded on first use and reloaded when files change."""

    def __init__(self, folders: list[str] | None = None, extra: dict[str, Policy] | None = None) -> None:
        self.folders = [BUILTIN_DIR, *(folders if folders is not None else [user_policy_dir()])]
        self.extra = dict(extra or {})
        self._policies: dict[str, Policy] | None = None
        self._errors: dict[str, PolicyError] = {}
        self._digests: dict[str, str] = {}  # path -> content hash of what the policies came from

    @property
    def policies(self) -> dict[str, Policy]:
        if self._policies is None:
            self._policies, self._errors = self._load()
        return self._policies

    @property
    def errors(self) -> dict[str, PolicyError]:
        """Policy name -> why its file was refused."""
        self.policies
        return self._errors

    def stale(self) -> bool:
        """Whether a policy file was added, removed or changed since the store last read them
        (blocking: call it in a thread). Opening, touching or saving a file unchanged is not
        a change."""
        self.policies
        files, _ = _toml_files(self.folders)
        return {path: _digest(path) for _, path in files} != self._digests

    def _load(self) -> tuple[dict[str, Policy], dict[str, PolicyError]]:
        digests: dict[str, str] = {}
        raw, errors = _scan(self.folders, digests)
        self._digests = digests
        # Resolve one at a time so a bad file costs only itself and what inherits from it.
        good: dict[str, Policy] = {}
        for name in raw:
            try:
                good[name] = resolve_all({n: raw[n] for n in _ancestry(name, raw)})[name]
            except PolicyError as e:
                errors[name] = e
        return {**good, **self.extra}, errors

    def reload(self) -> tuple[dict[str, Policy], dict[str, PolicyError]]:
        """Read the files again; returns the policies that changed and the errors found.
        A policy whose file is now bad keeps the value it had."""
        old = self.policies
        fresh, errors = self._load()
        for name in errors:
            if name in old:
                fresh[name] = old[name]
        changed = {n: p for n, p in fresh.items() if old.get(n) != p}
        self._policies, self._errors = fresh, errors
        return changed, errors

    def get(self, name: str, overrides: dict[str, Any] | None = None) -> Policy:
        policies = self.policies
        base = policies.get(name)
        if base is None:
            raise PolicyError(f"no policy named {name!r}; known policies: {', '.join(sorted(policies))}")
        if not overrides:
            return base
        return apply_overrides(base, overrides, f"overrides of policy {name!r}")


def apply_overrides(base: Policy, overrides: dict[str, Any], where: str) -> Policy:
    fields = _normalize(dict(overrides), where)
    if "inherit" in fields:
        raise PolicyError(f"{where}: `inherit` cannot be overridden; name another policy instead")
    current = msgspec.to_builtins(base)
    current.pop("name")
    return _build(base.name, _merge(current, fields), where)


def _ancestry(name: str, raw: dict[str, tuple[dict[str, Any], str]]) -> list[str]:
    chain, seen = [], set()
    while name in raw and name not in seen:
        seen.add(name)
        chain.append(name)
        parent = raw[name][0].get("inherit")
        if not isinstance(parent, str):
            break
        name = parent
    return chain


def check_policy_file(path: str, folders: list[str] | None = None) -> Policy:
    """Validate one file against the known policies (for `neuro policy check FILE`)."""
    store = PolicyStore(folders)
    raw, _ = _scan(store.folders)
    name = os.path.basename(path)
    name = name[:-5] if name.endswith(".toml") else name
    raw[name] = (_normalize(_read_toml(path), f"policy file {path}"), f"policy file {path}")
    return resolve_all({n: raw[n] for n in _ancestry(name, raw)})[name]
