"""The learner registry: installed learners come from entry points, read without importing
them, and the daemon's kernel spawns one by name, sandboxed, on its first call."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
import trio

import neuro
from neuro.neuros.learning.registry import GROUP, LearnerEntry, describe, installed, on_demand_table

EQPROP = "neuro.neuros.learning.eqprop.neuro:EqPropNeuro"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="the process sandbox needs bubblewrap")


def test_eqprop_is_an_installed_learner():
    """pyproject's entry point lists eqprop with its spec, its class's first docstring line and its package."""
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    got = installed()["eqprop"]
    assert (EQPROP, EQPROP) == (declared["eqprop"], got.spec)
    assert ("neuro-runtime", "Trains and serves an energy-based net by equilibrium propagation (no backprop).") == (
        got.distribution, got.description)
    assert ("neuro.neuros.learning.eqprop.neuro", "EqPropNeuro") == (got.module, got.qualname)


def test_the_on_demand_table_runs_each_learner_under_the_learning_policy():
    """The daemon's table maps every installed learner to its spec under `learning`."""
    table = on_demand_table()
    assert {name: (e.spec, "learning") for name, e in installed().items()} == {
        name: (row["target"], row["policy"]) for name, row in table.items()}


def test_reading_the_registry_imports_no_learner():
    """In a fresh process, listing the learners leaves every learner's package (and torch) unimported."""
    script = textwrap.dedent("""
        import sys
        from neuro.neuros.learning.registry import installed
        entries = installed()
        learners = tuple(f"neuro.neuros.learning.{name}" for name in entries)
        print("eqprop" in entries, [m for m in sys.modules if m.startswith(learners) or m == "torch"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ("True []", 0) == (done.stdout.strip(), done.returncode), done.stderr[-2000:]


def test_describe_reads_a_docstring_without_importing_and_says_nothing_for_a_missing_class():
    """describe() of a missing module or class is empty, never an import error."""
    assert ("", "") == (describe("no_such_pkg.mod:Ghost"), describe("neuro.testing:NoSuchClass"))
    assert describe("neuro.testing:Echo").startswith("Answers Pong(n)")


def test_a_learner_entry_is_frozen():
    """A LearnerEntry cannot be changed by whoever lists it."""
    entry = LearnerEntry(name="x", spec="m:C", description="")
    with pytest.raises(Exception):
        entry.name = "y"  # type: ignore[misc]


@needs_bwrap
def test_a_first_call_to_eqprop_spawns_it_sandboxed_and_never_imports_it_in_the_kernel(tmp_path):
    """With the registry's table, a call to `eqprop` spawns it in the process sandbox under `learning`
    and answers, while the kernel's process never imports the learner (nor torch)."""
    script = textwrap.dedent(f"""
        import sys, trio, neuro
        from neuro.neuros.learning.registry import on_demand_table

        async def main():
            async with neuro.Kernel(log={str(tmp_path / "run.db")!r}, on_demand=on_demand_table()) as k:
                before = [p.name for p in k.ps()]
                reply = await k.call("eqprop", {{"type": "status"}}, timeout=120)
                row = k.info("eqprop")
                leaked = [m for m in sys.modules if m.startswith("neuro.neuros.learning.eqprop") or m == "torch"]
                print(before, type(reply).__name__, row.sandbox, row.policy, leaked)

        trio.run(main)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert 0 == done.returncode, done.stderr[-3000:]
    before, reply_type, sandbox, policy, leaked = done.stdout.strip().split(" ", 4)
    assert ("[]", "process", "learning", "[]") == (before, sandbox, policy, leaked)
    assert reply_type in ("JobStatus", "JobList")


@needs_bwrap
def test_the_daemon_spawns_eqprop_on_its_first_call():
    """A real daemon: a call to `eqprop` (not running) spawns it from the registry and answers."""
    import shutil as sh
    import tempfile

    from neuro.client import blocking, run_blocking
    from neuro.shell import daemon as d

    home = tempfile.mkdtemp(prefix="nl", dir="/tmp")  # short: a socket path has ~100 bytes
    st = d.State(home)
    d.start(st, wait=60)
    try:
        client = blocking(str(st.socket), timeout=180)
        run_blocking(client.__aenter__())
        try:
            before = [_get(row, "name") for row in run_blocking(client.ps())]
            reply = run_blocking(client.call("eqprop", {"type": "status"}, timeout=180))
            after = {_get(row, "name"): (_get(row, "sandbox"), _get(row, "policy")) for row in run_blocking(client.ps())}
        finally:
            run_blocking(client.__aexit__(None, None, None))
    finally:
        d.stop(st, grace=10)
        sh.rmtree(home, ignore_errors=True)
    assert "eqprop" not in before
    assert ("process", "learning") == after["eqprop"]
    assert reply is not None


def _get(row, key):
    """A process-table row's field, whether the client gives rows as structs or as dicts."""
    return row[key] if isinstance(row, dict) else getattr(row, key)
