"""A worker's cgroup is always a fresh one: never a left-over folder with another worker's counters.

The cgroup hierarchy here is plain folders under tmp_path (CgroupHost only makes folders and
reads files), so the test needs no cgroup mount and no root.
"""

from __future__ import annotations

import os

from neuro.sandbox._cgroups import CgroupHost


def _host(tmp_path) -> CgroupHost:
    base = {}
    for controller in ("memory", "cpu", "pids"):
        (tmp_path / controller).mkdir()
        base[controller] = str(tmp_path / controller)
    return CgroupHost(1, base)


def test_a_left_over_cgroup_of_the_same_name_is_not_reused(tmp_path):
    """A folder left by an earlier worker (it counted an OOM kill) is passed over: the new cgroup
    is another folder, in every controller, and counts no OOM kill."""
    host = _host(tmp_path)
    stale = tmp_path / "memory" / "w42-1"
    stale.mkdir()
    (stale / "memory.oom_control").write_text("oom_kill_disable 0\noom_kill 3\n")
    cgroup = host.create("w42-1")
    assert cgroup is not None
    folders = {p.rsplit("/", 1)[-1] for p in cgroup.paths.values()}
    assert (1, False, None) == (len(folders), "w42-1" in folders, cgroup.oom_kills())
    assert all(p.startswith(str(tmp_path / c) + "/w42-1-") for c, p in cgroup.paths.items())


def test_a_free_name_is_used_as_it_is(tmp_path):
    """Where no folder of that name exists, the cgroup has exactly that name in each controller."""
    host = _host(tmp_path)
    cgroup = host.create("w7-2")
    assert cgroup is not None
    assert {c: str(tmp_path / c / "w7-2") for c in ("memory", "cpu", "pids")} == cgroup.paths


def test_a_cgroup_still_busy_at_removal_is_removed_once_it_empties(tmp_path):
    """A removal while the killed processes are still exiting (here: a folder that is not empty
    yet) waits; the next cgroup made, or a sweep, removes it. It was left for good before."""
    host = _host(tmp_path)
    cgroup = host.create("w7-3")
    busy = tmp_path / "cpu" / "w7-3" / "tasks"
    busy.write_text("123\n")
    cgroup.remove()
    assert ([cgroup], True) == (host.pending, (tmp_path / "cpu" / "w7-3").exists())
    assert not (tmp_path / "memory" / "w7-3").exists()  # the free ones went at once
    host.sweep()
    assert [cgroup] == host.pending  # still busy: still waiting
    busy.unlink()
    host.create("w7-4")
    assert ([], False) == (host.pending, (tmp_path / "cpu" / "w7-3").exists())


def test_reap_removes_what_dead_kernels_left_and_nothing_else(tmp_path):
    """A `w<pid>-...` folder of a pid that no longer runs is removed (once empty); those of
    running processes (this one), busy ones and other names stay."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    gone = int(dead.stdout)
    host = _host(tmp_path)
    names = [f"w{gone}-1", f"w{gone}-2-a1b2c3", f"w{os.getpid()}-1", f"w{gone}-3", "other", "w12x-1"]
    for controller in ("memory", "cpu", "pids"):
        for name in names:
            (tmp_path / controller / name).mkdir()
    (tmp_path / "pids" / f"w{gone}-3" / "tasks").write_text("9\n")  # its processes still run
    assert 3 * 3 - 1 == host.reap()
    left = {c: sorted(p.name for p in (tmp_path / c).iterdir()) for c in ("memory", "cpu", "pids")}
    assert {"memory": sorted(["other", f"w{os.getpid()}-1", "w12x-1"]),
            "cpu": sorted(["other", f"w{os.getpid()}-1", "w12x-1"]),
            "pids": sorted(["other", f"w{os.getpid()}-1", f"w{gone}-3", "w12x-1"])} == left
