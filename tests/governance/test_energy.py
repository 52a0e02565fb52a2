"""Energy per neuro: accounted per message, labelled measured or estimated, budgets enforced by
their rule, and the log's aggregate one row a minute. In-process neuros: accounting and budgets
hold for every backend."""

from __future__ import annotations

import msgspec
import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel._energy import EnergyAccount, Meter, on_mains
from neuro.kernel._governance import EnergyBudget
from neuro.shell._output import ps_row


class Work(sdk.Message):
    n: int = 2000


class Sum(sdk.Message):
    total: int


class Spin(sdk.Neuro):
    """Does a little arithmetic per message, so its handler takes measurable time."""

    name = "spin"
    input = Work
    output = Sum

    def handle(self, ctx, msg):
        return Sum(total=sum(i * i for i in range(msg.n)))


def budgeted(**budget):
    return {"budgeted": neuro.Policy(name="budgeted", energy=EnergyBudget(**budget))}


async def _events(k, name):
    return [(r.neuro, r.data["budget"], r.data["action"]) for r in await k.log.events(name=name, limit=None)]


def test_ps_shows_each_neuros_energy_and_how_it_was_found(tmp_path):
    """After some work, a neuro's energy is above zero and labelled measured or estimated, in ps and its table."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Spin, policy="default")
            for _ in range(20):
                await k.call("spin", Work())
            return k.info("spin")

    info = trio.run(main)
    row = ps_row(msgspec.to_builtins(info))
    assert (True, True) == (info.energy > 0, info.energy_kind in ("measured", "estimated"))
    assert row["energy"].endswith(" est") or row["energy"].endswith(" meas")


def test_a_per_message_budget_with_reject_refuses_the_next_message_and_logs_the_breach(tmp_path):
    """Over energy.per_message, a `reject` neuro refuses new messages with EnergyExceeded; one event says so."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policies=budgeted(per_message=1e-12)) as k:
            await k.spawn(Spin, policy="budgeted")
            await k.call("spin", Work())  # handled, and over its budget
            with pytest.raises(neuro.EnergyExceeded, match="energy.per_message"):
                await k.call("spin", Work())
            return await _events(k, "energy.budget")

    assert [("spin", "per_message", "reject")] == trio.run(main)


def test_a_budget_with_stop_stops_the_neuro(tmp_path):
    """Over energy.per_message with on_breach = stop, the neuro is stopped."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policies=budgeted(per_message=1e-12, on_breach="stop")) as k:
            await k.spawn(Spin, policy="budgeted")
            await k.call("spin", Work())
            with trio.fail_after(10):
                while "spin" in [p.name for p in k.ps()]:
                    await trio.sleep(0.01)
            return await _events(k, "energy.budget")

    assert [("spin", "per_message", "stop")] == trio.run(main)


class FakeProc:
    def __init__(self, **budget):
        self.name = "p"
        self.policy = neuro.Policy(name="x", energy=EnergyBudget(**budget))
        self.accepting = True


def test_throttle_makes_a_neuro_over_its_hour_wait_and_lets_it_go_when_back_under():
    """Over energy.per_hour with throttle, the neuro waits between messages; under it again, it does not."""
    events = []
    account = EnergyAccount(Meter(watts_per_core=10.0, read=lambda: None), FakeProc(per_hour=1.0, on_breach="throttle"),
                            lambda *a, **kw: events.append((a[0], kw["budget"])), lambda p, r: None)
    account.charge(0.5, 0.0)  # 5 J > 1 J this hour
    waited = account.wait(0.0)  # on the clock the message was charged on
    account.forget_hour()  # an hour later
    account.charge(0.0, 0.0)
    assert (True, 0.0, [("energy.budget", "per_hour")]) == (waited > 0, account.wait(), events)


def test_measured_energy_is_split_over_neuros_by_the_time_their_handlers_ran():
    """With a counter to read, each window's joules go to the neuros by their handler seconds at
    the window's mean draw; the idle rest of the window is nobody's."""
    readings = iter([100.0, 130.0])
    meter = Meter(read=lambda: next(readings))
    a = EnergyAccount(meter, FakeProc(), lambda *a, **k: None, lambda p, r: None)
    b = EnergyAccount(meter, FakeProc(), lambda *a, **k: None, lambda p, r: None)
    a.charge(0.2, meter._sampled)
    b.charge(0.1, meter._sampled + 2.0)  # closes the window: 30 J over 2 s, 0.3 s of it handling
    assert ("measured", 3.0, 1.5, 15.0) == (meter.kind, round(a.used, 6), round(b.used, 6), meter.rate)


def test_handlers_that_overlap_share_all_of_a_windows_joules():
    """More handler seconds than the window has (handlers at once, on several cores): they share it all."""
    readings = iter([0.0, 40.0])
    meter = Meter(read=lambda: next(readings))
    a = EnergyAccount(meter, FakeProc(), lambda *a, **k: None, lambda p, r: None)
    b = EnergyAccount(meter, FakeProc(), lambda *a, **k: None, lambda p, r: None)
    a.charge(1.5, meter._sampled)
    b.charge(0.5, meter._sampled + 1.0)  # a 1 s window with 2 s of handling
    assert (30.0, 10.0) == (round(a.used, 6), round(b.used, 6))


def test_the_log_gets_one_energy_row_per_neuro_per_minute_not_one_per_message():
    """A thousand messages in a minute make one `energy.used` event, with their count and joules."""
    events = []
    account = EnergyAccount(Meter(watts_per_core=1.0, read=lambda: None), FakeProc(),
                            lambda name, *a, **kw: events.append((name, kw["messages"])), lambda p, r: None)
    start = account.bucket_at - 60.0  # the minute's start
    for i in range(1000):
        account.charge(0.001, start + i * 0.05)  # 50 s
    account.charge(0.001, start + 61.0)
    assert [("energy.used", 1000)] == events


def test_mains_power_is_read_from_the_power_supply_folder(tmp_path):
    """An AC adapter offline (on battery) is False, online True, and no supply at all unknown (None)."""
    assert on_mains(str(tmp_path)) is None
    ac = tmp_path / "AC"
    ac.mkdir()
    (ac / "type").write_text("Mains\n")
    (ac / "online").write_text("0\n")
    offline = on_mains(str(tmp_path))
    (ac / "online").write_text("1\n")
    assert (False, True) == (offline, on_mains(str(tmp_path)))
