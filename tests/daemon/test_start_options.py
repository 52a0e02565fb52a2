"""`neuro daemon start --dream` and `--ray ADDRESS`: the kernel options of the daemon."""

from __future__ import annotations

import argparse
import json

import pytest

from .conftest import neuro_cmd
from neuro.shell import daemon as d
from neuro.shell.commands_daemon import _kernel_env


def test_start_with_dream_runs_the_dream_daemon(home):
    """With --dream, `neuro dream status` finds the dream daemon alive; without it, it is not running."""
    try:
        assert 0 == neuro_cmd("daemon", "start", "--dream", home=home).returncode
        status = neuro_cmd("dream", "status", "--json", home=home)
        assert 0 == status.returncode, status.stderr
        assert json.loads(status.stdout)["alive"] is True
    finally:
        neuro_cmd("daemon", "stop", home=home)


@pytest.mark.parametrize("address", ["nope", "host:", ":6379", "host:70000", "host:port"])
def test_a_bad_ray_address_is_refused_before_a_daemon_starts(home, address):
    """A --ray that is neither auto nor HOST:PORT: exit 2 naming it, and no daemon runs."""
    done = neuro_cmd("daemon", "start", "--ray", address, home=home)
    assert 2 == done.returncode
    assert f"{address!r} is not a Ray address: give auto or HOST:PORT" in done.stderr
    assert d.running_pid(d.State(home)) is None


@pytest.mark.parametrize("dream, ray, expected", [
    (False, None, {}),
    (True, None, {d.DREAM_ENV: "1"}),
    (False, "10.0.0.5:6379", {d.RAY_ENV: "10.0.0.5:6379"}),
    (True, "auto", {d.DREAM_ENV: "1", d.RAY_ENV: "auto"}),
])
def test_the_options_reach_the_daemon_as_its_environment(monkeypatch, dream, ray, expected):
    """What the daemon's process reads: $NEURO_DREAM and $NEURO_RAY, set only when asked."""
    monkeypatch.delenv(d.LOG_KEEP_ENV, raising=False)
    assert expected == _kernel_env(argparse.Namespace(dream=dream, ray=ray, log_keep=None))
