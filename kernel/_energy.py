"""Energy per neuro: accounted from each message's handling, budgeted by policy.

Each process has an `EnergyAccount`. The router charges it once per message with the seconds
its handler ran (what it already measures for the log), so accounting costs a few additions a
message. Joules come from a `Meter`, one per kernel:

- ``measured`` where the machine lets Neuro read its energy: RAPL's package counters under
  /sys/class/powercap. The machine's joules over each window of about a second are split over
  the neuros by the seconds their handlers ran in it (what the kernel and the idle machine
  draw is nobody's). NVIDIA GPUs are read through NVML (pynvml, imported on first use) by
  `gpu_joules`, for a GPU neuro's budget and bench/governance's GPU part.
- ``estimated`` elsewhere: handler seconds x the watts one busy core draws, by default
  `DEFAULT_WATTS_PER_CORE` (docs/energy.md says where it comes from); where RAPL is readable,
  `calibrate` measures it instead, and NEURO_ENERGY_WATTS_PER_CORE sets it by hand.

Budgets (`policy.energy`) are checked as each message is charged: per message, and over a
rolling hour (sixty one-minute buckets) of its CPU joules and, for a GPU neuro, its GPU
joules. A breach is an `energy.budget` event and its rule: ``reject`` refuses new messages with
EnergyExceeded, ``throttle`` makes the neuro wait after each message for as long as the budget's
rate takes to pay for it, until the hour is back under budget, ``stop`` stops it. Use goes into
the log in aggregate: one `energy.used` event per neuro per minute it worked, never one per
message. A `JobAccount` holds one dream job to its neuro's ``per_dream_job`` budget.
"""

from __future__ import annotations

import glob
import math
import os
import time
from typing import Any, Callable

from neuro._errors import SettingError

__all__ = ["Meter", "EnergyAccount", "JobAccount", "DEFAULT_WATTS_PER_CORE", "watts_per_core_setting", "on_mains",
           "gpu_joules", "rapl_joules", "open_account", "POWER_SUPPLY"]

# One busy server core at full load: a 2020s x86 server CPU's TDP over its cores (for example
# 225 W / 32 cores = 7 W, 150 W / 16 = 9.4 W, 65 W / 8 = 8.1 W): about 8 W.
DEFAULT_WATTS_PER_CORE = 8.0
_WINDOW = 1.0          # seconds between RAPL reads (measured mode)
_BUCKET = 60.0         # seconds per bucket of the rolling hour, and between `energy.used` events
_BUCKETS = 60
_MAINS_EVERY = 2.0     # seconds between power-supply readings while background work is held off mains
_HOUR = _BUCKET * _BUCKETS
POWER_SUPPLY = "/sys/class/power_supply"  # NEURO_POWER_SUPPLY names another folder (a test's fake one)


def rapl_joules() -> float | None:
    """Joules the CPU packages have used (RAPL's counters summed), or None where unreadable."""
    total, found = 0.0, False
    for path in glob.glob("/sys/class/powercap/intel-rapl:[0-9]*/energy_uj"):
        if path.count(":") > 1:  # a sub-domain (core, dram) is inside its package's count
            continue
        try:
            with open(path) as f:
                total += int(f.read()) / 1e6
            found = True
        except (OSError, ValueError):
            return None
    return total if found else None


def gpu_joules(index: int = 0) -> float | None:
    """Joules GPU `index` has used since its driver loaded (NVML), or None without NVML or a GPU."""
    try:
        import pynvml  # nvidia-ml-py; only where the GPU path is used
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        return pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0  # millijoules
    except Exception:  # noqa: BLE001 - no library, no driver, no GPU, or a card without the counter
        return None


def watts_per_core_setting() -> float:
    """NEURO_ENERGY_WATTS_PER_CORE, or the default where it is unset: a finite number of watts > 0."""
    env = os.environ.get("NEURO_ENERGY_WATTS_PER_CORE", "").strip()
    if not env:
        return DEFAULT_WATTS_PER_CORE
    try:
        watts = float(env)
    except ValueError:
        watts = math.nan
    if not (math.isfinite(watts) and watts > 0):
        raise SettingError(f"NEURO_ENERGY_WATTS_PER_CORE must be the watts one busy core draws, a number above 0 "
                           f"(for example {DEFAULT_WATTS_PER_CORE:g}), not {env!r}; unset it for the default")
    return watts


def on_mains(root: str = POWER_SUPPLY) -> bool | None:
    """True on mains power, False on battery, None where /sys/class/power_supply does not say."""
    seen = None
    for folder in glob.glob(os.path.join(glob.escape(root), "*")):
        try:
            with open(os.path.join(folder, "type")) as f:
                kind = f.read().strip()
            if kind not in ("Mains", "USB"):
                continue
            with open(os.path.join(folder, "online")) as f:
                if f.read().strip() == "1":
                    return True
            seen = False
        except (OSError, ValueError):  # unreadable, or not text (NEURO_POWER_SUPPLY may point anywhere)
            continue
    return seen


class Meter:
    """Turns handler seconds into joules, measured (RAPL) or estimated; one per kernel."""

    def __init__(self, watts_per_core: float | None = None, read: Callable[[], float | None] = rapl_joules,
                 credit: str = "measured") -> None:
        self._read = read
        self._credit = credit  # the account field its measured joules go to ("gpu" for an NVML meter)
        self._last = read()
        self.kind = "measured" if self._last is not None else "estimated"
        self.watts = watts_per_core or watts_per_core_setting()
        self._sampled = time.perf_counter()
        self._busy: dict[Any, float] = {}  # handler seconds per account in this window
        self.rate = 0.0  # joules per handler second over the last window it measured (a message's share)
        self.power_supply = os.environ.get("NEURO_POWER_SUPPLY") or POWER_SUPPLY

    def charge(self, account: EnergyAccount, seconds: float, now: float) -> float:
        """Joules for `seconds` of handling now (estimated at once; measured ones are settled
        when the window closes, so a message's own figure is the estimate)."""
        if self.kind == "measured":
            self._busy[account] = self._busy.get(account, 0.0) + seconds
            if now - self._sampled >= _WINDOW:
                self._settle(now)
        return seconds * self.watts

    def _settle(self, now: float) -> None:
        reading = self._read()
        busy, self._busy, span, self._sampled = self._busy, {}, now - self._sampled, now
        if reading is None or self._last is None:
            return
        delta, self._last = max(0.0, reading - self._last), reading
        total = sum(busy.values())
        # Joules per busy second: the window's mean draw while handlers ran. A window only partly
        # busy leaves the rest (the idle machine, the kernel) to nobody; handlers that overlap
        # (more busy seconds than the window has) share all of it.
        per_second = delta / max(total, span) if total else 0.0
        if total:
            self.rate = per_second
        for account, seconds in busy.items():
            setattr(account, self._credit, getattr(account, self._credit) + per_second * seconds)

    def calibrate(self, seconds: float = 0.5) -> float:
        """Watts one busy core draws over idle, from RAPL (spin one core, compare with a rest);
        keeps and returns it. Without RAPL it keeps the default."""
        if self._read() is None:
            return self.watts

        def draw(spin: bool) -> float:
            start, t0 = self._read(), time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                if not spin:
                    time.sleep(0.01)
            end = self._read()
            return (end - start) / (time.perf_counter() - t0) if start is not None and end is not None else 0.0

        idle, busy = draw(False), draw(True)
        if busy > idle > 0:
            self.watts = busy - idle
        return self.watts


class EnergyAccount:
    """One process's joules: in all, this hour, and against its policy's budget.

    Kept in handler seconds, turned into joules when shown: the estimate is linear in them, so
    a message costs a few additions unless the policy has a budget or the meter measures. A GPU
    neuro's NVML joules (`gpu`) are kept beside, in buckets of their own, and count in its
    budgets with the CPU's."""

    __slots__ = ("meter", "proc", "_event", "stop", "seconds", "measured", "messages", "buckets", "bucket_at",
                 "hour_s", "mark_s", "mark_n", "over", "over_at", "pid", "hold", "watched", "policy", "mains_checked",
                 "mains", "held_at", "gpu_meter", "gpu", "gpu_buckets", "gpu_hour", "mark_g", "due")

    def __init__(self, meter: Meter, proc: Any, event: Callable[..., None], stop: Callable[[Any, str], None]) -> None:
        self.meter, self.proc, self._event, self.stop = meter, proc, event, stop
        self.seconds = self.measured = 0.0
        self.messages = 0
        self.buckets = [0.0] * _BUCKETS  # handler seconds per minute of the last hour
        self.bucket_at = time.perf_counter() + _BUCKET  # when the current minute ends
        self.hour_s = 0.0
        self.mark_s, self.mark_n = 0.0, 0  # `seconds` and `messages` when the current minute began
        self.over = ""  # the budget it is over now ("" when none)
        self.over_at = 0.0  # when it went over
        self.due = 0.0  # throttled: when its next message may start (the budget's rate has paid for the last)
        self.pid = getattr(proc, "pid", None)  # a restart (a new pid) clears a breach
        self.hold = False  # the router asks `wait` before each message (over budget, or mains_only)
        self.mains_checked, self.mains = -_MAINS_EVERY, True
        self.held_at: float | None = None  # when mains_only began holding its messages (on battery)
        self.gpu_meter: Meter | None = None  # NVML, for a neuro whose policy grants a GPU, where NVML reads
        self.gpu = 0.0  # joules measured on the GPU (NVML), beside `used`
        self.gpu_buckets = [0.0] * _BUCKETS  # GPU joules per minute of the last hour
        self.gpu_hour = self.mark_g = 0.0  # their sum; `gpu` when the current minute began
        self.policy: Any = None
        self.watched = False
        self._rewatch()

    def _rewatch(self) -> None:
        """Its policy (which can change live): is there anything to check per message?"""
        self.policy = policy = self.proc.policy
        budget = policy.energy
        self.watched = bool(budget.used or self.meter.kind == "measured" or self.gpu_meter is not None)
        self.hold = bool(self.over) or (budget.mains_only and policy.priority == "background")

    @property
    def joules(self) -> float:
        """Joules in all, estimated."""
        return self.seconds * self.meter.watts

    @property
    def used(self) -> float:
        """Joules in all: measured where the meter measures, else estimated."""
        return self.measured if self.meter.kind == "measured" else self.joules

    @property
    def kind(self) -> str:
        """How its budgeted joules were found: the meter's kind, and a GPU neuro's NVML part."""
        return self.meter.kind if self.gpu_meter is None else f"cpu {self.meter.kind}, gpu measured"

    def hour(self) -> float:
        """Joules over the last hour (measured ones scaled by the measured/estimated ratio), the
        GPU's included."""
        joules = (self.hour_s + self.seconds - self.mark_s) * self.meter.watts
        if self.meter.kind == "measured" and self.seconds:
            joules *= self.measured / self.joules
        return joules + self.gpu_hour + self.gpu - self.mark_g

    def charge(self, seconds: float, now: float) -> None:
        """One message's handling took `seconds`: account it and check the budgets."""
        if now >= self.bucket_at:
            self._roll(now)
        self.seconds += seconds
        self.messages += 1
        if self.watched or self.proc.policy is not self.policy:
            self._check(seconds, now)

    def _check(self, seconds: float, now: float) -> None:
        if self.proc.policy is not self.policy:
            self._rewatch()
        self.meter.charge(self, seconds, now)
        j = seconds * self.meter.watts
        if self.gpu_meter is not None:
            self.gpu_meter.charge(self, seconds, now)
            j += seconds * self.gpu_meter.rate  # its share of the GPU's draw in the last window NVML measured
        budget = self.policy.energy
        if budget.per_message and j > budget.per_message:
            self._breach("per_message", budget.per_message, j, now)
        elif budget.per_hour and self.hour() > budget.per_hour:
            self._breach("per_hour", budget.per_hour, self.hour(), now)
        elif self.over:
            self.over = ""  # back under: `reject` and `throttle` let it work again
            self._rewatch()
        if budget.per_hour:  # at the budget's rate, this message is paid for `due`
            self.due = now + j * _HOUR / budget.per_hour

    def _roll(self, now: float) -> None:
        """A minute ended: it goes into the hour, and into the log as one `energy.used` row."""
        minute_s, minute_n = self.seconds - self.mark_s, self.messages - self.mark_n
        steps = 1 + int((now - self.bucket_at) // _BUCKET)  # minutes ended since (a neuro may idle for long)
        self.buckets = _rolled(self.buckets, steps, minute_s)
        self.hour_s = sum(self.buckets)
        if self.gpu_meter is not None:
            self.gpu_buckets = _rolled(self.gpu_buckets, steps, self.gpu - self.mark_g)
            self.gpu_hour, self.mark_g = sum(self.gpu_buckets), self.gpu
        self.bucket_at += steps * _BUCKET
        if minute_n:  # the log's aggregate: one event a minute, not one a message
            self._event("energy.used", self.proc.name, "kernel", joules=minute_s * self.meter.watts,
                        messages=minute_n, kind=self.meter.kind)
        self.mark_s, self.mark_n = self.seconds, self.messages

    def forget_hour(self) -> None:
        """Drop the last hour's use (what an hour without work does)."""
        self.buckets, self.gpu_buckets = [0.0] * _BUCKETS, [0.0] * _BUCKETS
        self.hour_s, self.mark_s = 0.0, self.seconds
        self.gpu_hour, self.mark_g = 0.0, self.gpu

    def _breach(self, which: str, limit: float, used: float, now: float) -> None:
        rule = self.policy.energy.on_breach
        if self.over != which:  # one event per breach, not per message while over
            self._event("energy.budget", self.proc.name, "kernel", budget=which, limit=limit, used=used,
                        kind=self.kind, action=rule)
        self.over, self.over_at, self.hold = which, now, True
        if rule == "stop":
            self.stop(self.proc, f"over its energy budget energy.{which} ({used:.3g} J > {limit:g} J)")

    def _recover(self, now: float | None) -> None:
        """Re-evaluate a breach with no message charged (a refused or waiting neuro is charged
        none): the hour rolls on; a per_message breach lasts one bucket, a per_hour one until
        the hour is back under budget; a restart or a new policy clears it."""
        now = time.perf_counter() if now is None else now
        if now >= self.bucket_at:
            self._roll(now)
        budget = self.proc.policy.energy
        if (self.proc.policy is not self.policy or getattr(self.proc, "pid", None) != self.pid
                or (self.over == "per_message" and now >= self.over_at + _BUCKET)
                or (self.over == "per_hour" and not (budget.per_hour and self.hour() > budget.per_hour))):
            self.over, self.pid = "", getattr(self.proc, "pid", None)
            self._rewatch()

    def refusal(self, now: float | None = None) -> str | None:
        """Why a new message is refused now (`reject` while over budget), or None."""
        if self.over:
            self._recover(now)
        if not self.over or self.proc.policy.energy.on_breach != "reject":
            return None
        return (f"{self.proc.name!r} is over its energy budget `energy.{self.over}` of policy "
                f"{self.proc.policy.name!r} ({self.kind}); retry later or raise the budget")

    def wait(self, now: float | None = None) -> float:
        """Seconds the neuro should wait before its next message, 0 to go on.

        Throttled over its hour's budget: until the budget's rate (per_hour / 3600 J/s) has paid
        for its last message's joules, so while over it works at most at that rate and the
        rolling hour comes back under within the hour (at most a minute a wait, so a recovery
        or a policy change is seen). Background work under `mains_only`: held while the machine
        is on battery, the power supply read again every few seconds."""
        now = time.perf_counter() if now is None else now
        if self.over:
            self._recover(now)
        budget = self.proc.policy.energy
        if self.over == "per_hour" and budget.on_breach == "throttle" and now < self.due:
            return min(self.due - now, _BUCKET)
        if budget.mains_only and self.proc.policy.priority == "background":
            return self._mains_wait(now)
        return 0.0

    def _mains_wait(self, now: float) -> float:
        if now - self.mains_checked >= _MAINS_EVERY:
            self.mains_checked, self.mains = now, on_mains(self.meter.power_supply) is not False  # unknown: it runs
            if not self.mains and self.held_at is None:
                self.held_at = now
                self._event("energy.held", self.proc.name, "kernel", power="battery", every=_MAINS_EVERY)
            elif self.mains and self.held_at is not None:
                self._event("energy.resumed", self.proc.name, "kernel", power="mains", seconds=now - self.held_at)
                self.held_at = None
        return 0.0 if self.mains else _MAINS_EVERY

    def job(self) -> JobAccount | None:
        """The account of one dream job on this neuro, against its `per_dream_job` budget (None without one)."""
        limit = self.proc.policy.energy.per_dream_job
        return JobAccount(self.meter, limit, self.proc.name, self.proc.policy.name) if limit else None

    def info(self) -> dict[str, Any]:
        """Its fields of `ProcessInfo`."""
        return {"energy": self.used, "energy_kind": self.meter.kind, "energy_hour": self.hour(),
                "energy_budget": self.proc.policy.energy.per_hour}


def _rolled(buckets: list[float], steps: int, minute: float) -> list[float]:
    """The hour's buckets `steps` minutes on, with the minute that ended holding `minute`."""
    if steps > _BUCKETS:  # over an hour ago, this minute too: the hour is empty
        return [0.0] * _BUCKETS
    return buckets[steps:] + [minute] + [0.0] * (steps - 1)


class JobAccount:
    """One dream job's joules, against the `per_dream_job` budget of the neuro it dreams of.

    The dream daemon charges it the job's CPU seconds as it goes (its trainer process's and its
    own work's); joules are those seconds x the meter's watts, or measured where the meter
    measures (RAPL's windows split by seconds, as handlers' are, the unsettled part estimated)."""

    __slots__ = ("meter", "limit", "neuro", "policy", "seconds", "measured")

    def __init__(self, meter: Meter, limit: float, neuro: str, policy: str) -> None:
        self.meter, self.limit, self.neuro, self.policy = meter, limit, neuro, policy
        self.seconds = self.measured = 0.0

    def charge(self, seconds: float) -> None:
        self.seconds += seconds
        self.meter.charge(self, seconds, time.perf_counter())

    @property
    def used(self) -> float:
        if self.meter.kind == "measured":
            return self.measured + self.meter._busy.get(self, 0.0) * self.meter.watts
        return self.seconds * self.meter.watts

    def overrun(self) -> str | None:
        """Why the job must stop now (over its budget), or None."""
        used = self.used
        if used <= self.limit:
            return None
        return (f"over the energy budget `energy.per_dream_job` of {self.neuro!r} (policy {self.policy!r}): "
                f"{used:.3g} J > {self.limit:g} J ({self.meter.kind}, {self.seconds:.3g} CPU s); nothing changed; "
                "raise the budget to let its dreams run longer")


def open_account(kernel: Any, proc: Any) -> EnergyAccount | None:
    """The energy account of a new process (None when NEURO_ENERGY=0 turns accounting off).
    A `stop` breach stops the neuro from a task of the kernel's, not from the router's path."""
    if os.environ.get("NEURO_ENERGY", "1") == "0":
        return None
    router = kernel._router
    meter = router.__dict__.get("meter")
    if meter is None:
        meter = router.__dict__["meter"] = Meter()

    def stop(proc: Any, reason: str) -> None:
        if router.nursery is not None and proc.accepting:
            router.nursery.start_soon(_stop_quietly, kernel, proc.name, reason)

    account = EnergyAccount(meter, proc, kernel._event, stop)
    if proc.policy.gpu_memory or proc.policy.placement.gpus:
        if "gpu_meter" not in router.__dict__:  # NVML is imported once, and only for a GPU neuro
            router.__dict__["gpu_meter"] = Meter(read=gpu_joules, credit="gpu") if gpu_joules() is not None else None
        account.gpu_meter = router.__dict__["gpu_meter"]
        account._rewatch()
    return account


async def _stop_quietly(kernel: Any, name: str, reason: str) -> None:
    try:
        await kernel.stop(name, drain=False, reason=reason)
    except Exception:  # noqa: BLE001 - already stopped or gone: nothing is left to stop
        pass
