"""The bare textual app bench/shell.py measures the shell against: the same widgets (six tabs,
a process table with the same columns and rows, a status line, the footer) and nothing else:
no client, no kernel, no refresh. Run as ``python bench/_shell_bare.py ROWS.json``."""

from __future__ import annotations

import json
import sys

from textual.app import App
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

COLUMNS = ("name", "version", "backend", "state", "msg/s", "activity", "mailbox", "restarts", "errors", "policy",
           "supervisor", "last error")
TABS = ("Processes", "Log", "Call", "Versions", "Policies", "Dream")


class Bare(App):
    def __init__(self, rows: list[list[str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self):
        yield Static("", id="banner")
        with TabbedContent():
            for title in TABS:
                with TabPane(title, id=title.lower()):
                    if title == "Processes":
                        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
                        yield Static(f"{len(self.rows)} neuros, sorted by name", id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        for c in COLUMNS:
            table.add_column(c)
        for row in self.rows:
            table.add_row(*row)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        Bare(json.load(f)).run()
