"""Supervisors: OTP's contract, copied exactly.

Strategies one_for_one, one_for_all and rest_for_one; at most `max_restarts` restarts in
`period` seconds, after which the supervisor stops its children (in reverse start order)
and fails upward to its parent. Children start left to right and stop in reverse.
Restart kinds: permanent (always restarted), transient (only after a crash), temporary
(never). The root supervisor, which holds everything spawned with `Kernel.spawn`, keeps the
limit per child and never fails upward: a child it gives up on is marked failed, and the
kernel and every other neuro keep serving.
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import Any, Literal, Protocol, Union

import msgspec
import trio

from neuro._errors import NeuroError

from ._process import Process

__all__ = ["Child", "SupervisorSpec", "Supervisor", "SupervisorInfo", "Strategy", "RestartKind"]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartKind = Literal["permanent", "transient", "temporary"]
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_KINDS = ("permanent", "transient", "temporary")


class Child(msgspec.Struct, frozen=True):
    """A child spec: which neuro, under what name, and when to restart it."""

    neuro: Any
    name: str | None = None
    restart: RestartKind = "permanent"
    policy: str | None = None
    # Seconds a stopping child may take to finish in-flight work before it is cancelled.
    shutdown: float = 5.0


class SupervisorSpec(msgspec.Struct, frozen=True):
    """A supervisor: its children (neuros or supervisors), strategy and restart intensity."""

    name: str
    children: list[Union[Child, "SupervisorSpec"]]
    strategy: Strategy = "one_for_one"
    # OTP's defaults: more than 3 restarts in 5 seconds means restarting does not help.
    max_restarts: int = 3
    period: float = 5.0
    restart: RestartKind = "permanent"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise NeuroError(f"supervisor {self.name!r}: strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.max_restarts < 0 or self.period <= 0:
            raise NeuroError(f"supervisor {self.name!r}: max_restarts must be >= 0 and period > 0")


class SupervisorInfo(msgspec.Struct, frozen=True):
    name: str
    strategy: str
    max_restarts: int
    period: float
    parent: str | None
    children: list[str]
    restarts: int
    state: str


class KernelOps(Protocol):
    """What a supervisor asks of the kernel."""

    async def _restart_process(self, proc: Process, reason: str) -> None: ...
    async def _halt_process(self, proc: Process, reason: str, *, failed: bool, for_restart: bool = False) -> None: ...
    async def _start_subtree(self, spec: SupervisorSpec, parent: Supervisor,
                             replace: Supervisor | None = None) -> Supervisor: ...
    async def _forget(self, proc: Process) -> None: ...
    def _event(self, name: str, neuro: str | None, actor: str, **data: Any) -> None: ...


Member = Union[Process, "Supervisor"]


class Supervisor:
    """A running supervisor: its children in start order and its recent restarts."""

    def __init__(self, name: str, strategy: Strategy, max_restarts: int, period: float,
                 parent: Supervisor | None, ops: KernelOps, restart: RestartKind = "permanent",
                 spec: SupervisorSpec | None = None) -> None:
        self.name = name
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.period = period
        self.parent = parent
        self.ops = ops
        self.restart = restart
        self.spec = spec
        self.children: list[Member] = []
        self.state = "running"
        self.restart_count = 0
        # Restart times, per child at the root (keyed by the child itself, so a respawned
        # neuro of the same name starts with a clean history) and for all children elsewhere.
        self._recent: weakref.WeakKeyDictionary[Any, deque[float]] = weakref.WeakKeyDictionary()

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def info(self) -> SupervisorInfo:
        return SupervisorInfo(
            name=self.name, strategy=self.strategy, max_restarts=self.max_restarts,
            period=self.period, parent=self.parent.name if self.parent else None,
            children=[c.name for c in self.children], restarts=self.restart_count, state=self.state,
        )

    def _within_intensity(self, child: Member) -> bool:
        """Record a restart; False once there were more than max_restarts within period."""
        key = child if self.is_root else self
        recent = self._recent.setdefault(key, deque())
        now = trio.current_time()
        recent.append(now)
        while recent and now - recent[0] > self.period:
            recent.popleft()
        return len(recent) <= self.max_restarts

    async def child_exited(self, child: Member, crashed: bool, reason: str) -> None:
        """React to a child that crashed (or, for transient children, ended normally)."""
        if self.state != "running" or child not in self.children:
            return
        if child.restart == "temporary" or (child.restart == "transient" and not crashed):
            self.children.remove(child)
            await self._halt(child, f"{reason}; {child.restart} child not restarted", failed=False)
            if isinstance(child, Process):
                await self.ops._forget(child)
            return
        if not self._within_intensity(child):
            await self._give_up(child, reason)
            return
        self.restart_count += 1
        index = self.children.index(child)
        if self.strategy == "one_for_one":
            affected = [child]
        elif self.strategy == "one_for_all":
            affected = list(self.children)
        else:
            affected = self.children[index:]
        # Stop them in reverse start order (the crashed one's remains too), then restart in order.
        for member in reversed(affected):
            why = reason if member is child else f"{self.strategy}: sibling {child.name} crashed"
            await self._halt(member, why, failed=False, for_restart=True)
        for member in affected:
            await self._restart(member, reason)

    async def _give_up(self, child: Member, reason: str) -> None:
        limit = f"more than {self.max_restarts} restarts in {self.period:g} s"
        if self.is_root:
            self.ops._event("gave_up", child.name, self.name, reason=reason, limit=limit)
            await self._halt(child, f"restart intensity exceeded ({limit})", failed=True)
            return
        self.ops._event("escalated", None, self.name, child=child.name, reason=reason, limit=limit)
        await self.shutdown(f"supervisor {self.name} gave up: {limit}", failed=True)
        self.state = "failed"
        assert self.parent is not None
        await self.parent.child_exited(self, crashed=True, reason=f"supervisor {self.name} failed")

    async def shutdown(self, reason: str, *, failed: bool) -> None:
        """Stop every child in reverse start order."""
        for member in reversed(self.children):
            await self._halt(member, reason, failed=failed)

    async def _halt(self, member: Member, reason: str, *, failed: bool, for_restart: bool = False) -> None:
        if isinstance(member, Supervisor):
            await member.shutdown(reason, failed=failed and not for_restart)
            member.state = "stopped" if not failed else "failed"
        else:
            await self.ops._halt_process(member, reason, failed=failed, for_restart=for_restart)

    async def _restart(self, member: Member, reason: str) -> None:
        if isinstance(member, Supervisor):
            assert member.spec is not None
            fresh = await self.ops._start_subtree(member.spec, self, replace=member)
            self.children[self.children.index(member)] = fresh
        else:
            await self.ops._restart_process(member, reason)
