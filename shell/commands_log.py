"""`neuro logs`, `neuro tail [-f]`, `neuro trace ID`: the daemon's event log."""

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
    key = "seq" if args.events else "id"
    last = max((r[key] for r in seen), default=None)
    for row in s.stream("tail", neuro=args.neuro, kind=args.kind, correlation=args.correlation,
                        since=args.since, events=args.events):
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
