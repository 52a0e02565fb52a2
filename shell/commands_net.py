"""`neuro net check|show|run|trace`: Neuro-Nets in the daemon (docs/nets.md).

A net file is checked and run by the daemon's `nets` system neuro (`neuro.nets._host`),
against the neuros that run there: the CLI reads the file, sends its text, and prints what
comes back. `trace` reads the run's ``net.run`` event and the messages it sent from the log.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._cliutil import Session, ask_system_neuro
from ._output import paint, print_rows, print_value, when

HOST_NAME = "nets"
HOST_SPEC = "neuro.nets._host:NetHost"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add

    net = add(sub, "net", common, help="check, show, run and trace Neuro-Nets (typed graphs of neuros)",
              description="Neuro-Nets compose neuros into typed graphs (docs/nets.md). A net is a NAME.net.toml "
                          "file, or the name of a net that runs (one spawned from Python, or from a drop folder). "
                          "The daemon checks and runs it against the neuros running there.",
              example="neuro net run pipeline.net.toml text=hello")
    actions = net.add_subparsers(dest="net_command", metavar="ACTION", parser_class=Parser)
    check = add(actions, "check", common, help="check a net file: every edge's types, cycles, dead ends",
                description="Build the net against the neuros the daemon runs and report every problem: unknown "
                            "neuros, edges whose source type does not fit the target (naming the edge, the field "
                            "path and both types), required inputs left unconnected, unbounded cycles, unreachable "
                            "nodes and dead ends. Exit 0 when it builds, 1 when it does not.",
                example="neuro net check pipeline.net.toml", run=_check)
    check.add_argument("net", metavar="FILE|NAME")
    show = add(actions, "show", common, help="a net's nodes, edges, types and version; --plan: how it runs",
               description="Print the net's nodes (with their neuro, version and types), its edges and its "
                           "version (the hash of its graph and its nodes' versions). With --plan, also what "
                           "the build made of it: the steps, which of them run side by side (parallel "
                           "segments), the branches pruned and the lambda chains fused. With --graph, the "
                           "net drawn as a graph from `in` to `out` instead of the tables (conditional "
                           "edges dashed), as the shell's Nets screen draws it.",
               example="neuro net show pipeline.net.toml --graph", run=_show)
    show.add_argument("net", metavar="FILE|NAME")
    show.add_argument("--plan", action="store_true", help="show the plan: parallel segments, pruned, fused")
    show.add_argument("--graph", action="store_true", help="draw the net as a graph (in --json: `graph`, its lines)")
    run = add(actions, "run", common, help="run a net on one input and print its output",
              description="Run the net once on PAYLOAD (one JSON document, or key=value pairs) and print its "
                          "output and the run id (`neuro net trace RUN` shows how the output came to be). "
                          "Results are memoised by (input hash, node version); --fresh computes every node again.",
              example="neuro net run pipeline.net.toml text=hello", run=_run)
    run.add_argument("net", metavar="FILE|NAME")
    run.add_argument("payload", nargs="*", metavar="PAYLOAD", help="the input: JSON, or key=value pairs")
    run.add_argument("--fresh", action="store_true", help="skip the memo: call every node")
    run.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                     help="how long to wait for the run (default 60; the net's own deadline also applies)")
    trace = add(actions, "trace", common, help="how a net run's output came to be: each node, edge and hash",
                description="Read the lineage of run RUN from the log (its `net.run` event): every node that ran "
                            "or came from the memo, the edges that fed it, its version and the hashes of its "
                            "input and output, in order; with --json also the messages the run sent.",
                example="neuro net trace 1764660665123456789", run=_trace)
    trace.add_argument("run_id", type=int, metavar="RUN", help="the run id `neuro net run` printed")


def _request(args: argparse.Namespace, op: str, **fields: Any) -> dict[str, Any]:
    from .cli import EXIT_NOT_FOUND, Problem

    target = args.net
    if target.endswith(".toml") or os.sep in target or os.path.exists(target):
        try:
            with open(target, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise Problem(f"no net file {target!r}", code=EXIT_NOT_FOUND, hint="give a NAME.net.toml file",
                          type="NotFound") from None
        except (OSError, UnicodeDecodeError) as e:
            raise Problem(f"cannot read {target!r}: {e}", hint="a net file is UTF-8 TOML") from None
        return {"op": op, "text": text, "file": os.path.abspath(target), **fields}
    return {"op": op, "name": target, **fields}


def _ask(args: argparse.Namespace, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    return ask_system_neuro(args, HOST_NAME, HOST_SPEC, request, timeout)


def _refused(args: argparse.Namespace, reply: dict[str, Any]) -> int:
    from .cli import EXIT_PROBLEM

    if args.output in ("json", "jsonl"):
        print_value(reply, args)
        return EXIT_PROBLEM
    name = reply.get("net")
    problems = reply.get("problems") or []
    head = f"net {name!r} does not build" if name else "the net file was refused"
    print(paint(f"{head} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):", "error", args))
    for p in problems:
        print(f"  - {p['message']}")
    return EXIT_PROBLEM


def _check(args: argparse.Namespace) -> int:
    reply = _ask(args, _request(args, "check"))
    if not reply["ok"]:
        return _refused(args, reply)
    if args.output == "quiet":
        print(reply["version"])
        return 0
    print_value({"net": reply["net"], "version": reply["version"], "ok": True}, args)
    return 0


def _show(args: argparse.Namespace) -> int:
    reply = _ask(args, _request(args, "show", plan=args.plan))
    if not reply["ok"]:
        return _refused(args, reply)
    shown = reply["show"]
    graph = None
    if args.graph:
        from ._netgraph import draw_lines

        graph = draw_lines(shown)
    if args.output in ("json", "jsonl"):
        print_value({**shown, "graph": graph} if graph is not None else shown, args)
        return 0
    print(f"net {shown['name']}  version {shown['version']}  input {shown['input']}  output {shown['output']}")
    if graph is not None:
        print("\n".join(graph))
        return 0
    print_rows([{"node": n["id"], "kind": n["kind"], "neuro": n["neuro"] or "-", "version": (n["version"] or "")[:12],
                 "input": n["input"], "output": n["output"]} for n in shown["nodes"]], args, key="node")
    print()
    print_rows([{"edge": f"{e['src']} -> {e['dst']}", "when": e["when"] or "-"} for e in shown["edges"]], args,
               key="edge")
    plan = shown.get("plan")
    if plan:
        print()
        print("plan (each line: steps that run side by side; a step of several nodes is a fused lambda chain):")
        for depth, segment in enumerate(plan["parallel_segments"], 1):
            print(f"  {depth}. " + "  |  ".join(" + ".join(step) for step in segment))
        print(f"  pruned edges: {', '.join(plan['pruned_edges']) or 'none'}")
        print(f"  pruned nodes: {', '.join(plan['pruned_nodes']) or 'none'}")
        print(f"  fused: {', '.join(' + '.join(f) for f in plan['fused']) or 'none'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ._payload import parse_payload

    payload = parse_payload(args.payload)  # untyped key=value: each value JSON when it is JSON, else a string
    reply = _ask(args, _request(args, "run", input=payload, fresh=args.fresh), timeout=args.timeout)
    if not reply["ok"]:
        return _refused(args, reply)
    row = {"net": reply["net"], "run": reply["run"], "output": reply["output"], "called": reply["called"],
           "cached": reply["cached"], "version": reply["version"]}
    if args.output == "quiet":
        print(reply["run"])
        return 0
    print_value(row, args)
    return 0


def _trace(args: argparse.Namespace) -> int:
    from .cli import EXIT_NOT_FOUND, Problem

    run_time = args.run_id / 1e9
    with Session(args) as s:
        events = s.events(name="net.run", since=run_time - 1.0, until=run_time + 24 * 3600, limit=None)
        found = [e for e in events if _data(e).get("run") == args.run_id]
        if not found:
            raise Problem(f"no net run {args.run_id} in the log", code=EXIT_NOT_FOUND, type="NotFound",
                          hint="the run id is what `neuro net run` printed (`neuro logs --events` lists net.run)")
        data = _data(found[-1])
        messages = s.trace(args.run_id) if args.output in ("json", "jsonl") else None
    if args.output in ("json", "jsonl"):
        import msgspec

        print_value({**data, "messages": msgspec.to_builtins(messages) if messages is not None else None}, args)
        return 0
    state = paint("ok", "ok", args) if data["ok"] else paint("failed", "error", args)
    print(f"run {data['run']}  net {data['net']}  version {data['version']}  {state}  "
          f"{data['seconds'] * 1000:.1f} ms  called {data['called']}  cached {data['cached']}  "
          f"at {when(run_time)}")
    print(f"input {data['input_hash']} -> output {data['output_hash'] or '-'}")
    if data.get("error"):
        print(paint(data["error"], "error", args))
    print_rows([{"node": st["node"], "calls": st["calls"] or "lambda", "version": st["version"][:12],
                 "reason": st["reason"], "edges": ", ".join(st["edges"]) or "-", "input": st["input_hash"],
                 "output": st["output_hash"], "ms": round(st["seconds"] * 1000, 3)} for st in data["steps"]],
               args, key="node")
    return 0


def _data(event: Any) -> dict[str, Any]:
    data = event.get("data") if isinstance(event, dict) else getattr(event, "data", None)
    if isinstance(data, str):
        import json

        data = json.loads(data)
    return data or {}
