"""The lean path of the `neuro` command: daemon-talking commands that need nothing but a
blocking socket and msgpack frames (`neuro ps`), run without argparse, trio, the kernel, the
client API or msgspec, so they start about as fast as Python itself.

It speaks the control protocol (`neuro._control`) with the small codec of `_minipack`,
because importing msgspec (and the typing machinery it pulls in) takes as long as starting
Python; its protocol number and frame limit are the protocol's own (`neuro._control_version`),
and tests/daemon/test_lean.py decodes the frames it sends with the protocol's decoder.

`main(argv)` returns an exit code, or None when it cannot handle `argv` as given (other
arguments, `--help`, no daemon, an error frame): the full CLI then runs it and says what went
wrong in its usual way. Output is the same as the full command's.
"""

from __future__ import annotations

import os
import _socket  # the C module: `socket` would add enum and selectors (4 ms)
import sys

from neuro._control_version import MAX_FRAME, PROTOCOL  # the protocol's own: it imports nothing

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

# The frames this path sends and reads, as the protocol's Structs encode them (tag field
# `frame`); tests/daemon/test_lean.py checks each against its Struct.
PS = {"frame": "ps", "id": 1}
WELCOME, REPLY = "welcome", "reply"


_FORMATS = {"--json": "json", "--jsonl": "jsonl", "--csv": "csv", "-q": "quiet", "--quiet": "quiet"}
_VALUED = ("--home", "--color")
_COLORS = ("auto", "always", "never")


class Options:
    """The output options (cli.output_options) as the lean path reads them."""

    def __init__(self) -> None:
        self.output, self.wide, self.color, self.home = "table", False, "auto", None
        self.command: str | None = None

    @property
    def json(self) -> bool:
        return self.output in ("json", "jsonl")


def _options(argv: list[str]) -> Options | None:
    """The command and the output options, before or after it (`neuro --json ps`, `neuro ps
    --json`); None for anything else (another option, a bad value, `--help`): the full CLI
    then handles it, and says what is wrong."""
    out = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg in _FORMATS:
            out.output = _FORMATS[arg]
        elif arg in ("--wide", "--no-trunc"):
            out.wide = True
        elif name in _VALUED:
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                    return None
                i += 1
                value = argv[i]
            if not value or (name == "--color" and value not in _COLORS):
                return None
            setattr(out, name[2:], value)
        elif out.command is None and not arg.startswith("-"):
            out.command = arg
        else:
            return None
        i += 1
    return out


def _socket_path(home: str | None) -> str:  # neuro._home.neuro_home, inlined: this path imports nothing
    home = home or os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
    return os.path.join(home, "control.sock")


def hello() -> dict[str, Any]:
    """The Hello this path opens with."""
    return {"frame": "hello", "protocol": PROTOCOL, "client": f"neuro-cli[{os.getpid()}]"}


def framed(obj: dict[str, Any]) -> bytes:
    """One frame as the protocol sends it: a 4-byte big-endian length, then msgpack."""
    from ._minipack import encode

    body = encode(obj)
    return len(body).to_bytes(4, "big") + body


def request(path: str, frame: dict[str, Any], timeout: float = 30.0) -> Any:
    """Hello, one request, its reply's value; None when anything but a plain Reply came back
    (or no daemon answers): the full client then says why."""
    from ._minipack import decode

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
            sock.sendall(framed(hello()) + framed(frame))
        except OSError:
            return None
        buffer = b""
        replies: list[Any] = []
        while len(replies) < 2:
            while len(buffer) >= 4:
                length = int.from_bytes(buffer[:4], "big")
                if length > MAX_FRAME:
                    return None
                if len(buffer) < 4 + length:
                    break
                replies.append(decode(buffer[4:4 + length]))
                buffer = buffer[4 + length:]
            if len(replies) >= 2:
                break
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return None
            if not data:
                return None
            buffer += data
    except Exception:  # a frame this path does not expect: the full client handles it
        return None
    finally:
        sock.close()
    welcome, reply = replies[:2]
    if not (isinstance(welcome, dict) and welcome.get("frame") == WELCOME):
        return None
    if not (isinstance(reply, dict) and reply.get("frame") == REPLY and reply.get("id") == frame["id"]):
        return None
    return reply, reply.get("value")


def _ps(opts: Options) -> int | None:
    got = request(_socket_path(opts.home), PS)
    if got is None:
        return None
    from ._output import print_ps

    print_ps(got[1], opts)
    return 0


def complete_names(what: str, home: str | None) -> list[str]:
    """For the completion scripts (`neuro __complete neuros|policies`): running neuros' names
    (none without a daemon), or policy names (their files: the built-in folder's and the state
    folder's `policies/`); never an error."""
    if what == "neuros":
        got = request(_socket_path(home), PS, timeout=2.0)
        return sorted(p.get("name", "") for p in got[1]) if got and isinstance(got[1], list) else []
    names = set()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # neuro.policies beside neuro.shell
    state = home or os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
    for folder in (os.path.join(here, "policies"), os.path.join(state, "policies")):
        try:
            names.update(f[:-5] for f in os.listdir(folder) if f.endswith(".toml") and not f.startswith("."))
        except OSError:
            pass
    return sorted(names)


def _complete(argv: list[str]) -> int:
    """`neuro [--home X] __complete neuros|policies`: names, one a line; exit 0 whatever happens."""
    home, what, i = None, None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home" and i + 1 < len(argv):
            home, i = argv[i + 1], i + 1
        elif arg.startswith("--home="):
            home = arg[7:]
        elif arg in ("neuros", "policies"):
            what = arg
        i += 1
    try:
        if what is not None:
            sys.stdout.write("".join(f"{name}\n" for name in complete_names(what, home)))
            sys.stdout.flush()
    except Exception:  # a completion never prints an error into the user's command line
        pass
    return 0


COMMANDS = {"ps": _ps}


def entry() -> int:
    """The `neuro` command: the lean path when it can serve the arguments, else the full CLI
    (imported only then)."""
    argv = sys.argv[1:]
    code = main(argv)
    if code is None:
        from .cli import full_main

        code = full_main(argv)
    return code


def main(argv: list[str]) -> int | None:
    if "__complete" in argv:
        return _complete(argv)
    if "logs" in argv or "tail" in argv:  # maybe the log commands' own lean path (they read the file)
        from . import _lean_logs

        if _lean_logs._command(argv) in _lean_logs.COMMANDS:
            return _lean_logs.main(argv)
    opts = _options(argv)
    if opts is None or opts.command not in COMMANDS:
        return None
    try:
        code = COMMANDS[opts.command](opts)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `neuro ps | head`: the reader has gone, no error (cli.full_main does the same)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
