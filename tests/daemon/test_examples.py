"""The example sessions in examples/ run, embedded and against the daemon, and meet their goals."""

from __future__ import annotations

import json

from .conftest import REPO, neuro_cmd

ORCHESTRATE = REPO / "examples" / "orchestrate.py"
IMPROVE = REPO / "examples" / "self_improving.py"


def test_orchestrate_meets_its_goal_embedded(home):
    """orchestrate.py --embedded indexes the corpus, retries the crashes and sees the restarts."""
    done = neuro_cmd("run", "--embedded", ORCHESTRATE, "--texts", "10", "--json", home=home)
    summary = json.loads(done.stdout)
    assert (0, True, 2, 2) == (done.returncode, summary["ok"], summary["crashes_retried"], summary["restarts_seen"])


def test_orchestrate_meets_its_goal_against_the_daemon(daemon):
    """orchestrate.py against the daemon meets the same goal."""
    done = neuro_cmd("run", ORCHESTRATE, "--texts", "10", "--json", home=daemon.home)
    assert (0, True) == (done.returncode, json.loads(done.stdout)["ok"])


def test_self_improving_keeps_faster_versions_and_refuses_a_wrong_one(daemon, tmp_path):
    """self_improving.py against the daemon: the wrong candidate is refused by the replay gate,
    the kept version is live, and every step is a journal message and a swap event in the log."""
    done = neuro_cmd("run", IMPROVE, "--n", "1200", "--repeats", "3", "--dir", tmp_path, "--json",
                     home=daemon.home)
    result = json.loads(done.stdout)
    assert (0, True, "refused by the replay gate", "baseline", "done", True) == (
        done.returncode, result["ok"], result["outcomes"]["off_by_one"], result["journal"][0],
        result["journal"][-1], "swap.failed" in result["swap_events"])


def test_self_improving_runs_embedded(home):
    """self_improving.py --embedded ends ok, with 25 primes below 100."""
    done = neuro_cmd("run", "--embedded", IMPROVE, "--n", "800", "--repeats", "2", "--json", home=home)
    result = json.loads(done.stdout)
    assert (0, True, 25) == (done.returncode, result["ok"], result["primes_below_100"])
