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


def _ps(opts: dict[str, Any]) -> int | None:
    got = request(_socket_path(opts["home"]), PS)
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
