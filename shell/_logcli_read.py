"""The event log file as `neuro logs`, `tail` and `--list-boots` read it: plain sqlite3 on the
tables' own keys and indexes, nothing else imported (no trio, msgspec, sqlite-utils or kernel),
so that `neuro logs -n 100` on a log of millions of messages starts about as fast as Python.

It reads the same tables and columns as `neuro.kernel.LogReader` (docs/log.md) and gives rows
in the same shape as its records turned into builtins: a message's columns, its decoded
payload and its outcome's columns; an event's seq, time, name, neuro, actor and data. The
connection is read-only: it never migrates, creates or changes a log, and in WAL mode it
never blocks the kernel writing the file. Times are epoch seconds; message ids are their
accept times in ns, so a time range is a range of the primary key (or of (recipient, id)).
"""

from __future__ import annotations

import os
import sqlite3

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable

SCHEMA = 5  # the newest schema this reads: neuro.kernel._logschema.SCHEMA_VERSION (a test keeps them equal)
ID_SLACK = 1_000_000  # ns: a time bound becomes an id bound with a millisecond to spare, then is exact
# Exit codes of shell/cli.py's table, named here so this module imports nothing of the CLI.
EXIT_USAGE, EXIT_FAILED, EXIT_NOT_FOUND = 2, 3, 5

MESSAGE_KEYS = ("id", "time", "sender", "recipient", "kind", "topic", "correlation", "parent", "deadline",
                "payload", "outcome", "reason", "outcome_time", "latency", "reply", "error", "version", "service")
EVENT_KEYS = ("seq", "time", "name", "neuro", "actor", "data")
_SELECT = """SELECT m.id, m.time, m.sender, m.recipient, m.kind, m.topic, m.correlation, m.parent, m.deadline,
       m.payload, o.outcome, o.reason, o.time, o.latency, o.reply, o.error, {added}
FROM messages m LEFT JOIN outcomes o ON o.id = m.id"""


class LogFileError(Exception):
    """The log cannot be read as asked: `code` is the CLI's exit code, `hint` what to do."""

    def __init__(self, message: str, *, code: int = EXIT_FAILED, hint: str | None = None,
                 type: str = "LogError") -> None:
        super().__init__(message)
        self.code, self.hint, self.type = code, hint, type


def default_path(home: str | None) -> str:
    """$NEURO_HOME's log file (neuro._home.neuro_home, inlined: this module imports nothing)."""
    home = home or os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
    return os.path.join(os.path.abspath(os.path.expanduser(home)), "log.db")


class LogFile:
    """One log file, read-only. `schema` is its schema version."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        if not os.path.isfile(self.path):
            raise LogFileError(f"no event log at {self.path}", code=EXIT_NOT_FOUND, type="NotFound",
                               hint="give the file with --log PATH, or run the daemon once (`neuro daemon start`)")
        uri = "file:" + self.path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
                                 ).fetchone() is None:
                raise LogFileError(f"{self.path} is a SQLite file but not an event log (it has no migrations "
                                   "table)", hint="give --log the path of a log a kernel wrote")
            self.schema = self.conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0
        except sqlite3.Error as e:
            raise LogFileError(f"cannot read the event log {self.path}: {e}",
                               hint="give --log the path of a log a kernel wrote") from None
        if self.schema > SCHEMA:
            raise LogFileError(f"the event log {self.path} has schema version {self.schema}, newer than this "
                               f"Neuro reads ({SCHEMA})", hint="upgrade Neuro to read it")
        self._select = _SELECT.format(added="o.version, o.service" if self.schema >= 4 else "NULL, NULL")

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        """Changes when another connection (the kernel's writer) commits: a look at shared memory."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- messages and events --------------------------------------------------------------------

    def messages(self, *, neuro: str | None = None, sender: str | None = None, kind: str | None = None,
                 correlation: int | None = None, outcome: str | None = None, since: float | None = None,
                 until: float | None = None, after_id: int | None = None, grep: Any = None,
                 ids: list[int] | None = None, limit: int | None = 100,
                 newest_first: bool = False) -> list[dict[str, Any]]:
        """Messages with their outcomes matching every filter; `grep` is a compiled regex searched
        in the payload (as compact JSON), the outcome's reason and its error (type and message);
        `ids` (at most a few thousand) picks messages by id."""
        where: list[str] = []
        params: list[Any] = []
        if ids is not None:
            where.append(f"m.id IN ({','.join('?' * len(ids))})" if ids else "0")
            params += ids
        for column, value in (("m.recipient", neuro), ("m.sender", sender), ("m.kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if outcome == "none":
            where.append("o.outcome IS NULL")
        elif outcome is not None:
            where.append("o.outcome = ?")
            params.append(outcome)
        if correlation is not None:  # its first message by id, the rest by the partial index
            where.append("((m.correlation = ? AND m.correlation != m.id) OR (m.id = ? AND m.correlation = m.id))")
            params += [correlation, correlation]
        if since is not None:
            where += ["m.id >= ?", "m.time >= ?"]
            params += [int(since * 1e9) - ID_SLACK, since]
        if until is not None:
            where += ["m.id < ?", "m.time < ?"]
            params += [int(until * 1e9) + ID_SLACK, until]
        if after_id is not None:
            where.append("m.id > ?")
            params.append(after_id)
        if grep is not None:
            self.conn.create_function("neuro_grep", 3, _message_grep(grep), deterministic=True)
            where.append("neuro_grep(m.payload, o.reason, o.error)")
        sql = self._select + (" WHERE " + " AND ".join(where) if where else "")
        # By an outcome alone, walk outcomes by id (the same ids) and stop at the limit: ordered
        # by m.id, SQLite scans every outcome and sorts (0.6 s at 1 M messages, not 15 ms).
        by_outcome = outcome not in (None, "none") and neuro is None and correlation is None
        sql += f" ORDER BY {'o.id' if by_outcome else 'm.id'} {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [message_row(r) for r in self.conn.execute(sql, params).fetchall()]

    def events(self, *, name: str | None = None, neuro: str | None = None, since: float | None = None,
               until: float | None = None, after_seq: int | None = None, grep: Any = None,
               limit: int | None = 100, newest_first: bool = False) -> list[dict[str, Any]]:
        """Events matching every filter; `name` may hold `*` globs; `grep` searches the name and
        the data (its JSON text)."""
        where: list[str] = []
        params: list[Any] = []
        if name is not None:
            where.append("name GLOB ?" if "*" in name or "?" in name else "name = ?")
            params.append(name)
        if neuro is not None:
            where.append("neuro = ?")
            params.append(neuro)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if until is not None:
            where.append("time < ?")
            params.append(until)
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        if grep is not None:
            self.conn.create_function("neuro_grep_event", 2, lambda n, d: grep.search(f"{n} {d}") is not None,
                                      deterministic=True)
            where.append("neuro_grep_event(name, data)")
        sql = "SELECT seq, time, name, neuro, actor, data FROM events"
        sql += (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        import json

        return [dict(zip(EVENT_KEYS, (*r[:5], json.loads(r[5]) if r[5] else {})))
                for r in self.conn.execute(sql, params).fetchall()]

    def last_ids(self) -> tuple[int, int]:
        row = self.conn.execute("SELECT (SELECT MAX(id) FROM messages), (SELECT MAX(seq) FROM events)").fetchone()
        return row[0] or 0, row[1] or 0

    # -- runs: each kernel that opened the log (its "boots") ------------------------------------

    def boots(self) -> list[dict[str, Any]]:
        """Every kernel run on this log, oldest first: `boot` (0 the last, -1 the one before...),
        `id`, `pid`, `started`, `closed` (None: running, or it crashed), `until` (when the next
        run started: the end of this one's window, None for the last) and `state`."""
        if self.schema < 4:
            raise LogFileError(f"the event log {self.path} has schema version {self.schema}, which has no runs "
                               "table (it came in schema 4)",
                               hint="a kernel opening it upgrades it; until then read it without --boot")
        rows = self.conn.execute("SELECT id, pid, started, closed FROM runs ORDER BY id").fetchall()
        out = []
        for i, (run_id, pid, started, closed) in enumerate(rows):
            last = i == len(rows) - 1
            state = "stopped" if closed is not None else "running" if last and pid_alive(pid) else "crashed"
            out.append({"boot": i - len(rows) + 1, "id": run_id, "pid": pid, "started": started, "closed": closed,
                        "until": None if last else rows[i + 1][2], "state": state})
        return out

    def boot(self, offset: int) -> dict[str, Any]:
        """The run `offset` names, as journalctl's --boot: 0 the last, -1 the one before, ...;
        1 the first, 2 the second, ..."""
        boots = self.boots()
        index = len(boots) - 1 + offset if offset <= 0 else offset - 1
        if not 0 <= index < len(boots):
            have = f"{len(boots)} run{'s' if len(boots) != 1 else ''}" if boots else "no runs"
            raise LogFileError(f"no boot {offset} in {self.path}: it has {have}", code=EXIT_NOT_FOUND,
                               type="NotFound", hint="see them with `neuro logs --list-boots`")
        return boots[index]

    def count_messages(self, since: float, until: float | None) -> int:
        """Messages accepted in [since, until): a range of the primary key."""
        low = int(since * 1e9)
        if until is None:
            return self.conn.execute("SELECT COUNT(*) FROM messages WHERE id >= ?", (low,)).fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM messages WHERE id >= ? AND id < ?",
                                 (low, int(until * 1e9))).fetchone()[0]

    def stop_events(self, after_seq: int) -> list[dict[str, Any]]:
        """`kernel.stopped` events past `after_seq` (a follower's notice that the kernel went)."""
        return self.events(name="kernel.stopped", after_seq=after_seq, limit=None)

    def runs_after(self, run_id: int) -> list[tuple[int, int, float]]:
        """Runs that started after run `run_id`: (id, pid, started); none in a log without runs."""
        if self.schema < 4:
            return []
        return self.conn.execute("SELECT id, pid, started FROM runs WHERE id > ? ORDER BY id", (run_id,)).fetchall()


def pid_alive(pid: int) -> bool:
    """Is process `pid` running (a zombie, killed but not yet reaped by its parent, is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):  # no /proc here: kill's answer stands
        return True


# -- rows --------------------------------------------------------------------------------------

def decode(blob: bytes | None) -> Any:
    """A payload or reply blob (msgpack): its value; {"undecodable": n} for what the small
    codec does not read (msgpack ext types, a damaged blob), as LogReader does."""
    if blob is None:
        return None
    from ._minipack import decode as unpack

    try:
        return unpack(blob)
    except (ValueError, IndexError, KeyError, TypeError):
        return {"undecodable": len(blob)}


def message_row(r: tuple) -> dict[str, Any]:
    import json

    row = dict(zip(MESSAGE_KEYS, r))
    row["payload"], row["reply"] = decode(r[9]), decode(r[14])
    row["error"] = json.loads(r[15]) if r[15] else None
    return row


def compact(value: Any) -> str:
    """A value as one line of JSON, as tables show payloads (and --grep searches them)."""
    import json

    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


def _message_grep(pattern: Any) -> Callable[[Any, Any, Any], bool]:
    def match(payload: bytes | None, reason: str | None, error: str | None) -> bool:
        if payload is not None and pattern.search(compact(decode(payload))):
            return True
        if reason and pattern.search(reason):
            return True
        if error:
            import json

            e = json.loads(error)
            return pattern.search(f"{e.get('type')}: {e.get('message')}") is not None
        return False

    return match


# -- when: --since and --until ---------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# journalctl's spellings of the units (`10 min ago`, `2 hours ago`), singular.
_UNIT_WORDS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h", "day": "d", "week": "w"}
_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def parse_when(text: str, now: float | None = None) -> float:
    """A moment, as epoch seconds: `now`, `today`, `yesterday`, `tomorrow` (local midnight), an
    age (`30s`, `5m`, `2h`, `1d`, `1w`, also `5m ago`, `-5m` and journalctl's `10 min ago` or
    `2 hours ago`), a time today (`12:30`, `12:30:05`), an ISO date or date and time
    (`2026-12-01`, `2026-12-01 12:30`, `2026-12-01T12:30:05+01:00`; local time without a
    zone), or epoch seconds. ValueError saying what it takes otherwise."""
    import time

    now = time.time() if now is None else now
    word = text.strip().lower()
    age = word.removesuffix(" ago").removeprefix("-").strip()
    number = age.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = age[len(number):]
    unit = _UNIT_WORDS.get(unit.removesuffix("s") if len(unit) > 1 else unit, unit)
    try:
        if word == "now":
            return now
        if word in _DAYS:
            t = time.localtime(now)
            return time.mktime((t.tm_year, t.tm_mon, t.tm_mday + _DAYS[word], 0, 0, 0, 0, 0, -1))
        if unit in _UNITS and number.strip().replace(".", "", 1).isdigit():
            return now - float(number) * _UNITS[unit]
        if word.replace(".", "", 1).isdigit() and len(word.split(".")[0]) > 6:  # not a bare "2026"
            return float(word)
        if word[:2].isdigit() and word[2:3] == ":":  # a time of day: today's
            t = time.localtime(now)
            parts = [float(p) for p in word.split(":")]
            if len(parts) > 3 or not (parts[0] < 24 and all(p < 60 for p in parts[1:])):
                raise ValueError(word)
            hms = parts + [0.0] * (3 - len(parts))
            return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)) + (
                hms[0] * 3600 + hms[1] * 60 + hms[2])
        import datetime as dt

        moment = dt.datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return moment.timestamp()
    except (ValueError, OverflowError, IndexError):
        raise ValueError(f"cannot read {text!r} as a time: give an age (30s, 5m, 2h, 1d), today, yesterday, "
                         "a time (12:30), an ISO date (2026-12-01, 2026-12-01T12:30) or epoch seconds") from None
