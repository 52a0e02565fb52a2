"""Drop folders through the CLI: a broken file shows in `ps` (state broken, the error's file:line)
and its fix is logged (drop.fixed); `stop` and `rollback` pin a drop-folder neuro, saying so and
naming `neuro unpin`, and pins last across a daemon restart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from neuro.client import blocking, run_blocking

from .conftest import neuro_cmd

NEURO = """\
from neuro import sdk

class Ping(sdk.Message):
    text: str

class Echo(sdk.Neuro):
    name = "decho"
    input = Ping
    output = Ping

    async def handle(self, ctx, msg):
        return Ping(text="{tag}:" + msg.text)
"""


def client(home):
    c = blocking(home=str(home), timeout=30.0)
    run_blocking(c.__aenter__())
    return c


def idle(home):
    """Wait until the daemon's drop folders have handled every change made so far."""
    c = client(home)
    try:
        run_blocking(c.drop_folders(wait_idle=True))
    finally:
        run_blocking(c.__aexit__(None, None, None))


def events(home, name):
    c = client(home)
    try:
        return run_blocking(c.events(name=name))
    finally:
        run_blocking(c.__aexit__(None, None, None))


def save(home, tag, extra=""):
    path = Path(home) / "neuros" / "decho.py"
    path.write_text(textwrap.dedent(NEURO.format(tag=tag)) + extra)
    idle(home)
    return path


def call(home):
    done = neuro_cmd("call", "decho", "text=hi", home=home)
    return json.loads(done.stdout)["text"] if done.returncode == 0 else done.returncode


def ps(home):
    return {r["name"]: r for r in json.loads(neuro_cmd("ps", "--json", home=home).stdout)}


def test_a_broken_file_shows_in_ps_and_its_fix_is_logged(daemon):
    """A file with a syntax error is a `broken` row with file:line; fixed, it runs and drop.fixed says so."""
    home = daemon.home
    path = save(home, "v1", extra="\nclass Oops(\n")
    line = path.read_text().splitlines().index("class Oops(") + 1
    broken = ps(home)["decho.py"]
    table = neuro_cmd("ps", "--wide", home=home).stdout
    save(home, "v2")
    assert (("broken", 0, True), True, "v2:hi", [str(path)]) == (
        (broken["state"], broken["pid"], broken["error"].startswith(f"{path}:{line}:")),
        "broken" in table, call(home), [e["data"]["file"] for e in events(home, "drop.fixed")])


def test_a_terminal_too_narrow_for_the_row_still_shows_the_name_and_the_whole_file_line(daemon):
    """COLUMNS=120: the other lines fit, the broken row keeps `decho.py` and its error whole,
    running on past the edge rather than cut to `/tmp/n…`."""
    path = save(daemon.home, "v1", extra="\nclass Oops(\n")
    line = path.read_text().splitlines().index("class Oops(") + 1
    lines = neuro_cmd("ps", home=daemon.home, env={"COLUMNS": "120"}).stdout.splitlines()
    row = next(text for text in lines if "broken" in text)
    assert ("decho.py", True, True, [True, True]) == (
        row.split()[1], len(row) > 120, f"{path}:{line}: syntax error" in row, [len(text) <= 120 for text in lines[:2]])


def test_a_neuro_whose_new_version_breaks_keeps_serving_with_the_error_shown(daemon):
    """The last good version serves; its ps row carries the error until the file is fixed."""
    home = daemon.home
    path = save(home, "v1")
    save(home, "v2", extra="\n    def nope(:\n")
    row = ps(home)["decho"]
    assert ("running", True, "v1:hi") == (row["state"], row["error"].startswith(f"{path}:"), call(home))


def test_stop_pins_and_says_so_and_unpin_loads_the_file_again(daemon):
    """`stop` names `neuro unpin`; a save then starts nothing; `unpin` starts the file's version."""
    home = daemon.home
    save(home, "v1")
    stopped = neuro_cmd("stop", "decho", home=home)
    save(home, "v2")
    running = "decho" in ps(home)
    unpinned = neuro_cmd("unpin", "decho", home=home)
    assert (0, True, False, 0, "v2:hi") == (
        stopped.returncode, "`neuro unpin decho`" in stopped.stdout, running, unpinned.returncode, call(home)), \
        stopped.stdout


def test_rollback_pins_across_a_daemon_restart(daemon):
    """After `rollback`, neither a save nor a daemon restart undoes it; `unpin` does."""
    home = daemon.home
    save(home, "v1")
    save(home, "v2")
    rolled = neuro_cmd("rollback", "decho", home=home)
    save(home, "v3")
    held = call(home)
    restarted = neuro_cmd("daemon", "restart", home=home)
    after_restart = call(home)
    pins = json.loads(neuro_cmd("daemon", "status", "--json", home=home).stdout)["pins"]
    neuro_cmd("unpin", "decho", home=home)
    assert (True, "v1:hi", 0, "v1:hi", ["decho"], "v3:hi") == (
        "`neuro unpin decho`" in rolled.stdout, held, restarted.returncode, after_restart,
        [p["name"] for p in pins], call(home)), rolled.stdout


def test_unpin_of_a_neuro_that_is_not_pinned_exits_5(daemon):
    """`neuro unpin NAME` without a pin is a not-found error saying what pins are."""
    done = neuro_cmd("unpin", "decho", home=daemon.home)
    assert (5, True) == (done.returncode, "is not pinned" in done.stderr), done.stderr
