"""The shell against a real daemon: end to end in a real terminal (tmux runs `neuro shell`,
send-keys makes a call from the Call screen, capture-pane shows it in the Log screen), and a
lost daemon shows a banner, then the shell reconnects when a daemon is back."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid

import pytest
from textual.widgets import Static

from neuro.shell import daemon as d
from neuro.shell.tui._app import ShellApp
from neuro.shell.tui._source import Source

from ..daemon.conftest import NEURO, daemon, home, neuro_cmd, wait_until  # noqa: F401  (fixtures)
from .conftest import SIZE, until

TMUX = shutil.which("tmux")


class Tmux:
    """One detached tmux session at 200x50 running a command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.name = f"neuro-shell-{uuid.uuid4().hex[:8]}"
        self.tmux = [TMUX, "-L", self.name]  # a server of its own: no one else's options or sessions
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # COLUMNS and LINES (set under pytest) would override the terminal's size in textual.
        clean = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        subprocess.run([*self.tmux, "-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", "200", "-y", "50",
                        f"env {exports} {command}"], check=True, env=clean)
        # An escape followed by a key within 500 ms would reach the app as alt+key.
        subprocess.run([*self.tmux, "set-option", "-s", "escape-time", "0"], check=True)

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-t", self.name, "-p"], capture_output=True, text=True).stdout

    def wait_for(self, text: str, seconds: float = 20.0) -> str:
        if not wait_until(lambda: text in self.screen(), seconds, every=0.1):
            raise AssertionError(f"{text!r} never showed; the screen:\n{self.screen()}")
        return self.screen()

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")
def test_a_call_from_the_call_screen_shows_in_the_log(daemon, home):  # noqa: F811
    """In tmux: pick echo on the Call screen, type n, call; the reply shows, and the Log
    screen shows the call with its outcome."""
    done = neuro_cmd("spawn", "neuro.testing:Echo", home=home)
    assert 0 == done.returncode, done.stderr
    term = Tmux(f"{NEURO} shell --refresh 0.2", {"NEURO_HOME": home, "TERM": "xterm-256color"})
    try:
        term.wait_for("1 neuros")
        term.keys("3")
        term.wait_for("pick a neuro")
        term.keys("Enter")
        term.wait_for("echo")
        term.keys("Down", "Enter")
        term.wait_for("n: integer")
        term.keys("4242", literal=True)
        term.keys("C-r")
        screen = term.wait_for("reply from echo")
        assert '"n": 4242' in screen
        term.keys("Escape")
        time.sleep(0.5)  # textual too waits a moment after an escape for the rest of a sequence
        term.keys("2")
        screen = term.wait_for('{"n":4242}')
        row = next(line for line in screen.splitlines() if '{"n":4242}' in line)
        assert "echo" in row and "handled" in row
    finally:
        term.close()


def test_a_lost_daemon_shows_a_banner_and_the_shell_reconnects(daemon, home):  # noqa: F811
    """Stopping the daemon shows the banner; a new daemon in the same place is attached again."""
    async def main():
        app = ShellApp(Source(home=home), refresh=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 20)
            banner = app.query_one("#banner", Static)
            assert not banner.has_class("lost")
            await asyncio.to_thread(d.stop, daemon, grace=10)
            await until(pilot, lambda: banner.has_class("lost"), 20)
            assert app.client is None
            await asyncio.to_thread(d.start, daemon)
            await until(pilot, lambda: app.client is not None and not banner.has_class("lost"), 30)
            assert app.reconnects >= 1
            assert [] == [p.name for p in await app.client.ps()]

    asyncio.run(asyncio.wait_for(main(), 90))


def test_the_preview_reads_the_daemons_table_before_the_client(daemon, home, tmp_path):  # noqa: F811
    """The first look (the lean path's ps on a thread) has the daemon's rows; no daemon, None."""
    from neuro.shell.tui._preview import Preview

    assert 0 == neuro_cmd("spawn", "neuro.testing:Echo", home=home).returncode
    infos = Preview(os.path.join(home, "control.sock")).infos(timeout=10)
    assert ["echo"] == [p.name for p in infos]
    assert (infos[0].mailbox, infos[0].mailbox_capacity) == (0, 1024)
    assert Preview(str(tmp_path / "none.sock")).infos(timeout=10) is None
