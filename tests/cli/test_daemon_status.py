"""`neuro daemon status` shows the neuros and the last errors (time, neuro, message), also as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import neuro_cmd
from .test_drop_broken_pin import idle


def status_json(home, *args):
    done = neuro_cmd("daemon", "status", "--json", *args, home=home)
    assert (0, "") == (done.returncode, done.stderr)
    return json.loads(done.stdout)


def test_status_lists_the_neuros_and_the_last_errors_as_json(daemon):
    """A handler's error and a broken drop file are among the last errors; each neuro is listed."""
    home = daemon.home
    (Path(home) / "neuros" / "bad.py").write_text("from neuro import sdk\n\nclass Bad(sdk.Neuro)\n")
    neuro_cmd("spawn", "neuro.testing:Crashy", home=home)
    failed = neuro_cmd("call", "crashy", "n=-1", home=home)
    idle(home)
    doc = status_json(home)
    neuros = {n["name"]: n["state"] for n in doc["neuros"]}
    errors = [(e["neuro"], e["what"]) for e in doc["errors"]]
    crash = next(e for e in doc["errors"] if e["neuro"] == "crashy")
    assert (True, {"crashy": "running", "bad.py": "broken"}, True, True, True) == (
        failed.returncode != 0, neuros, (None, "drop.error") in errors, "negative: -1" in crash["message"],
        isinstance(crash["time"], float))


def test_status_table_shows_neuros_errors_and_readiness(daemon):
    """The table says it is ready, lists the neuros, and the last errors newest last."""
    home = daemon.home
    neuro_cmd("spawn", "neuro.testing:Crashy", home=home)
    neuro_cmd("call", "crashy", "n=-1", home=home)
    neuro_cmd("call", "crashy", "n=-2", home=home)
    out = neuro_cmd("daemon", "status", "--wide", home=home).stdout
    facts, rest = out.split("\nneuros (")
    neuros, errors = rest.split("\nlast errors (")
    ready = next(line for line in facts.splitlines() if line.startswith("ready "))
    assert (True, True, True) == ("yes, after" in ready, re.search(r"\ncrashy\s+running\s", neuros) is not None,
                                  errors.index("negative: -1") < errors.rindex("negative: -2")), out


def test_errors_option_bounds_how_many_are_shown(daemon):
    """--errors N shows at most N (the newest), --errors 0 none."""
    home = daemon.home
    neuro_cmd("spawn", "neuro.testing:Crashy", home=home)
    for n in (-1, -2, -3):
        neuro_cmd("call", "crashy", f"n={n}", home=home)
    last = [e["message"] for e in status_json(home, "--errors", "1")["errors"]]
    assert (1, True, []) == (len(last), "negative: -3" in last[0], status_json(home, "--errors", "0")["errors"])
