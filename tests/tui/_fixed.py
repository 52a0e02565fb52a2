"""A client of fixed data for the shell's snapshot tests: the same methods and the kernel's own
result types as `neuro.client.Client`, answering from constants, so a screenshot is the same
on every run (times, ids and versions do not move). The Pilot tests use a real kernel."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from neuro.kernel import EventRecord, MessageRecord, Policy, ProcessInfo, SupervisorInfo, TraceNode, VersionInfo
from neuro.kernel._kernel import KernelStatistics
from neuro.kernel._process import MailboxStatistics
from neuro.kernel._versions import Lineage, VersionSource
from neuro.testing import Ping

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
V1, V2 = "a1b2c3d4e5f6a7b8", "0f9e8d7c6b5a4938"


def _proc(pid: int, name: str, **kw: Any) -> ProcessInfo:
    base = dict(pid=pid, name=name, neuro=name.title(), version=V2, state="running", policy="default",
                sandbox="inproc", supervisor="root", mailbox=0, mailbox_capacity=1024, received=100 * pid,
                handled=100 * pid, errors=0, dead_letters=0, restarts=0, in_flight=0, busy_time=0.5)
    base.update(kw)
    return ProcessInfo(**base)


PROCESSES = [
    _proc(1, "echo", received=5120, handled=5120),
    _proc(2, "crashy", errors=3, restarts=2, version=V1),
    _proc(3, "slow", mailbox=700, in_flight=1, policy="background"),
    _proc(4, "boxed-echo", sandbox="process", policy="untrusted"),
]
RATES = {"echo": [5, 40, 80, 120, 160, 90, 60, 200], "crashy": [0, 1, 0, 3], "slow": [2, 2, 2, 2, 2, 2]}
ERRORS = {"crashy": "ValueError: negative: -1"}


def _msg(i: int, recipient: str, outcome: str, **kw: Any) -> MessageRecord:
    mid = int((T0 + i) * 1e9)
    base = dict(id=mid, time=T0 + i, sender="client", recipient=recipient, kind="call", topic=None, correlation=mid,
                parent=None, deadline=T0 + i + 10, payload={"n": i}, outcome=outcome, reason=None,
                outcome_time=T0 + i + 0.001, latency=0.0012, reply={"n": i} if outcome == "handled" else None,
                error=None, version=V2, service=0.0009)
    base.update(kw)
    return MessageRecord(**base)


MESSAGES = [
    _msg(1, "echo", "handled"), _msg(2, "echo", "handled"),
    _msg(3, "crashy", "error", reason="crashed", payload={"n": -1},
         error={"type": "ValueError", "message": "negative: -1", "neuro": "crashy", "path": ["crashy"],
                "traceback": "Traceback (most recent call last):\n  File \"neuro/testing.py\", line 117, in handle\n"
                             "ValueError: negative: -1\n"}),
    _msg(4, "slow", "dead", reason="mailbox full: dropped the oldest message", latency=None, service=None),
]


class FixedClient:
    """Answers as a kernel with the processes, messages and versions above would."""

    kernel = None

    async def __aenter__(self) -> FixedClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def statistics(self) -> KernelStatistics:
        return KernelStatistics(processes=4, running=4, supervisors=1, accepted=4, handled=2, errors=1,
                                dead_letters=1, in_flight=0, queued=0, pending_deadlines=0, log_rows_written=8,
                                log_rows_queued=0)

    async def ps(self) -> list[ProcessInfo]:
        return list(PROCESSES)

    async def info(self, name: str) -> ProcessInfo:
        return next(p for p in PROCESSES if p.name == name)

    async def describe(self, name: str, *, log: bool = True) -> dict[str, Any]:
        return {"input_schema": msgspec.json.schema(Ping)}

    async def mailbox_statistics(self, name: str) -> MailboxStatistics:
        p = await self.info(name)
        return MailboxStatistics(depth=p.mailbox, capacity=p.mailbox_capacity, overflow="block", blocked_senders=0,
                                 idle_runners=0)

    async def supervisors(self) -> list[SupervisorInfo]:
        return [SupervisorInfo(name="root", strategy="one_for_one", max_restarts=3, period=5.0, parent=None,
                               children=[p.name for p in PROCESSES], restarts=2, state="running")]

    async def events(self, **filters: Any) -> list[EventRecord]:
        if filters.get("name") == "quota.*":
            return [EventRecord(seq=9, time=T0 + 5, name="quota.rate", neuro="slow", actor="kernel",
                                data={"limit": 10.0, "burst": 10.0, "action": "rejected"})]
        return [EventRecord(seq=7, time=T0 + 3, name="neuro.crashed", neuro="crashy", actor="kernel",
                            data={"pid": 2, "error": ERRORS["crashy"]})]

    async def messages(self, **filters: Any) -> list[MessageRecord]:
        rows = [m for m in MESSAGES if filters.get("neuro") in (None, m.recipient)]
        rows = rows[::-1] if filters.get("newest_first") else rows
        return rows[: filters.get("limit") or len(rows)]

    async def trace(self, message_id: int) -> TraceNode | None:
        m = next((m for m in MESSAGES if m.id == message_id), None)
        return None if m is None else TraceNode(message=m, children=[])

    @asynccontextmanager
    async def _forever(self) -> Any:
        async def nothing() -> Any:
            await asyncio.Event().wait()
            yield None

        yield nothing()

    def tail(self, **filters: Any) -> Any:
        return self._forever()

    def subscribe(self, topic: str) -> Any:
        return self._forever()

    async def policies(self) -> dict[str, Policy]:
        return {"default": Policy(), "background": Policy(name="background", inherit="default", priority="background",
                                                          rate=10.0, burst=10),
                "untrusted": Policy(name="untrusted", sandbox="process", memory=256 << 20, cpu_share=0.5,
                                    wall_time=5.0)}

    async def versions(self, name: str) -> list[VersionInfo]:
        return [VersionInfo(neuro=name, version=V1, time=T0 - 3600, origin="spawn", parent=None,
                            lineage=Lineage(origin="spawn", trusted=True, loader="trusted")),
                VersionInfo(neuro=name, version=V2, time=T0 - 60, origin="file", parent=V1, live=True,
                            lineage=Lineage(origin="file", parents=[V1], trusted=True, loader="trusted"))]

    async def source(self, name: str, version: str) -> VersionSource:
        return VersionSource(neuro=name, version=version, files={"echo.py": "class Echo:\n    pass\n"})

    async def diff(self, name: str, old: str, new: str) -> str:
        return "--- a/echo.py\n+++ b/echo.py\n@@ -1 +1 @@\n-old\n+new\n"

    async def call(self, to: str, payload: Any, **kw: Any) -> Any:
        return {"n": payload.get("n")}

    async def send(self, to: str, payload: Any, **kw: Any) -> int:
        return 1

    async def ping(self) -> str:
        await asyncio.Event().wait()
        return "pong"


# A net (in -> small | big -> again -> out) and two of its runs, for the Nets screen's snapshot.
NET_SHOW = {
    "name": "branchy", "input": "Num", "output": "Num", "version": V2,
    "nodes": [{"id": "small", "kind": "neuro", "neuro": "inc", "version": V1, "input": "Num", "output": "Num"},
              {"id": "big", "kind": "neuro", "neuro": "double", "version": V1, "input": "Num", "output": "Num"},
              {"id": "again", "kind": "neuro", "neuro": "inc", "version": V1, "input": "Num", "output": "Num"}],
    "edges": [{"src": "in", "dst": "small", "when": "x < 10"}, {"src": "in", "dst": "big", "when": "x >= 10"},
              {"src": "small", "dst": "out", "when": None}, {"src": "big", "dst": "again", "when": None},
              {"src": "again", "dst": "out", "when": None}],
}


def _step(node: str, neuro: str, edge: str, reason: str) -> dict[str, Any]:
    return {"node": node, "calls": neuro, "kind": "neuro", "version": V1, "edges": [edge], "input_hash": "i",
            "output_hash": "o", "reason": reason, "seconds": 0.001}


NET_RUNS = [
    EventRecord(seq=12, time=T0 + 8, name="net.run", neuro="branchy", actor="branchy",
                data={"run": 1002, "net": "branchy", "ok": True, "error": None, "called": 1, "cached": 1,
                      "steps": [_step("big", "double", "in -> big (when x >= 10)", "cached"),
                                _step("again", "inc", "big -> again", "called")]}),
    EventRecord(seq=11, time=T0 + 7, name="net.run", neuro="branchy", actor="branchy",
                data={"run": 1001, "net": "branchy", "ok": True, "error": None, "called": 1, "cached": 0,
                      "steps": [_step("small", "inc", "in -> small (when x < 10)", "called")]}),
]


class FixedNetsClient(FixedClient):
    """The same, with the net above running (and the `nets` neuro that describes it)."""

    async def ps(self) -> list[ProcessInfo]:
        return [*PROCESSES, _proc(5, "branchy"), _proc(6, "inc"), _proc(7, "double")]

    async def info(self, name: str) -> ProcessInfo:
        return _proc(8, name) if name == "nets" else await super().info(name)

    async def call(self, to: str, payload: Any, **kw: Any) -> Any:
        if to == "nets":
            if payload.get("name") != "branchy":
                raise ValueError(f"{payload.get('name')!r} is not a net")
            return {"ok": True, "net": "branchy", "version": V2, "show": NET_SHOW}
        return await super().call(to, payload, **kw)

    async def events(self, **filters: Any) -> list[EventRecord]:
        if filters.get("name") == "net.run":
            return list(NET_RUNS)
        return await super().events(**filters)
