"""Supervision against a reference model of OTP's supervisor.

A Hypothesis state machine draws a tree (a supervisor `team` under the root, with workers of
every restart kind and perhaps a nested supervisor `sub`, plus a neuro or two spawned at the
root), then steps: crash a running neuro (then perhaps another), call one, let fake time
pass, or spawn again a root child that is gone or failed. Each rule steps `OTPModel`, a small
pure-Python copy of erlang/otp's `supervisor.erl` (one_for_one, one_for_all, rest_for_one;
permanent, transient, temporary; intensity and period), and records what the model expects.
The teardown runs the steps on a real kernel in one `trio.run` on a fake clock and compares,
after every step, the process table (each neuro's state and restart count), every
supervisor's state, restart count and children, the `supervisor.escalated` and
`supervisor.gave_up` events and the clock with the model's.

The root is Neuro's, not OTP's: it keeps the limit per child (3 restarts in 5 s) and never
fails upward; a child it gives up on stays in the table, failed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Union

import trio
import trio.testing
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

import neuro
from neuro import Child, SupervisorSpec
from neuro.testing import Crashy, Ping


KINDS = ("permanent", "transient", "temporary")
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
WAITS = (0.5, 1.0, 2.0, 5.0)  # exact in binary, so the model's clock and trio's agree to the bit
PERIODS = (1.0, 2.0, 5.0)  # waits land on a period's edge (a restart exactly `period` ago still counts)


# -- what the machine draws --------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    restart: str


@dataclass(frozen=True)
class SupSpec:
    name: str
    strategy: str
    max_restarts: int
    period: float
    restart: str
    children: tuple[Union[WorkerSpec, "SupSpec"], ...]


ROOT = SupSpec("root", "one_for_one", 3, 5.0, "permanent", ())  # Neuro's root: see the module docstring


def to_kernel(spec: SupSpec) -> SupervisorSpec:
    children = [to_kernel(c) if isinstance(c, SupSpec) else Child(Crashy, name=c.name, restart=c.restart)
                for c in spec.children]
    return SupervisorSpec(name=spec.name, children=children, strategy=spec.strategy,
                          max_restarts=spec.max_restarts, period=spec.period, restart=spec.restart)


# -- the model ---------------------------------------------------------------------------


@dataclass(eq=False)
class Worker:
    spec: WorkerSpec
    parent: Sup
    restarts: int = 0
    state: str = "running"

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class Sup:
    spec: SupSpec
    parent: Sup | None
    children: list[Worker | Sup] = field(default_factory=list)
    times: dict[str | None, list[float]] = field(default_factory=dict)  # restart times
    restart_count: int = 0
    state: str = "running"

    @property
    def name(self) -> str:
        return self.spec.name


class OTPModel:
    """OTP's supervisor for the trees the machine draws, with Neuro's root on top."""

    def __init__(self) -> None:
        self.now = 0.0
        self.workers: dict[str, Worker] = {}  # the process table
        self.sups: dict[str, Sup] = {}
        self.events: Counter[tuple[str, str]] = Counter()
        self.root = self.start(ROOT, None)

    def start(self, spec: WorkerSpec | SupSpec, parent: Sup | None) -> Worker | Sup:
        """A fresh child: a worker, or a supervisor that starts its children left to right."""
        if isinstance(spec, WorkerSpec):
            assert parent is not None
            worker = self.workers[spec.name] = Worker(spec, parent)
            return worker
        sup = self.sups[spec.name] = Sup(spec, parent)
        sup.children = [self.start(c, sup) for c in spec.children]
        return sup

    def crash(self, name: str) -> None:
        worker = self.workers[name]
        self.exited(worker.parent, worker, crashed=True)

    def respawn(self, spec: WorkerSpec | SupSpec) -> None:
        """Start a root child again that is gone, or failed (Neuro's `spawn` and `supervise`,
        OTP's start_child): a fresh child at the end of the root's list, with a clean history."""
        root = self.root
        root.children = [c for c in root.children if c.name != spec.name]
        root.children.append(self.start(spec, root))
        root.times.pop(spec.name, None)

    def exited(self, sup: Sup, child: Worker | Sup, crashed: bool) -> None:
        """supervisor.erl's restart_child/do_restart: a child ended, abnormally or not."""
        if sup.state != "running" or not any(c is child for c in sup.children):
            return
        kind = child.spec.restart
        if kind == "temporary" or (kind == "transient" and not crashed):
            self.remove(sup, child)
            return
        if not self.add_restart(sup, child):
            self.give_up(sup, child)
            return
        sup.restart_count += 1
        index = next(i for i, c in enumerate(sup.children) if c is child)
        affected = {"one_for_one": [child], "one_for_all": list(sup.children),
                    "rest_for_one": sup.children[index:]}[sup.spec.strategy]
        restarting = []
        for member in affected:  # terminate_children: a temporary one is removed, not restarted
            if member is not child and member.spec.restart == "temporary":
                self.remove(sup, member)
            else:
                restarting.append(member)
        for member in restarting:
            self.restart(sup, member)

    def add_restart(self, sup: Sup, child: Worker | Sup) -> bool:
        """Record a restart now; False when more than max_restarts fall within period."""
        key = child.name if sup.parent is None else None  # the root counts per child
        times = [t for t in [*sup.times.get(key, []), self.now] if self.now - t <= sup.spec.period]
        sup.times[key] = times
        return len(times) <= sup.spec.max_restarts

    def give_up(self, sup: Sup, child: Worker | Sup) -> None:
        if sup.parent is None:
            self.events["gave_up", child.name] += 1
            self.fail(child)
            return
        self.events["escalated", sup.name] += 1
        for member in sup.children:
            self.fail(member)
        sup.state = "failed"
        self.exited(sup.parent, sup, crashed=False)  # a supervisor that gives up exits with `shutdown`

    def fail(self, member: Worker | Sup) -> None:
        member.state = "failed"
        if isinstance(member, Sup):
            for child in member.children:
                self.fail(child)

    def remove(self, sup: Sup, member: Worker | Sup) -> None:
        sup.children = [c for c in sup.children if c is not member]
        self.forget(member)

    def forget(self, member: Worker | Sup) -> None:
        if isinstance(member, Worker):
            del self.workers[member.name]
            return
        del self.sups[member.name]
        for child in member.children:
            self.forget(child)

    def restart(self, sup: Sup, member: Worker | Sup) -> None:
        if isinstance(member, Worker):
            member.restarts += 1
            member.state = "running"
            return
        fresh = self.start(member.spec, sup)  # a supervisor starts again from its spec
        sup.children = [fresh if c is member else c for c in sup.children]

    def running(self) -> list[str]:
        return sorted(name for name, w in self.workers.items() if w.state == "running")

    def observe(self) -> dict:
        return {
            "table": {name: (w.state, w.restarts) for name, w in self.workers.items()},
            "supervisors": {name: (s.state, s.restart_count, [c.name for c in s.children])
                            for name, s in self.sups.items()},
            "events": dict(self.events),
            "time": self.now,
        }


# -- the kernel ---------------------------------------------------------------------------


async def observe(k, events, seen: Counter) -> dict:
    while True:
        try:
            _, _, event = events.receive_nowait()
        except trio.WouldBlock:
            break
        if event.name == "supervisor.escalated":
            seen["escalated", event.actor] += 1
        elif event.name == "supervisor.gave_up":
            seen["gave_up", event.neuro] += 1
    return {
        "table": {p.name: (p.state, p.restarts) for p in k.ps()},
        "supervisors": {s.name: (s.state, s.restarts, s.children) for s in k.supervisors()},
        "events": dict(seen),
        "time": trio.current_time(),
    }


async def run_steps(team: SupSpec, at_root: list[WorkerSpec], started: dict, steps: list,
                    expected: list) -> str | None:
    """Start the tree and run the steps on a kernel; the first divergence from the model, or None."""
    async with neuro.Kernel() as k, k.subscribe("kernel.events", buffer=math.inf) as events:
        seen: Counter[tuple[str, str]] = Counter()
        await k.supervise(to_kernel(team))
        for worker in at_root:
            await k.spawn(Crashy, name=worker.name, restart=worker.restart)
        got = await observe(k, events, seen)
        if got != started:
            return f"after the start: model {started}, kernel {got}"
        for i, (step, want) in enumerate(zip(steps, expected)):
            kind, arg = step
            if kind == "crash":
                try:
                    await k.call(arg, Ping(n=-1))
                except neuro.RemoteError:
                    pass
                await trio.testing.wait_all_tasks_blocked()
            elif kind == "call":
                await k.call(arg, Ping(n=1))
            elif kind == "wait":
                await trio.sleep(arg)
            elif isinstance(arg, SupSpec):  # respawn the team
                await k.supervise(to_kernel(arg))
            else:  # respawn a neuro at the root
                await k.spawn(Crashy, name=arg.name, restart=arg.restart)
            got = await observe(k, events, seen)
            if got != want:
                return f"after step {i} {step}: model {want}, kernel {got}"
    return None


class SupervisionModel(RuleBasedStateMachine):
    """Draws a tree and steps; the teardown runs them on a kernel and compares each step."""

    def __init__(self) -> None:
        super().__init__()
        self.model = OTPModel()
        self.steps: list = []
        self.expected: list = []

    @initialize(data=st.data())
    def tree(self, data):
        def workers(prefix: str, n: int) -> list[WorkerSpec]:
            return [WorkerSpec(f"{prefix}{i}", data.draw(st.sampled_from(KINDS))) for i in range(n)]

        def sup(name: str, children: list) -> SupSpec:
            return SupSpec(name, data.draw(st.sampled_from(STRATEGIES)), data.draw(st.integers(0, 3)),
                           data.draw(st.sampled_from(PERIODS)), data.draw(st.sampled_from(KINDS)), tuple(children))

        children: list = workers("w", data.draw(st.integers(1, 4)))
        if data.draw(st.booleans()):
            sub = sup("sub", workers("s", data.draw(st.integers(1, 3))))
            children.insert(data.draw(st.integers(0, len(children))), sub)
        self.team = sup("team", children)
        self.at_root = workers("r", data.draw(st.integers(1, 2)))
        model = self.model
        model.root.children.append(model.start(self.team, model.root))
        for worker in self.at_root:
            model.root.children.append(model.start(worker, model.root))
        self.started = model.observe()

    def step(self, kind: str, arg) -> None:
        self.steps.append((kind, arg))
        self.expected.append(self.model.observe())

    @precondition(lambda self: self.model.running())
    @rule(pick=st.integers(0, 15), then=st.sampled_from(["crash", "wait", "call"]))
    def crash(self, pick, then):
        """Crash a running neuro; then crash another, let time pass or call one (a call
        leaves a parked runner behind, which a strategy's stop must wake)."""
        running = self.model.running()
        name = running[pick % len(running)]
        self.model.crash(name)
        self.step("crash", name)
        running = self.model.running()
        if then == "wait":
            self.wait(WAITS[pick % len(WAITS)])
        elif running:
            name = running[(pick + 1) % len(running)]
            if then == "crash":
                self.model.crash(name)
            self.step(then, name)

    def respawnable(self) -> list[WorkerSpec | SupSpec]:
        """Root children that are gone, or failed neuros (a failed supervisor stays, as Neuro
        keeps it to look at; `supervise` refuses its name)."""
        model = self.model
        team = [self.team] if self.team.name not in model.sups else []
        return team + [w for w in self.at_root if w.name not in model.workers or model.workers[w.name].state == "failed"]

    @precondition(lambda self: self.respawnable())
    @rule(pick=st.integers(0, 3))
    def respawn(self, pick):
        options = self.respawnable()
        spec = options[pick % len(options)]
        self.model.respawn(spec)
        self.step("respawn", spec)

    @rule(seconds=st.sampled_from(WAITS))
    def wait(self, seconds):
        self.model.now += seconds
        self.step("wait", seconds)

    def teardown(self):
        divergence = trio.run(run_steps, self.team, self.at_root, self.started, self.steps, self.expected,
                              clock=trio.testing.MockClock(autojump_threshold=0))
        assert None is divergence, f"{divergence}\ntree {self.team!r}\nat the root {self.at_root!r}"


SupervisionModel.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None, database=None,  # 300: the suite keeps under 15 min
    suppress_health_check=[HealthCheck.too_slow],
)
TestSupervisionModel = SupervisionModel.TestCase
