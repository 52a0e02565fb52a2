"""The `neuro` command.

Exit codes: 0 success; 1 the command ran and found a problem; 2 a usage error (bad
arguments); 3 the command failed (an error Neuro raised, printed as one line).
"""

from __future__ import annotations

import argparse
import json
import sys

import neuro

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuro",
        description="Neuro: a local-first runtime for self-improving agents.",
        epilog="example: neuro demo",
    )
    parser.add_argument("--version", action="version", version=f"neuro {neuro.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run an embedded kernel with the built-in neuros and a scripted session",
        description="Start an embedded kernel, spawn the built-in neuros, run a scripted session "
                    "that ends by itself, and print a summary read back from the event log.",
        epilog="example: neuro demo --calls 5000 --log /tmp/demo.db",
    )
    demo.add_argument("--log", metavar="PATH", help="event log file (default: a new temporary folder)")
    demo.add_argument("--calls", type=_positive_int, default=2000, metavar="N",
                      help="how many calls to send to echo (default 2000)")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")

    policy = sub.add_parser("policy", help="show or check resource policies",
                            description="Show the resource policies Neuro knows, or check a policy file.",
                            epilog="example: neuro policy check ~/.neuro/policies/mine.toml")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    show = psub.add_parser("show", help="list policies, or show one in full",
                           description="List every known policy, or show one policy's resolved fields.",
                           epilog="example: neuro policy show untrusted --json")
    show.add_argument("name", nargs="?", help="a policy name (default: list them all)")
    show.add_argument("--dir", action="append", metavar="FOLDER", help="a policy folder (default: $NEURO_HOME/policies)")
    show.add_argument("--json", action="store_true", help="print JSON")
    check = psub.add_parser("check", help="validate a policy file",
                            description="Validate a policy file against the schema and the policies it "
                                        "inherits from. Exit 0 if valid, 1 if not.",
                            epilog="example: neuro policy check policies/untrusted.toml")
    check.add_argument("file", help="the TOML file to check")
    check.add_argument("--dir", action="append", metavar="FOLDER", help="a policy folder to resolve `inherit` against")
    check.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "demo":
            from .demo import main as demo_main

            return demo_main(args.log, args.calls, args.json)
        if args.command == "policy":
            from .policy import main as policy_main

            if args.policy_command is None:
                parser.parse_args(["policy", "--help"])
            return policy_main(args)
    except neuro.NeuroError as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"type": type(e).__name__, "message": str(e)}}))
        else:
            print(f"neuro {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
