"""Energy budgets keep the kernel's promises: every accepted message gets an outcome while its
neuro is throttled, a refused event delivery is logged and never raised, a `reject` neuro takes
messages again once back under its budget, and the settings are checked where they are read."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel._energy import EnergyAccount, Meter
from neuro.kernel._governance import EnergyBudget, LabelRules

from test_energy import FakeProc, Spin, Work, budgeted


def _outcomes(path):
    reader = neuro.LogReader(path)
    try:
        return [(r.recipient, r.outcome) for r in reader.messages(limit=None)]
    finally:
        reader.close()


def test_a_throttled_call_cancelled_by_its_caller_still_gets_an_outcome(tmp_path):
    """Throttled over energy.per_hour, a call its caller gives up on (direct path) and a send whose
    neuro is stopped meanwhile (runner path) each end with an outcome in the log."""
    path = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=path, policies=budgeted(per_hour=1e-12, on_breach="throttle")) as k:
            await k.spawn(Spin, policy="budgeted")
            await k.call("spin", Work(n=10))  # handled, and over the hour's budget: throttled
            with trio.move_on_after(0.2):
                await k.call("spin", Work(n=10))
            await k.send("spin", Work(n=10))
            await k.stop("spin", drain=False, timeout=0.01)

    trio.run(main)
    rows = _outcomes(path)
    assert 3 == len(rows)
    assert [] == [row for row in rows if row[1] is None]


class Watcher(sdk.Neuro):
    """Takes kernel events (and is over its energy budget after the first)."""

    name = "watcher"
    input = sdk.KernelEvent
    subscribe = ("kernel.events",)

    def handle(self, ctx, msg):
        sum(i * i for i in range(2000))


def test_an_event_subscriber_over_its_budget_does_not_break_the_kernel(tmp_path):
    """A kernel.events subscriber that `reject`s (over energy.per_message) misses events, logged as
    `message.rejected`; a spawn, whose event it refuses, still works, and so does the kernel."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policies=budgeted(per_message=1e-12)) as k:
            await k.spawn(Watcher, policy="budgeted")
            await k.spawn(Spin, policy="default")  # an event for the watcher: handled, and over budget
            with trio.fail_after(10):
                while not k.info("watcher").energy:
                    await trio.sleep(0.01)
            await k.stop("spin")  # an event the watcher refuses
            await k.spawn(Spin, policy="default")
            await k.publish("anything", {"x": 1})
            reply = await k.call("spin", Work(n=10))
            rejected = [r.data["error"] for r in await k.log.events(name="message.rejected", limit=None)]
            return reply.total, rejected

    total, rejected = trio.run(main)
    assert total == sum(i * i for i in range(10))
    assert "EnergyExceeded" in rejected


def _account(events, **budget):
    proc = FakeProc(**budget)
    proc.pid = 1
    account = EnergyAccount(Meter(watts_per_core=10.0, read=lambda: None), proc,
                            lambda *a, **kw: events.append(a[0]), lambda p, r: None)
    return proc, account


def test_a_reject_breach_of_per_message_expires_after_a_bucket_with_no_message_charged():
    """Over energy.per_message, a `reject` neuro refuses messages; a minute later (one bucket),
    with nothing charged since, it takes them again."""
    events = []
    proc, account = _account(events, per_message=1.0)
    start = account.bucket_at - 60.0
    account.charge(0.5, start)  # 5 J > 1 J
    refused = account.refusal(start + 1.0)
    assert (True, None) == (refused is not None, account.refusal(start + 62.0))
    assert (False, "energy.budget") == (account.hold, events[0])


def test_a_reject_breach_of_per_hour_ends_when_the_hour_rolls_past_it():
    """Over energy.per_hour, refused until the hour's buckets have rolled past the use."""
    _, account = _account([], per_hour=1.0)
    start = account.bucket_at - 60.0
    account.charge(0.5, start)
    assert account.refusal(start + 30 * 60.0) is not None  # half an hour on: still over
    assert account.refusal(start + 62 * 60.0) is None  # the hour has passed


def test_a_restart_or_a_new_policy_clears_a_breach():
    """A new pid (a restart) or a changed policy lets a refusing neuro take messages again."""
    proc, account = _account([], per_message=1.0)
    start = account.bucket_at - 60.0
    account.charge(0.5, start)
    proc.pid = 2
    restarted = account.refusal(start + 1.0)
    account.charge(0.5, start + 2.0)
    proc.policy = neuro.Policy(name="y", energy=EnergyBudget(per_message=100.0))
    assert (None, None) == (restarted, account.refusal(start + 3.0))


def test_a_throttled_neuro_goes_on_once_its_hour_is_back_under_budget():
    """The throttle's wait re-checks the hour itself: no message needs to be charged to lift it."""
    _, account = _account([], per_hour=1.0, on_breach="throttle")
    start = account.bucket_at - 60.0
    account.charge(0.5, start)
    # 5 J at the budget's 1 J/h would be 5 h: it waits a minute at most, then looks again
    assert (60.0, 0.0) == (account.wait(start + 1.0), account.wait(start + 62 * 60.0))


@pytest.mark.parametrize("value", ["abc", "nan", "0", "-3", "inf"])
def test_a_bad_watts_per_core_setting_is_refused_by_name(monkeypatch, value):
    """NEURO_ENERGY_WATTS_PER_CORE must be a finite number of watts above 0."""
    monkeypatch.setenv("NEURO_ENERGY_WATTS_PER_CORE", value)
    with pytest.raises(neuro.SettingError, match="NEURO_ENERGY_WATTS_PER_CORE"):
        Meter(read=lambda: None)


def test_a_good_watts_per_core_setting_is_used(monkeypatch):
    monkeypatch.setenv("NEURO_ENERGY_WATTS_PER_CORE", "12.5")
    assert 12.5 == Meter(read=lambda: None).watts


@pytest.mark.parametrize("rules, field", [
    (dict(clearance="private"), "labels.clearance"),
    (dict(outputs="private"), "labels.outputs"),
    (dict(egress={"network": ("x",)}), "labels.egress"),
    (dict(declassify=("*", "private")), "labels.declassify"),
    (dict(clearance=("private", "*")), "labels.clearance"),
])
def test_label_rules_of_the_wrong_type_are_refused_naming_the_field(rules, field):
    """A string where a tuple of labels goes (then `in` would test substrings), an egress that is
    not an Egress, or "*" beside other labels, is a PolicyError that names the field."""
    with pytest.raises(neuro.PolicyError, match=field.replace(".", r"\.")):
        LabelRules(**rules)


def test_label_rules_given_lists_hold_tuples():
    rules = LabelRules(clearance=["private", "user:alice"])
    assert ("private", "user:alice") == rules.clearance
    assert "priv" not in rules.clearance
