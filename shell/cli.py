"""The `neuro` command.

Exit codes (also in `neuro --help`):
  0  success
  1  the command ran and found a problem (an invalid policy file, a swap the gate refused,
     a message without exactly one outcome, a second `daemon start`)
  2  a usage error (bad arguments), printed with the usage
  3  the command failed (an error Neuro raised, printed as one line with what to do)
  4  no daemon is running (start one with `neuro daemon start`)

With --json every command prints JSON on stdout, and an error as one object:
``{"error": {"type": ..., "message": ..., "hint": ..., "exit_code": ...}}``, with ``data``
(the error's own fields) where it has any, and ``cause`` for a neuro's error (RemoteError):
the record every wire carries, ``{"type", "message", "traceback", "neuro", "path"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_FAILED, EXIT_NO_DAEMON = 0, 1, 2, 3, 4

EXIT_CODES = """exit codes:
  0  success
  1  the command ran and found a problem
  2  usage error (bad arguments)
  3  the command failed (the error says what to do)
  4  no daemon is running (start one with `neuro daemon start`)"""


class Problem(Exception):
    """A command's failure with its exit code and a hint: what to do about it."""

    def __init__(self, message: str, *, code: int = EXIT_FAILED, hint: str | None = None,
                 type: str = "Error", data: Any = None) -> None:
        super().__init__(message)
        self.code, self.hint, self.type, self.data = code, hint, type, data


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error under --json is the one JSON error shape."""

    json_mode = False

    def error(self, message: str) -> Any:
        if Parser.json_mode:
            emit_error("UsageError", message, f"see `{self.prog} --help`", EXIT_USAGE)
            raise SystemExit(EXIT_USAGE)
        super().error(message)


def emit_error(type_: str, message: str, hint: str | None, code: int, data: Any = None, cause: Any = None) -> None:
    doc: dict[str, Any] = {"type": type_, "message": message, "hint": hint, "exit_code": code}
    if data is not None:
        doc["data"] = data
    if cause is not None:  # an ErrorInfo
        doc["cause"] = {"type": cause.type, "message": cause.message, "traceback": cause.traceback,
                        "neuro": cause.neuro, "path": list(cause.path)}
    print(json.dumps({"error": doc}, default=str))


def output_options() -> argparse.ArgumentParser:
    """The flags every command shares, defined once."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON (errors too, as one object)")
    common.add_argument("--home", metavar="PATH",
                        help="the daemon's state folder (default: $NEURO_HOME, else ~/.neuro)")
    return common


def add(sub: Any, name: str, common: argparse.ArgumentParser, *, help: str, example: str,
        description: str | None = None, run: Callable[[argparse.Namespace], int] | None = None,
        parents: tuple[argparse.ArgumentParser, ...] = ()) -> Parser:
    """One subcommand: its help line, a description, and an example as the last line of --help."""
    parser = sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".",
                            epilog=f"example: {example}", parents=[common, *parents],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


def _parser() -> Parser:
    import neuro

    from . import commands_daemon, commands_dev, commands_log, commands_neuros, commands_versions

    common = output_options()
    parser = Parser(prog="neuro", description="Neuro: a local-first runtime for self-improving agents.\n\n"
                    + EXIT_CODES, epilog="example: neuro demo", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"neuro {neuro.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    demo = add(sub, "demo", common, help="run an embedded kernel with the built-in neuros and a scripted session",
               description="Start an embedded kernel, spawn the built-in neuros, run a scripted session "
                           "that ends by itself, and print a summary read back from the event log.",
               example="neuro demo --calls 5000 --log /tmp/demo.db", run=_demo)
    demo.add_argument("--log", metavar="PATH", help="event log file (default: a new temporary folder)")
    demo.add_argument("--calls", type=positive_int, default=2000, metavar="N",
                      help="how many calls to send to echo (default 2000)")

    policy = add(sub, "policy", common, help="show or check resource policies",
                 description="Show the resource policies Neuro knows, or check a policy file.",
                 example="neuro policy check ~/.neuro/policies/mine.toml")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION", parser_class=Parser)
    show = add(psub, "show", common, help="list policies, or show one in full",
               description="List every known policy, or show one policy's resolved fields.",
               example="neuro policy show untrusted --json", run=_policy)
    show.add_argument("name", nargs="?", help="a policy name (default: list them all)")
    show.add_argument("--dir", action="append", metavar="FOLDER", help="a policy folder (default: $NEURO_HOME/policies)")
    check = add(psub, "check", common, help="validate a policy file",
                description="Validate a policy file against the schema and the policies it "
                            "inherits from. Exit 0 if valid, 1 if not.",
                example="neuro policy check policies/untrusted.toml", run=_policy)
    check.add_argument("file", help="the TOML file to check")
    check.add_argument("--dir", action="append", metavar="FOLDER", help="a policy folder to resolve `inherit` against")

    commands_daemon.register(sub, common)
    commands_neuros.register(sub, common)
    commands_versions.register(sub, common)
    commands_log.register(sub, common)
    commands_dev.register(sub, common)
    return parser


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def whole_number(text: str, minimum: int = 0) -> int:
    """An option's whole number of at least `minimum`; at most 2^63 - 1, what the kernel and
    its log hold."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
    if value >= 1 << 63:
        raise argparse.ArgumentTypeError(f"expected a number below 2^63, got {text[:30]!r}")
    return value


def seconds(text: str) -> float:
    """An option's seconds: 0 or more, or `inf` (for ever). NaN and negatives are refused
    here, before anything is sent: the kernel would refuse them too, with less of a hint."""
    from neuro._checks import check_timeout

    try:
        return check_timeout(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 (or inf), got {text!r}") from None


def _demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main(args.log, args.calls, args.json)


def _policy(args: argparse.Namespace) -> int:
    from .policy import main as policy_main

    return policy_main(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from ._lean import main as lean_main

    code = lean_main(argv)  # `neuro ps`: a socket and msgpack frames, nothing more
    if code is not None:
        return code
    return full_main(argv)


def full_main(argv: list[str]) -> int:
    """The command, without trying the lean path first."""
    Parser.json_mode = "--json" in argv
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    run = getattr(args, "run", None)
    if run is None:  # a command with actions, given none
        parser.parse_args([*argv, "--help"])
        return EXIT_USAGE
    return _run(run, args)


def _run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    import neuro

    from neuro.client import ControlError, DaemonNotRunning

    try:
        return run(args)
    except Problem as e:
        return _fail(args, e.type, str(e), e.hint, e.code, e.data)
    except DaemonNotRunning as e:
        return _fail(args, "DaemonNotRunning", str(e), "start one with `neuro daemon start`", EXIT_NO_DAEMON)
    except ControlError as e:
        return _fail(args, e.type, e.message, "see the daemon's output in $NEURO_HOME/daemon.out", EXIT_FAILED)
    except neuro.NeuroError as e:
        cause = e.cause if isinstance(e, neuro.RemoteError) else None
        return _fail(args, type(e).__name__, str(e), _hint(e), EXIT_FAILED, cause=cause)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: still one line and an exit code, the traceback on request
        import os
        import traceback

        if os.environ.get("NEURO_DEBUG"):
            traceback.print_exc()
        return _fail(args, type(e).__name__, f"internal error: {e}",
                     "run again with NEURO_DEBUG=1 for the traceback, and report it", EXIT_FAILED)


def _hint(e: Exception) -> str | None:
    return {
        "NoSuchNeuro": "see the running neuros with `neuro ps`",
        "InvalidPayload": "give the fields the neuro's input type expects (JSON or key=value)",
        "CallTimeout": "raise --timeout, or check the neuro with `neuro logs --neuro NAME`",
        "ManifestError": "give `module:Class` or the path of a neuro file",
        "AlreadyRunning": "stop it first (`neuro stop NAME`) or spawn with --name",
        "SettingError": "fix the environment variable, or unset it for the default",
        "RemoteError": "the traceback is in --json's `cause`; see also `neuro logs --neuro NAME`",
    }.get(type(e).__name__)


def _fail(args: argparse.Namespace, type_: str, message: str, hint: str | None, code: int, data: Any = None,
          cause: Any = None) -> int:
    if getattr(args, "json", False):
        emit_error(type_, message, hint, code, data, cause)
    else:
        print(f"neuro {args.command}: error: {message}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
