"""`neuro ps|spawn|stop|restart|send|call|swap|rollback|sleep`: neuros on the daemon
(`versions` and `diff` are in commands_versions)."""

from __future__ import annotations

import argparse
from typing import Any

from ._cliutil import Session, parse_payload, print_value
from ._output import print_table, ps_row


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add, seconds, whole_number

    add(sub, "ps", common, help="the process table, with counters", example="neuro ps --json", run=_ps)

    spawn = add(sub, "spawn", common, help="start a neuro on the daemon",
                description="Start a neuro on the daemon. NEURO is `module:Class`, a neuro file "
                            "(`path.py` or `path.py:Class`) or a package folder. With --version, NEURO is "
                            "the name of a neuro and that version from the version store starts as a new "
                            "process (--as NAME), beside the one running: `neuro spawn tutor --version 3fa2 "
                            "--as student`.",
                example="neuro spawn neuro.neuros.echo:Echo --name echo2", run=_spawn)
    spawn.add_argument("neuro", metavar="NEURO", help="module:Class, the path of a neuro file or folder, "
                                                      "or with --version a neuro's name")
    spawn.add_argument("--name", "--as", dest="name", help="the process name (default: the neuro's own)")
    spawn.add_argument("--version", help="start this stored version of NEURO (a version or its prefix; see "
                                         "`neuro versions NEURO`)")
    spawn.add_argument("--policy", help="a policy name (default: the neuro's own)")
    spawn.add_argument("--trusted", action="store_true",
                       help="a file you wrote yourself: import and run it in the daemon's process like an installed "
                            "module (default: a file is untrusted, imported and run only in a sandbox)")

    stop = add(sub, "stop", common, help="stop a neuro (it drains, then the rest are dead letters)",
               example="neuro stop echo", run=_stop)
    stop.add_argument("name", metavar="NAME")
    stop.add_argument("--timeout", type=seconds, default=5.0, metavar="SECONDS", help="drain time (default 5)")

    restart = add(sub, "restart", common, help="restart a neuro with fresh state", example="neuro restart echo",
                  run=_restart)
    restart.add_argument("name", metavar="NAME")

    for name, helptext, example, fn in (
        ("send", "send a one-way message; prints its id", "neuro send counter key=apples", _send),
        ("call", "call a neuro and print its reply", "neuro call echo text=hi   (or: neuro call echo '{\"text\": \"hi\"}')", _call),
    ):
        p = add(sub, name, common, help=helptext, example=example, run=fn,
                description=f"{helptext[0].upper()}{helptext[1:]}. The payload is one JSON document or key=value "
                            "pairs (a value is read as JSON when it is JSON); the kernel validates it against "
                            "the neuro's input type and names the field that fails.")
        p.add_argument("to", metavar="NAME", help="the neuro")
        p.add_argument("payload", nargs="*", metavar="PAYLOAD", help="JSON, or key=value pairs")
        p.add_argument("--timeout", type=seconds, default=10.0 if name == "call" else None, metavar="SECONDS",
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


def _ps(args: argparse.Namespace) -> int:
    with Session(args) as s:
        rows = s.ps()
    print_table(rows if args.json else [_row(p) for p in rows], as_json=args.json)
    return 0


def _spawn(args: argparse.Namespace) -> int:
    import os

    spec = args.neuro
    path = spec.split(":")[0]
    if os.path.exists(path) and args.version is None:  # the daemon runs elsewhere: give it an absolute path
        spec = os.path.abspath(path) + spec[len(path):]
    with Session(args) as s:
        if args.version is not None:
            info = s.spawn(spec, name=args.name, policy=args.policy, version=args.version)
        else:
            info = s.spawn(spec, name=args.name, policy=args.policy, trusted=args.trusted)
    if args.json:
        print_value(info, as_json=True)
    else:
        print(f"spawned {info['name']} (pid {info['pid']}, version {info['version'][:8]}, policy {info['policy']})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    with Session(args) as s:
        s.stop(args.name, timeout=args.timeout)
    print_value({"stopped": args.name} if args.json else f"stopped {args.name}", as_json=args.json)
    return 0


def _restart(args: argparse.Namespace) -> int:
    with Session(args) as s:
        info = s.restart(args.name)
    print_value(info if args.json else f"restarted {info['name']} (pid {info['pid']})", as_json=args.json)
    return 0


def _send(args: argparse.Namespace) -> int:
    payload = parse_payload(args.payload)
    with Session(args) as s:
        mid = s.send(args.to, payload, timeout=args.timeout, durable=args.durable)
    print_value({"id": mid} if args.json else str(mid), as_json=args.json)
    return 0


def _call(args: argparse.Namespace) -> int:
    import json

    payload = parse_payload(args.payload)
    with Session(args) as s:
        reply = s.call(args.to, payload, timeout=args.timeout, durable=args.durable)
    if args.json:
        print_value({"reply": reply}, as_json=True)
    else:
        print(json.dumps(reply, default=str))
    return 0


def _swap(args: argparse.Namespace) -> int:
    import os

    from .cli import EXIT_PROBLEM

    spec = args.neuro
    path = spec.split(":")[0]
    if os.path.exists(path):
        spec = os.path.abspath(path) + spec[len(path):]
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
    with Session(args) as s:
        report = s.rollback(args.name, args.version)
    _report(report, args.json)
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
        print_value({"neuro": args.name, "hook": "sleep", "result": result}, as_json=True)
    else:
        print(f"{args.name} slept" + (f": {json.dumps(result, default=str)}" if result is not None else ""))
    return 0
