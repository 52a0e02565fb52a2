"""One way to print results, for every command: a table for people; JSON, JSON lines, CSV or
bare names for scripts; colour only on a terminal.

`args` is the parsed command line (`args.output`: "table", "json", "jsonl", "csv" or
"quiet"; `args.wide`; `args.color`: "auto", "always" or "never"); any object with those
attributes will do (the lean `neuro ps` passes its own). This module imports nothing at import
time beyond `os` and `sys`: the lean path loads it on every `neuro ps`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the lean `neuro ps`)
if TYPE_CHECKING:
    from typing import Any, TextIO

# Columns that hold a moment (epoch seconds): a table shows a local date, JSON the number.
TIME_COLUMNS = frozenset({"time", "started", "stopped", "created", "updated", "since", "until", "when",
                          "last_seen", "last_error_time"})

_SGR = {"ok": "32", "warn": "33", "error": "31", "dim": "2", "bold": "1",
        # process states (kernel._process.State) and outcomes
        "running": "32", "handled": "32", "live": "32", "starting": "33", "restarting": "33", "swapping": "33",
        "stopping": "33", "crashed": "31", "failed": "31", "broken": "31", "dead": "31", "stopped": "2"}


def output_of(args: Any) -> str:
    """The output format `args` asks for ("table" when it says nothing)."""
    return getattr(args, "output", None) or ("json" if getattr(args, "json", False) else "table")


def color_on(args: Any, stream: TextIO | None = None) -> bool:
    """Colour for `stream` (default stdout)? --color always/never; auto: a terminal, and no
    NO_COLOR (https://no-color.org) and no TERM=dumb."""
    mode = getattr(args, "color", None) or "auto"
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def paint(text: str, style: str, args: Any, *, stream: TextIO | None = None) -> str:
    """`text` coloured for `style` ("ok", "warn", "error", "dim", "bold", or a process state
    such as "running", "crashed", "broken", "stopped") when colour is on; else `text` as is."""
    code = _SGR.get(style.split(" ", 1)[0])
    if code is None or not color_on(args, stream):
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def when(t: Any) -> str:
    """A moment as a local date, `2026-12-02 07:31:05.123` ("-" for none)."""
    if not isinstance(t, (int, float)) or isinstance(t, bool):
        return "-" if t is None else str(t)
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _cell(key: str, value: Any) -> str:
    if key in TIME_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return when(value)
    if value is None:
        return "-"
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def _width(args: Any) -> int | None:
    """How wide a table may be: None (uncut) with --wide, else $COLUMNS, else the terminal's."""
    if getattr(args, "wide", False):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
            return columns or None  # 0: a pty that does not know its size (under `script`)
    except (AttributeError, ValueError, OSError):
        pass
    return None  # a pipe or a file: every cell whole, for grep and friends


# Columns a narrow terminal never cuts: a cut name or id cannot be pasted into the next command.
WHOLE_COLUMNS = frozenset({"pid", "id", "name", "state", "outcome"})


def _fit(widths: list[int], floors: list[int], limit: int) -> list[int]:
    """Narrow the widest columns until a row fits `limit`, none below its floor (its header,
    or its widest cell in WHOLE_COLUMNS): a table too wide even then wraps rather than turn
    into `a…  b…`."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > limit:
        room = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not room:
            break
        widths[max(room, key=widths.__getitem__)] -= 1
    return widths


def _table(rows: list[dict[str, Any]], args: Any) -> None:
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    for row in rows[1:]:
        cols.extend(k for k in row if k not in cols)
    cells = [[_cell(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    limit = _width(args)
    # A last column `error` (ps: a broken file's file:line) is never cut: it runs on past the
    # edge, and the columns before it are fitted as if it were as wide as its header.
    spill = cols[-1] == "error"
    if limit is not None:
        floors = [widths[i] if c in WHOLE_COLUMNS else len(c) for i, c in enumerate(cols)]
        widths = _fit(widths[:-1] + [len(cols[-1])] if spill else widths, floors, limit)
    paint_states = "state" in cols or "outcome" in cols
    lines = [cols, ["-" * w for w in widths], *cells]
    for j, line in enumerate(lines):
        out = []
        for i, (text, w) in enumerate(zip(line, widths)):
            if len(text) > w and not (spill and i == len(cols) - 1):
                text = text[:w - 1] + "…"
            padded = text.ljust(w) if i < len(cols) - 1 else text
            if j >= 2 and paint_states and cols[i] in ("state", "outcome"):
                padded = paint(text, text, args) + padded[len(text):]
            out.append(padded)
        print("  ".join(out).rstrip())


def print_rows(rows: list[dict[str, Any]], args: Any, *, key: str = "name") -> None:
    """A listing as `args` asks: a table (columns named as the JSON keys, cut to the terminal
    unless --wide), a JSON list, one JSON object a line, CSV, or with -q the `key` column only."""
    output = output_of(args)
    if output == "json":
        import json

        print(json.dumps(rows, indent=2, default=str))
    elif output == "jsonl":
        import json

        for row in rows:
            print(json.dumps(row, default=str), flush=True)
    elif output == "csv":
        import csv

        cols = list(rows[0]) if rows else []
        for row in rows[1:]:
            cols.extend(k for k in row if k not in cols)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if cols:
            writer.writerow(cols)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(c, row.get(c)) for c in cols])
    elif output == "quiet":
        for row in rows:
            print(row.get(key, ""))
    else:
        _table(rows, args)


def print_value(value: Any, args: Any = None, *, as_json: bool | None = None) -> None:
    """One result: JSON (--json; one line with --jsonl), or `key  value` lines for a mapping, or
    the value itself. (`as_json=` is the older spelling of --json.)"""
    output = ("json" if as_json else "table") if as_json is not None else output_of(args)
    if output in ("json", "jsonl"):
        import json

        print(json.dumps(value, indent=None if output == "jsonl" else 2, default=str))
    elif isinstance(value, dict):
        width = max(map(len, value), default=0)
        for key, item in value.items():
            print(f"{key:<{width}}  {_cell(key, item)}")
    elif isinstance(value, str):
        print(value)
    else:
        import json

        print(json.dumps(value, default=str))


def print_table(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    """A table or a JSON list (the older spelling of `print_rows`)."""
    print_rows(rows, _Plain("json" if as_json else "table"))


class _Plain:
    """Output settings for callers without parsed arguments: auto colour, cut to the terminal."""

    def __init__(self, output: str) -> None:
        self.output, self.wide, self.color = output, False, "auto"


def ps_row(p: dict[str, Any]) -> dict[str, Any]:
    """One process of `neuro ps`, as the table shows it."""
    return {"pid": p["pid"], "name": p["name"], "state": p["state"], "version": p["version"][:8],
            "policy": p["policy"], "sandbox": p["sandbox"], "mailbox": f"{p['mailbox']}/{p['mailbox_capacity']}",
            "received": p["received"], "handled": p["handled"], "errors": p["errors"],
            "dead_letters": p["dead_letters"], "restarts": p["restarts"], "busy_time": round(p["busy_time"], 3),
            "energy": energy_cell(p),
            "error": p.get("error", "")}  # a broken drop file's file:line (never cut: _table)


def energy_cell(p: dict[str, Any]) -> str:
    """A process's energy for `neuro ps`: joules, how they were found, and the hour against its
    budget, e.g. ``1.2 J est`` or ``40 J meas (35/3600 J/h)``."""
    kind = p.get("energy_kind", "")
    if not kind:
        return ""
    cell = f"{p.get('energy', 0.0):.3g} J {'meas' if kind == 'measured' else 'est'}"
    budget = p.get("energy_budget", 0.0)
    return cell + (f" ({p.get('energy_hour', 0.0):.3g}/{budget:g} J/h)" if budget else "")


def print_ps(rows: list[dict[str, Any]], args: Any) -> None:
    """`neuro ps`, for the lean path and the full command alike: JSON keeps each process's
    whole record, a table or CSV shows `ps_row`'s columns."""
    if output_of(args) in ("json", "jsonl"):
        print_rows(rows, args)
        return
    table = [ps_row(p) for p in rows]
    # A table shows energy whenever a neuro has a budget for it, busy time and every neuro's
    # joules (mostly estimated) with --wide, so the default table still fits a terminal; CSV
    # is for scripts and keeps every column.
    if output_of(args) == "table" and not getattr(args, "wide", False):
        budgets = any(p.get("energy_budget") for p in rows)
        for row in table:
            del row["busy_time"]
            if not budgets:
                del row["energy"]
    print_rows(table, args)
