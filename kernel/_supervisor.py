"""Supervisors: OTP's contract, copied exactly.

Strategies one_for_one, one_for_all and rest_for_one; at most `max_restarts` restarts in
`period` seconds, after which the supervisor stops its children (in reverse start order)
and fails upward to its parent. Children start left to right and stop in reverse.
Restart kinds: permanent (always restarted), transient (only after a crash), temporary
(never, by any strategy: a temporary sibling that one_for_all or rest_for_one stops is
removed, not restarted). A supervisor that gives up ends as OTP's does, with reason
`shutdown`: its parent restarts it if it is permanent and removes it if it is transient or
temporary. Each child stops as its spec's `shutdown` says (a grace in seconds for its
handlers in flight, ``"brutal_kill"`` or ``"infinity"``).

The root supervisor, which holds everything spawned with `Kernel.spawn`, keeps the limit
per child and never fails upward: a child it gives up on is marked failed, and the kernel
and every other neuro keep serving.

Every field of a spec is checked when it is built: a bad one raises `ManifestError` naming
the supervisor or child, the field, what it takes and what it got.
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from typing import Any, Literal, Protocol, Union

import msgspec
import trio

from neuro._checks import brief
from neuro._errors import ManifestError
from neuro._manifest import NAME_PATTERN, Neuro

from ._process import Process

__all__ = ["Child", "SupervisorSpec", "Supervisor", "SupervisorInfo", "Strategy", "RestartKind", "Shutdown",
           "check_tree", "shutdown_seconds"]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartKind = Literal["permanent", "transient", "temporary"]
Shutdown = Union[float, Literal["brutal_kill", "infinity"]]
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_KINDS = ("permanent", "transient", "temporary")
SHUTDOWN_WORDS = ("brutal_kill", "infinity")
# Restart intensity. OTP's default is 1 restart in 5 s (intensity 1, period 5). Neuro's is 3
# in 5 s: a handler that raises crashes its instance, so a few bad messages in a row should
# not use up a supervisor; more than 3 restarts in 5 s still means restarting does not help.
MAX_RESTARTS = 3
PERIOD = 5.0
# OTP's default shutdown for a worker: 5000 ms to finish before it is killed.
SHUTDOWN = 5.0


class Child(msgspec.Struct, frozen=True):
    """A child spec: which neuro, under what name, when to restart it and how to stop it.

    `shutdown`, as in OTP's child spec: a number of seconds for which a stopping child's
    handlers in flight may finish (it takes no new message meanwhile) before they are
    cancelled and its worker is killed; ``"brutal_kill"``: cancelled and killed at once;
    ``"infinity"``: its handlers may take as long as they need (one that never returns then
    holds up its supervisor for ever, as in OTP, where it is meant for supervisors).
    """

    neuro: Any
    name: str | None = None
    restart: RestartKind = "permanent"
    policy: str | None = None
    shutdown: Shutdown = SHUTDOWN

    def __post_init__(self) -> None:
        neuro = self.neuro
        if not (isinstance(neuro, type) and issubclass(neuro, Neuro) and "__manifest__" in vars(neuro)):
            raise ManifestError(f"Child takes a Neuro subclass with a manifest, got {brief(neuro)}")
        name = self.name
        if name is not None and not (isinstance(name, str) and NAME_PATTERN.match(name)):
            raise ManifestError(f"{brief(name)} is not a valid neuro name (lower case, digits, '_', '-', dots); "
                                "pass another name=, or none to use the neuro's own")
        where = f"child {self.name or neuro.__manifest__.name!r}"
        _check_restart(where, self.restart)
        if self.policy is not None and not isinstance(self.policy, str):
            raise ManifestError(f"{where}: policy must be the name of a policy (a str), or None for the neuro's "
                                f"own, got {brief(self.policy)}")
        shutdown = self.shutdown
        if not (shutdown in SHUTDOWN_WORDS if isinstance(shutdown, str) else _is_seconds(shutdown)):
            raise ManifestError(f"{where}: shutdown must be a number of seconds >= 0 (how long its handlers in "
                                "flight may take to finish when it stops), 'brutal_kill' or 'infinity', "
                                f"got {brief(shutdown)}")


class SupervisorSpec(msgspec.Struct, frozen=True):
    """A supervisor: its children (neuros or supervisors), strategy and restart intensity."""

    name: str
    children: list[Union[Child, "SupervisorSpec"]]
    strategy: Strategy = "one_for_one"
    # Neuro's default intensity, not OTP's (1 in 5 s): see MAX_RESTARTS above.
    max_restarts: int = MAX_RESTARTS
    period: float = PERIOD
    restart: RestartKind = "permanent"

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and NAME_PATTERN.match(self.name)):
            raise ManifestError(f"SupervisorSpec: name {brief(self.name)} is not a valid supervisor name "
                                "(lower case, digits, '_', '-', dots, as a neuro's)")
        where = f"supervisor {self.name!r}"
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ManifestError(f"{where}: strategy must be one of {', '.join(STRATEGIES)}, got {brief(self.strategy)}")
        limit = self.max_restarts
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ManifestError(f"{where}: max_restarts must be a whole number >= 0 (the restarts allowed within "
                                f"`period` before the supervisor gives up), got {brief(limit)}")
        if not _is_seconds(self.period) or self.period == 0:
            raise ManifestError(f"{where}: period must be a finite number of seconds > 0, got {brief(self.period)}")
        _check_restart(where, self.restart)
        if not isinstance(self.children, (list, tuple)):
            raise ManifestError(f"{where}: children must be a list of Child and SupervisorSpec, "
                                f"got {brief(self.children)}")
        for i, child in enumerate(self.children):
            if not isinstance(child, (Child, SupervisorSpec)):
                raise ManifestError(f"{where}: children[{i}] must be a Child or a SupervisorSpec, got {brief(child)}")
        _check_unique(self)


def _is_seconds(value: Any) -> bool:
    """A finite number >= 0 (a bool is not a number here; NaN and an int too big for a float fail)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:
        return False


def _check_restart(where: str, restart: Any) -> None:
    if not isinstance(restart, str) or restart not in RESTART_KINDS:
        raise ManifestError(f"{where}: restart must be one of {', '.join(RESTART_KINDS)}, got {brief(restart)} "
                            "(permanent: always restarted; transient: after a crash; temporary: never)")


def _check_unique(spec: SupervisorSpec) -> None:
    """No two neuros, and no two supervisors, of one tree share a name (the kernel's tables
    are keyed by name), as OTP refuses duplicate child ids."""
    neuros: set[str] = set()
    supervisors: set[str] = set()
    todo: list[Child | SupervisorSpec] = [spec]
    while todo:
        one = todo.pop()
        if isinstance(one, SupervisorSpec):
            seen, name, what = supervisors, one.name, "supervisors"
            todo.extend(reversed(one.children))
        else:
            seen, name, what = neuros, one.name or one.neuro.__manifest__.name, "children"
        if name in seen:
            raise ManifestError(f"supervisor {spec.name!r}: two {what} are named {name!r}; give each a distinct name=")
        seen.add(name)


def check_tree(spec: Any) -> None:
    """Check `spec` and every spec under it again, as `Kernel.supervise` does before it starts
    one: a spec is frozen, but its `children` list could have been changed since."""
    if not isinstance(spec, SupervisorSpec):
        raise ManifestError(f"supervise takes a SupervisorSpec, got {brief(spec)}")
    todo = [spec]
    while todo:
        one = todo.pop()
        one.__post_init__()
        todo.extend(c for c in one.children if isinstance(c, SupervisorSpec))


def shutdown_seconds(shutdown: Shutdown) -> float:
    """A checked `shutdown` as the seconds a stopping child's handlers may take to finish."""
    if shutdown == "brutal_kill":
        return 0.0
    if shutdown == "infinity":
        return math.inf
    return float(shutdown)


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
    async def _forget_subtree(self, sup: Supervisor) -> None: ...
    _supervisors: dict[str, Supervisor]
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
        """React to a child that ended: it crashed, or (`crashed` False) it ended with reason
        shutdown, as a supervisor that gave up does (OTP's rule: a transient child is then
        not restarted)."""
        if self.state != "running" or child not in self.children:
            return
        if child.restart == "temporary" or (child.restart == "transient" and not crashed):
            await self._remove(child, f"{reason}; {child.restart} child not restarted")
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
        # Stop them in reverse start order (the crashed one's remains too), then restart in
        # order. A temporary sibling is stopped and removed, never restarted (as OTP's
        # terminate_children does).
        sibling = f"{self.strategy}: sibling {child.name} crashed"
        restarting = []
        for member in reversed(affected):
            if member is not child and member.restart == "temporary":
                await self._remove(member, f"{sibling}; temporary child not restarted")
                continue
            await self._halt(member, reason if member is child else sibling, failed=False, for_restart=True)
            restarting.append(member)
        for member in reversed(restarting):
            await self._restart(member, reason)

    async def _remove(self, member: Member, reason: str) -> None:
        """Stop a child for good and forget it, as OTP deletes a child it will not restart."""
        self.children.remove(member)
        await self._halt(member, reason, failed=False)
        if isinstance(member, Process):
            await self.ops._forget(member)
        else:
            await self.ops._forget_subtree(member)
            if self.ops._supervisors.get(member.name) is member:
                del self.ops._supervisors[member.name]

    async def _give_up(self, child: Member, reason: str) -> None:
        limit = f"more than {self.max_restarts} restarts in {self.period:g} s"
        if self.is_root:
            self.ops._event("supervisor.gave_up", child.name, self.name, reason=reason, limit=limit)
            await self._halt(child, f"restart intensity exceeded ({limit})", failed=True)
            return
        self.ops._event("supervisor.escalated", None, self.name, child=child.name, reason=reason, limit=limit)
        await self.shutdown(f"supervisor {self.name} gave up: {limit}", failed=True)
        self.state = "failed"
        assert self.parent is not None
        # OTP's supervisor exits with reason shutdown here: not a crash, so a transient
        # supervisor is not restarted by its parent (a permanent one is).
        await self.parent.child_exited(self, crashed=False, reason=f"supervisor {self.name} failed")

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
            if member in self._recent:  # the root counts per child: the new instance keeps the count
                self._recent[fresh] = self._recent.pop(member)
        else:
            await self.ops._restart_process(member, reason)
