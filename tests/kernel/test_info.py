"""`Kernel.describe(name)`: manifest, schemas (a union's tag and values), the policy in force,
origin, version, the last error the log holds, quota use; and `Kernel.usage()`'s CPU and memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import trio

import neuro
from neuro.kernel._info import _from_proc, _tree
from neuro.neuros.counter import Counter
from neuro.testing import BoxedEcho, Crashy, Echo, Ping

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def run(fn, *args):
    return trio.run(fn, *args)


def test_a_union_input_shows_its_tag_field_and_values(log_path):
    """A union input's schema names its tag field (`type`) and maps each tag to its member."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Counter)
            return await k.describe("counter")

    d = run(main)
    disc = d.input_schema["discriminator"]
    assert ("type", ["add", "get"], ["key", "total"]) == (
        disc["propertyName"], sorted(disc["mapping"]),
        sorted(d.output_schema["$defs"]["Total"]["properties"]))


def test_describe_gives_manifest_policy_origin_and_version(log_path):
    """The manifest, the resolved policy, the module file it came from, and the running version."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Counter, policy="default")
            return await k.describe("counter"), k.info("counter")

    d, info = run(main)
    assert ("counter", "neuro.neuros.counter:Counter", "default", 1024, "inproc", Counter.version(), "spawn",
            True) == (d.manifest["name"], d.manifest["neuro"], d.policy["name"], d.policy["mailbox_size"],
                      d.backend, d.version, d.version_origin, d.origin.endswith(os.path.join("neuros", "counter.py")))
    assert info == d.process


def test_the_last_error_is_the_newest_in_the_log(log_path):
    """After a handler raised, `last_error` holds its type and message; before, None."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Crashy)
            before = (await k.describe("crashy")).last_error
            with pytest.raises(neuro.RemoteError):
                await k.call("crashy", Ping(n=-1), timeout=5)
            return before, (await k.describe("crashy")).last_error, (await k.describe("crashy", log=False)).last_error

    before, after, unlogged = run(main)
    assert (None, "ValueError", "negative: -1", None) == (before, after.type, after.message, unlogged)


def test_a_neuro_in_the_kernels_process_has_no_counters_of_its_own(log_path):
    """An inproc neuro's CPU and memory are None (it shares the kernel's), not made up."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Echo)
            return k.usage(), (await k.describe("echo")).quotas

    [used], quotas = run(main)
    by_name = {q.name: q for q in quotas}
    assert ("echo", None, None, None, None) == (used.name, used.source, used.cpu_seconds, used.memory,
                                                by_name["memory"].used)


def test_the_rate_quota_shows_the_tokens_taken(log_path):
    """Under a rate limit, `rate` shows the burst's tokens the calls took."""
    class Limited(Echo):
        name = "limited"
        policy_overrides = {"rate": 0.001, "burst": 5}

    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(Limited)
            for n in range(2):
                await k.call("limited", Ping(n=n), timeout=5)
            return {q.name: q for q in (await k.describe("limited")).quotas}["rate"]

    rate = run(main)
    assert (0.001, 2) == (rate.limit, round(rate.used))


def test_describe_of_a_neuro_not_running_is_no_such_neuro(log_path):
    """`describe("nobody")` raises NoSuchNeuro."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            with pytest.raises(neuro.NoSuchNeuro, match="nobody"):
                await k.describe("nobody")

    run(main)


@needs_bwrap
def test_a_sandboxed_neuro_has_its_memory_and_cpu_counted(log_path):
    """A process-sandboxed neuro's usage is read from its cgroup (or its worker's /proc)."""
    async def main():
        async with neuro.Kernel(log=log_path) as k:
            await k.spawn(BoxedEcho)
            await k.call("boxed-echo", Ping(n=1), timeout=30)
            return k.usage()

    [used] = run(main)
    assert (True, True, True) == (used.source in ("cgroup", "proc"), used.memory > 0, used.cpu_seconds >= 0)


def test_proc_counts_a_process_and_its_children():
    """/proc of a pid sums its descendants: the tree holds the child, the RSS is more than 0."""
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                              "subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"])
    try:
        deadline = time.monotonic() + 10
        while len(tree := _tree(child.pid)) < 2 and time.monotonic() < deadline:  # the grandchild starts
            time.sleep(0.01)
        cpu, rss = _from_proc(child.pid)
        assert (True, True, True) == (len(tree) >= 2, cpu is not None and cpu >= 0, rss > 0)
    finally:
        for pid in reversed(_tree(child.pid)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        child.wait()
