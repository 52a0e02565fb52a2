"""Turning a neuro file or package folder into a Neuro class, safely.

A neuro on disk is a single ``.py`` module, or a package folder (with ``__init__.py``, or a
``neuro.toml`` naming its entry module). Its manifest is in code, or in a ``neuro.toml`` in
the folder, which may set ``name``, ``neuro`` (the class, when the code defines several),
``module``, ``policy``, ``sandbox``, ``policy_overrides`` and ``replay``.

Every file is read once, checked (no symlink out of the folder, no ``..``, at most 1 MiB,
UTF-8 text without NUL bytes), compiled, and imported from those bytes under a module name
of its own (``neuro_drop.<stem>_<hash>``), so two versions never share module state and the
old one keeps working while the new one is tried. Its version is the content hash of its
files; its name comes from its manifest, never from its path.

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

from neuro._errors import ManifestError, NeuroError
from neuro._manifest import NAME_PATTERN, SANDBOXES, Neuro, hash_files

__all__ = [
    "MAX_FILE_BYTES", "MAX_PACKAGE_FILES", "MAX_PACKAGE_BYTES", "LoadedNeuro", "shown_path", "NeuroFileError", "NeuroToml", "ReplaySpec",
    "load_neuro_path", "load_neuro_files", "load_neuro_source", "read_neuro_files", "is_neuro_entry",
]

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a neuro is code, not data
MAX_PACKAGE_FILES = 1000  # files and folders a package folder may hold (all are walked)
MAX_PACKAGE_BYTES = 16 << 20  # its source files in all
PACKAGE = "neuro_drop"  # the parent of every module loaded from a file
SOURCE_SUFFIXES = (".py",)
TOML = "neuro.toml"


class NeuroFileError(NeuroError):
    """A neuro file or folder cannot be loaded: `file` and `line` say where, `error` says what
    and what to do, `traceback` is the formatted traceback of an import-time exception."""

    def __init__(self, error: str, *, file: str, line: int | None = None, traceback: str | None = None) -> None:
        file = shown_path(file)
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {error}")
        self.file = file
        self.line = line
        self.error = error
        self.traceback = traceback


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


class LoadedNeuro(msgspec.Struct, frozen=True):
    """One version of a neuro, loaded from disk: its class, manifest name, content hash, the
    exact bytes it was loaded from (relative path -> bytes, the entry module first) and where."""

    cls: Any
    name: str
    version: str
    files: dict[str, bytes]
    path: str
    module: str
    replay: int | None = None


# -- what counts as a neuro on disk ----------------------------------------------------------

_IGNORED = re.compile(r"(^[.#~])|(~$)|(\.(swp|swx|swo|tmp|bak|orig)$)|(^__pycache__$)")


def is_neuro_entry(folder: str, entry: str) -> bool:
    """Whether `entry` (a name directly in `folder`) is one a drop folder loads: a ``.py``
    file or a folder with ``__init__.py`` or ``neuro.toml``; hidden and editor temp files
    (``.x``, ``x~``, ``.swp``, ``.tmp``) and ``_``-prefixed modules are not."""
    if _IGNORED.search(entry) or entry.startswith("_"):
        return False
    path = os.path.join(folder, entry)
    if entry.endswith(".py"):
        return not os.path.isdir(path)
    if os.path.isdir(path):
        return os.path.lexists(os.path.join(path, "__init__.py")) or os.path.lexists(os.path.join(path, TOML))
    return False


def read_neuro_files(path: str, folder: str) -> dict[str, bytes]:
    """Read a neuro's files, checking each: the entry module first, then the rest, keyed
    ``name.py`` for a module and ``pkg/rel/path.py`` for a folder (``neuro.toml`` included)."""
    folder_real = os.path.realpath(folder)
    _check_inside(path, folder_real, path)
    if not os.path.isdir(path):
        if not path.endswith(".py"):
            raise NeuroFileError("not a neuro: use a .py module or a package folder with __init__.py or "
                                 "neuro.toml", file=path)
        return {os.path.basename(path): _read_checked(path, folder_real)}
    package = os.path.basename(os.path.normpath(path))
    files: dict[str, bytes] = {}
    seen = total = 0
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not _IGNORED.search(d))
        seen += len(dirs) + len(names)
        if seen > MAX_PACKAGE_FILES:
            raise NeuroFileError(f"the package folder holds more than {MAX_PACKAGE_FILES} files and folders: keep "
                                 "data and virtual environments out of a neuro's folder", file=shown_path(path))
        for d in dirs:
            _check_inside(os.path.join(root, d), folder_real, os.path.join(root, d))
        for name in sorted(names):
            if _IGNORED.search(name) or not (name.endswith(".py") or (name == TOML and root == path)):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            data = files[f"{package}/{rel}"] = _read_checked(full, folder_real)
            total += len(data)
            if total > MAX_PACKAGE_BYTES:
                raise NeuroFileError(f"the package's source files add up to more than {MAX_PACKAGE_BYTES >> 20} MiB: "
                                     "a neuro is code; load data at run time", file=shown_path(path))
    if not files:
        raise NeuroFileError("an empty neuro folder: add __init__.py (or neuro.toml and a module)", file=path)
    return files


def _check_inside(path: str, folder_real: str, shown: str) -> None:
    if ".." in os.path.basename(os.path.normpath(path)) or ".." in path.replace(os.sep, "/").split("/"):
        raise NeuroFileError("a name with '..' is refused: name neuro files plainly, inside the folder",
                             file=shown)
    real = os.path.realpath(path)
    if real != folder_real and not real.startswith(folder_real + os.sep):
        raise NeuroFileError(f"a symlink pointing outside the folder (to {real}) is refused: copy the file "
                             "into the folder instead", file=shown)


def _read_checked(path: str, folder_real: str) -> bytes:
    """Read one file, checking the file that was opened (not the path, which a swapped symlink
    could point elsewhere between a check and an open)."""
    _check_inside(path, folder_real, path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise NeuroFileError(f"cannot be read: {e.strerror or e}", file=shown_path(path)) from None
    with open(fd, "rb", closefd=True) as f:
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the check on the path above is what there is
            opened = os.path.realpath(path)
        if opened != folder_real and not opened.startswith(folder_real + os.sep):
            raise NeuroFileError(f"the file opened is outside the folder (at {opened}): a symlink changed while it "
                                 "was read; copy the file into the folder instead", file=shown_path(path))
        import stat

        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NeuroFileError("not a regular file (a fifo, device or socket is refused)", file=shown_path(path))
        if info.st_size > MAX_FILE_BYTES:
            raise NeuroFileError(f"the file is {info.st_size} bytes, over the 1 MiB limit for neuro code: keep data "
                                 "out of the neuro file and load it at run time", file=shown_path(path))
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise NeuroFileError(f"cannot be read: {e.strerror or e}", file=shown_path(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise NeuroFileError(f"the file is over the 1 MiB limit for neuro code: keep data out of the neuro "
                             "file and load it at run time", file=path)
    if b"\0" in data:
        raise NeuroFileError("a binary file (it contains NUL bytes) is refused: a neuro is UTF-8 Python source",
                             file=path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise NeuroFileError("a binary file (not valid UTF-8) is refused: a neuro is UTF-8 Python source",
                             file=path, line=line) from None
    return data


def shown_path(path: str) -> str:
    """A path as text that can always be logged: bytes that are not UTF-8 (Linux file
    names are bytes) appear as backslash escapes instead of breaking the log's JSON."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
    default the folder that holds it)."""
    path = os.path.abspath(os.fspath(path))
    folder = os.fspath(folder) if folder is not None else os.path.dirname(os.path.normpath(path))
    files = read_neuro_files(path, folder)
    loaded = _load(files, None, os.path.dirname(os.path.normpath(path)))
    return msgspec.structs.replace(loaded, path=path)


def load_neuro_files(files: dict[str, bytes], module_name: str | None = None, *,
                     origin: str | None = None) -> type[Neuro]:
    """Load a neuro class from its stored source (as `LoadedNeuro.files` or a version store
    holds it), under `module_name` (a fresh ``neuro_drop.*`` name by default; taken names get
    a suffix, so a version never shares module state with another). `origin` is the folder
    its files are shown as coming from in errors and tracebacks."""
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
    return _load(_as_drop_layout(files, module_name), module_name, origin or "<stored>")


def _as_drop_layout(files: dict[str, bytes], module_name: str | None) -> dict[str, bytes]:
    """Stored sources come as ``name.py`` (a module), ``pkg/...`` (a folder, as here) or
    folder-relative paths with no folder name (``__init__.py``, ``impl.py``): give the
    last a folder name, and put the entry module first."""
    if any("/" in rel for rel in files) and len({rel.split("/")[0] for rel in files}) == 1:
        first = next(iter(files)).split("/")[0]
        init = f"{first}/__init__.py"
        return {init: files[init], **files} if init in files else dict(files)
    sources = [rel for rel in files if rel.endswith(".py")]
    if len(files) == 1 and len(sources) == 1:
        return dict(files)
    stem = re.sub(r"\W", "_", (module_name or "neuro").rsplit(".", 1)[-1]) or "neuro"
    out = {f"{stem}/{rel}": data for rel, data in files.items()}
    init = f"{stem}/__init__.py"
    return {init: out[init], **out} if init in out else out


def _load(files: dict[str, bytes], module_name: str | None, origin: str) -> LoadedNeuro:
    if not files:
        raise NeuroFileError("no files to load", file=origin)
    first = next(iter(files))
    is_folder = "/" in first
    shown = {rel: os.path.join(origin, rel) for rel in files}
    toml_rel = f"{first.split('/')[0]}/{TOML}" if is_folder else None
    toml_file = shown[toml_rel] if toml_rel in files else None
    spec = read_toml(files[toml_rel], toml_file) if toml_file else NeuroToml()  # type: ignore[index]
    version = _hash(files)
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


def _hash(files: dict[str, bytes]) -> str:
    return hash_files(files)  # the kernel's version store hashes the same way
