"""`neuro lang check|build|run|fmt`: Neuro-Lang files (docs/lang.md).

`check`, `build` and `run` send the file's text (and the texts of the files it imports) to
the daemon's `lang` system neuro (`neuro.lang._host`; spawned when it is not running), which
compiles it against the neuros running there. `check --offline` and `fmt` need no daemon:
they parse and check here (offline, the neuros' types are not checked). A problem is
printed as ``file:line:column: kind error: message`` with the line and a caret; with
--json, every problem is an object with the same fields.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._cliutil import ask_system_neuro
from ._output import paint, print_value

HOST_NAME = "lang"
HOST_SPEC = "neuro.lang._host:LangHost"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add

    lang = add(sub, "lang", common, help="check, build, run and format Neuro-Lang files (*.neuro)",
               description="Neuro-Lang is a small language for nets of neuros (docs/lang.md): typed messages, "
                           "nets with if/match/for/while, spawn/await, pure functions, version constraints and "
                           "imports. A .neuro file compiles to Neuro-Nets, which the daemon checks and runs against "
                           "the neuros running there.",
               example="neuro lang run pipeline.neuro x=1")
    actions = lang.add_subparsers(dest="lang_command", metavar="ACTION", parser_class=Parser)
    check = add(actions, "check", common, help="compile a file and report every problem, each with line and column",
                description="Compile FILE (and the files it imports) against the neuros the daemon runs: syntax, "
                            "names, versions (`use x >= HASH`), the types of every edge, holes (`?`, listing the "
                            "neuros that fit). Exit 0 when it compiles, 1 when it does not. --offline checks here, "
                            "without the daemon and without the neuros' types.",
                example="neuro lang check pipeline.neuro", run=_check)
    check.add_argument("file", metavar="FILE")
    check.add_argument("--offline", action="store_true", help="check here, with no daemon (neuro types unchecked)")
    build = add(actions, "build", common, help="compile a file: its nets, their plans, and what it emits",
                description="Compile FILE and print its nets (version, nodes, edges, the plan: parallel segments, "
                            "pruned branches, fused lambdas) and what the optimiser did. --out DIR writes what it "
                            "emits: NAME.net.json (each net's graph), NAME.py (each pure neuro as a Python neuro "
                            "module) and NAME.toml (each policy). --lock writes FILE.lock with the versions of the "
                            "neuros it uses (later compiles then insist on them).",
                example="neuro lang build pipeline.neuro --out build/ --lock", run=_build)
    build.add_argument("file", metavar="FILE")
    build.add_argument("--out", metavar="DIR", help="write the emitted files into DIR")
    build.add_argument("--lock", action="store_true", help="write FILE.lock with the versions the file resolved to")
    run = add(actions, "run", common, help="run a net of a file on one input and print its output",
              description="Compile FILE and run its net (the one named like the file, its only net, or --net) "
                          "once on PAYLOAD (JSON, or key=value pairs); print the output and the run id (`neuro net "
                          "trace RUN` shows how it came to be).",
              example="neuro lang run pipeline.neuro x=1", run=_run)
    run.add_argument("file", metavar="FILE")
    run.add_argument("payload", nargs="*", metavar="PAYLOAD", help="the input: JSON, or key=value pairs")
    run.add_argument("--net", metavar="NAME", help="which net of the file to run")
    run.add_argument("--fresh", action="store_true", help="skip the memo: call every node")
    run.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="how long to wait (default 60)")
    fmt = add(actions, "fmt", common, help="write files in the one layout (comments kept)",
              description="Print FILE in the one layout; --write rewrites it in place, --check exits 1 when it is "
                          "not formatted. A file that does not parse is left as it is (exit 1, with the problem).",
              example="neuro lang fmt --check pipeline.neuro", run=_fmt)
    fmt.add_argument("files", nargs="+", metavar="FILE")
    fmt.add_argument("--write", action="store_true", help="rewrite each file in place")
    fmt.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted; change nothing")


def _sources(path: str) -> tuple[str, dict[str, str]]:
    from neuro.lang import read_sources

    from .cli import EXIT_NOT_FOUND, Problem

    main = os.path.abspath(path)
    if not os.path.exists(main):
        raise Problem(f"no file {path!r}", code=EXIT_NOT_FOUND, type="NotFound", hint="give a NAME.neuro file")
    sources = read_sources(main)
    if main not in sources:
        raise Problem(f"cannot read {path!r}", hint="a .neuro file is UTF-8 text")
    return main, sources


def _lock_path(path: str) -> str:
    return os.path.abspath(path) + ".lock"


def _read_lock(path: str) -> dict[str, str]:
    """The versions of FILE.lock: [neuros] name = version, and [tags] "name@tag" = version."""
    import tomllib

    from .cli import Problem

    lock = _lock_path(path)
    if not os.path.exists(lock):
        return {}
    try:
        with open(lock, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise Problem(f"cannot read the lock file {lock}: {e}", hint="fix it, or delete it and `neuro lang build "
                                                                    "--lock` again") from None
    return {**{str(k): str(v) for k, v in doc.get("neuros", {}).items()},
            **{str(k): str(v) for k, v in doc.get("tags", {}).items()}}


def _ask(args: argparse.Namespace, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    return ask_system_neuro(args, HOST_NAME, HOST_SPEC, request, timeout)


def _request(args: argparse.Namespace, op: str, **fields: Any) -> dict[str, Any]:
    main, sources = _sources(args.file)
    return {"op": op, "text": sources[main], "file": main, "sources": sources, "lock": _read_lock(args.file), **fields}


def _refused(args: argparse.Namespace, diagnostics: list[dict[str, Any]]) -> int:
    from neuro.lang import Diagnostic, LangError

    from .cli import EXIT_PROBLEM

    if args.output in ("json", "jsonl"):
        print_value({"ok": False, "diagnostics": diagnostics}, args)
        return EXIT_PROBLEM
    import msgspec

    error = LangError([msgspec.convert(d, Diagnostic) for d in diagnostics])
    print(paint(str(error).split("\n", 1)[0], "error", args))
    for d in error.diagnostics:
        print(d.render())
    return EXIT_PROBLEM


def _check(args: argparse.Namespace) -> int:
    if args.offline:
        from neuro.lang import LangError, compile_source

        main, sources = _sources(args.file)
        try:
            program = compile_source(sources[main], main, sources=sources, offline=True)
        except LangError as e:
            return _refused(args, e.as_data())
        print_value({"file": main, "ok": True, "nets": sorted(program.decls), "types_checked": False}, args)
        return 0
    reply = _ask(args, _request(args, "check"))
    if not reply["ok"]:
        return _refused(args, reply["diagnostics"])
    program = reply["program"]
    if args.output == "quiet":
        for name, version in program["nets"].items():
            print(f"{name} {version}")
        return 0
    print_value({"file": os.path.abspath(args.file), "ok": True, "main": program["main"], "nets": program["nets"],
                 "neuros": program["neuros"]}, args)
    return 0


def _build(args: argparse.Namespace) -> int:
    reply = _ask(args, _request(args, "build"))
    if not reply["ok"]:
        return _refused(args, reply["diagnostics"])
    program = reply["program"]
    written = []
    if args.out:
        import json

        os.makedirs(args.out, exist_ok=True)
        files = {f"{n}.net.json": json.dumps(shown, indent=2, sort_keys=True) + "\n"
                 for n, shown in program["nets"].items()}
        files.update({f"{n}.py": text for n, text in reply["python"].items()})
        files.update({f"{n}.toml": text for n, text in reply["policies"].items()})
        for name, text in files.items():
            path = os.path.join(args.out, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            written.append(path)
    if args.lock:
        lock = _lock_path(args.file)
        rows = [f"{_toml_key(n)} = \"{v}\"" for n, v in sorted(program["neuros"].items()) if v]
        with open(lock, "w", encoding="utf-8") as f:
            f.write(f"# the versions {os.path.basename(args.file)} was built against (`neuro lang build --lock`)\n"
                    "[neuros]\n" + "".join(r + "\n" for r in rows))
        written.append(lock)
    if args.output in ("json", "jsonl"):
        print_value({**program, "written": written}, args)
        return 0
    if args.output == "quiet":
        for name, shown in program["nets"].items():
            print(f"{name} {shown['version']}")
        return 0
    for name, shown in program["nets"].items():
        plan = shown["plan"]
        print(f"net {name}  version {shown['version']}  input {shown['input']}  output {shown['output']}"
              f"{'  (main)' if name == program['main'] else ''}")
        print(f"  nodes: {', '.join(n['id'] + ' (' + (n['neuro'] or n['kind']) + ')' for n in shown['nodes'])}")
        for depth, segment in enumerate(plan["parallel_segments"], 1):
            print(f"  {depth}. " + "  |  ".join(" + ".join(step) for step in segment))
        print(f"  pruned: {', '.join(plan['pruned_nodes']) or 'none'}; fused: "
              f"{', '.join(' + '.join(f) for f in plan['fused']) or 'none'}")
    opt = program["optimised"]
    print(f"optimised: {opt['folded_constants']} constants folded, "
          f"{len(opt['pruned_branches_at_lines'])} dead branches pruned")
    for path in written:
        print(f"wrote {path}")
    return 0


def _toml_key(name: str) -> str:
    import re

    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else f'"{name}"'


def _run(args: argparse.Namespace) -> int:
    from ._payload import parse_payload

    payload = parse_payload(args.payload)
    request = _request(args, "run", net=args.net, input=payload, fresh=args.fresh)
    if _declares_store(request["sources"]):
        _start_store(args)
    reply = _ask(args, request, timeout=args.timeout)
    if not reply["ok"]:
        return _refused(args, reply["diagnostics"])
    if args.output == "quiet":
        print(reply["run"])
        return 0
    print_value({"net": reply["net"], "run": reply["run"], "output": reply["output"], "called": reply["called"],
                 "cached": reply["cached"]}, args)
    return 0


def _declares_store(sources: dict[str, str]) -> bool:
    """Whether a file declares a `store` (its nets then call the daemon's `lang.store` neuro)."""
    from neuro.lang import LangError, parse
    from neuro.lang._ast import Store

    for path, text in sources.items():
        try:
            if any(isinstance(item, Store) for item in parse(text, path).items):
                return True
        except LangError:
            continue  # the daemon reports it
    return False


def _start_store(args: argparse.Namespace) -> None:
    """The daemon's store neuro (`neuro.lang._store`), spawned when it does not run yet (a get
    of nothing: the call that makes `ask_system_neuro` spawn it)."""
    from neuro.lang._store import NAME, SPEC

    ask_system_neuro(args, NAME, SPEC, {"op": "get", "store": "", "key": ""})


def _fmt(args: argparse.Namespace) -> int:
    from neuro.lang import LangError, format_source

    from .cli import EXIT_NOT_FOUND, EXIT_PROBLEM, Problem

    results = []
    status = 0
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise Problem(f"no file {path!r}", code=EXIT_NOT_FOUND, type="NotFound") from None
        except (OSError, UnicodeDecodeError) as e:
            raise Problem(f"cannot read {path!r}: {e}", hint="a .neuro file is UTF-8 text") from None
        try:
            formatted = format_source(text, path)
        except LangError as e:
            status = EXIT_PROBLEM
            results.append({"file": path, "ok": False, "diagnostics": e.as_data()})
            if args.output not in ("json", "jsonl"):
                for d in e.diagnostics:
                    print(d.render())
            continue
        changed = formatted != text
        if args.write and changed:
            tmp = f"{path}.fmt-tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(formatted)
            os.replace(tmp, path)  # whole or not at all: a crash never leaves half a file
        if args.check and changed:
            status = EXIT_PROBLEM
        results.append({"file": path, "ok": True, "changed": changed})
        if args.output not in ("json", "jsonl") and not args.write and not args.check:
            print(formatted, end="")
        elif args.output not in ("json", "jsonl") and changed:
            print(f"{'reformatted' if args.write else 'would reformat'} {path}")
    if args.output in ("json", "jsonl"):
        print_value(results, args)
    return status
