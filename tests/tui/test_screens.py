"""The shell's screens and actions, driven by textual's Pilot against a real embedded kernel
running real neuros (neuro.testing): keys do what they say, and what the kernel did shows."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static, Tree

from neuro.shell.tui._details import ConfirmScreen, HelpScreen, InfoScreen, MessageScreen, TextScreen
from neuro.shell.tui._dream import NO_DREAM
from neuro.shell.tui._grid import Grid

from .conftest import run, shell, until

ECHO, CRASHY, SLOW = "neuro.testing:Echo", "neuro.testing:Crashy", "neuro.testing:Slow"


def rows(app, table_id):
    table = app.screen.query_one(table_id) if app.screen.query(table_id) else app.query_one(table_id)
    if isinstance(table, Grid):
        return [[str(c) for c in table.get_row(key)] for key in table.order]
    return [[str(c) for c in table.get_row(key)] for key in table.rows]


def test_processes_lists_each_neuro_with_its_counters(tmp_path):
    """The process table has a row per neuro; calls show in its msg/s and errors columns."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY) as (app, pilot):
            for i in range(20):
                await app.client.call("echo", {"n": i})
            try:
                await app.client.call("crashy", {"n": -1})
            except Exception:
                pass
            view = app.view("processes")
            await until(pilot, lambda: view.model.cells["crashy"]["errors"] == "1")
            table = {r[0]: r for r in rows(app, "#proc-table")}
            assert ["crashy", "echo"] == sorted(table)
            assert "running" == table["echo"][3]
            assert "0/1024" == table["echo"][6]
            assert any(h > 0 for h in view.model.rates["echo"])
            await until(pilot, lambda: "negative: -1" in view.model.cells["crashy"]["last_error"])
    run(main())


def test_an_idle_kernel_causes_no_redraw(tmp_path):
    """Once rates are back at 0, refreshes that find the counters unchanged write nothing."""
    async def main():
        async with shell(tmp_path, ECHO, refresh=0.05) as (app, pilot):
            view = app.view("processes")
            await app.client.call("echo", {"n": 1})
            await until(pilot, lambda: view.model.infos["echo"].received == 1 and view._rates_zero)
            frames = view.frames
            await pilot.pause(0.5)  # about 10 refreshes
            assert frames == view.frames
    run(main())


def test_stop_asks_then_stops_the_selected_neuro(tmp_path):
    """s on a row asks for a yes; y stops that neuro and its row goes."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY) as (app, pilot):
            view = app.view("processes")
            await pilot.press("down")  # crashy, echo: the second row
            assert "echo" == view.selected()
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: "echo" not in view.model.cells)
            assert ["crashy"] == [p.name for p in await app.client.ps()]
    run(main())


def test_stop_answered_no_leaves_the_neuro_running(tmp_path):
    """n at the question stops nothing."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await pilot.pause(0.3)
            assert ["echo"] == [p.name for p in await app.client.ps()]
    run(main())


def test_restart_gives_a_new_instance(tmp_path):
    """r restarts the selected neuro: its restart count goes up."""
    async def main():
        async with shell(tmp_path, CRASHY) as (app, pilot):
            view = app.view("processes")
            await pilot.press("r")
            await until(pilot, lambda: view.model.cells["crashy"]["restarts"] == "1")
            assert ("restart crashy", ) == app.last_action[:1]
    run(main())


def test_filter_and_sort(tmp_path):
    """/ filters rows by text; o cycles the sort column."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY, SLOW) as (app, pilot):
            view = app.view("processes")
            await pilot.press("slash")
            await pilot.press(*"slo", "enter")
            await until(pilot, lambda: [r[0] for r in rows(app, "#proc-table")] == ["slow"])
            assert "1 of 3 neuros" in str(app.query_one("#proc-status", Static).render())
            await pilot.press("escape")
            await until(pilot, lambda: len(rows(app, "#proc-table")) == 3)
            await pilot.press("o")
            assert "state" == view.sort_key
            await pilot.press("O")
            assert view.reverse
    run(main())


def test_tree_shows_the_supervision_tree(tmp_path):
    """t shows the supervisors with their children."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY) as (app, pilot):
            await pilot.press("t")
            tree = app.query_one("#proc-tree", Tree)
            assert tree.display
            root = tree.root.children[0]
            assert str(root.label).startswith("root")
            assert ["crashy", "echo"] == sorted(str(c.label).split()[0] for c in root.children)
    run(main())


def test_info_opens_for_the_selected_neuro(tmp_path):
    """i opens the neuro's info with its mailbox and policy."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, InfoScreen))
            body = app.screen.query_one("#info-body", Static)
            await until(pilot, lambda: "mailbox_size" in str(body.render()))
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, InfoScreen))
    run(main())


def test_log_streams_new_messages_and_opens_one(tmp_path):
    """A call shows in the Log screen as it is committed; enter opens it with its trace."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY, screen="log") as (app, pilot):
            log = app.view("log")
            await until(pilot, lambda: log.client is not None and log.workers)
            await pilot.pause(0.3)
            await app.client.call("echo", {"n": 7})
            try:
                await app.client.call("crashy", {"n": -3})
            except Exception:
                pass
            await until(pilot, lambda: len(rows(app, "#log-table")) == 2)
            table = rows(app, "#log-table")
            assert ["echo", "crashy"] == [r[3] for r in table]
            await pilot.press("enter")  # following: the cursor is on the newest row
            await until(pilot, lambda: isinstance(app.screen, MessageScreen))
            body = app.screen.query_one("#msg-body", Static)
            await until(pilot, lambda: "ValueError" in str(body.render()))
            text = str(body.render())
            assert "negative: -3" in text and "Traceback" in text
            tree = app.screen.query_one("#msg-trace", Tree)
            await until(pilot, lambda: tree.root.children)
            assert "crashy" in str(tree.root.children[0].label)
    run(main())


def test_log_filters_by_neuro_and_text_and_pauses(tmp_path):
    """The neuro filter asks the kernel for that neuro's rows; text filters them; p pauses."""
    async def main():
        async with shell(tmp_path, ECHO, CRASHY, screen="log") as (app, pilot):
            # n far from crashy's reply, its instance number in this process (a text filter of
            # `"n": 2` also matched a reply of {"n": 26} once 26 Crashy had been made)
            for i in (1000, 1001, 1002):
                await app.client.call("echo", {"n": i})
            await app.client.call("crashy", {"n": 5})
            log = app.view("log")
            await until(pilot, lambda: len(rows(app, "#log-table")) == 4)
            log.query_one("#log-neuro", Input).value = "crashy"
            log.restart()
            await until(pilot, lambda: [r[3] for r in rows(app, "#log-table")] == ["crashy"])
            log.query_one("#log-neuro", Input).value = ""
            log.query_one("#log-text", Input).value = '"n": 1002}'
            log.restart()
            await until(pilot, lambda: len(rows(app, "#log-table")) == 1,
                        shown=lambda: (rows(app, "#log-table"), str(log.query_one("#log-status").render())))
            assert "echo" == rows(app, "#log-table")[0][3]
            await pilot.press("escape", "p")
            assert log.paused
            await app.client.call("echo", {"n": 1002})
            await pilot.pause(0.4)
            assert 1 == len(rows(app, "#log-table"))
            await pilot.press("p")
            await until(pilot, lambda: len(rows(app, "#log-table")) == 2)
    run(main())


def test_open_its_log_from_processes(tmp_path):
    """l on a process opens the Log screen filtered to it."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await app.client.call("echo", {"n": 1})
            await pilot.press("l")
            await until(pilot, lambda: app.query_one("#tabs").active == "log")
            assert "echo" == app.view("log").filters()["neuro"]
            await until(pilot, lambda: len(rows(app, "#log-table")) == 1)
    run(main())


def test_call_form_from_the_input_schema_gets_the_reply(tmp_path):
    """The Call form has the input type's fields; a call shows the reply."""
    async def main():
        async with shell(tmp_path, ECHO, screen="call") as (app, pilot):
            view = app.view("call")
            await view.shown()
            await view.pick("echo")
            await until(pilot, lambda: view.query("#field-n"))
            assert ["n"] == [f.name for f in view.members[0].fields]
            view.query_one("#field-n", Input).value = "41"
            await pilot.press("ctrl+r")
            await until(pilot, lambda: view.last_result is not None)
            assert {"n": 41} == {"n": view.last_result.n}
            assert "reply" in str(view.query_one("#call-result", Static).render())
    run(main())


def test_call_error_names_the_field(tmp_path):
    """A value the form cannot read, and one the kernel refuses, mark the field they name."""
    async def main():
        async with shell(tmp_path, CRASHY, screen="call") as (app, pilot):
            view = app.view("call")
            await view.shown()
            await view.pick("crashy")
            await until(pilot, lambda: view.query("#field-n"))
            view.query_one("#field-n", Input).value = ""
            await view.submit(wait=True)
            assert "n: is required" in str(view.last_error)
            assert view.query_one("#field-n").has_class("invalid")
            view.query_one("#field-n", Input).value = "-2"
            await view.submit(wait=True)
            assert "ValueError" in str(view.query_one("#call-result", Static).render())
            view.query_one("#field-n", Input).value = "2"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(view.last_result, int))
            assert "sent" in str(view.query_one("#call-result", Static).render())
    run(main())


def test_versions_lists_history_and_shows_source(tmp_path):
    """The Versions screen lists a neuro's versions; v shows the source of one."""
    async def main():
        async with shell(tmp_path, ECHO, screen="versions") as (app, pilot):
            view = app.view("versions")
            await view.shown()
            await until(pilot, lambda: rows(app, "#ver-table"))
            row = rows(app, "#ver-table")[0]
            assert "live" == row[1] and "spawn" == row[3]
            app.query_one("#ver-table").focus()
            await pilot.press("v")
            await until(pilot, lambda: isinstance(app.screen, TextScreen))
            await pilot.press("escape")
            await pilot.press("R")  # roll back to the live version itself: a no-op the kernel answers
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: app.last_action is not None)
            assert app.last_action[0].startswith("rollback echo")
    run(main())


def test_policies_shows_policies_and_use(tmp_path):
    """The Policies screen lists the policies in force and each neuro's use."""
    async def main():
        async with shell(tmp_path, ECHO, screen="policies") as (app, pilot):
            view = app.view("policies")
            await view.shown()
            await until(pilot, lambda: rows(app, "#pol-use"))
            names = [r[0] for r in rows(app, "#pol-table")]
            assert {"default", "untrusted", "trusted"} <= set(names)
            row = rows(app, "#pol-use")[0]
            assert ["echo", "default", "0/1024"] == row[:3]
            assert ("-", "-", "-") == (row[6], row[7], row[9])  # in the kernel's process: no CPU or memory counter
    run(main())


SPINNER = '''
import time

from neuro import sdk
from neuro.testing import Ping, Pong


class Spinner(sdk.Neuro):
    name = "spinner"
    input = Ping
    output = Pong

    def handle(self, ctx, msg):
        end = time.process_time() + msg.n / 1000
        while time.process_time() < end:
            pass
        return Pong(n=msg.n)
'''


def test_policies_shows_the_cpu_share_a_sandboxed_neuro_uses_now(tmp_path):
    """A process-sandboxed neuro that spins: its "cpu now" is the share of a core it used
    between two looks, and its CPU seconds grow."""
    spinner = tmp_path / "spinner.py"
    spinner.write_text(SPINNER)

    async def main():
        async with shell(tmp_path, str(spinner), screen="policies") as (app, pilot):
            view = app.view("policies")
            await view.shown()
            await app.client.send("spinner", {"n": 3000})

            def busy():
                row = next((r for r in rows(app, "#pol-use") if r[0] == "spinner"), None)
                return row is not None and row[7] != "-" and float(row[7]) > 0.1

            await until(pilot, busy, seconds=20, shown=lambda: rows(app, "#pol-use"))
    run(main())


def test_dream_says_there_is_no_dream_daemon(tmp_path):
    """The Dream screen says plainly that the dream neuro is not running, and how to start it."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await pilot.press("6")
            await until(pilot, lambda: app.query_one("#tabs").active == "dream")
            assert NO_DREAM == str(app.query_one("#dream-note", Static).render())
    run(main())


def test_question_mark_shows_the_keys_of_the_screen(tmp_path):
    """? lists the app's keys and the shown screen's."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            text = str(app.screen.query_one("#help-body", Static).render())
            assert "Processes screen" in text and "Rollback" in text and "Quit" in text
    run(main())


def test_number_keys_switch_screens_and_escape_leaves_a_field(tmp_path):
    """1-6 switch screens; in a text field, escape first gives the keys back."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            await pilot.press("2")
            assert "log" == app.query_one("#tabs").active
            await pilot.press("n")  # the neuro filter field
            await pilot.press("3")
            assert "log" == app.query_one("#tabs").active  # typed into the field
            await pilot.press("escape", "3")
            assert "call" == app.query_one("#tabs").active
    run(main())


def test_a_long_table_draws_only_the_rows_on_the_screen(tmp_path):
    """The process table holds every row but renders only those on the screen; end moves the
    cursor (and the screen) to the last one."""
    async def main():
        async with shell(tmp_path, ECHO) as (app, pilot):
            view = app.view("processes")
            for i in range(80):
                await app.client.spawn(ECHO, name=f"e{i:02d}")
            table = view.query_one("#proc-table", Grid)
            await until(pilot, lambda: 81 == len(rows(app, "#proc-table")))
            await pilot.pause(0.1)
            table.renders = 0
            table._strips.clear()
            table.refresh()
            await pilot.pause(0.1)
            assert 0 < table.renders < 60  # a screenful (and the header), not 81 rows
            await pilot.press("end")
            await until(pilot, lambda: view.selected() == "echo")
            assert table.scroll_y > 0
    run(main())


def test_a_refresh_tick_that_comes_after_the_app_closed_its_screens_does_nothing(tmp_path):
    """The refresh timer can fire once more while the app closes: with no screen left, the tick
    ends quietly (it raised IndexError from `base`, which failed the app's exit)."""

    async def main():
        async with shell(tmp_path, "neuro.testing:Echo") as (app, pilot):
            client = app.client
        assert [] == app.screen_stack
        app.client = client  # as if the connection were still open when the tick came
        await app._tick()
        return app._ticking

    assert False is run(main())
