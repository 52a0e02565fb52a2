"""Pick a neuro file: a folder tree to choose from, and a line to type or edit the path in.

The tree (textual's `DirectoryTree`) starts in `start` (the shell's working folder) and lists
folders and the files a neuro can come from (`*.py`, `*.neuro`, `*.net.toml`), hidden ones
and `__pycache__` left out. Choosing a file in it picks that file; choosing a folder puts its
path in the line (a package folder is a neuro too), where enter picks what the line says
(`path.py:Class` names one class of a file); an empty line and escape pick nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label

__all__ = ["PickFileScreen", "NeuroFiles"]

SUFFIXES = (".py", ".neuro", ".net.toml")


class NeuroFiles(DirectoryTree):
    """A folder tree of what a neuro can be loaded from."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith((".", "__pycache__"))
                and (p.name.endswith(SUFFIXES) or _is_dir(p))]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # gone, or not ours to look into: left out of the list
        return False


class PickFileScreen(ModalScreen["str | None"]):
    """A neuro file's path, picked from the tree or typed; None when escaped."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PickFileScreen { align: center middle; }
    PickFileScreen > Vertical { width: 100; height: 30; border: round $accent; background: $surface; padding: 0 1; }
    PickFileScreen NeuroFiles { height: 1fr; }
    """

    def __init__(self, question: str, start: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.start = os.path.abspath(start or os.getcwd())

    def compose(self) -> Any:
        with Vertical():
            yield Label(f"{self.question}\n[dim]enter on a file picks it; or type a path below (path.py:Class), "
                        "enter; escape cancels[/dim]")
            yield NeuroFiles(self.start, id="pick-tree")
            yield Input("", placeholder=f"or a path, such as {os.path.join(self.start, 'my_neuro.py')}",
                        id="pick-input")

    def on_mount(self) -> None:
        self.query_one("#pick-tree", NeuroFiles).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#pick-input", Input).value = str(event.path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
