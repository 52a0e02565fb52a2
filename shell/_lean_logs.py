"""The lean path of `neuro logs` and `neuro tail`: the same options as the full commands
(`_logcli_show.OPTIONS`, which argparse reads in commands_log), read here by hand, then the
same `run`; no argparse, trio, msgspec or kernel is imported, so that `neuro logs -n 100` on
a log of a million messages takes about as long as starting Python.

`main(argv)` returns an exit code, or None when it does not take `argv` as given (`--help`,
an option or value it does not know, anything that fails): the full CLI then runs the command
and says what is wrong in its usual way. `neuro trace` and `neuro log` are not served here.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COMMANDS = ("logs", "tail")
_FORMATS = {"--json": "json", "--jsonl": "jsonl", "--csv": "csv", "-q": "quiet", "--quiet": "quiet"}


class Options:
    """What argparse would give the command: the log options and the output options."""

    def __init__(self, command: str, values: dict[str, Any]) -> None:
        self.command = command
        self.output, self.wide, self.color, self.home = "table", False, "auto", None
        self.__dict__.update(values)

    @property
    def json(self) -> bool:
        return self.output in ("json", "jsonl")


def parse(argv: list[str]) -> Options | None:
    """`argv` read as the full parser would, or None for anything this path leaves to it."""
    from ._logcli_show import OPTIONS, defaults

    command = _command(argv)
    if command not in COMMANDS:
        return None
    flags = {flag: (dest, what) for names, dest, what, _ in OPTIONS for flag in names}
    opts = Options(command, defaults(command))
    before = True
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if arg == command and before:
            before = False
        elif arg in _FORMATS:
            opts.output = _FORMATS[arg]
        elif arg in ("--wide", "--no-trunc"):
            opts.wide = True
        elif name in ("--home", "--color"):
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                    return None
                i += 1
                value = argv[i]
            if not value or (name == "--color" and value not in ("auto", "always", "never")):
                return None
            setattr(opts, name[2:], value)
        elif before or name not in flags:
            return None
        else:
            dest, what = flags[name]
            if what is None:
                if eq:
                    return None
                setattr(opts, dest, True)
            else:
                optional = isinstance(what, tuple)
                convert = what[1] if optional else what
                if not eq:
                    nxt = argv[i + 1] if i + 1 < len(argv) else None
                    if optional and (nxt is None or not _offset(nxt)):
                        setattr(opts, dest, what[2])
                        i += 1
                        continue
                    if nxt is None or (nxt.startswith("-") and not _offset(nxt)):
                        return None
                    i += 1
                    value = nxt
                try:
                    setattr(opts, dest, convert(value))
                except ValueError:
                    return None
        i += 1
    return opts


def _command(argv: list[str]) -> str | None:
    """The command word: the first argument that is neither an option nor an option's value."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--home", "--color"):
            i += 2
            continue
        if not arg.startswith("-"):
            return arg
        i += 1
    return None


def _offset(text: str) -> bool:
    """A --boot value (0, -1, +2), not the next option."""
    body = text[1:] if text[:1] in "+-" else text
    return body.isdigit()


def main(argv: list[str]) -> int | None:
    """Run `neuro logs` / `neuro tail` on the lean path, or None: the full CLI then runs it."""
    opts = parse(argv)
    if opts is None:
        return None
    from ._logcli_read import LogFileError
    from ._logcli_show import run

    try:
        code = run(opts)
        sys.stdout.flush()
        return code
    except LogFileError:  # the full command says it, in its usual form (text or --json)
        return None
    except KeyboardInterrupt:  # Ctrl-C ends a follower
        return 130
    except BrokenPipeError:  # `neuro logs | head -1`: the reader has gone, no error
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
