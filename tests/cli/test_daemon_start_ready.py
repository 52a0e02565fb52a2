"""`neuro daemon start` returns once the daemon is ready: its drop folders loaded (each file
spawned, or failed with its drop.error), so `neuro daemon start && neuro call X` finds X."""

from __future__ import annotations

import json
import textwrap

from .conftest import neuro_cmd

SLOW_IMPORT = """\
import time
from neuro import sdk

time.sleep({seconds})  # a slow top level: the daemon's socket answers long before this loads

class Ping(sdk.Message):
    text: str

class Slowload(sdk.Neuro):
    name = "{name}"
    input = Ping
    output = Ping

    async def handle(self, ctx, msg):
        return Ping(text="{name}:" + msg.text)
"""


def neuro_file(folder, name, seconds=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(SLOW_IMPORT.format(name=name, seconds=seconds)))
    return path


def test_start_then_call_finds_the_drop_folders_neuros(home, tmp_path):
    """Right after `daemon start`, a neuro of the (untrusted) drop folder and a slow-loading one of a
    trusted folder both answer."""
    from pathlib import Path

    neuro_file(Path(home) / "neuros", "boxed")
    neuro_file(tmp_path / "mine", "slowone", seconds=1.5)
    env = {"NEURO_TRUSTED_DIRS": str(tmp_path / "mine")}
    started = neuro_cmd("daemon", "start", home=home, env=env)
    boxed = neuro_cmd("call", "boxed", "text=hi", home=home)
    slow = neuro_cmd("call", "slowone", "text=hi", home=home)
    assert (0, '{"text": "boxed:hi"}', '{"text": "slowone:hi"}') == (
        started.returncode, boxed.stdout.strip(), slow.stdout.strip()), (started.stderr, boxed.stderr, slow.stderr)


def test_a_broken_file_does_not_hold_the_start_back(home):
    """A file that does not load is reported (ps shows it broken) and the start still returns, ready."""
    from pathlib import Path

    folder = Path(home) / "neuros"
    neuro_file(folder, "good")
    (folder / "bad.py").write_text("from neuro import sdk\nclass Bad(sdk.Neuro)\n")
    started = neuro_cmd("daemon", "start", home=home)
    rows = {r["name"]: r["state"] for r in json.loads(neuro_cmd("ps", "--json", home=home).stdout)}
    status = json.loads(neuro_cmd("daemon", "status", "--json", home=home).stdout)
    assert (0, {"good": "running", "bad.py": "broken"}, True) == (started.returncode, rows, status["ready"])


def test_a_daemon_still_loading_after_wait_is_a_clear_error(home, tmp_path):
    """Past --wait, start exits 3 saying the daemon answers but is still loading, and what to run."""
    neuro_file(tmp_path / "mine", "glacial", seconds=20)  # the fixture kills the daemon: nobody waits for it
    started = neuro_cmd("daemon", "start", "--wait", "6", home=home, env={"NEURO_TRUSTED_DIRS": str(tmp_path / "mine")})
    status = json.loads(neuro_cmd("daemon", "status", "--json", home=home).stdout)
    assert (3, True, True, False, "loading the drop folders") == (
        started.returncode, "answers, but it had not loaded its drop folders" in started.stderr,
        "neuro daemon status" in started.stderr, status["ready"], status["loading"]), started.stderr
