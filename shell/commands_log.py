"""`neuro logs`, `neuro tail [-f]`, `neuro trace ID`: the daemon's event log; `neuro log
vacuum`: retention by hand, through the daemon when one runs, else on the log file itself."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._cliutil import Session, parse_since, print_value, when
from ._output import print_table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add, positive_int

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--neuro", metavar="NAME", help="messages to (or events of) this neuro")
    filters.add_argument("--kind", choices=["send", "call", "event"], help="messages of this kind")
    filters.add_argument("--correlation", type=positive_int, metavar="ID", help="one conversation: its correlation id")
    filters.add_argument("--since", type=parse_since, metavar="WHEN", help="30s, 5m, 2h, 1d, epoch seconds or ISO time")
    filters.add_argument("--events", action="store_true", help="lifecycle events instead of messages")
    filters.add_argument("-f", "--follow", action="store_true", help="keep printing rows as they are written")

    logs = add(sub, "logs", common, help="messages (or events) from the log, oldest first",
               description="Messages with their outcomes (or, with --events, lifecycle events) from the "
                           "daemon's event log, filtered; -f follows.",
               example="neuro logs --neuro echo --since 5m", run=_logs, parents=(filters,))
    logs.add_argument("--outcome", choices=["handled", "error", "dead", "none"], help="messages with this outcome")
    logs.add_argument("--limit", type=positive_int, default=100, metavar="N", help="at most N rows (default 100)")

    tail = add(sub, "tail", common, help="the newest rows of the log; -f keeps following",
               example="neuro tail -f --neuro echo", run=_tail, parents=(filters,))
    tail.add_argument("-n", "--lines", type=positive_int, default=10, metavar="N", help="rows to show first (default 10)")

    trace = add(sub, "trace", common, help="a message's path and outcome, with what it caused",
                example="neuro trace 1767225600123456789", run=_trace)
    trace.add_argument("message", type=positive_int, metavar="ID", help="a message id (from `neuro logs` or `neuro send`)")

    from .cli import Parser

    log = add(sub, "log", common, help="look after the event log: prune it (vacuum)",
              description="Manage the event log itself. Retention (what the log keeps: N days, N bytes, or "
                          "everything, the default) is `neuro daemon start --log-keep`; `vacuum` applies it now.",
              example="neuro log vacuum --keep 30d --dry-run")
    actions = log.add_subparsers(dest="log_command", metavar="ACTION", parser_class=Parser)
    vacuum = add(actions, "vacuum", common, help="prune the log now: old messages with their outcomes, events, "
                                                 "unused artifacts",
                 description="Remove the oldest messages (each with its outcome; never one without an outcome, "
                             "such as a durable message not handled yet), events and artifacts no version uses, "
                             "until the log keeps only what --keep says (default: the daemon's policy, else "
                             "$NEURO_LOG_KEEP, else everything). Through the daemon when one runs, in small steps; "
                             "else on the log file. What went is a `log.pruned` event.",
                 example="neuro log vacuum --keep 30d --dry-run", run=_vacuum)
    vacuum.add_argument("--keep", type=_keep, metavar="KEEP",
                        help="what to keep: 30d, 12h, 2w (an age), 10GB, 500MB, 2GiB (a size), 30d,10GB, or all")
    vacuum.add_argument("--dry-run", action="store_true",
                        help="say what would go, remove nothing (sizes are estimates)")
    vacuum.add_argument("--compact", action="store_true",
                        help="then run SQLite's VACUUM: it rewrites the whole file to give freed pages back to the "
                             "disk (the log's writer waits meanwhile)")
    vacuum.add_argument("--log", metavar="PATH", help="a log file to prune directly (default: $NEURO_HOME/log.db)")


def _query(s: Session, args: argparse.Namespace, limit: int, newest_first: bool) -> list[dict[str, Any]]:
    if args.events:
        return s.events(neuro=args.neuro, since=args.since, limit=limit, newest_first=newest_first)
    return s.messages(neuro=args.neuro, kind=args.kind, correlation=args.correlation, since=args.since,
                      outcome=getattr(args, "outcome", None), limit=limit, newest_first=newest_first)


def _logs(args: argparse.Namespace) -> int:
    with Session(args) as s:
        rows = _query(s, args, args.limit, False)
        _print_rows(rows, args)
        if args.follow:
            _follow(s, args, rows)
    return 0


def _tail(args: argparse.Namespace) -> int:
    with Session(args) as s:
        rows = list(reversed(_query(s, args, args.lines, True)))
        _print_rows(rows, args)
        if args.follow:
            _follow(s, args, rows)
    return 0


def _follow(s: Session, args: argparse.Namespace, seen: list[dict[str, Any]]) -> None:
    """Rows as the daemon's log writer commits them, after the last row shown (the daemon
    waits for commits: no polling here or there)."""
    key = "seq" if args.events else "id"
    last = max((r[key] for r in seen), default=None)
    after = {"after_seq": last} if args.events else {"after_id": last}
    for row in s.stream("tail", neuro=args.neuro, kind=args.kind, correlation=args.correlation,
                        outcome=getattr(args, "outcome", None), since=args.since, events=args.events, **after):
        if last is not None and row[key] <= last:
            continue
        _print_rows([row], args, header=False)


def _print_rows(rows: list[dict[str, Any]], args: argparse.Namespace, header: bool = True) -> None:
    if args.json:
        for row in rows:  # one JSON object per line, so -f output is a stream too
            print(json.dumps(row, default=str), flush=True)
        return
    if args.events:
        table = [{"seq": r["seq"], "time": when(r["time"]), "event": r["name"], "neuro": r["neuro"] or "-",
                  "actor": r["actor"], "data": _short(r["data"])} for r in rows]
    else:
        table = [{"id": r["id"], "time": when(r["time"]), "kind": r["kind"], "from": r["sender"],
                  "to": r["recipient"], "outcome": _outcome(r), "payload": _short(r["payload"])} for r in rows]
    if header or not table:
        if table or header:
            print_table(table, as_json=False)
    else:
        for row in table:
            print("  ".join(str(v) for v in row.values()), flush=True)


def _outcome(r: dict[str, Any]) -> str:
    if r.get("outcome") is None:
        return "-"
    if r["outcome"] == "dead":
        return f"dead ({r.get('reason')})"
    if r["outcome"] == "error" and r.get("error"):
        return f"error ({r['error'].get('type')})"
    return r["outcome"]


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= width else text[:width - 1] + "…"


def _trace(args: argparse.Namespace) -> int:
    from .cli import EXIT_PROBLEM, Problem

    with Session(args) as s:
        node = s.trace(args.message)
    if node is None:
        raise Problem(f"no message {args.message} in the log", code=EXIT_PROBLEM, type="NotFound",
                      hint="find ids with `neuro logs`")
    if args.json:
        print_value(node, as_json=True)
        return 0
    _print_node(node, 0)
    return 0


def _print_node(node: dict[str, Any], depth: int) -> None:
    m = node["message"]
    latency = f" in {m['latency'] * 1e3:.2f} ms" if m.get("latency") is not None else ""
    print(f"{'  ' * depth}{m['id']}  {m['kind']} {m['sender']} -> {m['recipient']}  "
          f"{_short(m['payload'], 40)}  => {_outcome(m)}{latency}")
    if m.get("error") and depth == 0:
        print(f"{'  ' * depth}   {m['error'].get('type')}: {m['error'].get('message')}")
    for child in node["children"]:
        _print_node(child, depth + 1)


# -- neuro log vacuum ---------------------------------------------------------------------------

def _keep(text: str) -> str:
    """--keep, checked here so a bad one is a usage error; passed on as written."""
    from neuro.kernel._retention import parse_retention

    try:
        parse_retention(text, "--keep")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--keep: ")) from None
    return text


def _vacuum(args: argparse.Namespace) -> int:
    import os

    from . import daemon as d

    st = d.State(args.home)
    path = os.path.abspath(args.log) if args.log else str(st.log)
    if d.running_pid(st) is not None and os.path.abspath(path) == os.path.abspath(st.log):
        with Session(args) as s:
            report = s.vacuum(keep=args.keep, dry_run=args.dry_run, compact=args.compact)
        via = "daemon"
    else:
        report = _vacuum_file(path, args)
        via = "file"
    doc = {**report, "via": via, "log": path}
    if args.json:
        print_value(doc, as_json=True)
    else:
        _print_report(doc)
    return 0


def _vacuum_file(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """No daemon writes this log: prune the file from here, with --keep, else $NEURO_LOG_KEEP."""
    import os

    import msgspec

    from neuro._errors import SettingError
    from neuro.kernel._retention import parse_retention, prune_file

    from .cli import EXIT_FAILED, Problem
    from .daemon import LOG_KEEP_ENV as ENV

    if not os.path.isfile(path):
        raise Problem(f"no event log at {path}", code=EXIT_FAILED, type="LogError",
                      hint="give the file with --log PATH, or run the daemon once (`neuro daemon start`)")
    if args.keep is not None:
        policy = parse_retention(args.keep, "--keep")
    else:
        try:
            policy = parse_retention(os.environ.get(ENV) or None, ENV)
        except ValueError as e:
            raise SettingError(str(e)) from None
    return msgspec.to_builtins(prune_file(path, policy, dry_run=args.dry_run, compact=args.compact, actor="cli"))


def _print_report(r: dict[str, Any]) -> None:
    if r["keep"] == "all" and not r["compacted"]:
        print(f"the log keeps everything (the default policy): nothing pruned from {r['log']}; "
              "give --keep 30d or --keep 10GB, or start the daemon with --log-keep")
        return
    verb = "would remove" if r["dry_run"] else "removed"
    before = f", from before {when_full(r['cutoff'])}" if r["cutoff"] is not None else ""
    print(f"{verb} {r['messages']} messages (each with its outcome), {r['events']} events and "
          f"{r['artifacts']} artifacts from {r['log']} (keep {r['keep']}{before}; through the {r['via']})")
    if r["kept_unfinished"]:
        print(f"kept {r['kept_unfinished']} older messages that have no outcome yet")
    about = "about " if r["dry_run"] else ""
    print(f"in use: {_bytes(r['bytes_before'])} -> {about}{_bytes(r['bytes_after'])}; file {_bytes(r['file_bytes'])}"
          + ("; rewritten (VACUUM)" if r["compacted"] else ""))
    if r["over_limit"]:
        print("still over the size limit: what is left is what retention keeps (unfinished messages, versions, "
              "artifacts in use)")


def when_full(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _bytes(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
