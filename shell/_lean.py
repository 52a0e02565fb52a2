"""The lean path of the `neuro` command: daemon-talking commands that need nothing but a
blocking socket and msgpack frames (`neuro ps`), run without argparse, trio, the kernel or the
client API, so they start about as fast as Python itself.

`main(argv)` returns an exit code, or None when it cannot handle `argv` as given (other
arguments, `--help`, no daemon, an error frame): the full CLI then runs it and says what went
wrong in its usual way. Output is the same as the full command's.
"""

from __future__ import annotations

import os
import _socket  # the C module: `socket` would add enum and selectors (4 ms)
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

PROTOCOL = 1  # == neuro.shell.control.PROTOCOL (tests/daemon pins that they agree)
MAX_FRAME = 16 << 20


def _options(argv: list[str]) -> dict[str, Any] | None:
    """--json and --home, the only options the lean commands take; None for anything else."""
    out: dict[str, Any] = {"json": False, "home": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--json":
            out["json"] = True
        elif arg == "--home" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            out["home"] = argv[i + 1]
            i += 1
        elif arg.startswith("--home=") and len(arg) > 7:
            out["home"] = arg[7:]
        else:
            return None
        i += 1
    return out


def _socket_path(home: str | None) -> str:  # neuro._home.neuro_home, inlined: this path imports nothing
    home = home or os.environ.get("NEURO_HOME") or os.path.join(os.path.expanduser("~"), ".neuro")
    return os.path.join(home, "control.sock")


def request(path: str, frame: dict[str, Any], timeout: float = 30.0) -> Any:
    """Hello, one request, its reply's value; None when anything but a plain Reply came back
    (or no daemon answers): the full client then says why."""
    from ._minipack import decode, encode

    def framed(obj: dict[str, Any]) -> bytes:
        body = encode(obj)
        return len(body).to_bytes(4, "big") + body

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
            sock.sendall(framed({"frame": "hello", "protocol": PROTOCOL, "client": f"neuro-cli[{os.getpid()}]"})
                         + framed(frame))
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
    if not (isinstance(welcome, dict) and welcome.get("frame") == "welcome"):
        return None
    if not (isinstance(reply, dict) and reply.get("frame") == "reply" and reply.get("id") == frame["id"]):
        return None
    return reply, reply.get("value")


def _ps(opts: dict[str, Any]) -> int | None:
    got = request(_socket_path(opts["home"]), {"frame": "ps", "id": 1})
    if got is None:
        return None
    rows = got[1]
    from ._output import print_table, ps_row

    print_table(rows if opts["json"] else [ps_row(p) for p in rows], as_json=opts["json"])
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
    if not argv or argv[0] not in COMMANDS:
        return None
    opts = _options(argv[1:])
    if opts is None:
        return None
    try:
        return COMMANDS[argv[0]](opts)
    except BrokenPipeError:  # `neuro ps | head`
        sys.stderr.close()
        return 0
