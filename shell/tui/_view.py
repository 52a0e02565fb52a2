"""What every screen of the shell shares: its app, the client, and the hooks the app calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.containers import Vertical

if TYPE_CHECKING:
    from ._app import ShellApp

__all__ = ["View", "fmt_time", "short", "show", "make_table"]


class View(Vertical):
    """A screen's body, in a tab of the app. The app calls `connected` once a client is open
    (again, after a reconnect), `kernel_event` for each kernel event, `tick` at the refresh
    rate while it is the screen shown, and `shown` when the user turns to it."""

    @property
    def shell(self) -> ShellApp:
        return self.app  # type: ignore[return-value]

    @property
    def client(self) -> Any:
        return self.shell.client

    def on_mount(self) -> None:
        if self.shell.client is not None:  # mounted after the client opened (a lazy screen)
            self.run_worker(self.shell._guard(self.connected()), group="view-connected")

    async def connected(self) -> None:
        """A client is open (first time, or after a reconnect)."""

    def kernel_event(self, event: Any) -> None:
        """A kernel event arrived (name, neuro, actor, data)."""

    async def tick(self) -> None:
        """The refresh timer fired while this screen is shown."""

    async def shown(self) -> None:
        """The user turned to this screen."""

    def hidden(self) -> None:
        """The user turned to another screen."""

    def focus_first(self) -> None:
        """Put the keyboard on the screen's main widget (its first table or list)."""
        from textual.widgets import DataTable, OptionList, Select

        from ._grid import Grid

        for kind in (OptionList, Grid, DataTable, Select):
            for widget in self.query(kind):
                if widget.display and widget.focusable:
                    widget.focus()
                    return


def fmt_time(t: float | None) -> str:
    """A local time as the CLI prints it: ``2026-12-02 07:31:05.123``."""
    if t is None:
        return ""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


def show(static: Any, text: str) -> None:
    """`static.update(text)` unless it shows `text` already: an update lays the whole screen out
    again, which cost a 10,000-row table's frame more than its rows did."""
    if static.content != text:
        static.update(text)


def short(value: Any, width: int = 60) -> str:
    """One line of at most `width` characters for a table cell."""
    import json

    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, separators=(",", ":"))
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def make_table(table_id: str, columns: tuple[str, ...], **kw: Any) -> Any:
    """A row-cursor `DataTable` with these columns (each column's key is its heading)."""
    from textual.widgets import DataTable

    out: DataTable = DataTable(id=table_id, cursor_type="row", **kw)
    for key in columns:
        out.add_column(key, key=key)
    return out
