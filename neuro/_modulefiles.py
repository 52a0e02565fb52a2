"""Where an installed module's source file is, found without importing it (nor its parents).

`importlib.util.find_spec("a.b.c")` imports ``a.b`` first, and a package's ``__init__`` may
import the very code that must not run here (a learner in the kernel's process). This walks
the import system's finders one level at a time instead, using a parent's ``__path__`` only
where that parent is already imported.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["module_file", "ModuleNotFound"]


class ModuleNotFound(LookupError):
    """The module is not installed (or is not a source file); the message names it."""


def module_file(module: str) -> str:
    """The source file of installed module `module` (a package's ``__init__.py``)."""
    import os

    parts = module.split(".")
    path: list[str] | None = None
    origin = None
    for i, part in enumerate(parts):
        dotted = ".".join(parts[:i + 1])
        loaded = sys.modules.get(dotted)
        if loaded is not None and hasattr(loaded, "__path__") and i < len(parts) - 1:
            path = list(loaded.__path__)
            continue
        found = _find_spec(dotted, path)
        if found is None:
            raise ModuleNotFound(f"cannot find module {dotted!r} (for {module!r}); is its package installed?")
        origin = found.origin
        path = list(found.submodule_search_locations or [])
        if i < len(parts) - 1 and not path:
            raise ModuleNotFound(f"{dotted!r} is not a package, so {module!r} cannot be in it")
    if origin is None or not os.path.isfile(origin):
        raise ModuleNotFound(f"module {module!r} has no source file to read")
    return origin


def _find_spec(dotted: str, path: list[str] | None) -> Any:
    """What the import system's finders say of `dotted` under its parent's `path`."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            found = find(dotted, path)
        except (ImportError, ValueError, TypeError):
            continue
        if found is not None:
            return found
    return None
