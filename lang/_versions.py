"""Whether the version of a neuro that runs is the one a `use` asks for.

`use x == HASH`: the running version starts with HASH. `use x >= HASH`: it is HASH's version
or descends from it in the version store's lineage (a swap, a rollback, a dream distillation
record their parent), which needs the kernel itself (an embedded kernel, a drop folder).
`use x @ TAG`: the version the lock file's `[tags]` names for "x@TAG". A lock file's
`[neuros]` pins every neuro the file uses.
"""

from __future__ import annotations

from typing import Any

from . import _ast as A

__all__ = ["version_problem"]


def version_problem(use: A.Use, running: str, kernel: Any, lock: dict[str, str] | None) -> str | None:
    name = use.neuro
    locked = (lock or {}).get(name)
    if use.tag is not None:
        want = (lock or {}).get(f"{name}@{use.tag}")
        if want is None:
            return (f"`use {name} @ {use.tag}`: the lock file names no version for tag {use.tag!r} (add "
                    f"\"{name}@{use.tag}\" = \"VERSION\" to its [tags])")
        return None if running.startswith(want) else (f"`use {name} @ {use.tag}` wants version {want[:12]}, but "
                                                       f"{running[:12]} runs")
    if locked is not None and not running.startswith(locked):
        return (f"the lock file wants {name} at {locked[:12]}, but {running[:12]} runs: run the locked version, or "
                "`neuro lang build --lock` again")
    if use.version is None:
        return None
    if use.op == "==":
        return None if running.startswith(use.version) else (f"`use {name} == {use.version}`: {running[:12]} runs "
                                                             "instead")
    if running.startswith(use.version):
        return None
    history = getattr(kernel, "versions", None)
    if callable(history):
        try:
            versions = {v.version: v.parent for v in history(name)}
        except Exception:  # noqa: BLE001 - no history: treated as unknown lineage below
            versions = {}
        v: str | None = running
        seen: set[str] = set()
        while v is not None and v not in seen:
            if v.startswith(use.version):
                return None
            seen.add(v)
            v = versions.get(v)
        return (f"`use {name} >= {use.version}`: the running version {running[:12]} does not descend from "
                f"{use.version} (see `neuro versions {name}`)")
    return (f"`use {name} >= {use.version}`: {running[:12]} runs, and its lineage is not known here: use `==` or a "
            "lock file")
