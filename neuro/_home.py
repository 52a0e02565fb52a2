"""Where Neuro keeps its state: one answer for every layer (the CLI, the daemon, the sandboxes)."""

from __future__ import annotations

import os

__all__ = ["neuro_home"]


def neuro_home() -> str:
    """``$NEURO_HOME``, else ``~/.neuro`` (not created here)."""
    return os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
