"""`neuro logs`, `neuro tail [-f]`, `neuro trace ID`: the event log, read from its file with a
daemon running or none (`_logcli_show`; the lean path `_lean_logs` runs the same code without
argparse); `neuro log vacuum`: retention by hand, through the daemon when one runs, else on the
log file itself."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._output import print_value

_LOGS_HELP = """Rows of the event log: messages with their outcomes, or with --events lifecycle and error
events. By default the newest rows, oldest of them first (as `journalctl -e` and `tail`
show them): 100 for `logs`, 10 for `tail`; -n N or -n all for more, -r for newest first.
The log file is read directly ($NEURO_HOME/log.db, or --log PATH), so all of this works
without a daemon too, after a crash as well; a running daemon is first asked to commit what
it has queued. --kind, --outcome, --correlation and --sender filter messages only, --name
events only: given with the other, they are a usage error. -f prints the rows, then every
new one as it is committed, with a header saying what it follows; it says when the daemon
stops (kernel.stopped) or crashes and goes on when a daemon starts again."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add, positive_int

    from ._logcli_show import DEFAULT_LINES

    logs = add(sub, "logs", common, help="rows of the event log: the newest 100 messages (or events), filtered",
               description=_LOGS_HELP, example="neuro logs --neuro echo --since 5m",
               run=_logs, parents=(_filters(DEFAULT_LINES["logs"]),))
    logs.set_defaults(lines=DEFAULT_LINES["logs"])
    tail = add(sub, "tail", common, help="the newest 10 rows of the event log; -f keeps following",
               description=_LOGS_HELP, example="neuro tail -f --neuro echo", run=_logs,
               parents=(_filters(DEFAULT_LINES["tail"]),))
    tail.set_defaults(lines=DEFAULT_LINES["tail"])

    trace = add(sub, "trace", common, help="a message's path and outcome, with what it caused",
                description="A message, its outcome, and recursively every message sent while handling it. "
                            "Read from the log file: with a daemon running or none (--log PATH names a file).",
                example="neuro trace 1767225600123456789", run=_trace)
    trace.add_argument("message", type=positive_int, metavar="ID", help="a message id (from `neuro logs` or `neuro send`)")
    trace.add_argument("--log", metavar="PATH", help="read this log file (default: $NEURO_HOME/log.db, the daemon's)")

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


def _filters(lines: int) -> argparse.ArgumentParser:
    """The options of `logs` and `tail`, from the one table the lean path reads too."""
    from ._logcli_show import OPTIONS

    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("rows")
    for flags, dest, what, help in OPTIONS:
        if what is None:
            group.add_argument(*flags, dest=dest, action="store_true", help=help)
        elif isinstance(what, tuple):  # a value that may be left out (--boot)
            group.add_argument(*flags, dest=dest, nargs="?", const=what[2], type=_type(what[1]), metavar="N",
                               help=help)
        else:
            group.add_argument(*flags, dest=dest, type=_type(what), metavar=_METAVARS.get(dest, dest.upper()),
                               help=help.replace("default: 100 for logs, 10 for tail", f"default {lines}"))
    return parser


_METAVARS = {"lines": "N", "since": "WHEN", "until": "WHEN", "grep": "PATTERN", "neuro": "NAME", "sender": "NAME",
             "kind": "KIND", "outcome": "OUTCOME", "correlation": "ID", "name": "NAME", "log": "PATH"}


def _type(convert: Any) -> Any:
    """A converter raising ValueError, as an argparse type whose error is its message."""
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _logs(args: argparse.Namespace) -> int:
    from ._logcli_read import LogFileError
    from ._logcli_show import run
    from .cli import Problem

    try:
        return run(args)
    except LogFileError as e:
        raise Problem(str(e), code=e.code, hint=e.hint, type=e.type) from None


def _trace(args: argparse.Namespace) -> int:
    """From the log file, as `neuro logs` reads it (a running daemon is asked to flush first)."""
    from ._logcli_read import LogFileError, default_path
    from ._logcli_show import flush_daemon, same_file
    from .cli import EXIT_NOT_FOUND, Problem

    own = default_path(args.home)
    path = args.log or own
    if same_file(path, own):
        flush_daemon(args.home)
    try:
        from ._logcli_read import LogFile

        LogFile(path).close()  # the same checks and messages as `neuro logs`
    except LogFileError as e:
        raise Problem(str(e), code=e.code, hint=e.hint, type=e.type) from None
    import msgspec

    from neuro.kernel._logquery import LogReader

    with LogReader(path) as reader:
        node = reader.trace(args.message)
    if node is None:
        raise Problem(f"no message {args.message} in {path}", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="find ids with `neuro logs`")
    node = msgspec.to_builtins(node)
    if args.output in ("json", "jsonl"):
        print_value(node, args)
        return 0
    _print_node(node, 0)
    return 0


def _outcome(r: dict[str, Any]) -> str:
    if r.get("outcome") is None:
        return "-"
    if r["outcome"] == "dead":
        return f"dead ({r.get('reason')})"
    if r["outcome"] == "error" and r.get("error"):
        return f"error ({r['error'].get('type')})"
    return r["outcome"]


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= width else text[:width - 1] + "…"


def _print_node(node: dict[str, Any], depth: int) -> None:
    m = node["message"]
    latency = f" in {m['latency'] * 1e3:.2f} ms" if m.get("latency") is not None else ""
    print(f"{'  ' * depth}{m['id']}  {m['kind']} {m['sender']} -> {m['recipient']}  "
          f"{_short(m['payload'])}  => {_outcome(m)}{latency}")
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
        from ._cliutil import Session

        with Session(args) as s:
            report = s.vacuum(keep=args.keep, dry_run=args.dry_run, compact=args.compact)
        via = "daemon"
    else:
        report = _vacuum_file(path, args)
        via = "file"
    doc = {**report, "via": via, "log": path}
    if args.json:
        print_value(doc, args)
    else:
        _print_report(doc)
    return 0


def _vacuum_file(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """No daemon writes this log: prune the file from here, with --keep, else $NEURO_LOG_KEEP."""
    import os

    import msgspec

    from neuro._errors import SettingError
    from neuro.kernel._retention import parse_retention, prune_file

    from .cli import EXIT_NOT_FOUND, Problem
    from .daemon import LOG_KEEP_ENV as ENV

    if not os.path.isfile(path):
        raise Problem(f"no event log at {path}", code=EXIT_NOT_FOUND, type="NotFound",
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
