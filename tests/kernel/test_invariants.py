"""The kernel's invariants under random scripts, checked against the real SQLite log.

A Hypothesis state machine writes a script: sends, calls (some with short timeouts), handler
crashes, restarts, stops and respawns, invalid payloads and floods of full mailboxes under
every overflow rule. Its teardown runs the script in one `trio.run` on a fake clock, shuts the
kernel down (draining or not), and then reads the log file back with `neuro.LogReader`:

1. every accepted message (each id a send returned, and each id in the log) has exactly one
   outcome, and a dead letter or error always says why;
2. no handler ever saw a payload that fails its input type, and none was accepted;
3. the kernel's own counters agree with the log.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import trio
import trio.testing
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

import neuro
from neuro import Child, Policy, SupervisorSpec
from neuro.testing import Echo, Ping

from .neuros_for_tests import Probe, SyncProbe

POLICIES = {
    "inv-block": Policy(name="inv-block", mailbox_size=2, overflow="block"),
    "inv-reject": Policy(name="inv-reject", mailbox_size=2, overflow="reject"),
    "inv-oldest": Policy(name="inv-oldest", mailbox_size=2, overflow="drop_oldest"),
    "inv-newest": Policy(name="inv-newest", mailbox_size=2, overflow="drop_newest", on_crash="dead_letter"),
    "inv-dead": Policy(name="inv-dead", mailbox_size=4, overflow="block", on_crash="dead_letter",
                       concurrency=2, max_message_bytes=64),
}
# Neuros spawned at the root: name -> (policy, restart kind). These may be stopped and respawned.
ROOT_PROBES = {
    "p-block": ("inv-block", "permanent"),
    "p-reject": ("inv-reject", "permanent"),
    "p-oldest": ("inv-oldest", "permanent"),
    "p-newest": ("inv-newest", "transient"),
    "p-dead": ("inv-dead", "permanent"),
    "p-temp": ("inv-block", "temporary"),
    # Plain-function handlers: idle, they serve a call in the caller's task.
    "s-block": ("inv-block", "permanent"),
    "s-dead": ("inv-dead", "permanent"),
}
PROBE_CLASS = {name: SyncProbe if name.startswith("s-") else Probe for name in ROOT_PROBES}
# Two probes under a one_for_all supervisor that gives up after 2 restarts and escalates.
TEAM = SupervisorSpec(
    name="team", strategy="one_for_all", max_restarts=2, period=5.0,
    children=[Child(Probe, name="t-a", policy="inv-block"), Child(Probe, name="t-b", policy="inv-oldest")],
)
TARGETS = sorted(ROOT_PROBES) + ["t-a", "t-b", "nobody"]

# n < 0 crashes the probe; 500..505 forwards to `sink`; 1000..1100 sleeps 0-100 ms.
numbers = st.one_of(st.integers(0, 9), st.just(-1), st.integers(500, 505), st.integers(1000, 1100))
INVALID = [{"n": "x"}, {"n": 1, "extra": 2}, {"m": 1}, "text", [1, 2], {"n": 1.5}, {"n": 1, "pad": "x" * 100}]
REFUSED = (neuro.InvalidPayload, neuro.MessageTooLarge, neuro.NoSuchNeuro)
# What a client may legitimately get back while the script runs.
EXPECTED_ERRORS = (neuro.NeuroError, trio.WouldBlock)


class KernelScript(RuleBasedStateMachine):
    """Each rule appends one step; teardown runs the whole script and checks the log."""

    def __init__(self):
        super().__init__()
        self.steps: list[tuple] = []
        self.drain = True

    @initialize(drain=st.booleans())
    def shutdown_mode(self, drain):
        self.drain = drain

    @rule(to=st.sampled_from(TARGETS), n=numbers, timeout=st.sampled_from([None, 0.0, 0.01]))
    def send(self, to, n, timeout):
        self.steps.append(("send", to, n, timeout))

    @rule(to=st.sampled_from(TARGETS), n=numbers, timeout=st.sampled_from([None, 0.0, 0.005, 0.05, 1.0]))
    def call(self, to, n, timeout):
        self.steps.append(("call", to, n, timeout))

    @rule(to=st.sampled_from(TARGETS), count=st.integers(1, 8), n=numbers)
    def flood(self, to, count, n):
        self.steps.append(("flood", to, count, n))

    @rule(to=st.sampled_from(TARGETS), payload=st.sampled_from(INVALID), as_call=st.booleans())
    def invalid(self, to, payload, as_call):
        self.steps.append(("invalid", to, payload, as_call))

    @rule(to=st.sampled_from(TARGETS))
    def restart(self, to):
        self.steps.append(("restart", to))

    @rule(to=st.sampled_from(sorted(ROOT_PROBES)), drain=st.booleans())
    def stop_and_respawn(self, to, drain):
        self.steps.append(("stop", to, drain))

    @rule(ms=st.sampled_from([0, 1, 10, 100]))
    def wait(self, ms):
        self.steps.append(("wait", ms))

    def teardown(self):
        folder = Path(tempfile.mkdtemp(prefix="neuro-invariants-"))
        try:
            check_script(self.steps, self.drain, folder / "run.db")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class Run:
    """What running a script observed."""

    def __init__(self):
        self.sent_ids: list[int] = []
        self.problems: list[str] = []
        self.statistics = None


async def run_script(steps, drain, path) -> Run:
    seen = Run()
    Probe.seen = []
    async with neuro.Kernel(log=path, policies=POLICIES) as k:
        await k.spawn(Echo, name="sink")
        for name, (policy, restart) in ROOT_PROBES.items():
            await k.spawn(PROBE_CLASS[name], name=name, policy=policy, restart=restart)
        await k.supervise(TEAM)
        outstanding = [0]
        all_done = trio.Event()

        async def call(to, payload, timeout):
            try:
                await k.call(to, payload, timeout=timeout)
            except EXPECTED_ERRORS:
                pass
            finally:
                outstanding[0] -= 1
                if outstanding[0] == 0:
                    all_done.set()

        async def step(kind, *args):
            if kind == "send":
                to, n, timeout = args
                seen.sent_ids.append(await k.send(to, Ping(n=n), timeout=timeout))
            elif kind == "call":
                to, n, timeout = args
                outstanding[0] += 1
                background.start_soon(call, to, Ping(n=n), timeout)
            elif kind == "flood":
                to, count, n = args
                for _ in range(count):
                    seen.sent_ids.append(k.send_nowait(to, Ping(n=n)))
            elif kind == "invalid":
                to, payload, as_call = args
                try:
                    if as_call:
                        await k.call(to, payload, timeout=1.0)
                    else:
                        await k.send(to, payload, timeout=1.0)
                except REFUSED:
                    return
                seen.problems.append(f"invalid payload {payload!r} to {to} was accepted")
            elif kind == "restart":
                await k.restart(args[0])
            elif kind == "stop":
                to, drain_it = args
                try:
                    await k.stop(to, drain=drain_it, timeout=0.05)
                finally:
                    policy, restart = ROOT_PROBES[to]
                    await k.spawn(PROBE_CLASS[to], name=to, policy=policy, restart=restart)
            elif kind == "wait":
                await trio.sleep(args[0] / 1000)

        async with trio.open_nursery() as background:
            for kind, *args in steps:
                with trio.move_on_after(600) as guard:  # fake time: only a real hang gets here
                    try:
                        await step(kind, *args)
                    except EXPECTED_ERRORS:
                        pass
                if guard.cancelled_caught:
                    seen.problems.append(f"step {(kind, *args)} never finished")
            await k.shutdown(drain=drain)
            if outstanding[0]:
                with trio.move_on_after(600):
                    await all_done.wait()
                if outstanding[0]:
                    seen.problems.append(f"{outstanding[0]} calls never returned after shutdown")
                    background.cancel_scope.cancel()
        seen.statistics = k.statistics()
    return seen


def check_script(steps, drain, path):
    seen = trio.run(run_script, steps, drain, path, clock=trio.testing.MockClock(autojump_threshold=0))
    reader = neuro.LogReader(path)
    try:
        per_message = reader.outcomes_per_message()
        rows = reader.messages(limit=None)
    finally:
        reader.close()
    script = f"script {steps!r}, shutdown drain={drain}"

    assert [] == seen.problems, script
    # 1. exactly one outcome per accepted message, and every id a send returned was logged
    assert {} == {mid: n for mid, n in per_message.items() if n != 1}, script
    assert set() == set(seen.sent_ids) - set(per_message), script
    assert [] == [r.id for r in rows if r.outcome in ("dead", "error") and not r.reason], script
    # 2. no handler saw, and the log never holds, a payload that fails the input type
    assert [] == [m for m in Probe.seen if not (type(m) is Ping and type(m.n) is int)], script
    assert [] == [r.payload for r in rows if not (set(r.payload) == {"n"} and type(r.payload["n"]) is int)], script
    # 3. the kernel's counters agree with the log
    stats = seen.statistics
    assert len(per_message) == stats.accepted, script
    assert stats.accepted == stats.handled + stats.errors + stats.dead_letters, script
    assert {"handled": stats.handled, "error": stats.errors, "dead": stats.dead_letters} == {
        kind: sum(1 for r in rows if r.outcome == kind) for kind in ("handled", "error", "dead")}, script


KernelScript.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestKernelInvariants = KernelScript.TestCase


def test_every_accepted_message_has_one_outcome_under_a_fixed_busy_script(tmp_path):
    """A hand-written script mixing every kind of step keeps the invariants (a quick smoke check)."""
    steps = [
        ("flood", "p-oldest", 5, 1050), ("flood", "p-newest", 5, 1050), ("flood", "p-reject", 5, 1050),
        ("call", "p-block", 1100, 0.005), ("send", "p-block", 1, None), ("send", "p-block", 2, None),
        ("send", "p-block", 3, 0.01), ("call", "p-dead", -1, 1.0), ("flood", "p-dead", 3, 502),
        ("call", "t-a", -1, None), ("invalid", "p-dead", {"n": "x"}, True), ("restart", "t-b"),
        ("stop", "p-oldest", False), ("call", "p-temp", -1, None), ("flood", "p-temp", 3, 1),
        ("wait", 10), ("send", "p-newest", -1, None), ("call", "p-newest", 1, None),
        ("call", "s-block", 1, None), ("flood", "s-block", 3, 2), ("call", "s-block", 3, 0.0),
        ("call", "s-dead", -1, None), ("call", "s-dead", 4, None), ("stop", "s-dead", True),
    ]
    check_script(steps, False, tmp_path / "run.db")
