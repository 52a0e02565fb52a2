"""The dream daemon: a supervised system neuro that watches neuros and dreams of them.

It runs under the ``dream`` policy (policies/dream.toml: background priority, the control
operations it needs) and acts on the kernel only through `ctx.kernel`. Every `TICK` seconds
it looks at the running neuros:

- a neuro whose manifest says ``dream = {...}`` is distilled (dream/_distil.py) when a
  trigger fires: its schedule (``every``, given new traces), ``new_traces`` new traces,
  ``changes`` new versions of its code, ``idle`` seconds without a call, a cascade's drift,
  or `DreamRun` (``neuro dream run NAME``);
- a learner (a neuro with a `sleep` hook and no ``dream``) has its `sleep` called on the
  same schedule (``every`` of the defaults), when it handled calls since the last one;
- a cascade (a shipped student that defers to ``NAME.teacher``) is watched for drift: when
  it defers a larger share of calls than it did on held-out traces, that is ``dream.drift``,
  and the deferred calls (new traces) are dreamt of again.

One job runs at a time (background work yields to interactive work). Its MLP training
pauses while interactive calls wait (queued, being handled, or arrived since the last look at
the process table) and keeps to the policy's CPU share (dream/_governor.py).
"""

from __future__ import annotations

import collections
import os
import time
import uuid
from typing import Any, Union

import msgspec
import trio

from neuro import sdk

from ._budget import JobEnergy
from ._distil import Rejected, _ensure_teacher, distil, teacher_name
from ._governor import run_governed
from ._jobs import END_EVENTS, DreamCancel, DreamJobs, DreamReply, DreamRun, DreamStatus, Job, jobs_from_events
from ._kernelside import _event, caller, job_account
from ._settings import DreamSettings

__all__ = ["Dream", "DREAM_NAME"]

DREAM_NAME = "dream"
# A cascade drifts when it defers this much more of its calls than it did on held-out traces,
# over at least DRIFT_MIN_CALLS calls.
DRIFT_MARGIN = 0.2
DRIFT_MIN_CALLS = 20
# The CPU share its trainer keeps to when its policy names none.
DEFAULT_SHARE = 0.5


class Dream(sdk.Neuro):
    """The dream daemon (see the module). `TICK`: seconds between looks at the neuros."""

    name = DREAM_NAME
    input = Union[DreamRun, DreamStatus, DreamJobs, DreamCancel, sdk.KernelEvent]
    output = DreamReply
    policy = "dream"
    subscribe = ("kernel.events",)  # so a restarted instance starts watching at the next event
    TICK = 5.0

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, Any] = {}
        self.done: dict[str, trio.Event] = {}
        self.lock: trio.Lock | None = None
        self.watching: Any = None
        self.last: dict[str, dict[str, float]] = {}  # neuro -> {"time", "after_id", "handled"}
        self.drift_after: dict[str, int] = {}
        self.drifted: dict[str, str] = {}  # neuro -> its student that drifted while another job ran
        self.ticks = 0
        self.errors: dict[str, str] = {}  # neuro -> why its last look failed
        self.waiting: collections.Counter[str | None] = collections.Counter()  # who waits in a DreamRun
        self.received: dict[str, int] = {}  # neuro -> messages it had received at the last look
        self.folder = os.environ.get("NEURO_DREAM_DIR") or os.path.join(
            os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro"), "dream")

    async def handle(self, ctx: sdk.Context, msg: Any) -> DreamReply:
        await self._watch(ctx)
        if isinstance(msg, sdk.KernelEvent):
            return DreamReply()  # events only wake the watch
        if isinstance(msg, DreamRun):
            job = await self._start(ctx, msg.name, "run")
            if msg.wait:
                who = caller(ctx)  # a neuro waiting for this dream must not hold its trainer paused
                self.waiting[who] += 1
                try:
                    await self.done[job.id].wait()
                finally:
                    self.waiting[who] -= 1
            return DreamReply(job=job)
        if isinstance(msg, DreamCancel):
            job = self._find(msg.job)
            task = self.tasks.get(job.id)
            if task is not None and not task.done:
                task.cancel()
                await self.done[job.id].wait()
            return DreamReply(job=job)
        if isinstance(msg, DreamJobs):
            return DreamReply(jobs=(await self._jobs(ctx))[:msg.limit])
        return DreamReply(status=await self._status(ctx))

    # -- the watch --------------------------------------------------------------------------

    async def _watch(self, ctx: sdk.Context) -> None:
        """Start the trigger loop once per instance (a neuro has no start hook: the first message does)."""
        if self.watching is None:
            self.lock = trio.Lock()
            self.watching = await ctx.start_background(self._loop, name="dream.watch")

    async def _loop(self, ctx: sdk.Context) -> None:
        await self._remember(ctx)
        while True:
            await trio.sleep(self.TICK)
            self.ticks += 1
            for name, trigger in await self._due(ctx):
                if self._running(name) is None:
                    self.drifted.pop(name, None)
                    await self._start(ctx, name, trigger)

    async def _remember(self, ctx: sdk.Context) -> None:
        """Where each neuro's last dream ended, from the log (so a restart does not dream again at once)."""
        for job in await self._jobs(ctx):
            if job.neuro not in self.last and job.ended is not None:
                self.last[job.neuro] = {"time": job.ended, "after_id": -1.0, "handled": -1.0}

    async def _due(self, ctx: sdk.Context) -> list[tuple[str, str]]:
        """(neuro, trigger) of each neuro a trigger fired for."""
        k = ctx.kernel
        due = []
        now = time.time()
        rows = await k.ps()
        names = {r.name for r in rows}
        for row in rows:
            name = row.name
            if name == ctx.name or name.endswith(".teacher") or row.state != "running":
                continue
            if self._running(name) is not None:
                continue  # a job of it runs: its marks change when it ends
            last = self.last.get(name)
            try:
                trigger = await self._due_one(ctx, row, names, now)
            except Exception as e:  # noqa: BLE001 - one neuro's trouble stops no other's dreams
                self.errors[name] = f"{type(e).__name__}: {e}"  # `neuro dream status` shows it
                continue
            self.errors.pop(name, None)
            if trigger and trigger != "drift" and self.last.get(name) is not last:
                continue  # a job of it ended while this look ran: judged on marks that are gone
            if trigger:
                due.append((name, trigger))
        return due

    async def _due_one(self, ctx: sdk.Context, row: Any, names: set[str], now: float) -> str | None:
        """The trigger that fired for the neuro of process row `row`, or None."""
        k = ctx.kernel
        name = row.name
        raw, hooks = await _manifest_of(k, name)
        last = self.last.get(name)
        if raw is None:
            if row.handled and (last is None or row.handled > last["handled"]) and "sleep" in hooks:
                if last is None or now - last["time"] >= DreamSettings().every:
                    return "schedule"
            return None
        s = msgspec.convert(raw, DreamSettings)
        history = await k.versions(name)
        live = next((v for v in history if v.live), None)
        student = live is not None and live.origin == "dream"
        if student and not live.lineage.notes.get("cascade"):
            return None  # a student serves alone: no new traces of its teacher come
        if student and teacher_name(name) not in names:  # after a restart: the cascade's teacher again
            await _ensure_teacher(k, name, live.lineage.teacher or "")
        if student and (self.drifted.get(name) == live.version or await self._drift(ctx, name)):
            return "drift"
        after = int(last["after_id"]) if last is not None and last["after_id"] >= 0 else None
        want = max(1, s.new_traces or (s.min_traces if last is None else 1))
        source = teacher_name(name) if student else name  # a cascade's new traces: what it deferred
        rows = await k.messages(neuro=source, kind="call", outcome="handled", after_id=after, limit=want,
                                newest_first=True)
        fresh = len(rows)
        if last is None and fresh < s.min_traces:
            return None
        changed = [v for v in history if v.origin not in ("dream", "rollback")
                   and (last is None or v.time > last["time"])]
        if s.changes and len(changed) > s.changes - (0 if last is None else 1) and fresh:
            return "changes"  # the first version does not count as a change
        elif s.new_traces and fresh >= s.new_traces:
            return "traces"
        elif fresh and (last is None or now - last["time"] >= s.every):
            return "schedule"
        elif fresh and s.idle and rows and now - rows[0].time >= s.idle:
            return "idle"
        return None

    async def _drift(self, ctx: sdk.Context, name: str) -> bool:
        """Whether the cascade serving `name` defers more than it should (a ``dream.drift`` event)."""
        k = ctx.kernel
        history = await k.versions(name)
        live = next((v for v in history if v.live), None)
        if live is None or live.origin != "dream" or not live.lineage.notes.get("cascade"):
            return False
        after = self.drift_after.get(name)
        calls = await k.messages(neuro=name, kind="call", outcome="handled", after_id=after, limit=10_000)
        calls = [c for c in calls if c.version == live.version]
        if len(calls) < DRIFT_MIN_CALLS:
            return False
        first = calls[0].id - 1
        deferred = await k.messages(neuro=teacher_name(name), sender=name, kind="call", after_id=first, limit=10_000)
        self.drift_after[name] = max(c.id for c in calls)
        rate = len(deferred) / len(calls)
        expected = 1.0 - float(live.lineage.gate.get("answered", 1.0))
        if rate <= expected + DRIFT_MARGIN:
            return False
        _event("dream.drift", name, ctx, student=live.version, calls=len(calls), deferred=len(deferred), rate=rate,
             expected=expected)
        if self._running(name) is not None:  # it dreams of the drift once that job ends, if this student still serves
            self.drifted[name] = live.version
        return True

    # -- jobs -------------------------------------------------------------------------------

    def _running(self, name: str) -> Job | None:
        """The job of `name` not yet done (one that ended is done once its end is recorded)."""
        return next((j for j in self.jobs.values() if j.neuro == name and not self.done[j.id].is_set()), None)

    async def _start(self, ctx: sdk.Context, name: str, trigger: str) -> Job:
        running = self._running(name)
        if running is not None:
            await trio.lowlevel.checkpoint()
            return running
        await ctx.kernel.info(name)  # NoSuchNeuro, before a job is made, for a name not running
        job = Job(id=uuid.uuid4().hex[:12], neuro=name, trigger=trigger, started=time.time())
        self.jobs[job.id] = job
        self.done[job.id] = trio.Event()
        self.tasks[job.id] = await ctx.start_background(self._run, job, name=f"dream.{job.id}")
        return job

    async def _run(self, ctx: sdk.Context, job: Job) -> None:
        assert self.lock is not None
        mark: dict[str, float] = {}
        try:
            async with self.lock:  # one dream at a time
                # What the job learns from ends about here: what comes later is new for the next
                # one (traces fed while it trains, or the moment it ends, are not lost to a race).
                mark.update(await _trace_mark(ctx, job.neuro))
                raw, _ = await _manifest_of(ctx.kernel, job.neuro)
                account = job_account(ctx, job.neuro)  # its neuro's energy.per_dream_job, if any (dream/_budget.py)
                energy = JobEnergy(ctx, job, account) if account is not None else None
                if raw is None:
                    await self._sleep(ctx, job, energy)
                else:
                    settings = msgspec.convert(raw, DreamSettings)

                    async def governed(argv: list[str], on_line: Any) -> Any:
                        return await run_governed(argv, busy=lambda: self._busy(ctx), share=self._share(ctx),
                                                  on_line=on_line, on_cpu=energy.spend if energy else None)

                    await distil(energy.context() if energy else ctx, job, settings, self.folder, governed)
        finally:
            with trio.CancelScope(shield=True) as scope:  # a cancelled job still records where it ended
                scope.deadline = trio.current_time() + 5.0
                try:
                    if not mark:  # cancelled while it waited for the lock
                        mark.update(await _trace_mark(ctx, job.neuro))
                    # Its end as the job recorded it: a version made after that is a change.
                    self.last[job.neuro] = {"time": job.ended or time.time(), **mark}
                finally:
                    if job.state == "running":  # cancelled before it began
                        job.state, job.ended = "cancelled", time.time()
                    self.done[job.id].set()

    async def _sleep(self, ctx: sdk.Context, job: Job, energy: JobEnergy | None) -> None:
        """A learner is not distilled: its `sleep` hook (consolidation) is called."""
        job.kind = "sleep"
        _event("dream.started", job.neuro, ctx, job=job.id, kind="sleep", teacher=None, trigger=job.trigger)
        began = time.perf_counter()
        try:
            if energy is None:
                result = await ctx.kernel.hook(job.neuro, "sleep")
            else:
                result = await energy.timed(ctx.kernel.hook, job.neuro, "sleep")
        except Rejected as r:  # over its energy budget: the hook was cancelled
            job.state, job.stage, job.figures, job.reason = "rejected", r.gate, r.figures, r.reason
            job.ended = time.time()
            _event("dream.rejected", job.neuro, ctx, job=job.id, gate=r.gate, reason=r.reason, figures=r.figures)
            return
        except Exception as e:  # noqa: BLE001 - the hook's error is the job's outcome
            job.state, job.reason, job.ended = "failed", f"{type(e).__name__}: {e}", time.time()
            _event("dream.failed", job.neuro, ctx, job=job.id, stage="sleep", error=job.reason)
            return
        job.state, job.stage, job.ended = "slept", "sleep", time.time()
        job.figures = {"seconds": time.perf_counter() - began}
        _event("dream.slept", job.neuro, ctx, job=job.id, seconds=job.figures["seconds"],
             result=_summary(result))

    async def _busy(self, ctx: sdk.Context) -> bool:
        """Whether interactive calls wait: queued in a mailbox, being handled (their callers wait
        for the answer) or arrived since the last look (a plain in-process handler answers in its
        caller's task: only its counter shows it), at any neuro but background ones and those
        waiting for a dream."""
        busy = False
        for row in await ctx.kernel.ps():
            if row.policy in ("dream", "background") or row.name == ctx.name:
                continue
            seen = self.received.get(row.name)
            self.received[row.name] = row.received
            if row.mailbox or row.in_flight > self.waiting[row.name] or (seen is not None and row.received > seen):
                busy = True
        return busy

    def _share(self, ctx: sdk.Context) -> float:
        share = getattr(ctx.resources, "cpu_share", 0.0) or 0.0
        return float(share) if share > 0 else DEFAULT_SHARE

    def _find(self, prefix: str) -> Job:
        found = [j for j in self.jobs.values() if j.id.startswith(prefix)]
        if len(found) != 1:
            known = ", ".join(j.id for j in self.jobs.values() if j.state == "running") or "none running"
            raise sdk.NeuroError(f"{'no' if not found else 'several'} dream jobs match {prefix!r} ({known}); "
                                 "see `neuro dream jobs`")
        return found[0]

    async def _jobs(self, ctx: sdk.Context) -> list[Job]:
        """This run's jobs and earlier ones from the log, newest first."""
        events: list[Any] = []
        for name in ("dream.started", *END_EVENTS):
            events += await ctx.kernel.events(name=name, limit=1000, newest_first=True)
        logged = {j.id: j for j in jobs_from_events(events)}
        logged.update({j.id: j for j in self.jobs.values()})
        return sorted(logged.values(), key=lambda j: j.started, reverse=True)

    async def _status(self, ctx: sdk.Context) -> dict[str, Any]:
        watched = []
        for row in await ctx.kernel.ps():
            raw, _ = await _manifest_of(ctx.kernel, row.name)
            if raw is not None and not row.name.endswith(".teacher"):
                last = self.last.get(row.name)
                watched.append({"neuro": row.name, "cascade": bool(raw.get("cascade")), "settings": raw,
                                "last_dream": last["time"] if last else None})
        running = [msgspec.to_builtins(j) for j in self.jobs.values() if j.state == "running"]
        return {"tick": self.TICK, "ticks": self.ticks, "watching": watched, "running": running, "errors": self.errors,
                "jobs": len(self.jobs), "folder": self.folder}


async def _manifest_of(k: Any, name: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The checked ``dream`` settings of running neuro `name` and its hooks, as its manifest
    says through ``ctx.kernel.describe`` (None and none once it is no longer running)."""
    try:
        manifest = (await k.describe(name, log=False)).manifest
    except sdk.NeuroError:  # not running (any more), or a drop-folder row that did not load
        return None, []
    return manifest.get("dream"), list(manifest.get("hooks", ()))


async def _trace_mark(ctx: sdk.Context, name: str) -> dict[str, float]:
    """Where the traces of `name` end now: its newest call's id and how many calls it handled."""
    after_id = float(await _newest_id(ctx, name))
    handled = next((float(r.handled) for r in await ctx.kernel.ps() if r.name == name), 0.0)
    return {"after_id": after_id, "handled": handled}


async def _newest_id(ctx: sdk.Context, name: str) -> int:
    """The newest call to `name` or its cascade's teacher: traces after it are new."""
    newest = -1
    for who in (name, teacher_name(name)):
        rows = await ctx.kernel.messages(neuro=who, kind="call", limit=1, newest_first=True)
        if rows:
            newest = max(newest, rows[0].id)
    return newest


def _summary(value: Any) -> Any:
    try:
        text = msgspec.json.encode(msgspec.to_builtins(value, enc_hook=repr))
    except Exception:  # noqa: BLE001 - a summary, never an error
        return repr(value)[:500]
    return msgspec.json.decode(text) if len(text) <= 1000 else text[:1000].decode("utf-8", "replace")
