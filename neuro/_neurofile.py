"""Turning a neuro file or package folder into a Neuro class, safely.

A neuro on disk is a single ``.py`` module, or a package folder (with ``__init__.py``, or a
``neuro.toml`` naming its entry module). Its manifest is in code, or in a ``neuro.toml`` in
the folder, which may set ``name``, ``neuro`` (the class, when the code defines several),
``module``, ``policy``, ``sandbox``, ``policy_overrides``, ``replay`` and ``artifacts``.

Every file is read once by the one reader (`neuro._identity`: no symlink out of the folder,
no ``..``, at most 1 MiB, UTF-8 text without NUL bytes; tests and caches left out),
compiled, and imported from those bytes under a module name of its own
(``neuro_drop.<stem>_<hash>``), so two versions never share module state and the old one
keeps working while the new one is tried. Its version is the one content identity of its
files and declared artifacts; its name comes from its manifest, never from its path.

Everything that goes wrong is a `NeuroFileError` naming the file, the line when there is
one, and what to do.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.util
import itertools
import os
import re
import sys
import threading
import traceback as tb_module
import types
from typing import Any, Literal

import msgspec

from neuro._errors import ManifestError
from neuro._identity import (
    MAX_FILE_BYTES, MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES, TOML, NeuroFileError, canonical_files, hash_files,
    is_excluded, read_neuro_files, shown_path,
)
from neuro._manifest import NAME_PATTERN, SANDBOXES, Neuro

__all__ = [
    "MAX_FILE_BYTES", "MAX_PACKAGE_FILES", "MAX_PACKAGE_BYTES", "LoadedNeuro", "shown_path", "NeuroFileError", "NeuroToml", "ReplaySpec",
    "load_neuro_path", "load_neuro_files", "load_neuro_source", "read_neuro_files", "is_neuro_entry",
    "with_artifacts", "artifact_root",
]

PACKAGE = "neuro_drop"  # the parent of every module loaded from a file
SOURCE_SUFFIXES = (".py",)


class ReplaySpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``[replay]`` in neuro.toml: replay the last `calls` logged calls against a new version
    first; `match` is how its answers must agree (``exact``, within ``tolerance``, or
    ``review``: differences are listed for a person to accept)."""

    calls: int
    match: Literal["exact", "tolerance", "review"] = "exact"
    tolerance: float = 0.0


class NeuroToml(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The schema of a package folder's ``neuro.toml``. Every key is optional."""

    name: str | None = None
    neuro: str | None = None  # the class, when the code defines more than one
    module: str | None = None  # the entry module of a folder without __init__.py
    policy: str | None = None
    sandbox: Literal["inproc", "process", "docker", "ray"] | None = None
    policy_overrides: dict[str, Any] = {}
    replay: int | ReplaySpec | None = None
    artifacts: list[str] | None = None  # files that are not code, relative to the folder


class LoadedNeuro(msgspec.Struct, frozen=True):
    """One version of a neuro, loaded from disk: its class, manifest name, content hash, the
    exact bytes it was loaded from (relative path -> bytes, the entry module first), where,
    and its declared artifacts as found in its folder (path -> `Artifact`)."""

    cls: Any
    name: str
    version: str
    files: dict[str, bytes]
    path: str
    module: str
    replay: int | None = None
    artifacts: dict[str, Any] = {}


# -- what counts as a neuro on disk ----------------------------------------------------------

def is_neuro_entry(folder: str, entry: str) -> bool:
    """Whether `entry` (a name directly in `folder`) is one a drop folder loads: a ``.py``
    file or a folder with ``__init__.py`` or ``neuro.toml``; hidden and editor temp files
    (``.x``, ``x~``, ``.swp``, ``.tmp``), tests (``test_x.py``, ``x_test.py``,
    ``conftest.py``, ``tests/``) and ``_``-prefixed modules are not."""
    if is_excluded(entry) or entry.startswith("_"):
        return False
    path = os.path.join(folder, entry)
    if entry.endswith(".py"):
        return not os.path.isdir(path)
    if os.path.isdir(path):
        return os.path.lexists(os.path.join(path, "__init__.py")) or os.path.lexists(os.path.join(path, TOML))
    return False


# -- neuro.toml ------------------------------------------------------------------------------

def read_toml(data: bytes, file: str) -> NeuroToml:
    """Decode and check a neuro.toml; errors name the file and the key."""
    try:
        spec = msgspec.toml.decode(data, type=NeuroToml)
    except msgspec.ValidationError as e:
        raise NeuroFileError(f"invalid neuro.toml: {e}", file=file) from None
    except msgspec.DecodeError as e:
        raise NeuroFileError(f"neuro.toml is not valid TOML: {e}", file=file) from None
    if spec.name is not None and not NAME_PATTERN.match(spec.name):
        raise NeuroFileError(f"invalid neuro.toml: `name` must be a lower-case name like 'echo' or "
                             f"'learning.eqprop', got {spec.name!r} - at `$.name`", file=file)
    if spec.sandbox is not None and spec.sandbox not in SANDBOXES:  # pragma: no cover - Literal checks first
        raise NeuroFileError(f"invalid neuro.toml: unknown sandbox {spec.sandbox!r} - at `$.sandbox`", file=file)
    replay = spec.replay.calls if isinstance(spec.replay, ReplaySpec) else spec.replay
    if replay is not None and replay < 0:
        raise NeuroFileError("invalid neuro.toml: `replay` must be a number of calls >= 0 - at `$.replay`",
                             file=file)
    if spec.artifacts is not None:
        from neuro._artifactfiles import check_artifact_names

        try:
            check_artifact_names(spec.artifacts, "neuro.toml")
        except ManifestError as e:
            raise NeuroFileError(f"invalid {e} - at `$.artifacts`", file=file) from None
    return spec


def _toml_attrs(spec: NeuroToml) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key in ("name", "policy", "sandbox"):
        if getattr(spec, key) is not None:
            attrs[key] = getattr(spec, key)
    if spec.policy_overrides:
        attrs["policy_overrides"] = dict(spec.policy_overrides)
    if spec.replay is not None:
        attrs["replay"] = (msgspec.structs.asdict(spec.replay) if isinstance(spec.replay, ReplaySpec)
                           else {"calls": spec.replay, "match": "exact", "tolerance": 0.0})
    if spec.artifacts is not None:
        attrs["artifacts"] = tuple(spec.artifacts)
    return attrs


# -- importing from bytes --------------------------------------------------------------------

class _Package:
    """The files behind one loaded package: module name -> (file shown, code, is_package)."""

    def __init__(self, modules: dict[str, tuple[str, types.CodeType, bool]], builtins_: dict[str, Any]) -> None:
        self.modules = modules
        self.builtins = builtins_


class _SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads modules under ``neuro_drop.`` from the bytes they were read as."""

    def __init__(self) -> None:
        self.packages: dict[str, _Package] = {}
        self.lock = threading.Lock()

    def _lookup(self, fullname: str) -> tuple[_Package, tuple[str, types.CodeType, bool]] | None:
        if not fullname.startswith(PACKAGE + "."):
            return None
        top = ".".join(fullname.split(".")[:2])
        package = self.packages.get(top)
        if package is None or fullname not in package.modules:
            return None
        return package, package.modules[fullname]

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        found = self._lookup(fullname)
        if found is None:
            return None
        file, _code, is_package = found[1]
        return importlib.util.spec_from_file_location(
            fullname, file, loader=self, submodule_search_locations=[] if is_package else None)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        found = self._lookup(module.__name__)
        if found is None:  # pragma: no cover - find_spec said yes
            raise ImportError(f"no source for {module.__name__}")
        package, (_file, code, _is_package) = found
        module.__dict__["__builtins__"] = package.builtins
        exec(code, module.__dict__)


_finder = _SourceFinder()
_counter = itertools.count(1)
_install_lock = threading.Lock()


def _install() -> None:
    with _install_lock:
        if PACKAGE not in sys.modules:
            parent = types.ModuleType(PACKAGE, "Neuros loaded from files, one module per version.")
            parent.__path__ = []  # a package with nothing on disk: its children come from _finder
            sys.modules[PACKAGE] = parent
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def _reserve(stem: str, version: str | None, package: _Package) -> str:
    """A module name no other version has used, registered to `package` at once."""
    clean = re.sub(r"\W", "_", stem.rsplit(".", 1)[-1]) or "neuro"
    base = f"{PACKAGE}.{clean}_{version}" if version else f"{PACKAGE}.{clean}"
    with _finder.lock:
        name = base
        while name in sys.modules or name in _finder.packages:
            name = f"{base}_{next(_counter)}"
        _finder.packages[name] = package
    return name


def load_neuro_path(path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> LoadedNeuro:
    """Load the neuro at `path` (a ``.py`` file or a package folder inside `folder`, by
    default the folder that holds it), its declared artifacts hashed from its folder."""
    path = os.path.abspath(os.fspath(path))
    folder = os.fspath(folder) if folder is not None else os.path.dirname(os.path.normpath(path))
    files = read_neuro_files(path, folder)
    loaded = _load(files, None, os.path.dirname(os.path.normpath(path)))
    return with_artifacts(msgspec.structs.replace(loaded, path=path), artifact_root(path))


def artifact_root(path: str) -> str:
    """The folder a neuro at `path` declares its artifacts relative to: a package folder
    itself, or the folder that holds a module."""
    return path if os.path.isdir(path) else os.path.dirname(os.path.normpath(path))


def with_artifacts(loaded: LoadedNeuro, root: str) -> LoadedNeuro:
    """`loaded` with its class's declared artifacts found and hashed under `root` (blocking),
    and its version the identity of its code and those artifacts. Raises NeuroFileError for
    an artifact that is missing, a symlink out of the folder or not a regular file."""
    cls = loaded.cls
    names = cls.__manifest__.artifacts
    if not names:
        return loaded
    from neuro._artifactfiles import artifact_hashes, hash_artifacts

    artifacts = hash_artifacts(root, names)
    version = hash_files(loaded.files, artifact_hashes(artifacts))
    cls.__neuro_artifacts__ = artifacts
    cls.__version_cache__ = version
    return msgspec.structs.replace(loaded, version=version, artifacts=artifacts)


def load_neuro_files(files: dict[str, bytes], module_name: str | None = None, *,
                     origin: str | None = None) -> type[Neuro]:
    """Load a neuro class from its stored source (as `LoadedNeuro.files` or a version store
    holds it, in any layout `neuro._identity.canonical_files` takes), under `module_name` (a
    fresh ``neuro_drop.*`` name by default; taken names get a suffix, so a version never
    shares module state with another). `origin` is the folder its files are shown as coming
    from in errors and tracebacks. Its artifacts are the caller's (they are not in `files`)."""
    return load_neuro_source(files, module_name, origin=origin).cls


def load_neuro_source(files: dict[str, bytes], module_name: str | None = None, *,
                      origin: str | None = None) -> LoadedNeuro:
    """`load_neuro_files`, returning the whole `LoadedNeuro` (its replay setting too)."""
    for rel, data in files.items():
        if rel.startswith("/") or ".." in rel.split("/"):
            raise NeuroFileError("a name with '..' is refused: name neuro files plainly, inside the folder", file=rel)
        if len(data) > MAX_FILE_BYTES:
            raise NeuroFileError("the file is over the 1 MiB limit for neuro code", file=rel)
        if b"\0" in data:
            raise NeuroFileError("a binary file (it contains NUL bytes) is refused: a neuro is UTF-8 Python source",
                                 file=rel)
    return _load(canonical_files(files, module_name), module_name, origin or "<stored>")


def _load(files: dict[str, bytes], module_name: str | None, origin: str) -> LoadedNeuro:
    if not files:
        raise NeuroFileError("no files to load", file=origin)
    first = next(iter(files))
    is_folder = "/" in first
    shown = {rel: os.path.join(origin, rel) for rel in files}
    toml_rel = f"{first.split('/')[0]}/{TOML}" if is_folder else None
    toml_file = shown[toml_rel] if toml_rel in files else None
    spec = read_toml(files[toml_rel], toml_file) if toml_file else NeuroToml()  # type: ignore[index]
    version = hash_files(files)  # its code; a caller adds its artifacts (`with_artifacts`)
    stem = first.split("/")[0] if is_folder else first.removesuffix(".py")
    targets: dict[str, Any] = {"qualname": spec.neuro, "attrs": _toml_attrs(spec), "active": True}
    package = _Package({}, _builtins_for(targets))
    name = _reserve(module_name, None, package) if module_name else _reserve(spec.name or stem, version, package)
    try:
        entry = _compile(files, shown, name, package, spec, toml_file, origin, stem)
        _install()
        try:
            module = importlib.import_module(entry)
        except ManifestError as e:
            file, line, tb = _where(e, shown.values())
            raise NeuroFileError(f"manifest error: {e}", file=file or shown[first], line=line, traceback=tb) from None
        except (Exception, SystemExit) as e:
            file, line, tb = _where(e, shown.values())
            raise NeuroFileError(f"import failed: {type(e).__name__}: {e}", file=file or shown[first], line=line,
                                 traceback=tb) from None
        finally:
            targets["active"] = False
        cls = _pick_class(module, name, spec, toml_file or shown[first])
    except BaseException:
        _unload(name)
        raise
    cls.__version_cache__ = version
    cls.__neuro_source__ = files  # the exact bytes it was loaded from: what its version stores and ships
    replay = spec.replay.calls if isinstance(spec.replay, ReplaySpec) else spec.replay
    if replay is None:
        declared = getattr(cls, "replay", None)
        replay = declared.get("calls") if isinstance(declared, dict) else declared if isinstance(declared, int) else None
    return LoadedNeuro(cls=cls, name=cls.__manifest__.name, version=version, files=files, path=origin,
                       module=name, replay=replay)


def _compile(files: dict[str, bytes], shown: dict[str, str], name: str, package: _Package, spec: NeuroToml,
             toml_file: str | None, origin: str, stem: str) -> str:
    """Compile every module (a syntax error anywhere refuses the whole version) into
    `package`; return the entry module's name."""
    first = next(iter(files))
    is_folder = "/" in first
    for rel, data in files.items():
        if not rel.endswith(".py"):
            continue
        if is_folder:
            inner = rel.split("/", 1)[1].removesuffix(".py").split("/")
            is_package = inner[-1] == "__init__"
            modname = ".".join([name, *(inner[:-1] if is_package else inner)])
        else:
            modname, is_package = name, False
        try:
            code = compile(data.decode("utf-8"), shown[rel], "exec", dont_inherit=True)
        except SyntaxError as e:
            offending = (e.text or "").strip()
            raise NeuroFileError(f"syntax error: {e.msg}" + (f": {offending}" if offending else ""),
                                 file=shown[rel], line=e.lineno) from None
        package.modules[modname] = (shown[rel], code, is_package)
    if not is_folder:
        return name
    if spec.module is not None:
        entry = f"{name}.{spec.module}"
        if entry not in package.modules:
            raise NeuroFileError(f"invalid neuro.toml: module = {spec.module!r} is not a module of the folder "
                                 "- at `$.module`", file=toml_file or shown[first])
    elif name in package.modules:
        entry = name
    else:
        top = [m for m in package.modules if m.count(".") == name.count(".") + 1 and not package.modules[m][2]]
        if len(top) != 1:
            raise NeuroFileError("a neuro folder needs an __init__.py, or a neuro.toml with module = "
                                 "\"<entry module>\"", file=toml_file or os.path.join(origin, stem))
        entry = top[0]
    if name not in package.modules:  # a folder without __init__.py: an empty package module
        init = os.path.join(origin, stem, "__init__.py")
        package.modules[name] = (init, compile("", init, "exec"), True)
    return entry


def _builtins_for(targets: dict[str, Any]) -> dict[str, Any]:
    """A builtins mapping whose ``__build_class__`` puts neuro.toml's keys into the neuro
    class's namespace before the class is made, so its manifest is checked with them."""
    real = builtins.__build_class__
    attrs = targets["attrs"]
    if not attrs:
        return builtins.__dict__

    def build_class(func: Any, name: str, *bases: Any, **kwds: Any) -> Any:
        if not targets["active"] or kwds.get("abstract") or not any(
                isinstance(b, type) and issubclass(b, Neuro) for b in bases):
            return real(func, name, *bases, **kwds)
        if targets["qualname"] is not None and targets["qualname"] != name:
            return real(func, name, *bases, **kwds)

        def with_toml(cname: str, cbases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> Any:
            for key, value in attrs.items():
                if key in ns and ns[key] != value:
                    raise ManifestError(f"neuro class {cname}: neuro.toml sets {key} = {value!r} but the class "
                                        f"sets {key} = {ns[key]!r}; set it in one place")
                ns[key] = value
            return type(cname, cbases, ns, **kw)

        meta = kwds.pop("metaclass", None)
        if meta is not None and meta is not type:  # a custom metaclass: leave it be
            return real(func, name, *bases, metaclass=meta, **kwds)
        return real(func, name, *bases, metaclass=with_toml, **kwds)

    custom = dict(builtins.__dict__)
    custom["__build_class__"] = build_class
    return custom


def _pick_class(module: types.ModuleType, package: str, spec: NeuroToml, file: str) -> type[Neuro]:
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Neuro) and "__manifest__" in vars(v)
             and (v.__module__ == package or v.__module__.startswith(package + "."))]
    found = list(dict.fromkeys(found))
    if spec.neuro is not None:
        named = [c for c in found if c.__name__ == spec.neuro]
        if not named:
            raise NeuroFileError(f"invalid neuro.toml: neuro = {spec.neuro!r} names no neuro class of the code "
                                 f"(found: {', '.join(c.__name__ for c in found) or 'none'}) - at `$.neuro`",
                                 file=file)
        return named[0]
    if not found:
        raise NeuroFileError("defines no neuro: subclass neuro.sdk.Neuro and give it a name and an input type",
                             file=file)
    if len(found) > 1:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise NeuroFileError(f"defines {len(found)} neuros ({names}); keep one per file, mark base classes "
                             "abstract=True, or name the one to run in neuro.toml: neuro = \"<class>\"", file=file)
    return found[0]


def _where(e: BaseException, files: Any) -> tuple[str | None, int | None, str]:
    """The innermost traceback frame inside the neuro's own files, and the traceback text."""
    ours = set(files)
    file = line = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ours:
            file, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    text = "".join(tb_module.format_exception(type(e), e, e.__traceback__))
    return file, line, text


def _unload(name: str) -> None:
    with _finder.lock:
        _finder.packages.pop(name, None)
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]

