"""`.neuro` files in drop folders: compiled and spawned; an edit recompiles and swaps.

kernel/_dropfolder.py hands an entry that ends in ``.neuro`` here (as it hands net files to
`neuro.nets._drop`). The file and the files it imports are read, compiled against what the
kernel runs, and the net it declares (the one named like the file, or its only net) is
applied through the drop folder's own path: spawned the first time, swapped after an edit
with the kernel's atomic swap (the old version keeps serving until the new one is live),
refused as a ``drop.error`` naming the file, line and column when it does not compile (the
old net keeps running). Deleting the file stops the net, as for any drop. The neuros it
`use`s may be files of the same folder that load beside it: while they are all it lacks and
the folder is still loading, it waits and compiles again (up to `WAIT_FOR_NEUROS` seconds).
"""

from __future__ import annotations

import hashlib
import os
import weakref
from typing import Any

import trio

from neuro._neurofile import LoadedNeuro, shown_path

from ._errors import LangError
from ._program import compile_source, read_sources
from ._store import start_system

__all__ = ["is_lang_entry", "sync_lang", "WAIT_FOR_NEUROS", "SUFFIX"]

SUFFIX = ".neuro"
WAIT_FOR_NEUROS = 5.0


def is_lang_entry(folder: str, entry: str) -> bool:
    """Whether `entry` of `folder` is a Neuro-Lang file (not hidden, not a folder)."""
    return (entry.endswith(SUFFIX) and not entry.startswith((".", "_"))
            and not os.path.isdir(os.path.join(folder, entry)))


def _waiting_only(e: LangError) -> bool:
    """Whether every problem is a neuro that is not running yet (it may be loading)."""
    return all(d.kind == "version" and "is not running" in d.message for d in e.diagnostics)


# drop folder -> entry -> (absolute path -> the hash of the text it was compiled with) of
# each file the entry imports: a sync of one of those files, changed, marks the entry again.
_IMPORTS: weakref.WeakKeyDictionary[Any, dict[str, dict[str, str]]] = weakref.WeakKeyDictionary()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def sync_lang(drop: Any, entry: str, path: str) -> None:
    """Compile the `.neuro` file `entry` of drop folder `drop` and apply its net; then mark
    again every file of the folder that imports this one and was compiled with other text."""
    seen: dict[str, str] = {}
    try:
        await _sync(drop, entry, path, seen)
    finally:
        _follow(drop, entry, os.path.abspath(path), seen)


def _follow(drop: Any, entry: str, main: str, seen: dict[str, str]) -> None:
    imports = _IMPORTS.setdefault(drop, {})
    imports[entry] = {p: h for p, h in seen.items() if p != main}
    text = seen.get(main)
    stale = [e for e, used in imports.items() if e != entry and main in used and used[main] != text]
    for importer in stale:  # (a cycle of imports ends: the second sync finds the text it used)
        drop._mark(importer, trio.current_time())
    if stale:
        drop._wake()


async def _sync(drop: Any, entry: str, path: str, seen: dict[str, str]) -> None:
    from neuro.nets._graph import source

    drop._counts["loads"] += 1
    shown = shown_path(path)
    deadline = trio.current_time() + WAIT_FOR_NEUROS
    while True:
        try:
            sources = await trio.to_thread.run_sync(read_sources, path)
            seen.clear()
            seen.update({p: _digest(t) for p, t in sources.items()})
            main = os.path.abspath(path)
            if main not in sources:
                _refuse(drop, entry, path, f"{shown}: cannot read it (a .neuro file is UTF-8 text)", None)
                return
            program = compile_source(sources[main], shown, sources=sources, kernel=drop.kernel)
            break
        except LangError as e:
            loading = drop._dirty or len(drop._inflight) > 1
            if _waiting_only(e) and loading and trio.current_time() < deadline:
                await trio.sleep(0.1)  # the neuros it uses may be files of this folder, loading now
                continue
            first = e.diagnostics[0] if e.diagnostics else None
            _refuse(drop, entry, path, str(e), first.line if first else None)
            return
    if not program.own_nets and entry not in drop._entries:
        return  # a file with no net is a library that others import: nothing to run
    if program.main is None:
        nets = ", ".join(program.nets) or "none"
        stem = os.path.basename(path).removesuffix(SUFFIX)
        _refuse(drop, entry, path, f"{shown}: a .neuro file in a drop folder runs one net: the one named like the "
                                   f"file (`net {stem}(...)`), or its only net (it declares: {nets})", None)
        return
    built = program.nets[program.main]
    for system in program.system:  # the store neuro a `get`/`put` calls: one per kernel, started once
        await start_system(drop.kernel, system)
    cls = built.neuro(policy=program.policy_of.get(program.main, "default"))
    loaded = LoadedNeuro(cls=cls, name=built.name, version=built.version, files=source(built.graph), path=shown,
                         module=cls.__module__)
    async with drop._applying:
        await drop._apply(entry, loaded)


def _refuse(drop: Any, entry: str, path: str, message: str, line: int | None) -> None:
    known = drop._entries.get(entry)
    drop._error(known.name if known else None, path, message, line, None, entry)
