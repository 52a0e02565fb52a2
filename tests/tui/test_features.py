"""The shell's later features, driven by Pilot against a real embedded kernel: swap a neuro by
file from the Processes screen, the Log screen's correlation filter, the Dream screen's start
and stop, the Nets screen."""

from __future__ import annotations

import msgspec
from textual.widgets import DataTable, Input, Static

from neuro import sdk

from neuro.shell.tui._details import ConfirmScreen
from neuro.shell.tui._filepick import PickFileScreen
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
    """w asks for a file; a path typed, then enter, swaps the selected neuro (started from a
    file) to it, and calls get the new answers."""
    first, path = tmp_path / "echo_same.py", tmp_path / "echo_plus_one.py"
    first.write_text(ECHO_PLUS_ONE.replace("msg.n + 1", "msg.n"))
    path.write_text(ECHO_PLUS_ONE)

    async def main():
        async with shell(tmp_path, str(first)) as (app, pilot):
            before = (await app.client.ps())[0].version
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, PickFileScreen))
            app.screen.query_one("#pick-input", Input).value = str(path)
            app.screen.query_one("#pick-input", Input).focus()
            await pilot.press("enter")
            await until(pilot, lambda: app.last_action is not None, seconds=30)
            label, result = app.last_action
            assert "swap echo" == label and not isinstance(result, Exception), result
            assert before != (await app.client.ps())[0].version
            assert 8 == (await app.client.call("echo", {"n": 7})).n
    run(main())


def test_w_picks_the_file_from_a_folder_tree(tmp_path, monkeypatch):
    """The tree starts in the shell's folder and lists neuro files and folders only; enter on
    a file swaps to it."""
    first, path = tmp_path / "echo_same.py", tmp_path / "echo_plus_one.py"
    first.write_text(ECHO_PLUS_ONE.replace("msg.n + 1", "msg.n"))
    path.write_text(ECHO_PLUS_ONE)
    (tmp_path / "notes.txt").write_text("not a neuro")
    (tmp_path / "pkg").mkdir()
    monkeypatch.chdir(tmp_path)

    async def main():
        async with shell(tmp_path, str(first)) as (app, pilot):
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, PickFileScreen))
            tree = app.screen.query_one("#pick-tree")
            await until(pilot, lambda: len(tree.root.children) >= 3)
            listed = {node.data.path.name for node in tree.root.children}
            assert {"echo_same.py", "echo_plus_one.py", "pkg"} <= listed and "notes.txt" not in listed
            target = next(node for node in tree.root.children if node.data.path == path)
            tree.move_cursor(target)
            await pilot.press("enter")
            await until(pilot, lambda: app.last_action is not None, seconds=30)
            label, result = app.last_action
            assert "swap echo" == label and not isinstance(result, Exception), result
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


def test_a_shell_started_without_the_gc_turns_it_on_frozen_once_its_screens_are_mounted(tmp_path):
    # `neuro shell` turns the cyclic GC off for its start (commands_tui._shell); the app must
    # turn it back on, or a long session would never collect a cycle.
    import gc

    async def main():
        async with shell(tmp_path) as (app, pilot):
            await until(pilot, gc.isenabled)
            assert gc.get_freeze_count() > 0  # what the start made is out of later collections

    gc.disable()
    try:
        run(main())
    finally:
        gc.unfreeze()
        gc.enable()


class _Num(sdk.Message):
    x: int


class _Inc(sdk.Neuro):
    name = "inc"
    input = _Num
    output = _Num

    def handle(self, ctx, msg):
        return _Num(x=msg.x + 1)


class _Double(sdk.Neuro):
    name = "double"
    input = _Num
    output = _Num

    def handle(self, ctx, msg):
        return _Num(x=msg.x * 2)


def _branching_net():
    """in -> small (x < 10) -> out; in -> big (x >= 10) -> again -> out."""
    net = sdk.Net("branchy", input=_Num, output=_Num)
    net.node("small", "inc")
    net.node("big", "double")
    net.node("again", "inc")
    net.edge("in", "small", when="x < 10")
    net.edge("in", "big", when="x >= 10")
    net.edge("small", "out")
    net.chain("big", "again", "out")
    return net.build(neuros=[_Inc, _Double]).neuro()


def test_nets_screen_draws_the_net_and_a_picked_runs_path(tmp_path):
    """The graph shows every node in a box; picking a run draws the nodes it called heavy
    (┏━┓) and leaves the branch it did not take light."""

    async def main():
        async with shell(tmp_path, ECHO, screen="nets") as (app, pilot):
            for neuro in (_Inc, _Double, _branching_net()):
                await app.client.spawn(neuro)
            assert {"x": 21} == msgspec.to_builtins(await app.client.call("branchy", {"x": 10}))
            nets = app.view("nets")
            await nets.reload()
            graph = lambda: str(app.query_one("#nets-graph", Static).render())  # noqa: E731
            title = lambda: str(app.query_one("#nets-graph-title", Static).render())  # noqa: E731
            await until(pilot, lambda: "branchy" in nets.nets and "big: double" in graph(), shown=graph)
            assert "pick one of its runs" in title()
            assert "┏" not in graph() and all(f"│ {n}" in graph() for n in ("small: inc", "in", "out"))
            runs = app.query_one("#nets-runs", DataTable)
            runs.focus()
            runs.move_cursor(row=0)
            await until(pilot, lambda: "2 called" in title(), shown=title)
            shown = graph()
            assert "┃ big: double ┃" in shown and "┃ again: inc ┃" in shown  # the path taken
            assert "│ small: inc │" in shown  # the branch not taken stays light

    run(main())


class _Steps(sdk.Neuro):
    """Reports its progress three times while a call waits."""

    name = "steps"
    input = _Num
    output = _Num

    async def handle(self, ctx, msg):
        import trio

        for i in range(1, 4):
            await ctx.progress("count", i, 3, note=f"step {i}")
            await trio.sleep(0.3)
        return _Num(x=msg.x)


def test_the_call_screens_bar_shows_the_callees_progress(tmp_path):
    """A callee that reports `ctx.progress(job, done, total)`: the bar takes its measure and
    the note beside it says how far it is, while the call waits; then the reply shows."""
    from textual.widgets import ProgressBar

    async def main():
        async with shell(tmp_path, screen="call") as (app, pilot):
            await app.client.spawn(_Steps)
            view = app.view("call")
            await view.shown()
            await view.pick("steps")
            await until(pilot, lambda: view.query("#field-x"))
            view.query_one("#field-x", Input).value = "7"
            await pilot.press("ctrl+r")
            bar = view.query_one("#call-progress", ProgressBar)
            note = lambda: str(view.query_one("#call-progress-note", Static).render())  # noqa: E731
            await until(pilot, lambda: bar.total == 3 and " of 3, step " in note(), shown=note)
            assert note().startswith("count: ")
            await until(pilot, lambda: view.last_result is not None)
            assert 7 == view.last_result.x

    run(main())
