"""On-demand neuros: a name in the kernel's table is spawned by its first send or call,
once, in a sandbox of its policy, and the code is never imported in the kernel's process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
import trio

import neuro
from neuro.kernel._ondemand import OnDemand, shim_source
from neuro.testing import Ping, Pong

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="the process sandbox needs bubblewrap")
SANDBOXED = {"echo-on-demand": OnDemand("neuro.testing:Echo", policy="untrusted")}
TRUSTED = {"echo-here": OnDemand("neuro.testing:SyncEcho", trusted=True)}


@needs_bwrap
def test_a_call_to_an_on_demand_name_spawns_it_in_its_policys_sandbox(tmp_path):
    """The first call spawns the neuro (sandboxed, under the spec's policy) and gets its answer."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", on_demand=SANDBOXED) as k:
            before = [p.name for p in k.ps()]
            reply = await k.call("echo-on-demand", Ping(n=7), timeout=60)
            row = k.info("echo-on-demand")
            return before, (type(reply).__name__, reply.n), (row.sandbox, row.policy)

    # The reply is the kernel's rebuilt Pong (the class itself is never imported here).
    assert ([], ("Pong", 7), ("process", "untrusted")) == trio.run(main)


@needs_bwrap
def test_concurrent_first_calls_spawn_it_once(tmp_path):
    """Five calls at once before it runs: one spawn, five answers."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", on_demand=SANDBOXED) as k:
            replies = [None] * 5

            async def one(i):
                replies[i] = await k.call("echo-on-demand", Ping(n=i), timeout=60)

            async with trio.open_nursery() as nursery:
                for i in range(5):
                    nursery.start_soon(one, i)
            spawned = [e for e in await k.log.events(name="neuro.spawned")]
            return [r.n for r in replies], k._on_demand.spawned, len(spawned)

    assert (list(range(5)), 1, 1) == trio.run(main)


def test_a_trusted_spec_is_imported_and_run_in_process():
    """trusted=True imports the class here and runs it in-process, as code you wrote."""

    async def main():
        async with neuro.Kernel(on_demand=TRUSTED) as k:
            reply = await k.call("echo-here", Ping(n=3), timeout=10)
            return reply, k.info("echo-here").sandbox

    assert (Pong(n=3), "inproc") == trio.run(main)


def test_a_name_not_in_the_table_is_still_no_such_neuro():
    """Only the table's names are spawned; any other name is NoSuchNeuro, as without a table."""

    async def main():
        async with neuro.Kernel(on_demand=TRUSTED) as k:
            await k.call("nobody", Ping(n=1), timeout=5)

    with pytest.raises(neuro.NoSuchNeuro, match="no neuro named 'nobody' is running"):
        trio.run(main)


def test_a_stopped_on_demand_neuro_is_spawned_afresh_by_the_next_call():
    """A stopped on-demand neuro leaves the process table, so the next call spawns a fresh one."""

    async def main():
        async with neuro.Kernel(on_demand=TRUSTED) as k:
            await k.call("echo-here", Ping(n=1), timeout=10)
            await k.stop("echo-here")
            again = await k.call("echo-here", Ping(n=2), timeout=10)  # gone from the table: spawned anew
            return again, k._on_demand.spawned

    assert (Pong(n=2), 2) == trio.run(main)


def test_a_spec_that_names_no_class_is_refused_at_once():
    """A target that is not `module:Class` is a ManifestError naming the form."""
    with pytest.raises(neuro.ManifestError, match="an on-demand neuro is named by `module:Class`"):
        OnDemand("neuro.testing")


@needs_bwrap
def test_a_spec_whose_module_is_missing_fails_the_call_with_why():
    """A module that is not installed fails the first call with an error naming the spec."""

    async def main():
        async with neuro.Kernel(on_demand={"ghost": OnDemand("no_such_pkg.mod:Ghost", policy="untrusted")}) as k:
            await k.call("ghost", Ping(n=1), timeout=30)

    with pytest.raises(neuro.NeuroError, match=r"could not start on-demand neuro 'ghost' \(no_such_pkg.mod:Ghost\)"):
        trio.run(main)


def test_the_shim_names_the_class_and_the_codes_hash():
    """The shim subclasses the named class and carries a sha256 of its package's files."""
    text = shim_source("neuro.testing:Echo")["ondemand.py"].decode()
    assert "from neuro.testing import Echo as _Installed" in text
    assert "class Echo(_Installed):" in text
    assert 64 == len(text.split("# code sha256: ")[1].split("\n")[0])


@needs_bwrap
def test_the_named_module_is_never_imported_in_the_kernels_process(tmp_path):
    """In a fresh kernel process, an on-demand sandboxed spawn and call leave the module unimported there."""
    script = textwrap.dedent("""
        import sys, trio, neuro
        from neuro.kernel._ondemand import OnDemand

        async def main():
            async with neuro.Kernel(on_demand={"e": OnDemand("neuro.testing:Echo", policy="untrusted")}) as k:
                reply = await k.call("e", {"n": 4}, timeout=60)  # a dict: the input type is checked, not imported
                print(reply.n, "neuro.testing" in sys.modules)

        trio.run(main)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert ("4 False", 0) == (done.stdout.strip(), done.returncode), done.stderr[-2000:]
