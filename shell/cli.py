"""The `neuro` command.

Exit codes (also in `neuro --help` and docs/cli.md), the same for the same failure in every
command:
  0  success
  1  the command ran and found a problem (an invalid policy file, a swap the gate refused,
     a message without exactly one outcome, a second `daemon start`)
  2  a usage error (bad arguments, a bad name), printed with the usage
  3  the command failed (an error Neuro raised, printed as one line with what to do)
  4  no daemon is running (start one with `neuro daemon start`)
  5  not found: a named neuro, version, policy, job, topic, message or file does not exist

Output options (`output_options()`) go before or after the command (`neuro --json ps`,
`neuro ps --json`): the top-level parser holds their defaults, each subcommand's copies default
to argparse.SUPPRESS so they never overwrite a value given before the command.

With --json every command prints JSON on stdout, and an error as one object:
``{"error": {"type": ..., "message": ..., "hint": ..., "exit_code": ...}}``, with ``data``
(the error's own fields) where it has any, and ``cause`` for a neuro's error (RemoteError):
the record every wire carries, ``{"type", "message", "traceback", "neuro", "path"}``.
A broken pipe (`neuro logs | head -1`) ends the command quietly with 0, as `git log | head` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_FAILED, EXIT_NO_DAEMON, EXIT_NOT_FOUND = 0, 1, 2, 3, 4, 5

# (code, meaning): the one table, printed by `neuro --help` and docs/cli.md.
EXIT_TABLE = (
    (EXIT_OK, "success"),
    (EXIT_PROBLEM, "the command ran and found a problem (an invalid policy file, a refused swap, ...)"),
    (EXIT_USAGE, "usage error: bad arguments or a bad name, printed with the usage"),
    (EXIT_FAILED, "the command failed (the error says what to do)"),
    (EXIT_NO_DAEMON, "no daemon is running (start one with `neuro daemon start`)"),
    (EXIT_NOT_FOUND, "not found: a named neuro, version, policy, job, topic, message or file"),
)
EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_TABLE)

# Errors whose type says "what you named does not exist" (exit 5), wherever they arise.
NOT_FOUND_TYPES = frozenset({"NoSuchNeuro", "NotFound", "NoSuchVersion", "NoSuchPolicy", "NoSuchJob",
                             "NoSuchTopic", "FileNotFoundError"})


class Problem(Exception):
    """A command's failure with its exit code and a hint: what to do about it."""

    def __init__(self, message: str, *, code: int = EXIT_FAILED, hint: str | None = None,
                 type: str = "Error", data: Any = None) -> None:
        super().__init__(message)
        self.code, self.hint, self.type, self.data = code, hint, type, data


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error suggests the nearest name (`did you mean spawn?`), and
    under --json it is the one JSON error shape."""

    json_mode = False

    def error(self, message: str) -> Any:
        message = _suggest(self, message)
        if Parser.json_mode:
            emit_error("UsageError", message, f"see `{self.prog} --help`", EXIT_USAGE)
            raise SystemExit(EXIT_USAGE)
        super().error(message)


def _suggest(parser: argparse.ArgumentParser, message: str) -> str:
    """`message` with `; did you mean X?` when a wrong command, choice or flag is near a right one."""
    import difflib
    import re

    choice = re.match(r"argument [^:]*: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if choice:
        word, names = choice.group(1), [n.strip(" '") for n in choice.group(2).split(",")]
    elif message.startswith("unrecognized arguments: "):
        flags = [a for a in message.split(": ", 1)[1].split() if a.startswith("-")]
        word = flags[0].split("=", 1)[0] if flags else ""
        names = [o for o in parser._option_string_actions if o.startswith("--")] if word.startswith("--") \
            else list(parser._option_string_actions)
    else:
        return message
    near = difflib.get_close_matches(word, names, n=1, cutoff=0.6) if word else []
    return f"{message}; did you mean {near[0]}?" if near else message


def emit_error(type_: str, message: str, hint: str | None, code: int, data: Any = None, cause: Any = None) -> None:
    doc: dict[str, Any] = {"type": type_, "message": message, "hint": hint, "exit_code": code}
    if data is not None:
        doc["data"] = data
    if cause is not None:  # an ErrorInfo
        doc["cause"] = {"type": cause.type, "message": cause.message, "traceback": cause.traceback,
                        "neuro": cause.neuro, "path": list(cause.path)}
    print(json.dumps({"error": doc}, default=str))


OUTPUTS = ("table", "json", "jsonl", "csv", "quiet")


def output_options(*, defaults: bool = False) -> argparse.ArgumentParser:
    """The flags every command shares, defined once. `args.output` is one of OUTPUTS; `args.json`
    is true for json and jsonl (so errors are JSON too). With `defaults` (the top-level parser)
    they have their defaults; without (every subcommand's copy) they default to SUPPRESS, so a
    flag given before the command (`neuro --json ps`) is not overwritten."""
    keep = {} if defaults else {"default": argparse.SUPPRESS}
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output options")
    formats = group  # the last format given wins (as kubectl's -o does)
    formats.add_argument("--json", dest="output", action="store_const", const="json", **keep,
                         help="print one JSON document (errors too, as one object)")
    formats.add_argument("--jsonl", dest="output", action="store_const", const="jsonl", **keep,
                         help="print one JSON object per line (what follow modes stream)")
    formats.add_argument("--csv", dest="output", action="store_const", const="csv", **keep,
                         help="print CSV with a header row")
    formats.add_argument("-q", "--quiet", dest="output", action="store_const", const="quiet", **keep,
                         help="print names or ids only, one per line")
    group.add_argument("--wide", "--no-trunc", dest="wide", action="store_true", **keep,
                       help="never cut a table's cells (default: cut to the terminal's width)")
    group.add_argument("--color", choices=("auto", "always", "never"), **keep,
                       help="colour states and errors: auto (on a terminal, unless $NO_COLOR is set), always, never")
    group.add_argument("--home", metavar="PATH", **keep,
                       help="the daemon's state folder (default: $NEURO_HOME, else ~/.neuro)")
    if defaults:
        common.set_defaults(output="table", wide=False, color="auto", home=None)
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
                    + EXIT_CODES, epilog="example: neuro demo", formatter_class=argparse.RawDescriptionHelpFormatter,
                    parents=[output_options(defaults=True)])
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
    from . import commands_info, commands_pubsub  # info, publish, subscribe (issue 19)
    commands_info.register(sub, common)
    commands_pubsub.register(sub, common)
    commands_versions.register(sub, common)
    commands_log.register(sub, common)
    commands_dev.register(sub, common)
    from . import commands_keep; commands_keep.register(sub, common)  # noqa: E702  apply, kept, unpin (issue 19)
    from . import commands_tui; commands_tui.register(sub, common)  # noqa: E702  `neuro shell` (issue 22)
    from . import commands_net; commands_net.register(sub, common)  # noqa: E702  net check|show|run|trace (issue 23)
    from . import commands_lang; commands_lang.register(sub, common)  # noqa: E702  lang check|build|run|fmt (issue 30)
    from . import commands_completion; commands_completion.register(sub, common)  # noqa: E702  (issue 19)
    from . import commands_learn; commands_learn.register(sub, common)  # noqa: E702  neuro learn (issue 20)
    from . import commands_dream; commands_dream.register(sub, common)  # noqa: E702  neuro dream (issue 21)
    return parser


def neuro_name(text: str) -> str:
    """A process name given on the command line (`--name`): checked here, so a bad one is a
    usage error (exit 2) in every command, as in `neuro new`."""
    from neuro._manifest import NAME_PATTERN

    if not NAME_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a neuro name: use lower case letters, digits, '_', "
                                         "'-' (and '.' between parts), starting with a letter, like echo2")
    return text


def is_not_found(e: Exception) -> bool:
    """Whether `e` says that something the user named does not exist (exit 5)."""
    if isinstance(e, LookupError) or type(e).__name__ in NOT_FOUND_TYPES:
        return True
    # The kernel raises these under general types (kernel/_versions.py `match`, _versionops.py
    # `rollback`, _control_ops.py `resolve_neuro`); until they have types of their own, their
    # wording marks them.
    return any(words in str(e) for words in _NOT_FOUND_WORDING.get(type(e).__name__, ()))


_NOT_FOUND_WORDING = {
    "NeuroError": (" has no versions matching ", " has no earlier version to roll back to"),
    "ManifestError": ("cannot import module ", " has no neuro class "),
}


def is_usage(e: Exception) -> bool:
    """Whether `e` is a mistake in what the user typed (exit 2): a state folder that cannot be
    one, or a NEURO argument that names no neuro at all (`neuro spawn 'bad name'`)."""
    return type(e).__name__ == "StateFolderError" or (
        type(e).__name__ == "ManifestError" and str(e).startswith("cannot tell which neuro "))


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help: str | None = None) -> Any:
    """Every (sub)command under `parser`, depth first: (path, parser, its one-line help). Hidden
    commands (a name starting with `_`, such as `__complete`) are left out."""
    yield path, parser, help
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not name.startswith("_"):
                    yield from walk(sub, (*path, name), helps.get(name))


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
    try:
        code = _full_main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _pipe_closed()


def _pipe_closed() -> int:
    """`neuro logs | head -1`: the reader has gone, which is no error (git log | head).
    Point stdout at /dev/null so the interpreter's last flush does not complain."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_OK


def _full_main(argv: list[str]) -> int:
    Parser.json_mode = "--json" in argv or "--jsonl" in argv
    from .commands_tui import shell_parser  # `neuro shell` alone: its start is measured (issue 22)

    parser = shell_parser() if argv[:1] == ["shell"] else _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        extra = _trailing_words(_chosen(parser, args), args, extra)
        if extra:  # say so with the usage of the (sub)command they were given to
            _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        return int(e.code or 0)
    args.json = args.output in ("json", "jsonl")
    Parser.json_mode = args.json
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    run = getattr(args, "run", None)
    if run is None:  # a command with actions, given none: its usage, exit 2
        chosen = _chosen(parser, args)
        actions = next((a for a in chosen._actions if isinstance(a, argparse._SubParsersAction)), None)
        names = ", ".join(actions.choices) if actions is not None else ""
        try:
            chosen.error(f"give an action: {names}")
        except SystemExit as e:
            return int(e.code or EXIT_USAGE)
    return _run(run, args)


def _trailing_words(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """`neuro call echo --timeout 3 text=5`: argparse closes a PAYLOAD... list at the first
    option, so the words after it come back unrecognised. They belong to the command's last
    positional when that one takes many; what is left (unknown flags) is returned."""
    last = [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    if not extra or not last or last[-1].nargs not in ("*", "+"):
        return extra
    words = [w for w in extra if w == "-" or not w.startswith("-")]
    setattr(args, last[-1].dest, [*(getattr(args, last[-1].dest, None) or []), *words])
    return [w for w in extra if w not in words]


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser that `args` went through (`neuro policy show`: show's)."""
    while True:
        actions = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, actions.dest, None) if actions is not None else None
        if name is None or name not in actions.choices:
            return parser
        parser = actions.choices[name]


def _run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        if getattr(args, "home", None) is not None or args.command == "daemon":
            from neuro._home import check_home

            check_home(args.home, socket=args.command == "daemon")  # a file, or too long for the socket
        return run(args)
    except BrokenPipeError:
        raise  # full_main ends quietly
    except Problem as e:
        return _fail(args, e.type, str(e), e.hint, e.code, e.data)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        return _failed(args, e)


def _failed(args: argparse.Namespace, e: Exception) -> int:
    """`e` as one line and an exit code. The client's error types are imported only now: for
    `neuro shell` they would cost its first frame 25 ms (msgspec and the protocol)."""
    import neuro
    from neuro.client import ControlError, DaemonNotRunning

    if isinstance(e, DaemonNotRunning):
        return _fail(args, "DaemonNotRunning", str(e), "start one with `neuro daemon start`", EXIT_NO_DAEMON)
    if isinstance(e, ControlError):
        code = EXIT_NOT_FOUND if e.type in NOT_FOUND_TYPES else EXIT_FAILED
        return _fail(args, e.type, e.message, "see the daemon's output in $NEURO_HOME/daemon.out", code)
    if isinstance(e, neuro.NeuroError):
        cause = e.cause if isinstance(e, neuro.RemoteError) else None
        code = EXIT_NOT_FOUND if is_not_found(e) else EXIT_USAGE if is_usage(e) else EXIT_FAILED
        return _fail(args, type(e).__name__, str(e), _hint(e), code, cause=cause)
    if isinstance(e, FileNotFoundError):  # a file the user named
        return _fail(args, "NotFound", f"no such file: {e.filename}", "check the path", EXIT_NOT_FOUND)
    # a bug: still one line and an exit code, the traceback on request
    import os
    import traceback

    if os.environ.get("NEURO_DEBUG"):
        traceback.print_exception(e)
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
    from ._output import paint

    if getattr(args, "json", False):
        emit_error(type_, message, hint, code, data, cause)
    else:
        error = paint("error:", "error", args, stream=sys.stderr)
        print(f"neuro {args.command}: {error} {message}", file=sys.stderr)
        if hint:
            print(f"{paint('hint:', 'bold', args, stream=sys.stderr)} {hint}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
