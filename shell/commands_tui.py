"""`neuro shell`: the textual shell (shell/tui/). textual is imported only when it runs."""

from __future__ import annotations

import argparse
from typing import Any

SCREENS = ("processes", "log", "call", "versions", "policies", "dream", "nets")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    shell = add(sub, "shell", common, help="the textual shell: watch and steer the live system",
                description="A terminal UI on the running daemon (or, with --embedded, on a kernel of its own): "
                            "processes, the log as it is written, calls from a form, versions, policies. "
                            "Press ? in it for the keys, ctrl+p for every action by name.",
                example="neuro shell --refresh 2", run=_shell)
    shell.add_argument("--embedded", action="store_true",
                       help="run a kernel in this process instead of attaching to the daemon")
    shell.add_argument("--log", metavar="PATH", help="with --embedded: the event log file (default: none)")
    shell.add_argument("--spawn", action="append", default=[], metavar="NEURO",
                       help="with --embedded: start this neuro (module:Class or a file), repeatable")
    shell.add_argument("--socket", metavar="PATH", help="the daemon's control socket (default: $NEURO_HOME/control.sock)")
    shell.add_argument("--refresh", type=_seconds, default=1.0, metavar="S",
                       help="seconds between looks at the kernel (default 1); nothing is redrawn that did not change")
    shell.add_argument("--screen", choices=SCREENS, default="processes", help="the screen to open on")


def shell_parser() -> argparse.ArgumentParser:
    """The parser of `neuro shell` alone, with the top-level output options: building every
    command's parser (and importing their modules) would cost a fifth of the shell's start."""
    from .cli import Parser, output_options

    parser = Parser(prog="neuro", parents=[output_options(defaults=True)])
    register(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser), output_options())
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (such as 0.5 or 2), got {text!r}") from None
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected between 0.05 and 3600 seconds, got {value:g}")
    return value


def _shell(args: argparse.Namespace) -> int:
    import gc

    # No cyclic GC while textual imports and the app composes: those allocations set off over
    # a hundred collections, whose passes over the objects made so far took 50-70 ms of the
    # first frame here (20 ms in a bare textual app). The app turns it back on, frozen, once
    # its screens are mounted (ShellApp._after_first_frame); the `finally` is for an app that
    # never got that far.
    gc.disable()
    try:
        return _run_shell(args)
    finally:
        gc.enable()


def _run_shell(args: argparse.Namespace) -> int:
    from .cli import EXIT_USAGE, Problem

    if not args.embedded and (args.log or args.spawn):
        raise Problem("--log and --spawn are for an embedded kernel", code=EXIT_USAGE,
                      hint="add --embedded, or start neuros in the daemon with `neuro spawn`")
    preview = None
    if not args.embedded and args.screen == "processes":
        # ask the daemon for its process table now, while textual imports: the first frame shows it
        from ._lean import _socket_path
        from .tui._preview import Preview

        preview = Preview(args.socket or _socket_path(getattr(args, "home", None)))
    try:
        import textual  # noqa: F401
    except ImportError:
        raise Problem("`neuro shell` needs textual, which is not installed",
                      hint="pip install 'neuro-runtime[shell]'") from None
    from .tui import main

    return main(embedded=args.embedded, home=getattr(args, "home", None), socket=args.socket, log=args.log,
                spawn=tuple(args.spawn), refresh=args.refresh, screen=args.screen, preview=preview)
