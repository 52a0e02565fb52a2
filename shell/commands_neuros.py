"""`neuro ps|spawn|stop|restart|send|call|swap|rollback|sleep`: neuros on the daemon
(`versions` and `diff` are in commands_versions)."""

from __future__ import annotations

import argparse
from typing import Any

from ._cliutil import Session, neuro_spec
from ._payload import payload_for
from ._output import print_ps, print_value, ps_row


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add, neuro_name, seconds, whole_number

    ps = add(sub, "ps", common, help="the process table, with counters", example="neuro ps --json", run=_ps,
             description="The process table, with counters (--wide adds busy_time and energy; --json gives each "
                         "process's whole record). With --watch it is redrawn every --interval seconds "
                         "(like `watch`), with each neuro's CPU (cpu_percent: % of one core over the last "
                         "interval) and memory (resident bytes), read from its sandbox's cgroup where it has "
                         "one, else from /proc of its worker's processes; a neuro in the daemon's own process "
                         "(inproc) shows \"-\": it has no counter of its own. Ctrl-C ends it (exit 130).")
    ps.add_argument("--watch", "-w", action="store_true", help="redraw the table, with live CPU and memory")
    ps.add_argument("--interval", type=_interval, default=2.0, metavar="S",
                    help="seconds between redraws with --watch (default 2)")
    ps.add_argument("--count", type=_positive_count, metavar="N", help="with --watch: exit after N redraws")

    spawn = add(sub, "spawn", common, help="start a neuro on the daemon",
                description="Start a neuro on the daemon. NEURO is `module:Class`, a neuro file "
                            "(`path.py` or `path.py:Class`) or a package folder. With --version, NEURO is "
                            "the name of a neuro and that version from the version store starts as a new "
                            "process (--as NAME), beside the one running: `neuro spawn tutor --version 3fa2 "
                            "--as student`.",
                example="neuro spawn neuro.neuros.echo:Echo --name echo2", run=_spawn)
    spawn.add_argument("neuro", metavar="NEURO", help="module:Class, the path of a neuro file or folder, "
                                                      "or with --version a neuro's name")
    spawn.add_argument("--name", "--as", dest="name", type=neuro_name, help="the process name (default: the neuro's own)")
    spawn.add_argument("--version", help="start this stored version of NEURO (a version or its prefix; see "
                                         "`neuro versions NEURO`)")
    spawn.add_argument("--policy", help="a policy name (default: the neuro's own)")
    spawn.add_argument("--trusted", action="store_true",
                       help="a file you wrote yourself: import and run it in the daemon's process like an installed "
                            "module (default: a file is untrusted, imported and run only in a sandbox)")
    spawn.add_argument("--keep", action="store_true",
                       help="keep it: the daemon starts it again (the same NEURO, name, policy and trust) at each "
                            "start ($NEURO_HOME/keep.toml; `neuro kept` lists them)")

    stop = add(sub, "stop", common, help="stop a neuro (it drains, then the rest are dead letters)",
               example="neuro stop echo", run=_stop)
    stop.add_argument("name", metavar="NAME")
    stop.add_argument("--timeout", type=seconds, default=5.0, metavar="SECONDS", help="drain time (default 5)")
    stop.add_argument("--forget", action="store_true",
                      help="a kept neuro (spawn --keep, apply): also stop keeping it, so the next daemon start "
                           "leaves it stopped (without it, a kept neuro starts again then)")

    restart = add(sub, "restart", common, help="restart a neuro with fresh state", example="neuro restart echo",
                  run=_restart)
    restart.add_argument("name", metavar="NAME")

    for name, helptext, example, fn in (
        ("send", "send a one-way message; prints its id", "neuro send counter key=apples", _send),
        ("call", "call a neuro and print its reply", "neuro call echo text=hi   (or: neuro call echo '{\"text\": \"hi\"}')", _call),
    ):
        p = add(sub, name, common, help=helptext, example=example, run=fn,
                description=f"{helptext[0].upper()}{helptext[1:]}. The payload is one JSON document, - (read "
                            "it from stdin), @FILE (from a JSON file), or key=value pairs typed by the neuro's "
                            "input schema (`neuro info NAME` shows it): text=5 on a string field is \"5\", on an "
                            "integer field 5; true/false for a bool; JSON for a list or an object; for a union "
                            "input, the tag field (type=add) or the fields given pick the message type. The "
                            "kernel validates the payload against the input type and names the field that fails."
                            + (" On a terminal, the callee's progress events (ctx.progress) show as a bar on "
                               "stderr while it works; not on a pipe, nor with --json." if name == "call" else ""))
        p.add_argument("to", metavar="NAME", help="the neuro")
        p.add_argument("payload", nargs="*", metavar="PAYLOAD", help="key=value pairs, JSON, - (stdin) or @FILE")
        p.add_argument("--timeout", type=_deadline, default=10.0 if name == "call" else None, metavar="SECONDS",
                       help="deadline, `inf` for none" + (" (default 10)" if name == "call" else
                                                          " for room in a full mailbox (default: the policy's "
                                                          "send_timeout)"))
        p.add_argument("--durable", action="store_true",
                       help="commit the message to the log (synchronous=FULL) before it is acknowledged")

    swap = add(sub, "swap", common, help="hot-swap a running neuro to a new version",
               description="Replace a running neuro's version atomically without losing a message. With "
                           "--replay N the replay gate runs first: the current version and the new one each "
                           "answer the last N logged calls in a shadow instance that sends nothing, from the "
                           "same state, and the new one goes live only if their answers agree (equal, numbers "
                           "within --tolerance, or as the neuro's own `agree` hook says). The first "
                           "differences are shown: input, current answer, new answer. Exit 1 if the swap is "
                           "refused (with --dry-run: would be).",
               example="neuro swap echo ./echo_v2.py --replay 50", run=_swap)
    swap.add_argument("name", metavar="NAME")
    swap.add_argument("neuro", metavar="NEURO", help="module:Class, or the path of a neuro file or folder")
    swap.add_argument("--replay", type=whole_number, metavar="N", help="replay the last N logged calls first")
    swap.add_argument("--tolerance", type=_tolerance, metavar="T",
                      help="numbers in the answers may differ by T, relative to their size (default: the neuro's "
                           "own replay_tolerance, or its agree hook)")
    swap.add_argument("--accept", action="store_true", help="take the differences the gate found and go live")
    swap.add_argument("--dry-run", action="store_true",
                      help="load, selfcheck and run the gate, report, and leave the current version serving")
    swap.add_argument("--trusted", action="store_true", help="the new version is a file you wrote (as for spawn)")

    rollback = add(sub, "rollback", common, help="swap a neuro back to an earlier version",
                   example="neuro rollback echo --version 3fa2", run=_rollback)
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--version", help="a version (or its prefix); default: the one before")

    sleep = add(sub, "sleep", common, help="run a neuro's sleep hook (consolidation) and print what it returned",
                description="Run the `sleep` hook of a running neuro (dream consolidation) and print what it "
                            "returned. What it did and how long it took is a `hook.done` event (`neuro logs "
                            "--events`). A hook that raises is a RemoteError (exit 3; its traceback under --json).",
                example="neuro sleep learner --json", run=_sleep)
    sleep.add_argument("name", metavar="NAME")


_row = ps_row


def _tolerance(text: str) -> float:
    """`--tolerance`: a finite number >= 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0: answers must be equal), got {text!r}")
    return value


def _deadline(text: str) -> float:
    """`--timeout` of send and call: more than 0 seconds, or `inf` (a deadline of 0 has passed)."""
    from .cli import seconds

    try:
        value = seconds(text)
    except argparse.ArgumentTypeError:  # NaN or negative: this command's own wording, which says > 0
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 (or inf for none), got {text!r}")
    return value


def _interval(text: str) -> float:
    """`ps --interval`: more than 0 seconds, and finite."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _positive_count(text: str) -> int:
    from .cli import positive_int

    return positive_int(text)


def _ps(args: argparse.Namespace) -> int:
    if args.watch:
        from .commands_info import watch_ps

        return watch_ps(args)
    with Session(args) as s:
        rows = s.ps()
    print_ps(rows, args)
    return 0


def _spawn(args: argparse.Namespace) -> int:
    spec = args.neuro if args.version is not None else neuro_spec(args.neuro)  # absolute: the daemon runs elsewhere
    if args.keep and args.version is not None:
        from .cli import EXIT_USAGE, Problem

        raise Problem("--keep keeps what NEURO names, not a stored --version", code=EXIT_USAGE, type="UsageError",
                      hint="keep the file or module: `neuro spawn NEURO --keep`")
    with Session(args) as s:
        if args.version is not None:
            info = s.spawn(spec, name=args.name, policy=args.policy, version=args.version)
        else:
            info = s.spawn(spec, name=args.name, policy=args.policy, trusted=args.trusted)
    kept = None
    if args.keep:  # recorded once it runs: a spawn that failed keeps nothing
        from .commands_keep import keep_spawned

        kept = keep_spawned(args, spec, info)
    if args.json:
        print_value({**info, "kept": True} if kept else info, args)
    else:
        print(f"spawned {info['name']} (pid {info['pid']}, version {info['version'][:8]}, policy {info['policy']})")
        if kept:
            print(kept)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from .commands_keep import kept_but_not_running, stop_notes

    import neuro

    with Session(args) as s:
        try:
            s.stop(args.name, timeout=args.timeout)
            stopped = True
        except neuro.NoSuchNeuro:
            if not kept_but_not_running(args):  # `--forget` of a kept neuro not running: forgetting is all
                raise
            stopped = False
        notes = stop_notes(args, s, stopped)  # pinned (drop folder), kept, forgotten
    if args.json:
        print_value({"stopped": args.name if stopped else None, **notes}, args)
    else:
        print("\n".join(([f"stopped {args.name}"] if stopped else []) + notes["notes"]))
    return 0


def _restart(args: argparse.Namespace) -> int:
    with Session(args) as s:
        info = s.restart(args.name)
    print_value(info if args.json else f"restarted {info['name']} (pid {info['pid']})", args)
    return 0


def _send(args: argparse.Namespace) -> int:
    with Session(args) as s:
        payload = payload_for(s, args.to, args.payload)
        mid = s.send(args.to, payload, timeout=args.timeout, durable=args.durable)
    print_value({"id": mid} if args.json else str(mid), args)
    return 0


def _call(args: argparse.Namespace) -> int:
    import json
    import sys

    bar = not args.json and sys.stderr.isatty()  # the callee's progress events as a bar while it works
    with Session(args) as s:
        payload = payload_for(s, args.to, args.payload)
        if not bar:
            reply = s.call(args.to, payload, timeout=args.timeout, durable=args.durable)
    if bar:
        from .commands_pubsub import call_with_progress

        reply = call_with_progress(args, args.to, payload, timeout=args.timeout, durable=args.durable)
    if args.json:
        print_value({"reply": reply}, args)
    else:
        print(json.dumps(reply, default=str))
    return 0


def _swap(args: argparse.Namespace) -> int:
    from .cli import EXIT_PROBLEM

    spec = neuro_spec(args.neuro)
    with Session(args) as s:
        try:
            report = s.swap(args.name, spec, replay=args.replay, trusted=args.trusted, tolerance=args.tolerance,
                            accept=args.accept, dry_run=args.dry_run)
        except Exception as e:
            report = getattr(e, "report", None)
            if report is None:
                raise
            _report(report, args.json)
            return EXIT_PROBLEM
    _report(report, args.json)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from .commands_keep import rollback_notes

    with Session(args) as s:
        report = s.rollback(args.name, args.version)
        notes = rollback_notes(s, args.name)  # a drop-folder neuro is pinned at this version
    _report(report, args.json)
    if notes and not args.json:
        print("\n".join(notes))
    return 0


def _report(report: Any, as_json: bool) -> None:
    from msgspec import to_builtins

    report = to_builtins(report)
    if as_json:
        print_value(report, as_json=True)
        return
    if report.get("stage") == "unchanged":  # the same code (one identity, however it arrived)
        print(f"unchanged: {report['name']} is already {report['old_version']}")
        return
    if report.get("dry_run"):
        verdict = "would go live (dry run; nothing changed)" if report.get("ok") else \
            f"would be refused at {report.get('stage')} (dry run; nothing changed)"
    else:
        verdict = "live" if report.get("ok") else f"refused at {report.get('stage')}"
    print(f"{report['name']}: {report['old_version'][:8]} -> {report['new_version'][:8]} {verdict} "
          f"({report.get('seconds', 0):.3f}s, origin {report.get('origin')})")
    error = report.get("error")
    if error:
        where = f" ({error.get('file')}:{error.get('line')})" if error.get("file") else ""
        print(f"  {error['type']}: {error['message']}{where}")
    if report.get("replay"):
        _replay_lines(report["replay"])


_STARTS = {"window": "from the state before the replayed calls", "live": "from a snapshot of the live state",
           "fresh": "from fresh instances"}


def _replay_lines(gate: dict[str, Any]) -> None:
    """The gate's figures, then its first differences as a table: input, current, candidate."""
    import json

    how = {"exact": "answers equal", "agree": "the neuro's agree hook"}.get(
        gate.get("judge", "exact"), f"numbers within {gate.get('tolerance', 0):g}")
    print(f"  replay gate: {gate['agreed']} of {gate['compared']} calls agreed ({how}; "
          f"{_STARTS.get(gate.get('start', ''), gate.get('start', ''))})")
    differences = gate.get("differences") or []
    if not differences:
        return

    def cell(value: Any, error: str = "") -> str:
        text = error or json.dumps(value, default=str, separators=(",", ":"))
        return text if len(text) <= 40 else text[:37] + "..."

    rows = [{"input": cell(d["payload"]), "current": cell(d["current"], d.get("current_error", "")),
             "candidate": cell(d["candidate"], d.get("candidate_error", ""))} for d in differences]
    shown = len(rows)
    print(f"  first {shown} difference{'s' if shown != 1 else ''}:" if shown < gate["compared"] - gate["agreed"]
          else "  differences:")
    cols = list(rows[0])
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in cols]
    for line in ([dict(zip(cols, cols))] + [dict(zip(cols, ("-" * w for w in widths)))] + rows):
        print("    " + "  ".join(line[c].ljust(w) for c, w in zip(cols, widths)).rstrip())


def _sleep(args: argparse.Namespace) -> int:
    import json

    with Session(args) as s:
        result = s.hook(args.name, "sleep")
    if args.json:
        print_value({"neuro": args.name, "hook": "sleep", "result": result}, args)
    else:
        print(f"{args.name} slept" + (f": {json.dumps(result, default=str)}" if result is not None else ""))
    return 0
