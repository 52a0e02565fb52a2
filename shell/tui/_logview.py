"""The Log screen: the event log as it is written (the client's `tail`, which waits for the
log writer's commits: no polling), filtered by neuro, kind, outcome and text; `p` pauses,
`f` follows the newest row; enter opens a message (envelope, payload, outcome, error with its
traceback, and its trace). It holds at most `KEEP` rows: it never loads the whole log.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any, Callable

from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Input, Select, Static

from ._grid import Grid
from ._view import View, fmt_time, short, show

__all__ = ["LogView", "KEEP", "Pacer"]

KEEP = 1000  # rows held; older ones leave the table
FIRST = 200  # rows read back when the screen opens or a filter changes
# seconds between two draws of new rows while they come faster: a followed log repaints the
# whole table at each draw, and ten draws a second show what fifty do (the event's latency stays
# well under its 0.25 s goal)
_PACE = 0.1
_COLUMNS = (("id", "id"), ("time", "time"), ("sender", "from"), ("recipient", "to"), ("kind", "kind"),
            ("outcome", "outcome"), ("latency", "ms"), ("payload", "payload"), ("detail", "reply / error"))


def matches(record: Any, text: str) -> bool:
    """Whether `text` appears in the row (sender, recipient, payload, reply, error, reason)."""
    if not text:
        return True
    hay = " ".join(x if isinstance(x, str) else json.dumps(x, default=str) for x in (
        record.sender, record.recipient, record.kind, record.topic, record.payload, record.reply, record.error,
        record.reason, record.outcome, record.id))
    return text.lower() in hay.lower()


class Pacer:
    """When to draw what arrives: at once after a quiet spell, else at most once every
    `interval` seconds, one draw for all that came in between. After a draw of one row the
    spell is `after_one` (interval / 5): rows that come one at a time (a call now and then)
    show at once, and only a stream, whose draws take many rows, waits. A flood, whose draws
    take more rows than the screen holds (every line on it new at each draw, too fast to read
    at any rate), is drawn every `flood` seconds (4 x interval, 2.5 draws a second; observer_cli
    draws once a second): a quarter of the repaints, each as costly as a full screen of
    textual's, which are most of the shell's CPU in a flood."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic, *,
                 after_one: float | None = None, flood: float | None = None) -> None:
        self.interval, self.clock = interval, clock
        self.after_one = interval / 5 if after_one is None else after_one
        self.flood = 4 * interval if flood is None else flood
        self.due = False  # a draw is already coming
        self._last = -math.inf
        self._spell = interval  # the least time from the last draw to the next

    def arrived(self) -> float | None:
        """Something arrived: the seconds to wait before drawing it (0: now), or None when a
        draw already coming will take it."""
        if self.due:
            return None
        wait = self._last + self._spell - self.clock()
        if wait <= 0:
            return 0.0
        self.due = True
        return wait

    def reset(self) -> None:
        """What comes next starts afresh (the rows of a new filter): drawn as soon as it arrives."""
        self._last, self._spell, self.due = -math.inf, self.interval, False  # a draw still coming finds none

    def drawn(self, rows: int = 1, screen: int | None = None) -> None:
        """A draw took all that arrived (`rows` of them, on a screen of `screen` lines)."""
        self.due = False
        self._last = self.clock()
        self._spell = (self.after_one if rows <= 1 else self.flood if screen is not None and rows > screen
                       else self.interval)


class LogView(View):
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"), Binding("f", "follow", "Follow"),
        Binding("slash", "text", "Text filter"), Binding("n", "neuro", "Neuro filter"),
        Binding("r", "correlation", "Correlation filter"),
        Binding("c", "clear", "Clear filters"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.paused = False
        self.follow = True
        self._pending: list[Any] = []
        self._pacer = Pacer(_PACE)
        self._last_id: int | None = None
        self._records: dict[str, Any] = {}  # shown rows' records, by key
        self._dormant = False  # not following because another screen is shown
        self._text = ""  # the text filter the stream follows
        self.rows_seen = 0

    def compose(self) -> Any:
        with Horizontal(id="log-filters"):
            yield Input(placeholder="neuro", id="log-neuro")
            yield Select([(k, k) for k in ("send", "call", "event")], prompt="any kind", id="log-kind", type_to_search=False)
            yield Select([(k, k) for k in ("handled", "error", "dead", "none")], prompt="any outcome", id="log-outcome",
                         type_to_search=False)
            yield Input(placeholder="correlation id", id="log-corr", type="integer")
            yield Input(placeholder="text", id="log-text")
        # a Grid: a new row redraws its own line, not the table (the Log screen's latency); a
        # row's cells are made when it is drawn: at 5,000 rows a second most scroll past unseen
        yield Grid(_COLUMNS, id="log-table", catch_up=self._catch_up)
        yield Static("", id="log-status")

    # -- the filters --------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        kind = self.query_one("#log-kind", Select).value
        outcome = self.query_one("#log-outcome", Select).value
        neuro = self.query_one("#log-neuro", Input).value.strip()
        corr = self.query_one("#log-corr", Input).value.strip()
        return {"neuro": neuro or None, "kind": None if kind is Select.NULL else kind,
                "outcome": None if outcome is Select.NULL else outcome,
                "correlation": int(corr) if corr.lstrip("-").isdigit() else None}

    @property
    def text(self) -> str:
        return self.query_one("#log-text", Input).value.strip()

    def set_filters(self, *, neuro: str | None = None, correlation: int | None = None) -> None:
        self.query_one("#log-neuro", Input).value = neuro or ""
        self.query_one("#log-corr", Input).value = "" if correlation is None else str(correlation)
        self.restart()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("log-neuro", "log-corr", "log-text"):
            self.restart()
            self.query_one("#log-table").focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.is_mounted and self.client is not None:
            self.restart()

    def action_text(self) -> None:
        self.query_one("#log-text", Input).focus()

    def action_correlation(self) -> None:
        """Filter by the selected row's correlation id (one conversation), or type one."""
        box = self.query_one("#log-corr", Input)
        key = self.query_one("#log-table", Grid).cursor_key
        record = self._records.get(key) if key else None
        if record is not None and record.correlation is not None and not box.value:
            box.value = str(record.correlation)
            self.restart()
        else:
            box.focus()

    def action_neuro(self) -> None:
        self.query_one("#log-neuro", Input).focus()

    def action_clear(self) -> None:
        self.query_one("#log-neuro", Input).value = ""
        self.query_one("#log-text", Input).value = ""
        self.query_one("#log-corr", Input).value = ""
        self.query_one("#log-kind", Select).clear()
        self.query_one("#log-outcome", Select).clear()
        self.restart()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self.workers_cancel()
        else:
            self._stream(resume=True)
        self._status()

    def action_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            self._to_bottom()
        self._status()

    # -- the stream ---------------------------------------------------------------------------

    async def connected(self) -> None:
        self.restart()

    def _on_screen(self) -> bool:
        try:
            return self.shell.base.query_one("#tabs").active == "log"
        except NoMatches:
            return False

    async def shown(self) -> None:
        if self._dormant:
            self.restart()

    def hidden(self) -> None:
        """Another screen is shown: stop following the log (a busy kernel commits thousands of
        rows a second, and decoding them would cost the kernel's own CPU); `shown` reads the
        newest rows again."""
        if not self.paused:
            self.workers_cancel()
            self._dormant = True

    def workers_cancel(self) -> None:
        for worker in list(self.workers):
            if worker.group == "log-tail":
                worker.cancel()

    def restart(self) -> None:
        """Read the newest rows that match, then follow what is committed after them."""
        self.workers_cancel()
        self.query_one("#log-table", Grid).clear()
        self._records.clear()
        self._pending.clear()
        self._pacer.reset()  # a new filter's first page is drawn at once, not after a flood's spell
        self._last_id = None
        self._dormant = not self.paused and not self._on_screen()
        if not self.paused and not self._dormant:
            self._stream(resume=False)
        self._status()

    def _stream(self, *, resume: bool) -> None:
        self.run_worker(self.shell._guard(self._follow(resume)), group="log-tail", exclusive=True)

    async def _follow(self, resume: bool) -> None:
        client = self.client
        if client is None:
            return
        flt = self.filters()
        self._text = self.text  # read once, not once a row: a busy log brings thousands a second
        try:
            if not (resume and self._last_id is not None):
                # The newest id first, then the newest rows that match: a row committed
                # between the two is in the second answer, so none falls in the gap.
                newest = await client.messages(limit=1, newest_first=True)
                first = await client.messages(limit=FIRST, newest_first=True, **flt)
                self._last_id = newest[0].id if newest else None
                self._take(list(reversed(first)))
            async with client.tail(after_id=self._last_id, **flt) as rows:
                async for record in rows:
                    self._take([record])
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if isinstance(e, self.shell.source.lost_errors):
                self.shell.connection_lost(e)
            else:
                self.query_one("#log-status", Static).update(f"[red]{type(e).__name__}: {e}[/red]")

    def _take(self, records: list[Any]) -> None:
        for record in records:
            self._last_id = record.id if self._last_id is None else max(self._last_id, record.id)
            self.rows_seen += 1
            if matches(record, self._text):
                self._pending.append(record)
        if self._pending:
            wait = self._pacer.arrived()
            if wait == 0:
                self._flush()
            elif wait is not None:
                self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        try:
            table = self.query_one("#log-table", Grid)
        except NoMatches:  # rows came before the table mounted (or after it went): draw them later
            self._pacer.drawn(len(self._pending))
            if self.is_attached:
                self._pacer.due = True
                self.set_timer(_PACE, self._flush)
            return
        self._pacer.drawn(len(self._pending), table.size.height if self.follow else None)
        # rows older than the newest KEEP would leave the table in this same draw: none is kept
        rows, self._pending = self._pending[-KEEP:], []
        if not rows:
            return
        new = []
        for record in rows:
            key = str(record.id)
            if key in table.rows or key in self._records:
                continue
            new.append((key, None))
            self._records[key] = record
        for key in table.add_rows(new, keep=KEEP):
            self._records.pop(key, None)
        if self.follow:
            self._to_bottom()
        self._status()

    def _catch_up(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        records = self._records
        return {k: dict(zip((c for c, _ in _COLUMNS), self._cells(records[k]))) for k in keys if k in records}

    @staticmethod
    def _cells(m: Any) -> tuple[Any, ...]:
        outcome = m.outcome or "…"
        style = {"handled": "green", "error": "red", "dead": "yellow"}.get(m.outcome or "", "dim")
        detail = (f"{m.error.get('type')}: {m.error.get('message')}" if m.error else
                  m.reason if m.outcome == "dead" else m.reply if m.reply is not None else "")
        from rich.text import Text

        return (str(m.id), fmt_time(m.time)[11:], m.sender, m.recipient, m.kind, Text(outcome, style=style),
                f"{m.latency * 1000:.1f}" if m.latency is not None else "", short(m.payload, 50), short(detail, 60))

    def _to_bottom(self) -> None:
        table = self.query_one("#log-table", Grid)
        if table.rows:
            table.move_cursor(row=len(table.order) - 1)

    def _status(self) -> None:
        flt = {k: v for k, v in self.filters().items() if v}
        if self.text:
            flt["text"] = self.text
        state = "paused" if self.paused else "live"
        follow = ", following" if self.follow else ""
        shown = len(self.query_one("#log-table", Grid).rows)
        where = ", ".join(f"{k}={v}" for k, v in flt.items()) or "no filter"
        show(self.query_one("#log-status", Static), f"{state}{follow}; {shown} rows shown (at most {KEEP}); {where}")

    def on_grid_row_selected(self, event: Grid.RowSelected) -> None:
        if event.grid.id == "log-table":
            from ._details import MessageScreen

            self.follow = False
            self._status()
            self.app.push_screen(MessageScreen(int(event.key)))
