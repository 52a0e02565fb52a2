"""What keeps a big table's refresh cheap, checked by what it does (never by how long it takes):
a sparkline shifted instead of drawn again, rows that stood still skipped only once their
sparkline is blank, and rows added to a grid in one batch with the oldest dropped."""

from __future__ import annotations

import asyncio

import msgspec
from textual.app import App

from neuro.shell.tui._grid import Grid
from neuro.shell.tui._model import HISTORY, ProcessModel, sparkline

from ._fixed import PROCESSES

ECHO = next(p for p in PROCESSES if p.name == "echo")


def looks(model: ProcessModel, rates: list[int]) -> None:
    """One look a second, `echo` receiving `rates[i]` messages before look i + 1."""
    received = ECHO.received
    model.update([ECHO], 0.0)
    for look, rate in enumerate(rates, 1):
        received += rate
        model.update([msgspec.structs.replace(ECHO, received=received)], float(look))
        assert sparkline(model.rates["echo"]) == model.cells["echo"]["spark"], f"look {look}"


def test_a_shifted_sparkline_is_the_one_drawn_afresh():
    """Look after look (new tops, tops leaving the window, zeros), the row's sparkline is what
    `sparkline` draws from its whole history."""
    looks(ProcessModel(), [(i * 7) % 11 for i in range(30)] + [1] * (HISTORY + 5) + [0, 3, 0])


def test_a_row_that_went_quiet_moves_until_its_sparkline_is_blank():
    """A row whose counters stand still still shifts its sparkline each look; once the window
    holds only zeros, a look changes nothing and the rates are all 0."""
    model = ProcessModel()
    looks(model, [20] + [0] * (HISTORY - 1))
    assert "█" == model.cells["echo"]["spark"][0]  # the 20, about to leave the window
    quiet = msgspec.structs.replace(ECHO, received=ECHO.received + 20)
    assert "echo" in model.update([quiet], float(HISTORY + 1)).changed  # the 20 leaves the window
    assert " " * HISTORY == model.cells["echo"]["spark"]
    assert model.rates_zero
    assert model.update([quiet], float(HISTORY + 2)).empty


def test_rates_are_not_all_zero_while_a_row_receives():
    """`rates_zero` is false after a look at which a row received messages."""
    model = ProcessModel()
    looks(model, [0, 0])
    assert model.rates_zero
    looks(model, [0, 5])
    assert not model.rates_zero


class OneGrid(App):
    def compose(self):
        yield Grid((("id", "id"), ("text", "text")), id="grid")


def test_rows_added_past_keep_push_the_oldest_out():
    """A batch of rows goes at the bottom; past `keep` the oldest leave, and their keys come back."""
    async def main():
        app = OneGrid()
        async with app.run_test(size=(40, 12)) as pilot:
            grid = app.query_one(Grid)
            assert [] == grid.add_rows([(str(i), (str(i), "first")) for i in range(5)], keep=8)
            assert ["0", "1"] == grid.add_rows([(str(i), (str(i), "second")) for i in range(5, 10)], keep=8)
            assert [str(i) for i in range(2, 10)] == grid.order
            assert {str(i) for i in range(2, 10)} == set(grid.rows)
            assert ["9", "second"] == grid.get_row("9")
            grid.move_cursor(row=len(grid.order) - 1)
            grid.add_rows([("10", ("10", "third"))], keep=8)
            assert "9" == grid.cursor_key  # the cursor stays on its row as the rows above it go
            await pilot.pause()
    asyncio.run(main())


def test_a_row_off_the_screen_is_left_behind_until_caught_up():
    """With the rows on the screen given, a moved row off it is named in `behind`, not
    computed; `catch_up` then gives the cells an eager look would have."""
    lazy, eager = ProcessModel(), ProcessModel()
    for model in (lazy, eager):
        model.update(PROCESSES, 0.0)
    grown = [msgspec.structs.replace(p, received=p.received + 30) for p in PROCESSES]
    change = lazy.update(grown, 3.0, shown={"crashy"})
    expected = eager.update(grown, 3.0)
    assert {"crashy"} == set(change.changed)
    assert sorted(set(expected.changed) - {"crashy"}) == sorted(change.behind)
    assert "10" == lazy.catch_up(["echo"])["echo"]["rate"]
    assert eager.cells == lazy.cells


class LazyGrid(App):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    def compose(self):
        yield Grid((("id", "id"), ("text", "text")), id="grid", catch_up=self.catch_up)

    def catch_up(self, keys: list[str]) -> dict[str, dict[str, str]]:
        self.asked.append(list(keys))
        return {k: {"text": "new"} for k in keys}


def test_a_grid_asks_for_rows_left_behind_only_as_they_come_on_the_screen():
    """Rows left behind are caught up when drawn: the one on the screen at once, the one
    below only once the grid scrolls to it (or it is read)."""
    async def main():
        app = LazyGrid()
        async with app.run_test(size=(40, 12)) as pilot:
            grid = app.query_one(Grid)
            grid.add_rows([(str(i), (str(i), "old")) for i in range(100)])
            await pilot.pause()
            grid.left_behind(["3", "90", "95"])
            await pilot.pause()
            assert [["3"]] == app.asked
            assert ["3", "new"] == grid.get_row("3")
            assert ["95", "new"] == grid.get_row("95")  # read: caught up there and then
            assert ["95"] == app.asked[-1]
            grid.action_edge(1)
            await pilot.pause()
            assert ["90"] == app.asked[-1]
            assert ["90", "new"] == grid.get_row("90")
    asyncio.run(main())
