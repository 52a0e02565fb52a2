"""The Versions screen: each neuro's history from the version store (origin, parent, lineage,
which is live), the source of a version, a diff between two, and rollback."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, OptionList, Static

from ._view import View, fmt_time, short

__all__ = ["VersionsView"]


def _lineage(v: Any) -> str:
    lin = v.lineage
    parts = [f"parents {','.join(p[:8] for p in lin.parents)}" if lin.parents else ""]
    if lin.teacher:
        parts.append(f"teacher {lin.teacher[:8]}")
    if lin.traces:
        parts.append(f"traces {lin.traces[0]}..{lin.traces[-1]}")
    if lin.gate:
        parts.append("gate " + short(lin.gate, 40))
    parts.append("trusted" if lin.trusted else f"untrusted ({lin.loader})")
    return "; ".join(p for p in parts if p)


class VersionsView(View):
    BINDINGS = [
        Binding("enter", "source", "Source", show=False), Binding("v", "source", "Source"),
        Binding("m", "mark", "Mark for diff"), Binding("d", "diff", "Diff"), Binding("R", "rollback", "Roll back to"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.neuro: str | None = None
        self.marked: str | None = None
        self.versions: list[Any] = []
        self._names: list[str] = []
        self._dirty = True

    def compose(self) -> Any:
        with Horizontal():
            yield OptionList(id="ver-neuros")
            table: DataTable = DataTable(id="ver-table", cursor_type="row", zebra_stripes=True)
            for key, heading in (("version", "version"), ("live", "live"), ("time", "recorded"), ("origin", "origin"),
                                 ("parent", "parent"), ("mark", "mark"), ("lineage", "lineage")):
                table.add_column(heading, key=key)
            yield table
        yield Static("pick a neuro on the left; v source, m mark, d diff marked vs selected, R roll back",
                     id="ver-status")

    async def connected(self) -> None:
        self._dirty = True
        if self.display:
            await self.shown()

    def kernel_event(self, event: Any) -> None:
        if event.name.startswith(("swap.", "version.", "neuro.spawned", "neuro.stopped")):
            self._dirty = True

    async def tick(self) -> None:
        if self._dirty:
            await self.shown()

    async def shown(self) -> None:
        if self.client is None:
            return
        self._dirty = False
        names = sorted({p.name for p in await self.client.ps()})
        if names != self._names:
            self._names = names
            opts = self.query_one("#ver-neuros", OptionList)
            opts.clear_options()
            opts.add_options(names)
        if self.neuro is None and names:
            self.neuro = names[0]
            self.query_one("#ver-neuros", OptionList).highlighted = 0
        if self.neuro:
            await self.show(self.neuro)

    async def show(self, name: str) -> None:
        self.neuro = name
        self.versions = await self.client.versions(name)
        table = self.query_one("#ver-table", DataTable)
        table.clear()
        for v in reversed(self.versions):  # newest first
            table.add_row(v.version[:16], "live" if v.live else "", fmt_time(v.time), v.origin,
                          (v.parent or "")[:16], "marked" if v.version == self.marked else "", _lineage(v),
                          key=v.version)
        self.query_one("#ver-status", Static).update(f"{name}: {len(self.versions)} versions")

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        await self.show(str(event.option.prompt))
        self.query_one("#ver-table").focus()

    async def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        name = str(event.option.prompt)
        if name != self.neuro:
            await self.show(name)

    def selected(self) -> str | None:
        table = self.query_one("#ver-table", DataTable)
        if not table.rows:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_source(self) -> None:
        version = self.selected()
        if version and self.neuro:
            self.run_worker(self.shell._guard(self._source(self.neuro, version)), group="ver")

    async def _source(self, name: str, version: str) -> None:
        from ._details import TextScreen

        src = await self.client.source(name, version)
        text = "\n".join(f"# ---- {path}\n{body}" for path, body in sorted(src.files.items()))
        self.app.push_screen(TextScreen(f"{name} {version[:16]}: source", text))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_source()

    def action_mark(self) -> None:
        self.marked = self.selected()
        if self.neuro:
            self.run_worker(self.shell._guard(self.show(self.neuro)), group="ver")

    def action_diff(self) -> None:
        version = self.selected()
        if not (version and self.neuro):
            return
        old = self.marked or next((v.parent for v in self.versions if v.version == version), None)
        if not old or old == version:
            self.notify("mark another version with m first (or pick one with a parent)", severity="warning")
            return
        self.run_worker(self.shell._guard(self._diff(self.neuro, old, version)), group="ver")

    async def _diff(self, name: str, old: str, new: str) -> None:
        from ._details import TextScreen

        text = await self.client.diff(name, old, new)
        self.app.push_screen(TextScreen(f"{name}: {old[:12]} -> {new[:12]}", text or "(the same code)", "diff"))

    def action_rollback(self) -> None:
        version, name = self.selected(), self.neuro
        if not (version and name):
            return
        self.shell.act(f"rollback {name} to {version[:12]}", lambda: self.client.rollback(name, version),
                       confirm=f"Roll {name} back to {version[:16]}?", after=lambda _: self.show(name))
