"""The Processes screen: the process table (live counters, msg/s sparkline, mailbox against its
limit, restarts, last error), sorted and filtered, with actions on the selected neuro; `t` shows
the supervision tree instead.

It redraws only what changed: each refresh asks the kernel for its statistics, and only when
they moved (or a kernel event said something happened) for the process table, whose changed
cells alone are written to the table (a `Grid`, which draws only the rows on the screen: a
table of 10,000 neuros costs what one screenful does).
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import Input, Static, Tree

from ._grid import Grid
from ._model import COLUMNS, SORT_KEYS, Change, ProcessModel
from ._view import View, show

__all__ = ["ProcessesView"]

# Events after which the process table or the tree may differ though the counters did not.
_LIFECYCLE = ("neuro.", "supervisor.", "swap.done", "drop.spawned", "drop.removed", "drop.swapped")
_ERRORS = {"neuro.crashed": "error", "neuro.start_failed": "error", "neuro.restart_failed": "error",
           "swap.failed": "error", "neuro.failed": "reason"}


class ProcessesView(View):
    BINDINGS = [
        Binding("s", "stop", "Stop"), Binding("r", "restart", "Restart"), Binding("w", "swap", "Swap"),
        Binding("b", "rollback", "Rollback"),
        Binding("z", "sleep", "Sleep"), Binding("l", "open_log", "Its log"), Binding("i", "info", "Info"),
        Binding("o", "sort", "Sort"), Binding("O", "reverse", "Reverse", show=False),
        Binding("slash", "filter", "Filter"), Binding("t", "tree", "Tree"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = ProcessModel()
        self.sort_key = "name"
        self.reverse = False
        self.text = ""
        self._stats: Any = None
        self._dirty = True
        self._rates_zero = True
        self.frames = 0  # table writes: a test sees that an idle kernel causes none
        self.ordered: list[str] = []  # the rows in order, filtered

    def compose(self) -> Any:
        box = Input(placeholder="filter: any text in a row (enter to apply, escape to clear)", id="proc-filter")
        box.display = False  # hidden from the first layout on (hiding it on mount would lay out twice)
        yield box
        yield Grid(COLUMNS, id="proc-table", catch_up=self.model.catch_up)
        tree: Tree = Tree("supervisors", id="proc-tree")
        tree.display = False
        yield tree
        yield Static("", id="proc-status")

    # -- data ---------------------------------------------------------------------------------

    async def connected(self) -> None:
        self._dirty = True
        await self.tick(force=True)  # the table first: the first frame waits for it
        try:
            for ev in await self.client.events(name="neuro.crashed", newest_first=True, limit=200):
                if ev.neuro and ev.neuro not in self.model.last_error:
                    self.model.note_error(ev.neuro, ev.data.get("error", ""))
        except Exception:  # a kernel without a log has no past events: only live ones
            return
        self._dirty = True

    def kernel_event(self, event: Any) -> None:
        if event.name in _ERRORS and event.neuro:
            self.model.note_error(event.neuro, event.data.get(_ERRORS[event.name], ""))
        if event.name.startswith(_LIFECYCLE):
            self._dirty = True

    async def tick(self, force: bool = False) -> None:
        client = self.client
        if client is None:
            return
        stats = await client.statistics()
        key = (stats.accepted, stats.handled, stats.errors, stats.dead_letters, stats.processes, stats.running,
               stats.queued, stats.in_flight, stats.supervisors)
        if not force and not self._dirty and key == self._stats and self._rates_zero:
            return  # nothing moved: no request, no redraw
        self._stats, dirty, self._dirty = key, self._dirty, False
        infos = await client.ps()
        shown = self.query_one("#proc-table", Grid).shown_keys()
        self.apply(self.model.update(infos, self.shell.clock(), shown=shown))
        self._rates_zero = self.model.rates_zero
        if dirty or force:
            await self._fill_tree()

    def apply(self, change: Change) -> None:
        """Write `change` to the table: changed cells in place (a line is redrawn only if it is
        on the screen), rows off the screen marked behind; added or removed rows rebuild the
        table, a change that may move the sort column sorts it again."""
        if change.empty:
            return
        self.frames += 1
        table = self.query_one("#proc-table", Grid)
        if change.added or change.removed:
            self._rebuild(table)
        else:
            table.update_cells(change.changed)
            table.left_behind(change.behind)
            if self.sort_key != "name" and (change.behind or any(self._sort_column() in c
                                                                 for c in change.changed.values())):
                self._reorder(table)
        self._status()

    def _sort_column(self) -> str:
        return {"rate": "rate", "mailbox": "mailbox"}.get(self.sort_key, self.sort_key)

    def _rebuild(self, table: Grid) -> None:
        """Every row from the model's cells, in order and filtered; the cursor stays on its neuro."""
        keys = [k for k, _ in COLUMNS]
        table.set_rows((name, [cells[k] for k in keys]) for name, cells in self.model.cells.items())
        self._reorder(table)

    def _reorder(self, table: Grid) -> None:
        """The rows in order and filtered (their cells as they are); the cursor stays on its neuro."""
        self.ordered = self.model.order(self.sort_key, reverse=self.reverse, text=self.text)
        table.set_order(self.ordered)

    def _status(self) -> None:
        shown = len(self.ordered)
        total = len(self.model.infos)
        where = f"{shown} of {total} neuros" if self.text else f"{total} neuros"
        order = f"sorted by {self.sort_key}{' (reversed)' if self.reverse else ''}"
        flt = f"; filter {self.text!r}" if self.text else ""
        show(self.query_one("#proc-status", Static), f"{where}, {order}{flt}")

    async def _fill_tree(self) -> None:
        tree = self.query_one("#proc-tree", Tree)
        sups = {s.name: s for s in await self.client.supervisors()}
        tree.clear()
        tree.root.expand()

        def add(node: Any, name: str) -> None:
            sup = sups[name]
            branch = node.add(f"{name} [dim]{sup.strategy}, restarts {sup.restarts}, {sup.state}[/]", expand=True)
            for child in sup.children:
                if child in sups:
                    add(branch, child)
                else:
                    info = self.model.infos.get(child)
                    branch.add_leaf(f"{child} [dim]{info.state if info else ''}[/]")

        for name, sup in sups.items():
            if sup.parent is None:
                add(tree.root, name)

    # -- the selected neuro and the actions ---------------------------------------------------

    def selected(self) -> str | None:
        return self.query_one("#proc-table", Grid).cursor_key

    def _act(self, label: str, make: Any, *, confirm: str | None = None) -> None:
        name = self.selected()
        if name is None:
            self.notify("no neuro selected", severity="warning")
            return
        self.shell.act(f"{label} {name}", lambda: make(name), confirm=confirm and confirm.format(name=name),
                       after=self._changed)

    async def _changed(self, result: Any) -> None:
        self._dirty = True
        await self.tick(force=True)

    def action_stop(self) -> None:
        self._act("stop", lambda n: self.client.stop(n), confirm="Stop {name}? Its queued messages are handled first.")

    def action_restart(self) -> None:
        self._act("restart", lambda n: self.client.restart(n))

    def action_swap(self) -> None:
        """Pick a neuro file (from a folder tree, or typed), then hot-swap the selected neuro to
        it (untrusted, as `neuro swap`)."""
        name = self.selected()
        if name is None:
            self.notify("no neuro selected", severity="warning")
            return
        from ._filepick import PickFileScreen

        def chosen(path: str | None) -> None:
            if path:
                self.shell.act(f"swap {name}", lambda: self.client.swap(name, path), after=self._changed)

        self.app.push_screen(PickFileScreen(f"Swap {name} to the neuro in a file"), chosen)

    def action_rollback(self) -> None:
        self._act("rollback", lambda n: self.client.rollback(n),
                  confirm="Roll {name} back to the version before the live one?")

    def action_sleep(self) -> None:
        self._act("sleep", lambda n: self.client.hook(n, "sleep"))

    def action_open_log(self) -> None:
        name = self.selected()
        if name is not None:
            self.shell.open_log(neuro=name)

    def action_info(self) -> None:
        name = self.selected()
        if name is not None:
            from ._details import InfoScreen

            self.app.push_screen(InfoScreen(name))

    def action_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._reorder(self.query_one("#proc-table", Grid))
        self._status()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._reorder(self.query_one("#proc-table", Grid))
        self._status()

    def action_filter(self) -> None:
        box = self.query_one("#proc-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#proc-filter", Input)
        box.value, box.display, self.text = "", False, ""
        self._reorder(self.query_one("#proc-table", Grid))
        self._status()
        self.query_one("#proc-table").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "proc-filter":
            self.text = event.value.strip()
            self._reorder(self.query_one("#proc-table", Grid))
            self._status()
            self.query_one("#proc-table").focus()

    def action_tree(self) -> None:
        tree, table = self.query_one("#proc-tree"), self.query_one("#proc-table")
        tree.display, table.display = not tree.display, tree.display
        (tree if tree.display else table).focus()

    def on_grid_row_selected(self, event: Grid.RowSelected) -> None:
        if event.grid.id == "proc-table":
            self.action_info()
