"""`Grid`: a table that draws only the rows on the screen (textual's Line API).

textual's `DataTable` lays out and re-renders in proportion to its rows: a process table of
10,000 neuros took about half a second a frame, and a Log row added to a long table repainted
the whole screen. A `Grid` keeps its rows as plain cells, renders a row into a strip only when
that row is on the screen (cached until it changes), and refreshes just the lines that changed.
Columns grow to the widest cell they have held (up to `MAX_WIDTH`), so a changed cell never
re-measures the table. Rows whose cells are out of date (`left_behind`) are brought up to date
through `catch_up` only when they come on the screen.

Keys: up/down, page up/down, home/end move the cursor; enter (or a click on the selected row)
posts `Grid.RowSelected`; each cursor move posts `Grid.RowHighlighted`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["Grid", "MAX_WIDTH"]

MAX_WIDTH = 60  # a column's widest; longer cells end in …
_GAP = 2  # spaces between two columns


class Grid(ScrollView, can_focus=True):
    """Rows of cells (str or rich `Text`) under a header of `columns` ((key, heading) pairs),
    each row named by a key."""

    COMPONENT_CLASSES = {"grid--header", "grid--cursor", "grid--even-row"}
    DEFAULT_CSS = """
    Grid { background: $surface; color: $foreground; height: 1fr; }
    Grid > .grid--header { text-style: bold; background: $panel; color: $foreground; }
    Grid > .grid--even-row { background: $surface-lighten-1 50%; }
    Grid > .grid--cursor { background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground; }
    Grid:focus > .grid--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                 text-style: $block-cursor-text-style; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False), Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False), Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False), Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor moved to the row `key` (None in an empty grid)."""

        def __init__(self, grid: Grid, key: str | None) -> None:
            super().__init__()
            self.grid, self.key = grid, key

        @property
        def control(self) -> Grid:
            return self.grid

    class RowSelected(Message):
        """Enter (or a click on the cursor's row) on the row `key`."""

        def __init__(self, grid: Grid, key: str) -> None:
            super().__init__()
            self.grid, self.key = grid, key

        @property
        def control(self) -> Grid:
            return self.grid

    def __init__(self, columns: Sequence[tuple[str, str]], *, zebra_stripes: bool = True,
                 catch_up: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        """`catch_up(keys)` gives the changed cells ({key: {column: value}}) of rows left behind."""
        super().__init__(id=id, classes=classes)
        self.columns = [k for k, _ in columns]
        self.headings = [h for _, h in columns]
        self._col = {k: i for i, k in enumerate(self.columns)}
        self.widths = [len(h) for h in self.headings]
        self.zebra_stripes = zebra_stripes
        self.rows: dict[str, list[Any]] = {}  # key -> cells, in no particular order
        self.order: list[str] = []  # the keys, top to bottom
        self._index: dict[str, int] = {}
        self._strips: dict[str, list[Segment]] = {}  # rendered rows, before cropping and row style
        self.cursor_row = 0
        self.renders = 0  # rows rendered: a test sees that only visible ones are
        self.catch_up = catch_up
        self._behind: set[str] = set()  # rows whose cells are out of date
        self._styles: dict[str, Style] = {}  # the component styles, during one render pass
        # lines as drawn (row style applied, cropped), by (key, cursor/even/odd): a followed log
        # moves every line at each draw, and a line back at a place of the same stripe is reused
        self._lines: dict[tuple[str, str], tuple[list[Segment], Strip]] = {}
        self._lines_for: Any = None  # the scroll, width and styles they were drawn with

    # -- data ---------------------------------------------------------------------------------

    def set_rows(self, rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Replace every row (in this order); the cursor stays on its key where it can."""
        keep = self.cursor_key
        self.rows = {key: list(cells) for key, cells in rows}
        self.order = list(self.rows)
        self._strips.clear()
        self._behind.clear()
        self._measure(self.rows.values())
        self._reindex(keep)

    def set_order(self, keys: Sequence[str]) -> None:
        """Show the rows of `keys` (each already added) in this order, and only them."""
        keep = self.cursor_key
        self.order = [k for k in keys if k in self.rows]
        self._reindex(keep)

    def add_row(self, *cells: Any, key: str) -> None:
        """A row at the bottom."""
        self.add_rows([(key, cells)])

    def add_rows(self, rows: Iterable[tuple[str, Sequence[Any] | None]], *, keep: int | None = None) -> list[str]:
        """Rows at the bottom, in this order (cells None: left behind, `catch_up` fills them when
        drawn), and with `keep` the oldest removed so that at most `keep` remain (their keys
        returned): one resize and one redraw for all of it (a busy Log screen adds hundreds at a
        draw, most of which scroll past unseen)."""
        first, cursor = len(self.order), self.cursor_key
        added = []
        for key, cells in rows:
            if cells is None:
                self._behind.add(key)
                cells = [""] * len(self.columns)
            else:
                added.append(cells := list(cells))
            self.rows[key] = cells
            self._index[key] = len(self.order)
            self.order.append(key)
        if len(self.order) == first:
            return []
        if self._measure(added):
            self._strips.clear()
            self.refresh()
        over = len(self.order) - keep if keep is not None else 0
        if over > 0:
            gone = self.order[:over]
            for key in gone:
                del self.rows[key]
                self._strips.pop(key, None)
                self._behind.discard(key)
            self.order = self.order[over:]
            self._reindex(cursor if cursor in self.rows else None)  # every line moved: all redrawn
            return gone
        self._resize()
        top = int(self.scroll_y)
        start, end = max(first, top), min(len(self.order), top + self.size.height)
        if start < end:  # only the new lines on the screen
            self.refresh_lines(start + 1, end - start)
        return []

    def remove_rows(self, keys: Iterable[str]) -> None:
        gone = set(keys)
        keep = self.cursor_key
        for key in gone:
            self.rows.pop(key, None)
            self._strips.pop(key, None)
        self._behind -= gone
        self.order = [k for k in self.order if k not in gone]
        self._reindex(keep if keep not in gone else None)

    def clear(self) -> None:
        self.rows, self.order, self._index = {}, [], {}
        self._strips.clear()
        self._behind.clear()
        self.widths = [len(h) for h in self.headings]
        self.cursor_row = 0
        self._resize()
        self.refresh()

    def update_cell(self, key: str, column: str, value: Any) -> None:
        """One cell; its line is redrawn if it is on the screen."""
        cells = self.rows[key]
        cells[self._col[column]] = value
        self._strips.pop(key, None)
        if self._measure([cells]):
            self._strips.clear()
            self.refresh()
        else:
            index = self._index.get(key)
            top = int(self.scroll_y)
            if index is not None and top <= index < top + self.size.height:  # off the screen: drawn when scrolled to
                self.refresh_lines(index + 1, 1)

    def update_cells(self, changes: dict[str, dict[str, Any]]) -> None:
        """Many cells at once ({key: {column: value}}, keys not in the grid ignored): a refresh
        of a big table measures only the new values and redraws only the lines on the screen."""
        grew, lines = self._write(changes)
        if grew:
            self._strips.clear()
            self._resize()
            self.refresh()
        else:
            for index in lines:
                self.refresh_lines(index + 1, 1)

    def left_behind(self, keys: Iterable[str]) -> None:
        """The rows of `keys` have cells out of date: `catch_up` is asked for them when they are
        drawn (or read), not before."""
        top, bottom = int(self.scroll_y), int(self.scroll_y) + self.size.height
        for key in keys:
            if key in self.rows and key not in self._behind:
                self._behind.add(key)
                index = self._index.get(key)
                if index is not None and top <= index < bottom:
                    self.refresh_lines(index + 1, 1)

    def shown_keys(self) -> set[str]:
        """The keys of the rows on the screen."""
        top = int(self.scroll_y)
        return set(self.order[top:top + self.size.height]) if self.display else set()

    def _catch_up(self, keys: list[str]) -> bool:
        """Bring the rows of `keys` up to date; whether a column grew."""
        keys = [k for k in keys if k in self._behind]
        if not keys or self.catch_up is None:
            return False
        self._behind.difference_update(keys)
        return self._write(self.catch_up(keys))[0]

    def _write(self, changes: dict[str, dict[str, Any]]) -> tuple[bool, list[int]]:
        """Set cells; whether a column grew, and the indexes of the changed rows on the screen."""
        col, rows, strips, widths = self._col, self.rows, self._strips, self.widths
        grew = False
        top = int(self.scroll_y)
        bottom = top + self.size.height
        lines = []
        for key, cells in changes.items():
            row = rows.get(key)
            if row is None:
                continue
            for column, value in cells.items():
                i = col[column]
                row[i] = value
                n = value.cell_len if isinstance(value, Text) else len(value)
                if n > widths[i] and widths[i] < MAX_WIDTH:
                    widths[i], grew = min(n, MAX_WIDTH), True
            strips.pop(key, None)
            index = self._index.get(key)
            if index is not None and top <= index < bottom:
                lines.append(index)
        return grew, lines

    def get_row(self, key: str) -> list[Any]:
        self._catch_up([key])
        return list(self.rows[key])

    def get_cell(self, key: str, column: str) -> Any:
        self._catch_up([key])
        return self.rows[key][self._col[column]]

    # -- the cursor ---------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        return self.order[self.cursor_row] if 0 <= self.cursor_row < len(self.order) else None

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        """Put the cursor on row `row` (clamped) and scroll it into view."""
        old = self.cursor_row
        self.cursor_row = max(0, min(row, len(self.order) - 1))
        if old != self.cursor_row:
            self.refresh_lines(old + 1, 1)
        self.refresh_lines(self.cursor_row + 1, 1)
        if scroll:
            self._scroll_to_cursor()
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(row=len(self.order) - 1 if end else 0)

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def _on_click(self, event: events.Click) -> None:
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.order):
            if row == self.cursor_row:
                self.action_select()
            else:
                self.move_cursor(row=row)

    def _scroll_to_cursor(self) -> None:
        top, height = int(self.scroll_y), max(1, self.size.height - 1)  # less the header
        # force: the scroll bar that allows scrolling shows only at the next layout
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True, force=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True, force=True)

    # -- drawing ------------------------------------------------------------------------------

    def _measure(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Widen columns to fit `rows`; whether any grew."""
        widths, grew = self.widths, False
        for cells in rows:
            for i, cell in enumerate(cells):
                n = min(MAX_WIDTH, cell.cell_len if isinstance(cell, Text) else len(cell))
                if n > widths[i]:
                    widths[i], grew = n, True
        if grew:
            self.virtual_size = Size(self._width(), len(self.order) + 1)
        return grew

    def _width(self) -> int:
        return sum(self.widths) + _GAP * len(self.widths)

    def _reindex(self, keep: str | None) -> None:
        self._index = {k: i for i, k in enumerate(self.order)}
        old = self.cursor_row
        self.cursor_row = self._index.get(keep, min(self.cursor_row, max(0, len(self.order) - 1))) if keep else \
            min(self.cursor_row, max(0, len(self.order) - 1))
        self._resize()
        self.refresh()
        if self.cursor_row != old or keep != self.cursor_key:
            self.post_message(self.RowHighlighted(self, self.cursor_key))

    def _resize(self) -> None:
        self.virtual_size = Size(self._width(), len(self.order) + 1)

    def _cells_segments(self, cells: Sequence[Any]) -> list[Segment]:
        """A row's cells laid out in their columns, unstyled but for its `Text` cells: one segment
        for each run of plain cells, as the terminal draws it (each segment costs a frame work)."""
        self.renders += 1
        segments: list[Segment] = []
        plain: list[str] = []
        gap = " " * (_GAP - 1)
        for width, cell in zip(self.widths, cells):
            if isinstance(cell, Text):
                text = cell.copy()
                text.truncate(width, overflow="ellipsis", pad=True)
                plain.append(" ")
                segments.append(Segment("".join(plain)))
                segments.extend(text.render(self.app.console))
                plain = [gap]
            else:
                value = cell if len(cell) <= width else cell[: width - 1] + "…"
                plain.append(" " + value.ljust(width) + gap)
        if plain:
            segments.append(Segment("".join(plain)))
        return segments

    @staticmethod
    def _line(segments: list[Segment], style: Style, scroll_x: int, width: int) -> Strip:
        """`segments` drawn with the row's `style` under their own, cut to the screen's `width`
        from column `scroll_x`: one new strip (apply_style then crop_extend made three)."""
        styled = [Segment(text, style if own is None else style + own) for text, own, _ in segments]
        length = sum(cell_len(seg.text) for seg in styled)
        if scroll_x == 0 and length <= width:
            if length < width:
                styled.append(Segment(" " * (width - length), style))
            return Strip(styled, width)
        return Strip(styled, length).crop_extend(scroll_x, scroll_x + width, style)

    def render_lines(self, crop: Any) -> list[Strip]:
        # the component styles once a pass, not once a line (a style lookup costs what a line does)
        self._styles = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
        self._styles["base"] = self.rich_style
        drawn_for = (self.scroll_offset.x, self.size.width, *self._styles.values())
        if drawn_for != self._lines_for or len(self._lines) > 3 * len(self.order) + 300:
            self._lines.clear()
            self._lines_for = drawn_for
        if self._behind:  # the rows left behind that are about to be drawn, before any line is
            top = int(self.scroll_y)
            if self._catch_up(self.order[top:top + self.size.height]):
                self._strips.clear()
                self._resize()
        try:
            return super().render_lines(crop)
        finally:
            self._styles = {}

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        return style if style is not None else self.get_component_rich_style(name)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            return self._line(self._cells_segments(self.headings), self._style("grid--header"), scroll_x, width)
        index = scroll_y + y - 1
        base = self._styles.get("base") or self.rich_style
        if index >= len(self.order):
            return Strip.blank(width, base)
        key = self.order[index]
        cells = self._strips.get(key)
        if cells is None:
            cells = self._strips[key] = self._cells_segments(self.rows[key])
        if index == self.cursor_row:
            kind, row_style = "cursor", self._style("grid--cursor")
        elif self.zebra_stripes and index % 2 == 0:
            kind, row_style = "even", base + self._style("grid--even-row")
        else:
            kind, row_style = "odd", base
        drawn = self._lines.get((key, kind))
        if drawn is not None and drawn[0] is cells:
            return drawn[1]
        line = self._line(cells, row_style, scroll_x, width)
        self._lines[key, kind] = (cells, line)
        return line
