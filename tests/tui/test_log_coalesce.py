"""How the Log screen paces its draws, checked by counting them against a fake clock (never by
how long anything takes): a row after a quiet spell is drawn at once, a fast stream at most once
an interval with every row that came in between."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

from textual.app import App

from neuro.shell.tui._grid import Grid
from neuro.shell.tui._logview import KEEP, LogView, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stream(pacer: Pacer, clock: Clock, gap: float, rows: int) -> tuple[int, float]:
    """`rows` rows arriving `gap` seconds apart, a draw that is due firing at its time: the
    number of draws and the longest a row waited for one."""
    draws, waited, due_at, waiting_since, pending = 0, 0.0, None, None, 0
    for left in range(rows, -1, -1):  # the last turn only lets a due draw fire
        arrive = clock.now + gap if left else math.inf
        if due_at is not None and due_at <= arrive:
            clock.now = due_at
            pacer.drawn(pending)
            draws, pending = draws + 1, 0
            waited = max(waited, due_at - waiting_since)
            due_at = waiting_since = None
        if not left:
            break
        clock.now = arrive
        pending += 1
        wait = pacer.arrived()
        if wait == 0:
            pacer.drawn(pending)
            draws, pending = draws + 1, 0
            continue
        waiting_since = clock.now if waiting_since is None else waiting_since
        if wait is not None:
            due_at = clock.now + wait
    return draws, waited


def test_a_slow_trickle_draws_each_row_at_once():
    """Rows further apart than the interval are each drawn as they arrive: no wait is added."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    for _ in range(20):
        clock.now += 0.15
        assert pacer.arrived() == 0
        pacer.drawn()


def test_rows_one_at_a_time_are_drawn_at_once():
    """Rows 0.05 s apart, each drawn alone, are each drawn as they arrive; one 0.01 s after a
    lone row waits the rest of the 0.02 s spell."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    for _ in range(20):
        clock.now += 0.05
        assert pacer.arrived() == 0
        pacer.drawn(1)
    clock.now += 0.01
    assert abs(pacer.arrived() - 0.01) < 1e-9


def test_a_row_soon_after_a_draw_of_many_waits_for_the_rest_of_the_interval():
    """A row 0.03 s after a draw of several rows waits 0.07 s; rows arriving while that draw is
    due add none."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    assert pacer.arrived() == 0
    pacer.drawn(3)
    clock.now += 0.03
    assert abs(pacer.arrived() - 0.07) < 1e-9
    clock.now += 0.01
    assert pacer.arrived() is None
    pacer.drawn()
    clock.now += 0.2
    assert pacer.arrived() == 0


def test_a_fast_stream_is_drawn_at_most_once_an_interval():
    """5,000 rows a second for two seconds: about twenty draws, not one a row, and no row waits
    longer than the interval."""
    clock = Clock()
    draws, waited = stream(Pacer(0.1, clock), clock, 0.0002, 10_000)
    assert 15 <= draws <= 23
    assert waited <= 0.1 + 1e-9


def test_a_flood_that_fills_the_screen_at_each_draw_is_drawn_a_quarter_as_often():
    """Draws of more rows than the screen holds space the next by the flood spell (4 x the
    interval); a draw that fits on the screen goes back to the interval."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    assert pacer.arrived() == 0
    pacer.drawn(500, screen=49)
    clock.now += 0.05
    assert abs(pacer.arrived() - 0.35) < 1e-9
    clock.now += 0.35
    pacer.drawn(30, screen=49)
    clock.now += 0.05
    assert abs(pacer.arrived() - 0.05) < 1e-9


def test_a_new_filters_first_rows_are_drawn_at_once_even_right_after_a_flood():
    """A reset (the Log screen's filter changed) forgets the flood's spell and a draw still
    coming: the new view's first page is drawn as soon as it arrives."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    pacer.drawn(500, screen=49)
    clock.now += 0.01
    assert pacer.arrived() > 0.3  # the flood's spell: a draw is now coming
    pacer.reset()
    assert 0 == pacer.arrived()


def test_a_flood_on_a_screen_is_drawn_about_two_and_a_half_times_a_second():
    """5,000 rows a second for two seconds on a 49-line screen: about five draws."""
    clock = Clock()
    pacer = Pacer(0.1, clock)
    screened = SimpleNamespace(arrived=pacer.arrived, drawn=lambda rows=1: pacer.drawn(rows, screen=49))
    draws, waited = stream(screened, clock, 0.0002, 10_000)  # type: ignore[arg-type]
    assert 4 <= draws <= 7
    assert waited <= 0.4 + 1e-9


class Logs(App):
    client = None

    def compose(self):
        yield LogView(id="log")


def record(i: int) -> SimpleNamespace:
    return SimpleNamespace(id=i, time=1_700_000_000.0 + i, sender="feed", recipient="echo", kind="call", topic=None,
                           payload={"n": i}, reply={"n": i}, error=None, reason=None, outcome="handled",
                           latency=0.001, correlation=i)


def test_the_log_screen_draws_a_burst_once_and_a_lone_row_at_once():
    """A burst of rows shows its first row at once and the rest in one later draw, the oldest
    beyond KEEP never kept; a row after a quiet spell shows as soon as it is taken."""

    async def main():
        app = Logs()
        async with app.run_test(size=(120, 30)) as pilot:
            view = app.query_one(LogView)
            table = app.query_one("#log-table", Grid)
            clock = Clock()
            view._pacer = Pacer(0.05, clock)
            adds = []
            add_rows = table.add_rows
            table.add_rows = lambda rows, **kw: (adds.append(len(rows)), add_rows(rows, **kw))[1]
            n = KEEP + 500
            for i in range(n):
                clock.now += 0.0002
                view._take([record(i)])
            assert adds == [1]  # the first row at once, the rest wait for the timer
            assert len(table.rows) == 1
            clock.now += 0.05
            for _ in range(50):  # the timer is textual's, on the real clock
                await pilot.pause(0.02)
                if len(adds) > 1:
                    break
            assert adds == [1, KEEP]  # one draw, only the newest KEEP of the burst
            assert table.order[-1] == str(n - 1) and len(table.rows) == KEEP
            assert "0" not in view._records and "499" not in view._records  # pushed out, never kept
            clock.now += 1.0
            view._take([record(n)])
            assert adds == [1, KEEP, 1]
            assert table.order[-1] == str(n)
            assert table.get_cell(str(n), "payload") == '{"n":%d}' % n

    asyncio.run(main())
