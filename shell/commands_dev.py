"""`neuro new NAME` (scaffold a neuro with its test) and `neuro run SCRIPT.py` (a session)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

NEURO_TEMPLATE = '''"""`{name}`: {what}

Edit `handle`; when this folder is the daemon's drop folder, every save is hot-swapped.
Run its test with: python -m pytest {test_path}
"""

from neuro import sdk


class {cls}In(sdk.Message):
    text: str


class {cls}Out(sdk.Message):
    text: str


class {cls}(sdk.Neuro):
    name = "{name}"
    input = {cls}In
    output = {cls}Out

    async def handle(self, ctx: sdk.Context, msg: {cls}In) -> {cls}Out:
        return {cls}Out(text=msg.text.upper())
'''

TEST_TEMPLATE = '''"""The `{name}` neuro, in an embedded kernel."""

from pathlib import Path

import trio

from neuro.client import connect

HERE = Path(__file__).resolve().parent


def test_{ident}_answers_in_upper_case():
    """A call with text "hi" gets "HI" back."""

    async def main():
        async with connect(embedded=True) as client:
            await client.spawn(str(HERE))
            return await client.call("{name}", {{"text": "hi"}}, timeout=5.0)

    assert "HI" == trio.run(main).text
'''

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add

    new = add(sub, "new", common, help="scaffold a neuro, with a test, in a drop folder",
              description="Write NAME/__init__.py (a neuro: an input and an output type and a handler) and "
                          "NAME/test_NAME.py (its test) in the drop folder ($NEURO_HOME/neuros by default).",
              example="neuro new shout --dir ./neuros", run=_new)
    new.add_argument("name", metavar="NAME", help="lower case letters, digits, '_' or '-'")
    new.add_argument("--dir", metavar="FOLDER", help="where to write it (default: $NEURO_HOME/neuros)")
    new.add_argument("--force", action="store_true", help="overwrite an existing neuro of that name")

    run = add(sub, "run", common, help="run a scripted session (a Python file) against the daemon",
              description="Run SCRIPT.py as __main__. Inside it, `neuro.connect()` reaches the daemon "
                          "(which must be running) or, with --embedded, a kernel started for the script. "
                          "Arguments after the script are its own (sys.argv).",
              example="neuro run examples/orchestrate.py --embedded", run=_run)
    run.add_argument("script", metavar="SCRIPT.py")
    run.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to the script")
    run.add_argument("--embedded", action="store_true", help="an embedded kernel instead of the daemon")


def _new(args: argparse.Namespace) -> int:
    from .cli import EXIT_PROBLEM, EXIT_USAGE, Problem
    from .daemon import State

    if not _NAME.match(args.name):
        raise Problem(f"{args.name!r} is not a neuro name: use lower case letters, digits, '_' or '-', "
                      "starting with a letter", code=EXIT_USAGE, type="UsageError", hint="for example: neuro new shout")
    ident = args.name.replace("-", "_")
    folder = Path(args.dir) if args.dir else State(args.home).neuros
    target = folder / ident
    if target.exists() and not args.force:
        raise Problem(f"{target} already exists", code=EXIT_PROBLEM, type="Exists",
                      hint="pick another name, or pass --force to overwrite it")
    cls = "".join(part.capitalize() for part in re.split(r"[_-]", args.name))
    test_path = target / f"test_{ident}.py"
    target.mkdir(parents=True, exist_ok=True)
    # The test first: a drop folder loads the neuro when __init__.py appears, complete.
    test_path.write_text(TEST_TEMPLATE.format(name=args.name, ident=ident))
    _write_atomic(target / "__init__.py", NEURO_TEMPLATE.format(
        name=args.name, cls=cls, what="replies with its text in upper case.", test_path=test_path))
    doc = {"name": args.name, "neuro": str(target / "__init__.py"), "test": str(test_path)}
    if args.json:
        import json

        print(json.dumps(doc, indent=2))
    else:
        print(f"wrote {doc['neuro']}\nwrote {doc['test']}\ntest it: python -m pytest {test_path}")
    return 0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _run(args: argparse.Namespace) -> int:
    import runpy

    from .cli import EXIT_FAILED, EXIT_NO_DAEMON, EXIT_NOT_FOUND, Problem

    script = Path(args.script)
    if not script.is_file():
        raise Problem(f"no script at {script}", code=EXIT_NOT_FOUND, type="NotFound",
                      hint="give the path of a Python file: neuro run session.py")
    if args.home:
        os.environ["NEURO_HOME"] = str(Path(args.home).expanduser().absolute())
    if args.embedded:
        os.environ["NEURO_SESSION"] = "embedded"
    else:
        from .daemon import State, running_pid

        st = State(args.home)
        if running_pid(st) is None:
            raise Problem(f"no daemon is running for {st.home}", code=EXIT_NO_DAEMON, type="DaemonNotRunning",
                          hint="start one with `neuro daemon start`, or run the script with --embedded")
        os.environ["NEURO_SESSION"] = "daemon"
    argv = sys.argv
    sys.argv = [str(script), *[a for a in args.script_args if a != "--"]]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_FAILED)
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"neuro run: error: {script} raised; its traceback is above", file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.argv = argv
    return 0
