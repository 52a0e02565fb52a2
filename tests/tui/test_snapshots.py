"""Screenshots of each screen at 200x50 with fixed data (tests/tui/_fixed.py), compared with
the SVGs under __snapshots__ (made by `pytest tests/tui --snapshot-update`, never by hand)."""

from __future__ import annotations

import os
import time

import pytest
from textual.css.query import NoMatches

pytest.importorskip("pytest_textual_snapshot")

from neuro.shell.tui._app import ShellApp  # noqa: E402
from neuro.shell.tui._source import Source  # noqa: E402

from ._fixed import ERRORS, RATES, FixedClient, FixedNetsClient  # noqa: E402

SIZE = (200, 50)


@pytest.fixture(autouse=True)
def utc():
    """Times print in local time: fix the zone so the screenshots are the same everywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def fixed_app(screen: str = "processes") -> ShellApp:
    # A refresh far off: the screen shows the first look only, seeded below.
    return ShellApp(Source(factory=FixedClient), refresh=3600, screen=screen)


async def seeded(pilot) -> None:
    """Wait for the first look, then give the table fixed rate history (its sparklines)."""
    app = pilot.app
    for _ in range(200):
        if app.client is not None and len(app.view("processes").model.cells) == 4:
            break
        await pilot.pause(0.02)
    view = app.view("processes")
    for name, xs in RATES.items():
        view.model.rates[name].clear()
        view.model.rates[name].extend(float(x) for x in xs)
    for name, error in ERRORS.items():
        view.model.note_error(name, error)
    for name, info in view.model.infos.items():
        view.model.cells[name] = view.model._cells(info, view.model.rates[name])
    view._rebuild(view.query_one("#proc-table"))
    await pilot.pause(0.1)


async def turned_to(pilot, screen: str) -> None:
    """Wait until the tab's activation was handled (its view holds the focus): on a loaded
    machine that can take longer than any fixed pause, and a form built before it keeps the
    focus on the neuro list."""
    for _ in range(250):
        await pilot.pause(0.02)
        try:
            view = pilot.app.view(screen)  # mounted when the tab is first turned to
        except NoMatches:
            continue
        focused = pilot.app.focused
        if focused is not None and (focused is view or view in focused.ancestors):
            break
    await pilot.pause(0.1)


@pytest.mark.parametrize("screen", ["processes", "log", "call", "versions", "policies", "dream"])
def test_screen(snap_compare, screen):
    """Each screen, as it first shows the fixed data."""
    async def before(pilot):
        await seeded(pilot)
        app = pilot.app
        app.action_screen(screen)
        await turned_to(pilot, screen)
        if screen == "call":
            await app.view("call").pick("echo")
        if screen in ("versions", "policies", "dream"):
            await app.view(screen).shown()
        await pilot.pause(0.3)

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=before)


def test_message_detail(snap_compare):
    """A message that ended in an error, opened from the Log screen."""
    async def before(pilot):
        await seeded(pilot)
        pilot.app.action_screen("log")
        await turned_to(pilot, "log")
        await pilot.press("up", "enter")  # the error row (the dead letter is the last)
        await pilot.pause(0.3)

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=before)


def test_supervision_tree(snap_compare):
    """t on the Processes screen: the supervision tree."""
    async def before(pilot):
        await seeded(pilot)
        await pilot.press("t")
        await pilot.pause(0.2)

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=before)


def test_keys(snap_compare):
    """? on the Processes screen."""
    async def before(pilot):
        await seeded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=before)


def test_nets_screen_with_a_runs_path(snap_compare):
    """The Nets screen: a net with a branch, drawn, and its newest run's path through it (one
    node from the memo, one called)."""
    async def before(pilot):
        app = pilot.app
        for _ in range(250):
            await pilot.pause(0.02)
            if app.client is not None and app.query("#view-nets"):
                break
        await app.view("nets").reload()
        app.query_one("#nets-runs").focus()
        await pilot.pause(0.3)

    app = ShellApp(Source(factory=FixedNetsClient), refresh=3600, screen="nets")
    assert snap_compare(app, terminal_size=SIZE, run_before=before)
