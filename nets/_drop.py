"""Net files in drop folders: ``NAME.net.toml`` is built and spawned, changed is swapped.

kernel/_dropfolder.py hands an entry that ends in ``.net.toml`` here (its `_sync` hook); the
rest is the drop folder's own path: `_apply` spawns the net's neuro (or swaps the running
one, with the net's graph as its source), `_error` makes a refusal a ``drop.error`` event,
and a deleted file stops the net. A net that does not build is refused before anything
changes, so the old net keeps running. The neuros a net names may be files of the same
folder that load beside it: while its only problems are unknown neuros and the folder is
still loading, it waits and builds again (up to `WAIT_FOR_NODES` seconds).
"""

from __future__ import annotations

import os
from typing import Any

import trio

from neuro._neurofile import LoadedNeuro, shown_path

from ._built import build
from ._graph import NetError, source
from ._toml import SUFFIX, NetFileError, read_toml

__all__ = ["is_net_entry", "sync_net", "WAIT_FOR_NODES"]

WAIT_FOR_NODES = 5.0


def is_net_entry(folder: str, entry: str) -> bool:
    """Whether `entry` of `folder` is a net file (not hidden, not a folder)."""
    return (entry.endswith(SUFFIX) and not entry.startswith((".", "_"))
            and not os.path.isdir(os.path.join(folder, entry)))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(1 << 20)


async def sync_net(drop: Any, entry: str, path: str) -> None:
    """Build the net file `entry` of drop folder `drop` and apply it (spawn or swap)."""
    drop._counts["loads"] += 1
    shown = shown_path(path)
    deadline = trio.current_time() + WAIT_FOR_NODES
    while True:
        try:
            data = await trio.to_thread.run_sync(_read, path)
            built = build(read_toml(data, shown), kernel=drop.kernel)
            break
        except NetError as e:
            loading = drop._dirty or len(drop._inflight) > 1
            if all(p.kind == "unknown_neuro" for p in e.problems) and loading and trio.current_time() < deadline:
                await trio.sleep(0.1)  # its neuros may be files of this folder, loading now
                continue
            _refuse(drop, entry, path, str(e))
            return
        except (NetFileError, OSError) as e:
            _refuse(drop, entry, path, str(e) if isinstance(e, NetFileError) else f"{shown}: {e}")
            return
    cls = built.neuro()
    loaded = LoadedNeuro(cls=cls, name=built.name, version=built.version, files=source(built.graph), path=shown,
                         module=cls.__module__)
    async with drop._applying:
        await drop._apply(entry, loaded)


def _refuse(drop: Any, entry: str, path: str, message: str) -> None:
    known = drop._entries.get(entry)
    try:
        drop._error(known.name if known else None, path, message, None, None, entry)
    except TypeError:  # a drop folder whose `_error` takes no entry
        drop._error(known.name if known else None, path, message, None, None)
