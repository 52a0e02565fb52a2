"""Energy budgets, further: a GPU neuro's NVML joules count in its budgets, the throttle's wait is
what the budget's rate takes to pay for the last message, and `mains_only` holds background work
for as long as the machine is on battery. NVML and the power supply are faked (`read=`, and
NEURO_POWER_SUPPLY naming a folder laid out like /sys/class/power_supply); the kernel is real."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro.kernel import _energy
from neuro.kernel._energy import EnergyAccount, Meter
from neuro.kernel._governance import EnergyBudget

from test_energy import FakeProc, Spin, Work


class FakeNVML:
    """A GPU's energy counter that goes up `step` joules each time it is read."""

    def __init__(self, step: float) -> None:
        self.step, self.total, self.reads = step, 1000.0, 0

    def __call__(self) -> float:
        self.total += self.step
        self.reads += 1
        return self.total


def gpu_account(events, step=100.0, **budget):
    """An account with a CPU that draws next to nothing and a fake NVML meter."""
    account = EnergyAccount(Meter(watts_per_core=1e-6, read=lambda: None), FakeProc(**budget),
                            lambda name, *a, **kw: events.append((name, kw.get("budget"), kw.get("action"))),
                            lambda p, r: None)
    account.gpu_meter = Meter(read=FakeNVML(step), credit="gpu")
    account._rewatch()
    return account


def test_a_gpu_neuro_breaches_its_hour_through_gpu_joules_alone_and_is_rejected():
    """100 NVML joules in a window it was busy for, 1e-6 CPU joules: over per_hour = 50, refused, and back
    once the hour rolls past."""
    events: list = []
    account = gpu_account(events, per_hour=50.0, on_breach="reject")
    start = account.gpu_meter._sampled
    account.charge(0.5, start + 0.5)  # in the window
    before = account.refusal(start + 0.5)
    account.charge(0.5, start + 1.0)  # closes it: the card used 100 J, all while this neuro worked
    refused = account.refusal(start + 2.5)
    assert (None, 100.0) == (before, round(account.gpu, 6))
    assert refused is not None and "energy.per_hour" in refused
    assert [("energy.budget", "per_hour", "reject")] == events
    assert account.refusal(start + 62 * 60.0) is None  # an hour on, its GPU minutes have rolled out


def test_a_gpu_neuros_message_is_charged_its_share_of_the_gpus_draw():
    """Once NVML has measured a window, a message's joules include its seconds at the GPU's draw while
    handlers ran (per_message); a window only half busy draws half of it from the neuro."""
    events: list = []
    account = gpu_account(events, per_message=50.0)
    start = account.gpu_meter._sampled
    account.charge(1.0, start + 1.0)  # 100 J in a 1 s window busy throughout: 100 W while it works
    assert (100.0, 100.0) == (pytest.approx(account.gpu_meter.rate), pytest.approx(account.gpu))
    assert [("energy.budget", "per_message", "reject")] == events
    half = gpu_account([], per_message=1e9)
    half.charge(0.5, half.gpu_meter._sampled + 1.0)  # busy half of a 1 s window of 100 J
    assert 50.0 == pytest.approx(half.gpu)


def test_a_gpu_neuro_in_a_kernel_is_refused_once_nvml_says_it_is_over_its_hour(monkeypatch):
    """A GPU neuro in a real kernel, NVML faked: its hour fills with GPU joules; the next call gets EnergyExceeded."""
    monkeypatch.setenv("NEURO_ENERGY_WATTS_PER_CORE", "1e-6")  # the CPU's share is negligible
    policy = neuro.Policy(name="gpu", gpu_memory=0.5, energy=EnergyBudget(per_hour=50.0, on_breach="reject"))

    async def main():
        async with neuro.Kernel(policies={"gpu": policy}) as k:
            nvml = FakeNVML(1e9)  # a gigajoule a window: its share is over 50 J whatever its seconds
            meter = k._router.__dict__["gpu_meter"] = Meter(read=nvml, credit="gpu")
            await k.spawn(Spin, policy="gpu")
            meter._sampled -= 1.0  # the first message closes NVML's window
            await k.call("spin", Work(n=10))
            with pytest.raises(neuro.EnergyExceeded, match="energy.per_hour"):
                await k.call("spin", Work(n=10))
            info = k.info("spin")
            return info.energy_hour, k._router.procs["spin"].energy.gpu

    hour, gpu = trio.run(main)
    assert 50.0 < gpu < 1e9
    assert hour > 50.0


def test_the_throttle_waits_as_long_as_the_budgets_rate_takes_to_pay_for_the_last_message():
    """Over per_hour = 3600 J (1 J/s), a 2 J message is followed by a 2 s wait (less what has passed); at 2 J/s, 1 s."""
    waits = []
    for per_hour in (3600.0, 7200.0):
        account = EnergyAccount(Meter(watts_per_core=10.0, read=lambda: None),
                                FakeProc(per_hour=per_hour, on_breach="throttle"), lambda *a, **kw: None,
                                lambda p, r: None)
        start = account.bucket_at - 60.0
        account.charge(per_hour / 10.0 + 1.0, start)  # over the hour's budget
        account.charge(0.2, start + 1.0)  # 2 J
        waits.append((account.wait(start + 1.0), account.wait(start + 1.5), account.wait(start + 4.0)))
    assert [(2.0, 1.5, 0.0), (1.0, 0.5, 0.0)] == [tuple(round(w, 9) for w in ws) for ws in waits]


def test_a_long_throttle_wait_is_cut_to_a_minute_so_a_recovery_is_seen():
    """A message worth hours at the budget's rate waits a minute at a time, and none once the hour is back under."""
    account = EnergyAccount(Meter(watts_per_core=10.0, read=lambda: None),
                            FakeProc(per_hour=1.0, on_breach="throttle"), lambda *a, **kw: None, lambda p, r: None)
    start = account.bucket_at - 60.0
    account.charge(1.0, start)  # 10 J: ten hours at 1 J/h
    assert (60.0, 0.0) == (account.wait(start + 1.0), account.wait(start + 62 * 60.0))


def power_supply(folder, online: bool) -> None:
    ac = folder / "AC"
    ac.mkdir(exist_ok=True)
    (ac / "type").write_text("Mains\n")
    (ac / "online").write_text("1\n" if online else "0\n")


def test_mains_only_holds_a_background_neuros_messages_while_on_battery_and_resumes_on_mains(tmp_path, monkeypatch):
    """On battery, a queued message waits (an `energy.held` event) however often the supply is read; on mains
    again it is handled (an `energy.resumed` event)."""
    supply = tmp_path / "power_supply"
    supply.mkdir()
    power_supply(supply, online=False)
    monkeypatch.setenv("NEURO_POWER_SUPPLY", str(supply))
    monkeypatch.setattr(_energy, "_MAINS_EVERY", 0.02)  # re-read the supply often, for the test
    policy = neuro.Policy(name="bg", priority="background", energy=EnergyBudget(mains_only=True))

    async def logged(k, name):
        return [e.data for e in await k.log.events(name=name, limit=None)]

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policies={"bg": policy}) as k:
            await k.spawn(Spin, policy="bg")
            await k.send("spin", Work(n=10))
            with trio.fail_after(20):
                while not await logged(k, "energy.held"):
                    await trio.sleep(0.02)
                account = k._router.procs["spin"].energy
                checked = account.mains_checked
                while account.mains_checked < checked + 0.1:  # read again, still on battery
                    await trio.sleep(0.02)
            held = k.info("spin").handled
            power_supply(supply, online=True)
            with trio.fail_after(20):
                while k.info("spin").handled < 1:
                    await trio.sleep(0.02)
            return held, await logged(k, "energy.held"), await logged(k, "energy.resumed")

    held, holds, resumes = trio.run(main)
    assert (0, ["battery"], ["mains"]) == (held, [d["power"] for d in holds], [d["power"] for d in resumes])
    assert resumes[0]["seconds"] > 0
