"""A worker's cgroup is always a fresh one: never a left-over folder with another worker's counters.

The cgroup hierarchy here is plain folders under tmp_path (CgroupHost only makes folders and
reads files), so the test needs no cgroup mount and no root.
"""

from __future__ import annotations

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
