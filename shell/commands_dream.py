"""`neuro dream status|run|jobs|log|cancel`: the dream daemon (neuro.dream, docs/dream.md).

    neuro dream status            what it watches, what runs now
    neuro dream run NAME          dream of NAME now; wait for the job (--detach: do not)
    neuro dream jobs              every job, this run's and earlier ones' (from the log)
    neuro dream log               the dream.* events, oldest first
    neuro dream cancel JOB        cancel a running job; nothing of it goes live

`run` starts the daemon's dream neuro when it is not running (it runs under the `dream`
policy); the others only read. Every command takes --json.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._cliutil import Session, when
from ._output import print_rows, print_value

_TIMEOUT = 900.0  # a dream trains a student: minutes on a loaded machine
_EVENTS = ("dream.started", "dream.shipped", "dream.rejected", "dream.failed", "dream.cancelled", "dream.slept",
           "dream.drift")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add

    dream = add(sub, "dream", common, help="the dream daemon: distil neuros into faster versions, gated",
                description="The dream daemon distils a neuro's logged calls into a student that imitates it, "
                            "gates it (held-out agreement, speed-up, selfcheck, the replay gate) and ships it as "
                            "a new version through hot swap (`neuro rollback NAME` brings the teacher back). A "
                            "neuro opts in with `dream = {...}` in its class; a learner's `sleep` hook is called "
                            "instead. See docs/dream.md.",
                example="neuro dream run integrator")
    dsub = dream.add_subparsers(dest="dream_command", metavar="ACTION", parser_class=Parser)
    add(dsub, "status", common, help="what the dream daemon watches and runs now",
        description="Print whether the dream neuro runs, the neuros it watches (those whose manifest says "
                    "`dream = {...}`) with their settings and last dream, and the job running now.",
        example="neuro dream status --json", run=_status)
    run = add(dsub, "run", common, help="dream of a neuro now and wait for the job",
              description="Start a dream job of NAME now (the daemon's dream neuro is started first when it is "
                          "not running) and wait until it ends: shipped (exit 0), rejected by a gate (exit 1, the "
                          "gate and its figures printed), failed (exit 3). --detach prints the job and returns.",
              example="neuro dream run integrator", run=_run)
    run.add_argument("name", metavar="NAME")
    run.add_argument("--detach", action="store_true", help="print the job and return at once")
    jobs = add(dsub, "jobs", common, help="every dream job, newest first",
               description="List dream jobs, newest first: this run's and earlier ones' (read back from the log's "
                           "dream.* events); a job with a start and no end was cut short (`interrupted`).",
               example="neuro dream jobs --json", run=_jobs)
    jobs.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    log = add(dsub, "log", common, help="the dream.* events, oldest first",
              description="Print the dream daemon's events from the log: started, shipped (with its figures), "
                          "rejected (the gate and its figures), failed, cancelled, slept, drift.",
              example="neuro dream log --neuro integrator", run=_log)
    log.add_argument("--neuro", help="only the events about this neuro")
    log.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    cancel = add(dsub, "cancel", common, help="cancel a running dream job",
                 description="Cancel running job JOB (its id or a prefix, see `neuro dream jobs`); nothing of it "
                             "goes live (a dream.cancelled event).", example="neuro dream cancel 3fa2", run=_cancel)
    cancel.add_argument("job", metavar="JOB")
    dream.set_defaults(run=_status)


def _running(s: Session) -> bool:
    from neuro.dream import DREAM_NAME

    return any(p["name"] == DREAM_NAME for p in s.ps())


def _ask(s: Session, msg: Any) -> dict[str, Any]:
    import msgspec

    from neuro.dream import DREAM_NAME

    return msgspec.to_builtins(s.call(DREAM_NAME, msg, timeout=_TIMEOUT))


def _status(args: argparse.Namespace) -> int:
    from neuro.dream import DreamStatus

    with Session(args) as s:
        status = _ask(s, DreamStatus())["status"] if _running(s) else None
    if args.json:
        print_value({"alive": status is not None, **(status or {})}, args)  # `running`: its jobs
        return 0
    if status is None:
        print("the dream neuro is not running (`neuro dream run NAME` starts it)")
        return 0
    rows = [{"neuro": w["neuro"], "cascade": "yes" if w["cascade"] else "", "every": f"{w['settings']['every']:g}s",
             "min_traces": w["settings"]["min_traces"], "last dream": when(w["last_dream"]) if w["last_dream"] else "-"}
            for w in status["watching"]]
    print_rows(rows, args, key="neuro")
    for job in status["running"]:
        print(f"running: job {job['id']} of {job['neuro']} at {job['stage']}")
    for name, error in sorted((status.get("errors") or {}).items()):
        print(f"cannot look at {name}: {error}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from neuro.dream import DreamRun

    with Session(args, timeout=_TIMEOUT) as s:
        if not _running(s):
            from neuro.dream import DreamStatus

            s.spawn("neuro.dream:Dream", policy="dream")  # supervised by the root, as `neuro.dream.start` does
            _ask(s, DreamStatus())  # it starts watching
        job = _ask(s, DreamRun(name=args.name, wait=not args.detach))["job"]
    if args.json:
        print_value(job, args)
    else:
        _print_job(job)
    return {"shipped": 0, "slept": 0, "running": 0, "rejected": 1, "cancelled": 1}.get(job["state"], 3)


def _print_job(job: dict[str, Any]) -> None:
    head = f"{job['neuro']}: job {job['id']} {job['state']}"
    if job.get("version"):
        head += f" -> version {job['version']} (teacher {(job.get('teacher') or '-')[:12]})"
    elif job["state"] not in ("running", "slept"):
        head += f" at {job['stage']}"
    print(head)
    if job.get("reason"):
        print(f"  {job['reason']}")
    for key, value in sorted((job.get("figures") or {}).items()):
        print(f"  {key:>18} {value:.6g}")


def _jobs(args: argparse.Namespace) -> int:
    from neuro.dream import DreamJobs, jobs_from_events

    with Session(args) as s:
        if _running(s):
            jobs = _ask(s, DreamJobs(limit=args.limit))["jobs"]
        else:
            import msgspec

            events = [_as_event(e) for name in _EVENTS for e in s.events(name=name, limit=None)]
            jobs = msgspec.to_builtins(jobs_from_events(events))[:args.limit]
    if args.output in ("json", "jsonl", "quiet"):
        print_rows(jobs, args, key="id")
        return 0
    print_rows([{"job": j["id"], "neuro": j["neuro"], "kind": j["kind"], "trigger": j["trigger"],
                 "state": j["state"], "stage": j["stage"], "started": when(j["started"]),
                 "version": (j.get("version") or "-")[:12],
                 "agreement": f"{j['figures']['agreement']:.4f}" if "agreement" in j["figures"] else "-",
                 "speedup": f"{j['figures']['speedup']:.1f}x" if "speedup" in j["figures"] else "-"}
                for j in jobs], args, key="job")
    return 0


class _Record:
    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)


def _as_event(row: Any) -> Any:
    return row if hasattr(row, "data") else _Record(row)


def _log(args: argparse.Namespace) -> int:
    with Session(args) as s:
        rows = [e for name in _EVENTS for e in s.events(name=name, neuro=args.neuro, limit=args.limit)]
    rows = sorted(rows, key=lambda e: (e["time"], e.get("seq", 0)))[-args.limit:]
    if args.output in ("json", "jsonl", "quiet"):
        print_rows(rows, args, key="seq")
        return 0
    print_rows([{"time": when(e["time"]), "event": e["name"], "neuro": e["neuro"] or "-",
                 "job": e["data"].get("job", "-"), "what": _what(e)} for e in rows], args, key="time")
    return 0


def _what(e: dict[str, Any]) -> str:
    d = e["data"]
    if e["name"] == "dream.shipped":
        return f"version {d['version'][:12]}, agreement {d['figures'].get('agreement', 0):.4f}, " \
               f"{d['figures'].get('speedup', 0):.1f}x"
    if e["name"] == "dream.rejected":
        return f"{d['gate']}: {d['reason']}"
    if e["name"] == "dream.drift":
        return f"deferred {d['deferred']} of {d['calls']} ({d['rate']:.2f}, expected {d['expected']:.2f})"
    if e["name"] == "dream.started":
        return f"{d['kind']} ({d['trigger']})"
    return str(d.get("error") or d.get("stage") or d.get("result") or "")


def _cancel(args: argparse.Namespace) -> int:
    from neuro.dream import DreamCancel

    with Session(args) as s:
        if not _running(s):
            from .cli import EXIT_NOT_FOUND, Problem

            raise Problem("the dream neuro is not running, so no job runs", code=EXIT_NOT_FOUND, type="NotFound",
                          hint="see `neuro dream jobs`")
        job = _ask(s, DreamCancel(job=args.job))["job"]
    if args.json:
        print_value(job, args)
    else:
        _print_job(job)
    return 0
