"""Shared fixtures: a kernel on a real SQLite file in a temporary folder."""

from __future__ import annotations

import os

import pytest
import trio

# A table is cut to $COLUMNS: the suite's CLI output must not depend on the terminal it was
# started from (pytest-xdist hands its workers the controller's width in $COLUMNS).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "run.db"


def run(fn, *args, clock=None):
    """Run an async test body under trio (optionally with a fake clock)."""
    return trio.run(fn, *args, clock=clock)


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups from these marks
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's `--dist loadgroup` (scripts/test.sh), the tests of a file that share a
    module- or class-scoped fixture (a daemon, a chaos run) stay on one worker, so it is built
    once; every other test goes to whichever worker is free."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = any(defs and defs[-1].scope in ("module", "class", "package")
                     for defs in info.name2fixturedefs.values())
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
