"""The dream daemon in a real `neuro daemon` (NEURO_DREAM=1), driven by the `neuro dream` commands."""

from __future__ import annotations

import json
import os
import random
import signal

from neuro.client import blocking, run_blocking
from neuro.shell import daemon as d
from tests.daemon.conftest import home, neuro_cmd, wait_until  # noqa: F401  (home: a fixture)

FILES = os.path.join(os.path.dirname(__file__), "neurofiles")


def start_dreaming(home: str) -> d.State:
    st = d.State(home)
    d.start(st, extra_env={"NEURO_DREAM": "1", "NEURO_DREAM_DIR": os.path.join(home, "students")})
    return st


def feed(home: str, name: str, n: int) -> None:
    rng = random.Random(0)
    client = blocking(home=home, timeout=30)
    run_blocking(client.__aenter__())
    try:
        for _ in range(n):
            run_blocking(client.call(name, {"x": rng.uniform(0, 3), "a": rng.uniform(0.5, 2)}))
    finally:
        run_blocking(client.__aexit__(None, None, None))


def test_dream_run_ships_a_student_the_commands_show_it_and_rollback_undoes_it(home):
    """`neuro dream run` ships (exit 0, its job as JSON); `dream jobs`, `dream log` and `versions`
    show it; `neuro rollback` brings the teacher back."""
    st = start_dreaming(home)
    try:
        assert 0 == neuro_cmd("spawn", os.path.join(FILES, "summer.py"), "--trusted", home=home).returncode
        teacher = json.loads(neuro_cmd("info", "summer", "--json", home=home).stdout)["version"]
        feed(home, "summer", 80)
        run = neuro_cmd("dream", "run", "summer", "--json", home=home, timeout=300)
        assert 0 == run.returncode, run.stdout + run.stderr
        job = json.loads(run.stdout)
        assert ("shipped", teacher) == (job["state"], job["teacher"])
        jobs = json.loads(neuro_cmd("dream", "jobs", "--json", home=home).stdout)
        assert [job["id"]] == [j["id"] for j in jobs if j["state"] == "shipped"]
        log = neuro_cmd("dream", "log", "--neuro", "summer", home=home).stdout
        assert "dream.shipped" in log and job["id"] in log
        versions = json.loads(neuro_cmd("versions", "summer", "--json", home=home).stdout)
        student = [v for v in versions if v["live"]][0]
        assert ("dream", teacher, job["id"]) == (student["origin"], student["lineage"]["teacher"],
                                                 student["lineage"]["notes"]["job"])
        status = json.loads(neuro_cmd("dream", "status", "--json", home=home).stdout)
        assert status["alive"] is True
        assert 0 == neuro_cmd("rollback", "summer", home=home).returncode
        assert teacher == json.loads(neuro_cmd("info", "summer", "--json", home=home).stdout)["version"]
    finally:
        d.stop(st, grace=10)


def test_a_dream_run_of_a_neuro_that_is_not_running_is_not_found(home):
    """`neuro dream run NAME` of no running neuro fails with the error naming it."""
    st = start_dreaming(home)
    try:
        run = neuro_cmd("dream", "run", "nobody", home=home)
        assert 0 != run.returncode
        assert "nobody" in run.stderr
    finally:
        d.stop(st, grace=10)


def test_kill_9_of_the_daemon_mid_dream_leaves_no_half_shipped_version(home):
    """A daemon killed while a student trains comes back with the teacher live, no student version,
    the job interrupted, and no trainer left running."""
    st = start_dreaming(home)
    assert 0 == neuro_cmd("spawn", os.path.join(FILES, "longdream.py"), "--trusted", home=home).returncode
    feed(home, "long-dream", 80)
    run = neuro_cmd("dream", "run", "long-dream", "--detach", "--json", home=home)
    assert 0 == run.returncode, run.stderr

    def training() -> bool:
        status = json.loads(neuro_cmd("dream", "status", "--json", home=home).stdout)
        return any(j["stage"] == "train" for j in status["running"])

    assert wait_until(training, 60, every=0.2)
    pid = d.running_pid(st)
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: d.running_pid(st) is None, 10)
    # The trainer's watcher threads see the daemon gone within 0.2 s, but not while the main
    # thread holds the GIL in torch's import (dlopen of libtorch): on a loaded machine, seconds.
    assert wait_until(lambda: not _trainers(), 60)
    start_dreaming(home)
    try:
        assert 0 == neuro_cmd("spawn", os.path.join(FILES, "longdream.py"), "--trusted", home=home).returncode
        versions = json.loads(neuro_cmd("versions", "long-dream", "--json", home=home).stdout)
        assert ["spawn"] == [v["origin"] for v in versions]
        jobs = json.loads(neuro_cmd("dream", "jobs", "--json", home=home).stdout)
        assert ["interrupted"] == [j["state"] for j in jobs if j["neuro"] == "long-dream"]
    finally:
        d.stop(st, grace=10)


def _trainers() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"neuro.dream._trainer" in f.read():
                        found.append(entry)
            except OSError:
                pass
    return found
