"""What a neuro is made of, and the one content identity that names a version of it.

However a neuro arrives (imported as ``module:Class``, a file or package folder loaded by
path, a drop folder, a ``source=`` dict over the control socket, a version read back from the
log), its files are read by one reader into one layout, and its version is one hash of them:

- **The layout** (`canonical_files`): a single module is ``{"name.py": bytes}``; a package
  folder is ``{"name/__init__.py": ..., "name/rel/path.py": ..., "name/neuro.toml": ...}``,
  the entry module first. Other layouts a caller may hand in (a folder's files without the
  folder's name) are turned into this one.
- **What counts** (`is_code`): ``.py`` files and the folder's ``neuro.toml``; never tests
  (``test_*.py``, ``*_test.py``, ``conftest.py``, anything under ``tests/``), caches
  (``__pycache__``, ``.pyc``), dot-files or editor temp files. A single module is itself,
  whatever its name.
- **The identity** (`hash_files`): a hash over each file's path inside the neuro and its
  bytes, plus each declared artifact's path and content hash (`neuro._artifactfiles`), but
  not the module file's or the folder's own name: the same bytes under another name are the
  same version.

`read_neuro_files` reads a file or folder from disk (checked: no symlink out, no ``..``,
at most 1 MiB a file, UTF-8); `class_files` finds and reads the files behind an imported
class (trusted code, read as it is).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from typing import Mapping

import msgspec

from neuro._errors import NeuroError

__all__ = [
    "MAX_FILE_BYTES", "MAX_PACKAGE_FILES", "MAX_PACKAGE_BYTES", "TOML", "NeuroFileError", "is_excluded", "is_code",
    "canonical_files", "hash_files", "read_neuro_files", "class_files", "neuro_root", "shown_path", "open_inside",
]

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a neuro's source is code; data goes in declared artifacts
MAX_PACKAGE_FILES = 1000  # files and folders a package folder may hold (all are walked)
MAX_PACKAGE_BYTES = 16 << 20  # its source files in all
TOML = "neuro.toml"
_IDENTITY_TAG = b"neuro version 1\n"  # bump if what the hash covers ever changes

# Editor and temp files; dot-files and __pycache__ are caught by `is_excluded` per component.
_TEMP = re.compile(r"(^[#~])|(~$)|(\.(swp|swx|swo|tmp|bak|orig|pyc|pyo)$)")
_TEST_FILE = re.compile(r"^(test_.*|.*_test|conftest)\.py$")


def shown_path(path: str) -> str:
    """A path as text that can always be logged: bytes that are not UTF-8 (Linux file
    names are bytes) appear as backslash escapes instead of breaking the log's JSON."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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


# -- what counts ------------------------------------------------------------------------------

def is_excluded(rel: str) -> bool:
    """Whether `rel` (a path inside a neuro's folder, ``/``-separated) is never part of the
    neuro: a test, a cache, a dot-file or an editor's temp file, or anything in such a folder."""
    parts = [p for p in rel.split("/") if p]
    if not parts:
        return False
    for part in parts[:-1]:
        if part.startswith(".") or part in ("__pycache__", "tests"):
            return True
    name = parts[-1]
    return (name.startswith(".") or name in ("__pycache__", "tests") or bool(_TEMP.search(name))
            or bool(_TEST_FILE.match(name)))


def is_code(rel: str) -> bool:
    """Whether `rel` (inside a package folder) is part of the neuro's source: a ``.py`` file
    that is no test or cache, or the folder's own ``neuro.toml``."""
    return not is_excluded(rel) and (rel.endswith(".py") or rel == TOML)


# -- the layout -----------------------------------------------------------------------------

def _is_module(files: Mapping[str, bytes]) -> bool:
    if len(files) != 1:
        return False
    only = next(iter(files))
    return "/" not in only and only.endswith(".py") and only != "__init__.py"


def canonical_files(files: Mapping[str, bytes], stem: str | None = None) -> dict[str, bytes]:
    """`files` in the one layout: a single module as it is; a package folder's files under
    its folder's name (`stem` names a folder given without one; default ``neuro``), tests and
    caches left out, the entry module (``__init__.py``) first."""
    if not files:
        return {}
    if _is_module(files):
        return dict(files)
    tops = {rel.split("/", 1)[0] for rel in files}
    if len(tops) == 1 and all("/" in rel for rel in files):
        top = tops.pop()
        inner = {rel.split("/", 1)[1]: data for rel, data in files.items()}
    else:
        top = re.sub(r"\W", "_", (stem or "neuro").rsplit(".", 1)[-1]) or "neuro"
        inner = dict(files)
    kept = {rel: data for rel, data in inner.items() if is_code(rel)}
    ordered = {"__init__.py": kept.pop("__init__.py")} if "__init__.py" in kept else {}
    ordered.update(kept)
    return {f"{top}/{rel}": data for rel, data in ordered.items()}


# -- the identity ---------------------------------------------------------------------------

def hash_files(files: Mapping[str, bytes], artifacts: Mapping[str, str] | None = None) -> str:
    """The version of a neuro: 16 hex digits of a hash over its code (each file's path inside
    the neuro and its bytes, in any layout `canonical_files` takes) and its declared
    `artifacts` (relative path -> sha256 of the bytes). The module file's or folder's own name
    is not part of it, nor are tests and caches."""
    canon = canonical_files(files)
    if _is_module(canon):
        entries = [["module", "", hashlib.sha256(next(iter(canon.values()))).hexdigest()]]
    else:
        entries = [["file", rel.split("/", 1)[1], hashlib.sha256(data).hexdigest()] for rel, data in canon.items()]
    entries += [["artifact", rel, sha] for rel, sha in (artifacts or {}).items()]
    entries.sort()
    return hashlib.sha256(_IDENTITY_TAG + msgspec.msgpack.encode(entries)).hexdigest()[:16]


# -- reading from disk ----------------------------------------------------------------------

def read_neuro_files(path: str, folder: str, *, checked: bool = True) -> dict[str, bytes]:
    """Read the neuro at `path` (a ``.py`` module, or a package folder, inside `folder`) in
    the one layout. `checked` (files that arrive from outside: drop folders, paths) refuses
    symlinks out of `folder`, ``..``, files over 1 MiB and anything but UTF-8 text; trusted
    code that is already imported is read as it is."""
    folder_real = os.path.realpath(folder)
    if checked:
        _check_inside(path, folder_real, path)
    if not os.path.isdir(path):
        if not path.endswith(".py"):
            raise NeuroFileError("not a neuro: use a .py module or a package folder with __init__.py or "
                                 "neuro.toml", file=path)
        return {os.path.basename(path): _read(path, folder_real, checked)}
    package = os.path.basename(os.path.normpath(path))
    if checked and _more_entries_than(path, MAX_PACKAGE_FILES):  # before os.walk, which lists a whole folder
        raise _too_many_files(path)
    files: dict[str, bytes] = {}
    seen = total = 0
    for root, dirs, names in os.walk(path):
        rel_root = os.path.relpath(root, path).replace(os.sep, "/")
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if not is_excluded(rel_root + d))
        seen += len(dirs) + len(names)
        if checked and seen > MAX_PACKAGE_FILES:  # files added since the count above
            raise _too_many_files(path)
        if checked:
            for d in dirs:
                _check_inside(os.path.join(root, d), folder_real, os.path.join(root, d))
        for name in sorted(names):
            if not is_code(rel_root + name):
                continue
            data = files[f"{package}/{rel_root}{name}"] = _read(os.path.join(root, name), folder_real, checked)
            total += len(data)
            if checked and total > MAX_PACKAGE_BYTES:
                raise NeuroFileError(f"the package's source files add up to more than {MAX_PACKAGE_BYTES >> 20} MiB: "
                                     "a neuro is code; declare its data as artifacts", file=shown_path(path))
    if not files:
        raise NeuroFileError("an empty neuro folder: add __init__.py (or neuro.toml and a module)", file=path)
    return canonical_files(files)


def _too_many_files(path: str) -> NeuroFileError:
    return NeuroFileError(f"the package folder holds more than {MAX_PACKAGE_FILES} files and folders: keep data "
                          "and virtual environments out of a neuro's folder", file=shown_path(path))


def _more_entries_than(path: str, limit: int) -> bool:
    """Whether the package folder at `path` holds more than `limit` files and folders, counted
    as `read_neuro_files` counts them (excluded folders and what they hold are not), looking
    at no more than `limit` + 1 of them: a folder of 10^5 files is as quick to refuse."""
    seen = 0
    folders = [(path, "")]
    while folders:
        folder, rel_root = folders.pop()
        try:
            with os.scandir(folder) as it:
                for item in it:
                    try:
                        is_dir = item.is_dir()
                    except OSError:
                        is_dir = False
                    if is_dir and is_excluded(rel_root + item.name):
                        continue
                    seen += 1
                    if seen > limit:
                        return True
                    if is_dir and not item.is_symlink():  # os.walk lists a link to a folder, never enters it
                        folders.append((item.path, rel_root + item.name + "/"))
        except OSError:
            continue  # os.walk skips a folder it cannot list, too
    return False


def _read(path: str, folder_real: str, checked: bool) -> bytes:
    if checked:
        return _read_checked(path, folder_real)
    with open(path, "rb") as f:
        return f.read()


def _check_inside(path: str, folder_real: str, shown: str) -> None:
    if ".." in os.path.basename(os.path.normpath(path)) or ".." in path.replace(os.sep, "/").split("/"):
        raise NeuroFileError("a name with '..' is refused: name neuro files plainly, inside the folder",
                             file=shown)
    real = os.path.realpath(path)
    if real != folder_real and not real.startswith(folder_real + os.sep):
        raise NeuroFileError(f"a symlink pointing outside the folder (to {real}) is refused: copy the file "
                             "into the folder instead", file=shown)


def open_inside(path: str, folder_real: str) -> int:
    """Open `path` for reading and check the file that was opened (not the path, which a
    swapped symlink could point elsewhere between a check and an open) is a regular file
    inside `folder_real`; returns the descriptor."""
    _check_inside(path, folder_real, path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise NeuroFileError(f"cannot be read: {e.strerror or e}", file=shown_path(path)) from None
    try:
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the check on the path above is what there is
            opened = os.path.realpath(path)
        if opened != folder_real and not opened.startswith(folder_real + os.sep):
            raise NeuroFileError(f"the file opened is outside the folder (at {opened}): a symlink changed while it "
                                 "was read; copy the file into the folder instead", file=shown_path(path))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NeuroFileError("not a regular file (a fifo, device or socket is refused)", file=shown_path(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_checked(path: str, folder_real: str) -> bytes:
    """Read one source file through `open_inside`: at most 1 MiB of UTF-8 text."""
    fd = open_inside(path, folder_real)
    with open(fd, "rb", closefd=True) as f:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            raise NeuroFileError(f"the file is {size} bytes, over the 1 MiB limit for neuro code: keep data out "
                                 "of the neuro file and load it at run time", file=shown_path(path))
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise NeuroFileError(f"cannot be read: {e.strerror or e}", file=shown_path(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise NeuroFileError("the file is over the 1 MiB limit for neuro code: keep data out of the neuro "
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


# -- the files behind an imported class -------------------------------------------------------

def neuro_root(cls: type) -> tuple[str, bool] | None:
    """Where an imported neuro class's code is: (its module file, False) for a single module,
    (its folder, True) for a package folder; None for a class with no file behind it.

    The folder is the neuro when the class is in its ``__init__.py``, when the folder holds a
    ``neuro.toml``, or when the class is in a module of a package whose ``__init__`` offers
    exactly this one neuro class (as a drop folder would load that folder)."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(path) == "__init__.py" or os.path.exists(os.path.join(folder, TOML)):
        return folder, True
    parent_name = cls.__module__.rpartition(".")[0]
    parent = sys.modules.get(parent_name) if parent_name else None
    parent_file = getattr(parent, "__file__", None)
    if parent_file and os.path.abspath(parent_file) == os.path.join(folder, "__init__.py"):
        offered = {v for v in vars(parent).values()
                   if isinstance(v, type) and "__manifest__" in vars(v) and _is_neuro_class(v)}
        if offered == {cls}:
            return folder, True
    return os.path.abspath(path), False


def _is_neuro_class(v: type) -> bool:
    from neuro._manifest import Neuro

    return issubclass(v, Neuro)


def class_files(cls: type) -> tuple[dict[str, bytes], str] | None:
    """The files behind an imported neuro class, in the one layout, and the folder its
    artifacts are declared relative to; None for a class with no file (defined in a REPL)."""
    found = neuro_root(cls)
    if found is None:
        return None
    where, is_package = found
    if not is_package:
        return read_neuro_files(where, os.path.dirname(where), checked=False), os.path.dirname(where)
    files = read_neuro_files(where, os.path.dirname(where), checked=False)
    module_file = getattr(sys.modules.get(cls.__module__), "__file__", "")
    entry = f"{os.path.basename(where)}/{os.path.relpath(module_file, where)}".replace(os.sep, "/")
    if "__init__.py" not in {rel.split("/", 1)[1] for rel in files} and entry in files:
        files = {entry: files.pop(entry), **files}  # a folder without __init__.py: its entry module first
    return files, where
