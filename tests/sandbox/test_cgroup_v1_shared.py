"""cgroup v1 with cpu and cpuacct in one hierarchy (the usual `cpu,cpuacct` mount, with `cpu` and
`cpuacct` as links to it): each worker still gets one fresh cgroup with its memory and CPU limits.

The first test builds that layout from plain folders under tmp_path (no mount, no root needed);
the second uses this host's own /sys/fs/cgroup where it is v1 and writable.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from neuro.sandbox import _cgroups

POLICY = SimpleNamespace(priority="normal", memory=64 << 20, cpu_share=0.5, processes=32)


def _limits(cgroup) -> tuple[str, str]:
    with open(os.path.join(cgroup.paths["memory"], "memory.limit_in_bytes")) as f:
        memory = f.read().strip()
    with open(os.path.join(cgroup.paths["cpu"], "cpu.cfs_quota_us")) as f:
        quota = f.read().strip()
    return memory, quota


def test_two_workers_get_limits_where_cpu_and_cpuacct_share_a_hierarchy(tmp_path, monkeypatch):
    for folder in ("memory", "pids", "cpu,cpuacct"):
        (tmp_path / folder).mkdir()
    (tmp_path / "cpu").symlink_to(tmp_path / "cpu,cpuacct")
    (tmp_path / "cpuacct").symlink_to(tmp_path / "cpu,cpuacct")
    monkeypatch.setattr(_cgroups, "ROOT", str(tmp_path))
    host = _cgroups.detect("neuro-test")
    assert (host.version, host.problem) == (1, "")
    first, second = host.create("w1-1"), host.create("w1-2")
    assert first is not None and second is not None
    assert {} == first.apply(POLICY) == second.apply(POLICY)
    assert _limits(first) == _limits(second) == (str(64 << 20), "50000")
    assert first.paths["cpu"] != second.paths["cpu"]


def test_two_workers_get_limits_on_this_host():
    if not os.path.exists(os.path.join(_cgroups.ROOT, "memory", "memory.limit_in_bytes")):
        pytest.skip("this host does not mount cgroup v1's memory controller at /sys/fs/cgroup/memory")
    if not os.access(os.path.join(_cgroups.ROOT, "memory"), os.W_OK):
        pytest.skip("cgroup v1 is not writable by this user")
    host = _cgroups.detect(f"neuro-test-{os.getpid()}")
    if "memory" not in host.base or "cpu" not in host.base:
        pytest.skip(f"no writable memory and cpu controllers here: {host.problem}")
    cgroups = [host.create(f"w{os.getpid()}-{i}") for i in (1, 2)]
    try:
        assert None not in cgroups
        assert [{}, {}] == [c.apply(POLICY) for c in cgroups]
        assert [_limits(c)[1] for c in cgroups] == ["50000", "50000"]
        assert all(int(_limits(c)[0]) <= 64 << 20 for c in cgroups)  # the kernel rounds to pages
    finally:
        for c in cgroups:
            if c is not None:
                c.remove()
        for parent in set(host.base.values()):
            try:
                os.rmdir(parent)
            except OSError:
                pass
