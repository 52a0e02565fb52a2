"""`-f` of `neuro logs` and `neuro tail`: the rows shown, then every new one as the kernel's
writer commits it. The follower watches the file, not the daemon: SQLite's `data_version` (a
read of shared memory) every FOLLOW_INTERVAL, then a read of what is past the last row. So it
needs no daemon, never makes the writer flush, and goes on across a restart; lines of its own
(`-- ...`) say what it follows, when the kernel stopped (its `kernel.stopped` event), when it
died without one (its pid is gone: checked once a second), and when a kernel starts again.
"""

from __future__ import annotations

import sys

from ._logcli_read import LogFile, pid_alive
from ._logcli_show import output_of, query, table_row, terminal_width

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FOLLOW_INTERVAL = 0.02  # seconds between looks at data_version
PAGE = 500  # rows read at a time
PENDING = 10_000  # messages an --outcome follower waits for at most


def notice(text: str, opts: Any) -> None:
    """A follower's own line (its header, the daemon stopping or starting): `-- text`, on
    stdout under a table, on stderr when stdout carries JSON, CSV or ids."""
    from ._output import paint

    if output_of(opts) == "table":
        print(paint(f"-- {text}", "dim", opts), flush=True)
    else:
        print(f"-- {text}", file=sys.stderr, flush=True)


class _Lines:
    """Table lines for a follower: the columns of the first rows, kept for the rows after."""

    def __init__(self, opts: Any) -> None:
        self.opts = opts
        self.widths: dict[str, int] = {}

    def print(self, rows: list[dict[str, Any]], header: bool = False) -> None:
        from ._output import paint, when

        cells = [{k: when(v) if k == "time" else "-" if v is None else str(v)
                  for k, v in table_row(r, self.opts.events).items()} for r in rows]
        cols = list(table_row(_BLANK_EVENT if self.opts.events else _BLANK, self.opts.events))
        for c in cols:
            self.widths[c] = max(self.widths.get(c, len(c)), *(len(row[c]) for row in cells), len(c))
        limit = terminal_width(self.opts)
        out = []
        if header:  # as print_rows heads a table: the names, then dashes
            out.append("  ".join(c.ljust(self.widths[c]) for c in cols).rstrip())
            out.append("  ".join("-" * self.widths[c] for c in cols))
        for row in cells:
            parts = []
            for c in cols:
                text = row[c] if c == cols[-1] else row[c].ljust(self.widths[c])
                parts.append(paint(text, row[c], self.opts) if c == "outcome" else text)
            line = "  ".join(parts)
            if limit is not None and len(line) > limit and not self.opts.wide:
                line = line[:limit - 1] + "…" + ("\x1b[0m" if "\x1b[" in line else "")
            out.append(line)
        if out:
            print("\n".join(out), flush=True)


_BLANK = {"id": 0, "time": None, "kind": "", "sender": "", "recipient": "", "outcome": None, "reason": None,
          "payload": None, "error": None}
_BLANK_EVENT = {"seq": 0, "time": None, "name": "", "neuro": None, "actor": "", "data": None}


def _print_followed(rows: list[dict[str, Any]], opts: Any, lines: _Lines, header: bool = False) -> None:
    output = output_of(opts)
    if output == "table":
        lines.print(rows, header)
    elif output == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        cells = [table_row(r, opts.events) for r in rows]
        if header:
            writer.writerow(list(table_row(_BLANK_EVENT if opts.events else _BLANK, opts.events)))
        from ._output import when

        for c in cells:
            writer.writerow(["" if v is None else when(v) if k == "time" else v for k, v in c.items()])
        sys.stdout.flush()
    elif output == "quiet":
        for r in rows:
            print(r["seq" if opts.events else "id"], flush=True)
    else:  # json and jsonl alike: one object a line, as they come
        import json

        for r in rows:
            print(json.dumps(r, default=str), flush=True)


# -- -f ---------------------------------------------------------------------------------------

def follow(log: LogFile, opts: Any, grep: Any, rows: list[dict[str, Any]], marks: tuple[int, int],
           version: int) -> int:
    """The newest rows, then every new one as it is committed, for ever (Ctrl-C ends it)."""
    import os
    import time

    from ._output import when

    key = "seq" if opts.events else "id"
    lines = _Lines(opts)
    last = max([marks[1] if opts.events else marks[0], *(r[key] for r in rows)])
    stop_seq = marks[1]  # kernel.stopped events after this one are news
    boots = log.boots() if log.schema >= 4 else []
    run = boots[-1] if boots else None
    what = "events" if opts.events else "messages"
    about = f" {'about' if opts.events else 'to'} {opts.neuro}" if opts.neuro else ""
    where = f"after {key} {last}" if last else "from the start"
    if run is None:
        state = "no kernel has run on it yet"
    elif run["state"] == "running":
        state = f"a kernel runs on it: pid {run['pid']}, since {when(run['started'])}"
    else:
        state = f"no kernel runs on it ({'stopped' if run['state'] == 'stopped' else 'crashed'} at " \
                f"{when(run['closed'] or run['started'])}); waiting for one"
    notice(f"following {what}{about} in {log.path}, {where} ({state}); Ctrl-C to stop", opts)
    _print_followed(rows, opts, lines, header=True)
    gone = run is None or run["state"] != "running"
    pending: dict[int, None] = {}  # with --outcome: messages seen before they had one, oldest first
    inode = os.stat(log.path).st_ino
    ticks = 0
    while True:
        time.sleep(FOLLOW_INTERVAL)
        ticks += 1
        now = log.data_version()
        if now == version:
            if ticks % 50 == 0:  # once a second: did the file go, or the kernel die?
                try:
                    if os.stat(log.path).st_ino != inode:
                        notice(f"{log.path} was replaced; following the new file", opts)
                        log.close()
                        log = LogFile(log.path)
                        inode, version, last, stop_seq = os.stat(log.path).st_ino, -1, 0, 0
                        continue
                except FileNotFoundError:
                    pass
                if not gone and run is not None and not pid_alive(run["pid"]):
                    notice(f"the kernel (pid {run['pid']}) is gone without kernel.stopped: it crashed; "
                           "waiting for a kernel to start on the log again", opts)
                    gone = True
            continue
        version = now
        # A kernel's start and stop, and the rows between, in the order they happened (one look
        # may find a stop and the next start, or a start, its rows and its stop).
        changes: list[tuple[float, str, Any]] = [(started, "start", (run_id, pid))
                                                 for run_id, pid, started in log.runs_after(run["id"] if run else 0)]
        for e in log.stop_events(stop_seq):
            stop_seq = e["seq"]
            changes.append((e["time"], "stop", e))
        changes.sort(key=lambda c: c[0])

        def announce(upto: float | None) -> None:
            nonlocal run, gone
            while changes and (upto is None or changes[0][0] < upto):
                moment, what, item = changes.pop(0)
                if what == "start":
                    crashed = "" if gone or run is None else \
                        " (the run before ended without kernel.stopped: it crashed)"
                    notice(f"a kernel started on the log again at {when(moment)} (pid {item[1]}, run {item[0]})"
                           f"{crashed}; following on", opts)
                    run, gone = {"id": item[0], "pid": item[1], "started": moment}, False
                else:
                    accepted = item["data"].get("accepted")
                    counts = f", having accepted {accepted} messages" if accepted is not None else ""
                    notice(f"the kernel stopped at {when(moment)} (kernel.stopped{counts}); waiting for a kernel "
                           "to start on the log again", opts)
                    gone = True

        for page in _new_pages(log, opts, grep, last, pending):
            last = page.last
            chunk: list[dict[str, Any]] = []
            for r in page.rows:
                if changes and changes[0][0] < r["time"]:  # a kernel.stopped row shows before its notice
                    _print_followed(chunk, opts, lines)
                    chunk = []
                    announce(r["time"])
                chunk.append(r)
            _print_followed(chunk, opts, lines)
        announce(None)


class _Page:
    def __init__(self, rows: list[dict[str, Any]], last: int) -> None:
        self.rows, self.last = rows, last


def _new_pages(log: LogFile, opts: Any, grep: Any, last: int, pending: dict[int, None]) -> Any:
    """Pages of what to show that was committed past `last`, each with the cursor after it. A
    message's outcome comes in a later commit than the message itself; with --outcome, a
    message read without one is kept in `pending` and shown once it has the outcome asked for."""
    key = "seq" if opts.events else "id"
    wanted = None if opts.events else opts.outcome
    waits = wanted not in (None, "none")
    if waits and pending:
        ready = [r for r in log.messages(ids=list(pending), limit=None) if r["outcome"] is not None]
        for r in ready:
            del pending[r["id"]]
        yield _Page([r for r in ready if r["outcome"] == wanted], last)
    extra = {"outcome": None} if waits else {}
    while True:
        page = query(log, opts, grep, **{"after_seq" if opts.events else "after_id": last}, limit=PAGE, **extra)
        if page:
            last = page[-1][key]
        shown = page
        if waits:
            for r in page:
                if r["outcome"] is None:
                    pending[r["id"]] = None
            while len(pending) > PENDING:  # a message that never ends (a durable one not delivered) goes
                del pending[next(iter(pending))]
            shown = [r for r in page if r["outcome"] == wanted]
        yield _Page(shown, last)
        if len(page) < PAGE:
            return
