"""`neuro logs` and `neuro tail`, once their options are read (by argparse in commands_log, or
by the lean path in _lean_logs): which file, which rows, how they print, and `-f`.

Both commands read the log file itself (`_logcli_read`), with a daemon running or none: the
same rows, the same filters (--grep, --boot, --until included) and the same output either way,
and a log is readable after a crash. When the daemon of $NEURO_HOME runs, it is first asked to
flush what it has queued (a `messages` request with limit 0), so a call that just returned is
in the listing. `-f` is `_logcli_follow`. Nothing here imports trio, msgspec, argparse or the
kernel.
"""

from __future__ import annotations

import sys

from ._logcli_read import EXIT_USAGE, LogFile, LogFileError, compact, default_path, parse_when

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_LINES = {"logs": 100, "tail": 10}  # like `journalctl -e` (the newest, 1000) and `tail` (10)
MESSAGE_ONLY = ("kind", "outcome", "correlation", "sender")  # filters events do not have
EVENT_ONLY = ("name",)


# -- option values (the lean parser and argparse both use these) ---------------------------------

def lines_value(text: str) -> int | None:
    """-n: a whole number of at least 1, or `all` (None)."""
    if text == "all":
        return None
    if not text.isdigit() or not 0 < int(text) < 1 << 63:
        raise ValueError(f"expected a number of rows of at least 1, or all, got {text!r}")
    return int(text)


def positive_value(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 1 << 63:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def boot_value(text: str) -> int:
    """--boot: 0 (this run, the default), -1 (the one before), ...; 1 the first run, 2 the second."""
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit():
        raise ValueError(f"expected a boot offset such as 0, -1 or 2 (see --list-boots), got {text!r}")
    return int(text)


# The options of both commands, read by both parsers: (flags, dest, what, help), where `what` is
# None for a flag, a converter for an option with a value, or ("optional", converter, const)
# for one whose value may be left out (--boot). `choices` live in the converter.
def _choice(*names: str) -> Any:
    def convert(text: str) -> str:
        if text not in names:
            raise ValueError(f"expected one of {', '.join(names)}, got {text!r}")
        return text

    return convert


OPTIONS: tuple[tuple[tuple[str, ...], str, Any, str], ...] = (
    (("-n", "--lines", "--limit"), "lines", lines_value,
     "show the newest N rows (`all`: every row; default: 100 for logs, 10 for tail)"),
    (("--since", "-S"), "since", parse_when,
     "rows from this time on: 5m, 2h, 1d, '10 min ago' (ages), today, yesterday, 12:30, 2026-12-01, "
     "2026-12-01T12:30, epoch"),
    (("--until", "-U"), "until", parse_when, "rows before this time (the same forms as --since)"),
    (("-g", "--grep"), "grep", str,
     "rows whose payload (as JSON), outcome reason or error match this regular expression; "
     "for events, the name and data"),
    (("-i", "--ignore-case"), "ignore_case", None, "--grep ignores case"),
    (("-r", "--reverse"), "reverse", None, "newest first"),
    (("-b", "--boot"), "boot", ("optional", boot_value, 0),
     "rows of one kernel run: 0 or none (this daemon run, or the last), -1 the one before, 1 the first"),
    (("--list-boots",), "list_boots", None, "list the kernel runs on this log (and exit)"),
    (("--neuro",), "neuro", str, "messages to this neuro, or events about it"),
    (("--sender",), "sender", str, "messages from this sender (a neuro, client, kernel); not for events"),
    (("--kind",), "kind", _choice("send", "call", "event"), "messages of this kind; not for events"),
    (("--outcome",), "outcome", _choice("handled", "error", "dead", "none"),
     "messages with this outcome (none: not yet); not for events"),
    (("--correlation",), "correlation", positive_value, "one conversation, by its correlation id; not for events"),
    (("--name",), "name", str, "events with this name (`*` globs: 'neuro.*'); events only"),
    (("--events",), "events", None, "lifecycle and error events instead of messages"),
    (("-f", "--follow"), "follow", None, "then keep printing rows as they are written (Ctrl-C stops)"),
    (("--log",), "log", str, "read this log file (default: $NEURO_HOME/log.db, the daemon's)"),
)


def defaults(command: str) -> dict[str, Any]:
    out: dict[str, Any] = {dest: (False if what is None else None) for _, dest, what, _ in OPTIONS}
    out["lines"] = DEFAULT_LINES[command]
    return out


def check(opts: Any) -> None:
    """Combinations that cannot work: a usage error (exit 2) that says why."""
    def usage(message: str, hint: str) -> LogFileError:
        return LogFileError(message, code=EXIT_USAGE, type="UsageError", hint=hint)

    if opts.events:
        given = [f"--{k}" for k in MESSAGE_ONLY if getattr(opts, k) is not None]
        if given:
            raise usage(f"{', '.join(given)} filter{'s' if len(given) == 1 else ''} messages; events have no "
                        f"{given[0][2:]}", "drop it, or filter events with --neuro, --name, --grep, --since or --boot")
    else:
        if opts.name is not None:
            raise usage("--name filters events by name; messages have none",
                        "add --events, or filter messages with --neuro, --sender, --kind, --grep")
    if opts.follow and opts.until is not None:
        raise usage("-f follows new rows, which --until would leave out", "drop --until, or -f")
    if opts.follow and opts.reverse:
        raise usage("-f prints rows as they come, oldest first: -r cannot go with it", "drop -r, or -f")
    if opts.follow and opts.boot not in (None, 0):
        raise usage(f"-f follows the log from now on, not boot {opts.boot}", "drop -f, or --boot")
    if opts.ignore_case and opts.grep is None:
        raise usage("-i is for --grep", "give --grep PATTERN")
    if opts.since is not None and opts.until is not None and opts.until <= opts.since:
        raise usage("--until is not after --since: no row can match", "give --until a later time")


def compile_grep(opts: Any) -> Any:
    if opts.grep is None:
        return None
    import re

    try:
        return re.compile(opts.grep, re.IGNORECASE if opts.ignore_case else 0)
    except re.error as e:
        raise LogFileError(f"--grep {opts.grep!r} is not a regular expression: {e}", code=EXIT_USAGE,
                           type="UsageError", hint="escape special characters with \\, e.g. --grep 'a\\.b'") from None


# -- running the command ----------------------------------------------------------------------

def run(opts: Any) -> int:
    """`neuro logs` or `neuro tail` with `opts` read; LogFileError for what goes wrong."""
    check(opts)
    grep = compile_grep(opts)
    own = default_path(opts.home)
    path = opts.log or own
    if same_file(path, own):
        flush_daemon(opts.home)
    log = LogFile(path)
    try:
        if opts.list_boots:
            return list_boots(log, opts)
        since, until, boot = opts.since, opts.until, None
        if opts.boot is not None:
            boot = log.boot(opts.boot)
            since = boot["started"] if since is None else max(since, boot["started"])
            until = boot["until"] if until is None else (min(until, boot["until"]) if boot["until"] else until)
        version = log.data_version()  # before the read: a commit during it is not missed by -f
        marks = log.last_ids()
        limit = opts.lines
        rows = query(log, opts, grep, since=since, until=until, limit=None if limit is None else limit + 1,
                     newest_first=True)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit]
        if not opts.reverse:
            rows.reverse()
        if opts.follow:
            from ._logcli_follow import follow

            return follow(log, opts, grep, rows, marks, version)
        show(rows, opts)
        if more and output_of(opts) == "table" and sys.stderr.isatty():
            print(f"(the newest {limit} rows; older ones: -n N, -n all or --since)", file=sys.stderr)
        return 0
    finally:
        log.close()


def query(log: LogFile, opts: Any, grep: Any, **kw: Any) -> list[dict[str, Any]]:
    """The rows `opts` filters for, with `kw` (limits, cursors, times) added or put instead."""
    if opts.events:
        return log.events(**{"name": opts.name, "neuro": opts.neuro, "grep": grep, **kw})
    return log.messages(**{"neuro": opts.neuro, "sender": opts.sender, "kind": opts.kind, "grep": grep,
                           "correlation": opts.correlation, "outcome": opts.outcome, **kw})


def same_file(a: str, b: str) -> bool:
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def flush_daemon(home: str | None) -> bool:
    """Ask the daemon of `home` (if one runs) to commit what it has queued, so that what it
    acknowledged is in the file; False when none answers (no daemon: nothing is queued)."""
    from ._lean import request, _socket_path

    return request(_socket_path(home), {"frame": "messages", "id": 1, "limit": 0}, timeout=5.0) is not None


# -- output ---------------------------------------------------------------------------------

def output_of(opts: Any) -> str:
    return getattr(opts, "output", None) or "table"


def table_row(r: dict[str, Any], events: bool) -> dict[str, Any]:
    """A row as the table (and CSV) show it: the JSON's keys, fewer of them, values made short."""
    if events:
        return {"seq": r["seq"], "time": r["time"], "name": r["name"], "neuro": r["neuro"], "actor": r["actor"],
                "data": compact(r["data"])}
    error = r.get("error")
    reason = f"{error.get('type')}: {error.get('message')}" if error else r.get("reason")
    return {"id": r["id"], "time": r["time"], "kind": r["kind"], "sender": r["sender"], "recipient": r["recipient"],
            "outcome": r["outcome"], "reason": reason, "payload": compact(r["payload"])}


def show(rows: list[dict[str, Any]], opts: Any) -> None:
    from ._output import print_rows

    key = "seq" if opts.events else "id"
    output = output_of(opts)
    if output in ("json", "jsonl", "quiet"):
        print_rows(rows, opts, key=key)
    else:
        table = [table_row(r, opts.events) for r in rows]
        print_rows(fit(table, terminal_width(opts)) if output == "table" else table, opts, key=key)


SQUEEZE = ("reason", "payload", "data")  # the columns a narrow terminal cuts (never an id or a time)


def fit(rows: list[dict[str, Any]], width: int | None) -> list[dict[str, Any]]:
    """Table rows whose reason, payload and data are cut so that a row fits `width`: print_rows
    would narrow the widest columns instead, ids and times too, and an id cut is no use."""
    if width is None or not rows:
        return rows
    from ._output import when

    def text(key: str, value: Any) -> str:
        return when(value) if key == "time" else "-" if value is None else str(value)

    cols = list(rows[0])
    widths = {c: max(len(c), *(len(text(c, r[c])) for r in rows)) for c in cols}
    squeeze = [c for c in cols if c in SQUEEZE]
    room = width - sum(widths[c] for c in cols if c not in squeeze) - 2 * (len(cols) - 1)
    if not squeeze or room >= sum(widths[c] for c in squeeze):
        return rows
    limits = {c: max(8, room) for c in squeeze}
    if len(squeeze) == 2:  # the reason gets up to 2/5 of the room, the payload the rest
        limits[squeeze[0]] = max(8, min(widths[squeeze[0]], room * 2 // 5))
        limits[squeeze[1]] = max(8, room - limits[squeeze[0]])

    def cut(value: Any, limit: int) -> Any:
        return value if value is None or len(str(value)) <= limit else str(value)[:limit - 1] + "…"

    return [{k: cut(v, limits[k]) if k in limits else v for k, v in r.items()} for r in rows]


def terminal_width(opts: Any) -> int | None:
    """How wide a table may be, as print_rows reckons it: None (uncut) with --wide or off a
    terminal, else $COLUMNS, else the terminal's width."""
    import os

    if getattr(opts, "wide", False):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:  # a terminal that does not know its size says 0: as good as none
        return (os.get_terminal_size(sys.stdout.fileno()).columns or None) if sys.stdout.isatty() else None
    except (OSError, ValueError):
        return None


def list_boots(log: LogFile, opts: Any) -> int:
    from ._output import print_rows

    rows = []
    for b in log.boots():
        rows.append({"boot": b["boot"], "id": b["id"], "pid": b["pid"], "started": b["started"],
                     "stopped": b["closed"], "state": b["state"],
                     "messages": log.count_messages(b["started"], b["until"])})
    print_rows(rows, opts, key="boot")
    return 0
