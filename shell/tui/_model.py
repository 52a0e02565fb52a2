"""The process table as the shell shows it: rows of cells, rates and their history, and what
changed since the last look (so the screen redraws only the cells that did).

Pure data, no textual: `ProcessModel.update(infos, now)` takes a `ps()` answer and returns a
`Change` (rows added, cells changed, rows removed). Messages per second is the growth of a
process's `received` counter between two looks; the sparkline is its last `HISTORY` rates.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

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
    scale, blocks = (len(_BLOCKS) - 1) / top, _BLOCKS  # a 10,000-row table draws a thousand a look
    cells = "".join([blocks[int(x * scale + 0.5) or 1] if x > 0 else "▁" for x in xs])
    return " " * (width - len(xs)) + cells


def _rate_text(rate: float) -> str:
    if rate >= 1000:
        return f"{rate / 1000:.1f}k"
    return f"{rate:.0f}" if rate >= 10 or rate == 0 else f"{rate:.1f}"


class Change(msgspec.Struct):
    """What changed since the previous look: new rows (all cells), changed cells, gone rows."""

    added: dict[str, dict[str, str]] = {}
    changed: dict[str, dict[str, str]] = {}
    removed: list[str] = []

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


class ProcessModel:
    """The rows the Processes screen shows, built from `ps()` answers and kernel events."""

    def __init__(self) -> None:
        self.infos: dict[str, Any] = {}
        self.cells: dict[str, dict[str, str]] = {}
        self.rates: dict[str, deque[float]] = {}
        self.last_error: dict[str, str] = {}
        self._seen: dict[str, int] = {}  # name -> its `received` at the last look
        self._last_look: float | None = None
        self._stale: set[str] = set()  # rows to recompute though their counters stood still

    def note_error(self, neuro: str, error: str) -> None:
        """The newest error of `neuro` (a crash, a failed start or swap), for its row."""
        self.last_error[neuro] = " ".join(str(error).split())[:200]
        self._stale.add(neuro)

    def update(self, infos: Iterable[Any], now: float) -> Change:
        change = Change(added={}, changed={}, removed=[])
        infos = list(infos)
        dt = now - self._last_look if self._last_look is not None else 0.0
        self._last_look = now
        known, cells_of, rates, seen, stale = self.infos, self.cells, self.rates, self._seen, self._stale
        for info in infos:
            name = info.name
            history = rates.get(name)
            if history is not None and known.get(name) == info and name not in stale and not any(history):
                continue  # idle and unchanged (most rows of a big table): its cells stay as they are
            if history is None:
                history = rates[name] = deque(maxlen=HISTORY)
            received = seen.get(name)
            if received is not None and dt > 0:
                history.append(max(0.0, (info.received - received) / dt))
            seen[name] = info.received
            known[name] = info
            stale.discard(name)
            cells = self._cells(info, history)
            old = cells_of.get(name)
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
                for table in (cells_of, known, rates, seen):
                    table.pop(name, None)
        return change

    def idle(self, now: float) -> Change:
        """A look at which nothing changed (the kernel's counters stood still): each rate is 0."""
        return self.update(list(self.infos.values()), now)

    def _cells(self, info: Any, history: deque[float]) -> dict[str, str]:
        rate = history[-1] if history else 0.0
        return {
            "name": info.name, "version": info.version[:12], "sandbox": info.sandbox, "state": info.state,
            "rate": _rate_text(rate), "spark": sparkline(history),
            "mailbox": f"{info.mailbox}/{info.mailbox_capacity}", "restarts": str(info.restarts),
            "errors": str(info.errors), "policy": info.policy, "supervisor": info.supervisor,
            "last_error": self.last_error.get(info.name, ""),
        }

    def order(self, key: str = "name", *, reverse: bool = False, text: str = "") -> list[str]:
        """Row names filtered by `text` (in any cell) and sorted by column `key`."""
        text = text.lower()
        names = [n for n, cells in self.cells.items()
                 if not text or any(text in v.lower() for k, v in cells.items() if k != "spark")]

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
