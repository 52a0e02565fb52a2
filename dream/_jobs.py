"""Dream jobs: what one dream of one neuro did, as the daemon holds it and as the log tells it.

A job is one dream of one neuro: a distillation (``distil``) or, for a learner, a call of its
`sleep` hook (``sleep``). Its life is in the log as events (``dream.started``, then one of
``dream.shipped``, ``dream.rejected``, ``dream.failed``, ``dream.cancelled``, or
``dream.slept``), so `jobs_from_events` rebuilds the list after a restart; a job with a
start and no end was cut short (the daemon was killed): ``interrupted``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Job", "jobs_from_events", "END_EVENTS", "DreamRun", "DreamStatus", "DreamJobs", "DreamCancel",
           "DreamRequest", "DreamReply"]

END_EVENTS = {"dream.shipped": "shipped", "dream.rejected": "rejected", "dream.failed": "failed",
              "dream.cancelled": "cancelled", "dream.slept": "slept"}


class Job(msgspec.Struct, kw_only=True):
    """One dream: its `id`, the `neuro`, `kind` (distil, sleep), `state` (running, shipped,
    rejected, failed, cancelled, slept, interrupted), the `stage` it is at or ended in, the
    `teacher` version, the student `version` it shipped, the gate `figures`, the `seconds` of
    each stage and why it ended."""

    id: str
    neuro: str
    kind: str = "distil"
    trigger: str = "run"
    state: str = "running"
    stage: str = "start"
    started: float = 0.0
    ended: float | None = None
    teacher: str | None = None
    version: str | None = None
    figures: dict[str, float] = {}
    seconds: dict[str, float] = {}  # wall seconds spent in each stage it went through
    reason: str = ""


# -- the dream neuro's messages (what `neuro dream ...` sends it) -------------------------------

class DreamRun(msgspec.Struct, tag="dream_run", forbid_unknown_fields=True):
    """Dream of neuro `name` now; with `wait`, answer once the job has ended (its Job)."""

    name: str
    wait: bool = True


class DreamStatus(msgspec.Struct, tag="dream_status", forbid_unknown_fields=True):
    """What the daemon watches and does now."""


class DreamJobs(msgspec.Struct, tag="dream_jobs", forbid_unknown_fields=True):
    """Jobs of this run and of earlier ones (from the log), newest first."""

    limit: int = 50


class DreamCancel(msgspec.Struct, tag="dream_cancel", forbid_unknown_fields=True):
    """Cancel running job `job` (an id or its prefix); nothing of it goes live."""

    job: str


DreamRequest = DreamRun | DreamStatus | DreamJobs | DreamCancel


class DreamReply(msgspec.Struct, forbid_unknown_fields=True):
    """The dream neuro's answer: the `job` asked about, the `jobs` listed, or its `status`."""

    job: Job | None = None
    jobs: list[Job] = []
    status: dict[str, Any] = {}


def jobs_from_events(events: list[Any]) -> list[Job]:
    """Jobs from ``dream.*`` event records (any order), newest first."""
    jobs: dict[str, Job] = {}
    for ev in sorted(events, key=lambda e: (e.time, getattr(e, "seq", 0))):
        data = ev.data
        jid = data.get("job")
        if not jid:
            continue
        if ev.name == "dream.started":
            jobs[jid] = Job(id=jid, neuro=ev.neuro or "", kind=data.get("kind", "distil"),
                            trigger=data.get("trigger", ""), state="interrupted", stage="start", started=ev.time,
                            teacher=data.get("teacher"))
        elif ev.name in END_EVENTS and jid in jobs:
            job = jobs[jid]
            job.state, job.ended = END_EVENTS[ev.name], ev.time
            job.stage = data.get("gate") or data.get("stage") or job.stage
            job.version = data.get("version") or job.version
            job.figures = {k: float(v) for k, v in (data.get("figures") or {}).items()}
            job.reason = data.get("reason") or data.get("error") or ""
    return sorted(jobs.values(), key=lambda j: j.started, reverse=True)
