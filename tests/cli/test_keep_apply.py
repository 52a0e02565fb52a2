"""Kept neuros through the CLI: `spawn --keep` survives a daemon restart, `stop` says it comes
back (`--forget` stops keeping it), and `neuro apply FILE` spawns, swaps, replaces and prunes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .conftest import neuro_cmd

NEURO = """\
from neuro import sdk

class Ping(sdk.Message):
    text: str

class Mine(sdk.Neuro):
    name = "mine"
    input = Ping
    output = Ping

    async def handle(self, ctx, msg):
        return Ping(text="{tag}:" + msg.text)
"""


def names(home):
    return sorted(r["name"] for r in json.loads(neuro_cmd("ps", "--json", home=home).stdout))


def apply(home, path, *args):
    done = neuro_cmd("apply", str(path), "--json", *args, home=home)
    assert "" == done.stderr
    return done.returncode, {s["name"]: s["action"] for s in json.loads(done.stdout)["steps"]}


def test_a_kept_neuro_comes_back_after_a_restart_until_forgotten(daemon):
    """spawn --keep: back after `daemon restart`; `stop` says it will come back; `stop --forget` ends that."""
    home = daemon.home
    spawned = neuro_cmd("spawn", "neuro.testing:Echo", "--name", "kept1", "--keep", home=home)
    neuro_cmd("daemon", "restart", home=home)
    after_restart = names(home)
    stopped = neuro_cmd("stop", "kept1", home=home)
    neuro_cmd("daemon", "restart", home=home)
    back_again = names(home)
    forgot = neuro_cmd("stop", "kept1", "--forget", home=home)
    neuro_cmd("daemon", "restart", home=home)
    assert (0, ["kept1"], True, ["kept1"], 0, True, []) == (
        spawned.returncode, after_restart, "starts again at the next daemon start" in stopped.stdout, back_again,
        forgot.returncode, "no longer kept" in forgot.stdout, names(home)), (stopped.stdout, forgot.stdout)


def test_apply_spawns_keeps_replaces_and_prunes(daemon, tmp_path):
    """Apply starts what is missing, leaves what runs as listed, replaces a policy change, prunes what left."""
    home = daemon.home
    app = tmp_path / "app.toml"
    app.write_text('[[neuro]]\nname = "a1"\nspec = "neuro.testing:Echo"\n\n'
                   '[[neuro]]\nname = "a2"\nspec = "neuro.testing:Echo"\n')
    dry = apply(home, app, "--dry-run")
    nothing_yet = names(home)
    first = apply(home, app)
    again = apply(home, app)
    app.write_text('[[neuro]]\nname = "a1"\nspec = "neuro.testing:Echo"\npolicy = "default"\n')
    changed = apply(home, app)
    neuro_cmd("daemon", "restart", home=home)
    assert ((0, {"a1": "spawn", "a2": "spawn"}), [], (0, {"a1": "spawn", "a2": "spawn"}),
            (0, {"a1": "unchanged", "a2": "unchanged"}), (0, {"a1": "replace", "a2": "prune"}), ["a1"]) == (
        dry, nothing_yet, first, again, changed, names(home))


def test_apply_swaps_in_a_changed_file(daemon, tmp_path):
    """A listed file that changed is swapped in: the running neuro answers with the new version."""
    home = daemon.home
    (tmp_path / "mine.py").write_text(textwrap.dedent(NEURO.format(tag="v1")))
    app = tmp_path / "app.toml"
    app.write_text('[[neuro]]\nname = "mine"\nspec = "mine.py"\ntrusted = true\n')  # relative to app.toml
    first = apply(home, app)
    (tmp_path / "mine.py").write_text(textwrap.dedent(NEURO.format(tag="v2")))
    second = apply(home, app)
    reply = json.loads(neuro_cmd("call", "mine", "text=hi", home=home).stdout)
    assert ((0, {"mine": "spawn"}), (0, {"mine": "swap"}), {"text": "v2:hi"}) == (first, second, reply)


def test_a_bad_apply_file_names_its_line(daemon, tmp_path):
    """A field of the wrong type is an error naming the file and the line, and nothing is applied."""
    app = tmp_path / "app.toml"
    app.write_text('[[neuro]]\nname = "a1"\nspec = "neuro.testing:Echo"\ntrusted = "yes"\n')
    done = neuro_cmd("apply", str(app), home=daemon.home)
    assert (3, True, []) == (done.returncode, f"{app}:4: neuro #1: Expected `bool`" in done.stderr,
                             names(daemon.home)), done.stderr


def test_a_damaged_keep_file_is_named_with_its_line(home):
    """`neuro kept` (no daemon needed) reports a keep file that does not read, naming file and line."""
    keep = Path(home) / "keep.toml"
    keep.write_text('[[neuro]]\nname = "a1"\nspec = "neuro.testing:Echo"\nversoin = "x"\n')
    done = neuro_cmd("kept", home=home)
    assert (3, True) == (done.returncode, f"{keep}:4: neuro #1: Object contains unknown field `versoin`"
                         in done.stderr), done.stderr
