"""The Policies screen: the policies in force, each neuro's use against its policy's limits
(mailbox against its size, message rate against the rate limit, CPU time, the share of a core
it used since the last look (beside the policy's `cpu_share`) and memory where its sandbox
counts them (`usage()`: none for a neuro in the kernel's process), errors and restarts), and
the quota breaches as they come (`quota.*` events)."""

from __future__ import annotations

import time
from typing import Any

from textual.widgets import DataTable, Label, Static

from ._view import View, fmt_time, short

__all__ = ["PoliciesView"]

BREACHES = 200  # breach rows kept


def _limit(value: float, unit: str = "") -> str:
    return "unlimited" if not value else f"{value:g}{unit}"


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


class PoliciesView(View):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.policies: dict[str, Any] = {}
        self._dirty = True
        self._cpu_seen: dict[str, tuple[float, float]] = {}  # neuro -> (its CPU seconds, when), at the last look

    def compose(self) -> Any:
        yield Label("[b]policies in force[/b]")
        pol: DataTable = DataTable(id="pol-table", cursor_type="row")
        for key in ("name", "inherit", "mailbox", "overflow", "rate", "wall_time", "cpu_share", "memory",
                    "concurrency", "sandbox", "priority"):
            pol.add_column(key, key=key)
        yield pol
        yield Label("[b]use against limits[/b]")
        use: DataTable = DataTable(id="pol-use", cursor_type="row")
        for key in ("neuro", "policy", "mailbox", "msg/s", "rate limit", "wall time", "cpu s", "cpu now", "cpu share",
                    "memory", "memory limit", "errors", "restarts"):
            use.add_column(key, key=key)
        yield use
        yield Label("[b]breaches[/b] (quota events)")
        br: DataTable = DataTable(id="pol-breaches", cursor_type="row")
        for key in ("time", "event", "neuro", "detail"):
            br.add_column(key, key=key)
        yield br
        yield Static("", id="pol-status")

    async def connected(self) -> None:
        self._dirty = True
        try:
            past = await self.client.events(name="quota.*", newest_first=True, limit=BREACHES)
        except Exception:
            past = []
        table = self.query_one("#pol-breaches", DataTable)
        table.clear()
        for ev in reversed(past):
            self._breach(ev)
        if self.display:
            await self.shown()

    def kernel_event(self, event: Any) -> None:
        if event.name.startswith("quota."):
            self._breach(event)
        if event.name.startswith(("policy.", "neuro.")):
            self._dirty = True

    def _breach(self, ev: Any) -> None:
        table = self.query_one("#pol-breaches", DataTable)
        table.add_row(fmt_time(ev.time), ev.name, ev.neuro or "", short(ev.data, 90))
        if len(table.rows) > BREACHES:
            table.remove_row(next(iter(table.rows)))

    async def tick(self) -> None:
        await self._use()

    async def shown(self) -> None:
        if self.client is None:
            return
        if self._dirty or not self.policies:
            self._dirty = False
            self.policies = await self.client.policies()
            table = self.query_one("#pol-table", DataTable)
            table.clear()
            for name, p in sorted(self.policies.items()):
                table.add_row(name, p.inherit or "", str(p.mailbox_size), p.overflow, _limit(p.rate, "/s"),
                              _limit(p.wall_time, " s"), _limit(p.cpu_share), _bytes(p.memory) if p.memory else "unlimited",
                              str(p.concurrency), p.sandbox, p.priority)
        await self._use()

    async def _use(self) -> None:
        model = self.shell.view("processes").model  # the rates the Processes screen measures
        table = self.query_one("#pol-use", DataTable)
        usage_of = getattr(self.client, "usage", None)  # CPU and memory where the sandbox counts them
        used = {u.name: u for u in await usage_of()} if usage_of is not None else {}
        rows = []
        now, seen = time.monotonic(), {}  # this look's CPU counts: a neuro gone is dropped
        for name in sorted(model.infos):
            info = model.infos[name]
            p = self.policies.get(info.policy)
            rate = model.rates[name][-1] if model.rates.get(name) else 0.0
            over = p is not None and p.rate and rate > p.rate
            u = used.get(name)
            cpu = getattr(u, "cpu_seconds", None)
            share = self._cpu_now(name, cpu, now, seen)
            memory = getattr(u, "memory", None)
            mem_over = p is not None and p.memory and memory is not None and memory > 0.9 * p.memory
            rows.append((name, info.policy, f"{info.mailbox}/{info.mailbox_capacity}", f"{rate:.1f}" + (" !" if over else ""),
                         _limit(p.rate, "/s") if p else "?", _limit(p.wall_time, " s") if p else "?",
                         "-" if cpu is None else f"{cpu:.2f}", "-" if share is None else f"{share:.2f}",
                         _limit(p.cpu_share) if p else "?",
                         _bytes(memory) + (" !" if mem_over else ""),
                         (_bytes(p.memory) if p.memory else "unlimited") if p else "?",
                         str(info.errors), str(info.restarts)))
        self._cpu_seen = seen
        if rows != getattr(self, "_rows", None):  # redraw only when something changed
            self._rows = rows
            table.clear()
            for row in rows:
                table.add_row(*row, key=row[0])

    def _cpu_now(self, name: str, cpu: float | None, now: float, seen: dict[str, tuple[float, float]]) -> float | None:
        """The share of one core `name` used between the last look and this one (None at the
        first look, or where its sandbox counts no CPU): what the policy's `cpu_share` caps
        where a cgroup or Docker enforces it. This look's count goes into `seen`."""
        last = self._cpu_seen.get(name)
        if cpu is None:
            return None
        seen[name] = (cpu, now)
        if last is None or now - last[1] < 1e-3:
            return None
        return max(0.0, (cpu - last[0]) / (now - last[1]))
