"""Shared fixtures: a kernel on a real SQLite file in a temporary folder."""

from __future__ import annotations

import pytest
import trio


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "run.db"


def run(fn, *args, clock=None):
    """Run an async test body under trio (optionally with a fake clock)."""
    return trio.run(fn, *args, clock=clock)
