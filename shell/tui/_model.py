"""The process table as the shell shows it: rows of cells, rates and their history, and what
changed since the last look (so the screen redraws only the cells that did).

Pure data, no textual: `ProcessModel.update(infos, now)` takes a `ps()` answer and returns a
`Change` (rows added, cells changed, rows removed). Given the rows on the screen (`shown`), it
computes the cells of only those: a row off the screen that moved is left behind (its name in
`Change.behind`) until `catch_up` is asked for it, so a refresh of 10,000 rows with a thousand
busy ones formats a screenful. Messages per second is the growth of a process's `received`
counter between two looks; the sparkline is its last `HISTORY` rates.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Container, Iterable

import msgspec

__all__ = ["COLUMNS", "Change", "ProcessModel", "sparkline", "HISTORY"]

HISTORY = 24  # rates kept per process: the sparkline's width
_BLOCKS = " ▁▂▃▄▅▆▇█"

#: (key, heading) of each column, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "name"), ("version", "version"), ("sandbox", "backend"), ("state", "state"),
    ("rate", "msg/s"), ("spark", "activity"), ("mailbox", "mailbox"), ("restarts", "restarts"),
    ("errors", "errors"), ("policy", "policy"), ("supervisor", "supervisor"), ("last_error", "last error"),
)
SORT_KEYS = ("name", "state", "rate", "mailbox", "restarts", "errors", "version", "sandbox")


def sparkline(values: Iterable[float], width: int = HISTORY) -> str:
    """Unicode blocks for `values` scaled to their maximum, padded on the left to `width`."""
    xs = list(values)[-width:]
    top = max(xs, default=0.0)
    if top <= 0:
        return " " * width  # no activity in the window: the same cell every look, so no redraw
    scale = (len(_BLOCKS) - 1) / top
    return " " * (width - len(xs)) + "".join([_block(x, scale) for x in xs])


def _block(x: float, scale: float) -> str:
    return _BLOCKS[int(x * scale + 0.5) or 1] if x > 0 else "▁"


def _rate_text(rate: float) -> str:
    if rate >= 1000:
        return f"{rate / 1000:.1f}k"
    return f"{rate:.0f}" if rate >= 10 or rate == 0 else f"{rate:.1f}"


class Change(msgspec.Struct):
    """What changed since the previous look: new rows (all cells), changed cells, gone rows,
    and rows off the screen whose cells are now behind their counters."""

    added: dict[str, dict[str, str]] = {}
    changed: dict[str, dict[str, str]] = {}
    removed: list[str] = []
    behind: list[str] = []

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.behind)


class ProcessModel:
    """The rows the Processes screen shows, built from `ps()` answers and kernel events."""

    def __init__(self) -> None:
        self.infos: dict[str, Any] = {}
        self._rows: dict[str, dict[str, str]] = {}  # name -> its cells (behind its info, for names in _behind)
        self._behind: set[str] = set()
        self.rates: dict[str, deque[float]] = {}
        self.last_error: dict[str, str] = {}
        self._seen: dict[str, int] = {}  # name -> its `received` at the last look
        self._last_look: float | None = None
        self._stale: set[str] = set()  # rows to recompute though their counters stood still
        self._active: set[str] = set()  # rows with a rate above 0 in their history: their sparkline moves
        self._moving: set[str] = set()  # rows whose latest rate is above 0
        self._sparks: dict[str, tuple[float, str]] = {}  # name -> the top of its sparkline, and the line

    def note_error(self, neuro: str, error: str) -> None:
        """The newest error of `neuro` (a crash, a failed start or swap), for its row."""
        self.last_error[neuro] = " ".join(str(error).split())[:200]
        self._stale.add(neuro)

    @property
    def cells(self) -> dict[str, dict[str, str]]:
        """Every row's cells, those left behind computed now."""
        if self._behind:
            self.catch_up(list(self._behind))
        return self._rows

    def update(self, infos: Iterable[Any], now: float, *, shown: Container[str] | None = None) -> Change:
        """The change since the last look; with `shown`, rows not in it that moved are left
        behind instead of computed."""
        change = Change(added={}, changed={}, removed=[], behind=[])
        infos = list(infos)
        dt = now - self._last_look if self._last_look is not None else 0.0
        self._last_look = now
        known, cells_of, rates, seen, stale = self.infos, self._rows, self.rates, self._seen, self._stale
        active, moving = self._active, self._moving
        for info in infos:
            name = info.name
            old_info = known.get(name)
            if old_info is not None and name not in active and name not in stale and (
                    old_info is info or old_info == info):
                continue  # idle and unchanged (most rows of a big table): its cells stay as they are
            history = rates.get(name)
            if history is None:
                history = rates[name] = deque(maxlen=HISTORY)
            received = seen.get(name)
            appended = received is not None and dt > 0
            if appended:
                history.append(max(0.0, (info.received - received) / dt))
            seen[name] = info.received
            known[name] = info
            stale.discard(name)
            if any(history):
                active.add(name)
                moving.add(name) if history[-1] > 0 else moving.discard(name)
            else:
                active.discard(name)
                moving.discard(name)
            old = cells_of.get(name)
            if old is not None and shown is not None and name not in shown:
                if name not in self._behind:
                    self._behind.add(name)
                    self._sparks.pop(name, None)  # it will not shift look by look: drawn afresh when caught up
                change.behind.append(name)
                continue
            self._behind.discard(name)
            cells = self._cells(info, history, self._spark(name, history, appended))
            if old is None:
                change.added[name] = cells
            else:
                diff = {k: v for k, v in cells.items() if old[k] != v}
                if diff:
                    change.changed[name] = diff
            cells_of[name] = cells
        if len(infos) != len(cells_of) or change.added:
            present = {info.name for info in infos}
            for name in [n for n in cells_of if n not in present]:
                change.removed.append(name)
                for table in (cells_of, known, rates, seen, self._sparks):
                    table.pop(name, None)
                active.discard(name)
                moving.discard(name)
                self._behind.discard(name)
        return change

    def catch_up(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """The cells of the rows of `names` ({name: cells}), those left behind computed now."""
        rows, out = self._rows, {}
        for name in names:
            if name in self._behind:
                self._behind.discard(name)
                history = self.rates[name]
                rows[name] = self._cells(self.infos[name], history, self._spark(name, history, False))
            if name in rows:
                out[name] = rows[name]
        return out

    @property
    def rates_zero(self) -> bool:
        """Whether every row's latest rate is 0 (a look with still counters changes nothing)."""
        return not self._moving

    def idle(self, now: float) -> Change:
        """A look at which nothing changed (the kernel's counters stood still): each rate is 0."""
        return self.update(list(self.infos.values()), now)

    def _spark(self, name: str, history: deque[float], appended: bool) -> str:
        """The sparkline of `history`: while its top stays, the last one shifted by the new rate
        (a thousand busy rows a look would otherwise redraw 24 blocks each)."""
        top = max(history, default=0.0)
        last = self._sparks.get(name)
        if appended and last is not None and last[0] == top > 0:
            line = last[1][1:] + _block(history[-1], (len(_BLOCKS) - 1) / top)
        else:
            line = sparkline(history)
        self._sparks[name] = (top, line)
        return line

    def _cells(self, info: Any, history: deque[float], spark: str | None = None) -> dict[str, str]:
        rate = history[-1] if history else 0.0
        return {
            "name": info.name, "version": info.version[:12], "sandbox": info.sandbox, "state": info.state,
            "rate": _rate_text(rate), "spark": sparkline(history) if spark is None else spark,
            "mailbox": f"{info.mailbox}/{info.mailbox_capacity}", "restarts": str(info.restarts),
            "errors": str(info.errors), "policy": info.policy, "supervisor": info.supervisor,
            "last_error": self.last_error.get(info.name, ""),
        }

    def order(self, key: str = "name", *, reverse: bool = False, text: str = "") -> list[str]:
        """Row names filtered by `text` (in any cell) and sorted by column `key`."""
        text = text.lower()
        names = [n for n, cells in self.cells.items() if any(text in v.lower() for k, v in cells.items()
                                                              if k != "spark")] if text else list(self._rows)

        def sort_key(name: str) -> Any:
            info = self.infos[name]
            if key == "rate":
                return (self.rates[name][-1] if self.rates.get(name) else 0.0, name)
            if key == "mailbox":
                return (info.mailbox / max(info.mailbox_capacity, 1), name)
            if key in ("restarts", "errors"):
                return (getattr(info, key), name)
            return (str(getattr(info, key, name)), name)

        return sorted(names, key=sort_key, reverse=reverse)
