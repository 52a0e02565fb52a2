"""The shell's later features, driven by Pilot against a real embedded kernel: swap a neuro by
file from the Processes screen, the Log screen's correlation filter, the Dream screen's start
and stop, the Nets screen."""

from __future__ import annotations

from textual.widgets import Input, Static

from neuro.shell.tui._details import AskScreen, ConfirmScreen
from neuro.shell.tui._dream import NO_DREAM

from .conftest import run, shell, until
from .test_screens import rows

ECHO = "neuro.testing:Echo"

ECHO_PLUS_ONE = '''
from neuro import sdk
from neuro.testing import Ping, Pong


class Echo(sdk.Neuro):
    name = "echo"
    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n + 1)
'''


def test_w_swaps_the_selected_neuro_to_a_file(tmp_path):
    """w asks for a file; enter swaps the selected neuro (started from a file) to it, and calls
    get the new answers."""
    first, path = tmp_path / "echo_same.py", tmp_path / "echo_plus_one.py"
    first.write_text(ECHO_PLUS_ONE.replace("msg.n + 1", "msg.n"))
    path.write_text(ECHO_PLUS_ONE)

    async def main():
        async with shell(tmp_path, str(first)) as (app, pilot):
            before = (await app.client.ps())[0].version
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, AskScreen))
            app.screen.query_one("#ask-input", Input).value = str(path)
            await pilot.press("enter")
            await until(pilot, lambda: app.last_action is not None, seconds=30)
            label, result = app.last_action
            assert "swap echo" == label and not isinstance(result, Exception), result
            assert before != (await app.client.ps())[0].version
            assert 8 == (await app.client.call("echo", {"n": 7})).n
    run(main())


def test_r_filters_the_log_by_the_selected_rows_correlation(tmp_path):
    """r on a Log row keeps the rows of its correlation id only; c clears it."""
    async def main():
        async with shell(tmp_path, ECHO, screen="log") as (app, pilot):
            log = app.view("log")
            for i in range(3):
                await app.client.call("echo", {"n": i})
            await until(pilot, lambda: len(rows(app, "#log-table")) == 3)
            log.query_one("#log-table").focus()
            await pilot.press("r")  # the cursor follows the newest row: n=2
            await until(pilot, lambda: len(rows(app, "#log-table")) == 1)
            assert '{"n":2}' == rows(app, "#log-table")[0][7]
            assert log.filters()["correlation"] is not None
            await pilot.press("c")
            await until(pilot, lambda: len(rows(app, "#log-table")) == 3)
    run(main())


def test_dream_screen_starts_and_stops_dreaming(tmp_path):
    """g starts the dream neuro and the screen shows what it watches; S (after a yes) stops it."""
    async def main():
        async with shell(tmp_path, ECHO, screen="dream") as (app, pilot):
            note = app.query_one("#dream-note", Static)
            await app.view("dream").shown()
            assert NO_DREAM == str(note.render())
            await pilot.press("g")
            await until(pilot, lambda: str(note.render()).startswith("dreaming: watching"), seconds=20)
            assert "dream" in [p.name for p in await app.client.ps()]
            await pilot.press("S")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: str(note.render()) == NO_DREAM, seconds=20)
            assert "dream" not in [p.name for p in await app.client.ps()]
    run(main())


def test_nets_screen_says_when_no_net_runs(tmp_path):
    """The Nets screen asks the nets neuro about each process; with none a net, it says so."""
    async def main():
        async with shell(tmp_path, ECHO, screen="nets") as (app, pilot):
            await app.view("nets").reload()
            note = str(app.query_one("#nets-note", Static).render())
            assert note.startswith("0 nets running")
            assert "nets" in [p.name for p in await app.client.ps()]
    run(main())
