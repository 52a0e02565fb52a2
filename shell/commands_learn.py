"""`neuro learn`: drive any learner (the learner protocol v2, docs/learning/protocol.md) by name.

    neuro learn list                          installed learners, each with its Describe
    neuro learn describe NAME                 tasks, shapes, options, capabilities
    neuro learn train NAME --dataset digits   a job, with a progress bar on a terminal
    neuro learn status|cancel|resume NAME JOB
    neuro learn evaluate NAME --dataset digits
    neuro learn snapshot NAME / restore NAME HASH

NAME is a running learner, or an installed one (neuros/learning/registry.py), which the daemon
spawns on first use. The messages are sent as the learner's own Structs; replies come back as
plain data.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cliutil import Session
from ._output import output_of, paint, print_rows, print_value

_TIMEOUT = 600.0  # a Describe may spawn the learner (and import torch) first


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add

    learn = add(sub, "learn", common, help="drive a learner: describe, train, status, cancel, evaluate, snapshot",
                description="Drive any learning neuro through the learner protocol: describe it, train it (a "
                            "job with a progress bar), follow, cancel or resume its jobs, evaluate it, and keep "
                            "or load its weights by hash. NAME is a running learner or an installed one "
                            "(the daemon spawns it on first use).",
                example="neuro learn train eqprop --dataset digits --epochs 5")
    lsub = learn.add_subparsers(dest="learn_command", metavar="ACTION", parser_class=Parser)

    ls = add(lsub, "list", common, help="installed learners (and running ones), each with its Describe",
             description="List every installed learner (the `neuro.learners` entry points) and every running "
                         "neuro that answers Describe: its tasks, capabilities and whether it is trained. "
                         "Describing an installed learner that is not running spawns it (the daemon does, on "
                         "first use); --no-spawn lists those from the registry alone.",
             example="neuro learn list --json", run=_list)
    ls.add_argument("--no-spawn", action="store_true", help="describe only the learners already running")

    d = add(lsub, "describe", common, help="what a learner is: tasks, shapes, options, capabilities",
            description="Print a learner's Describe: its tasks, input and output shapes, capabilities, data "
                        "sets, weight format, and each option with its type, default, range and meaning.",
            example="neuro learn describe eqprop", run=_describe)
    d.add_argument("name", metavar="NAME")

    t = add(lsub, "train", common, help="start a training job; follow it with a progress bar",
            description="Start a training job on a named data set. On a terminal it follows the job's progress "
                        "events with a bar until the job ends (Ctrl-C stops following, not the job); --detach "
                        "prints the job id and returns at once; --wait waits without a bar. Exit 0 when the job "
                        "is done, 1 when it was cancelled, 3 when it failed.",
            example="neuro learn train eqprop --dataset digits --epochs 5 -o hidden=[64]", run=_train)
    t.add_argument("name", metavar="NAME")
    t.add_argument("--dataset", required=True, help="a data set the learner knows (see `neuro learn describe`)")
    t.add_argument("--epochs", type=int, default=1, help="units of training (default 1)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int)
    t.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a learner option (a JSON value, else a string); repeat for more")
    t.add_argument("--fresh", action="store_true", help="start from new weights")
    t.add_argument("--job", default="", help="the job's id (default: the learner picks one)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--wait", action="store_true", help="wait for the end without a progress bar")
    mode.add_argument("--detach", action="store_true", help="print the job id and return at once")

    s = add(lsub, "status", common, help="a job's state and progress (the last job, or all with --all)",
            description="Print the state of JOB (default: the learner's last job), or every job with --all.",
            example="neuro learn status eqprop --all", run=_status)
    s.add_argument("name", metavar="NAME")
    s.add_argument("job", nargs="?", default="", metavar="JOB")
    s.add_argument("--all", action="store_true", help="every job the learner knows")

    c = add(lsub, "cancel", common, help="stop a running job (its checkpoint stays for resume)",
            description="Stop JOB at its next step boundary; it is checkpointed there, so `neuro learn resume` "
                        "continues it.", example="neuro learn cancel eqprop train-3f2a1c", run=_cancel)
    c.add_argument("name", metavar="NAME")
    c.add_argument("job", metavar="JOB")

    r = add(lsub, "resume", common, help="continue a cancelled or interrupted job from its checkpoint",
            description="Continue JOB from its last checkpoint, also after the learner restarted; follows it "
                        "like `train`.", example="neuro learn resume eqprop train-3f2a1c", run=_resume)
    r.add_argument("name", metavar="NAME")
    r.add_argument("job", metavar="JOB")
    rmode = r.add_mutually_exclusive_group()
    rmode.add_argument("--wait", action="store_true", help="wait for the end without a progress bar")
    rmode.add_argument("--detach", action="store_true", help="print the job id and return at once")

    e = add(lsub, "evaluate", common, help="named metrics on a split of a data set",
            description="Measure the learner on SPLIT (default test) of a named data set.",
            example="neuro learn evaluate eqprop --dataset digits", run=_evaluate)
    e.add_argument("name", metavar="NAME")
    e.add_argument("--dataset", required=True)
    e.add_argument("--split", default="test")

    sn = add(lsub, "snapshot", common, help="keep the weights as an artifact; prints its hash",
             description="Keep the learner's weights as an artifact in the daemon's log and print its hash "
                         "(`neuro learn restore NAME HASH` loads it). With --out, the weights come inline and "
                         "are written to FILE (msgpack) instead.",
             example="neuro learn snapshot eqprop -q", run=_snapshot)
    sn.add_argument("name", metavar="NAME")
    sn.add_argument("--out", metavar="FILE", help="write the weights inline to FILE")

    rs = add(lsub, "restore", common, help="load weights by hash (or from a file)",
             description="Load weights into the learner: by the HASH `snapshot` printed, or from a FILE "
                         "`snapshot --out` wrote.", example="neuro learn restore eqprop 3f2a...", run=_restore)
    rs.add_argument("name", metavar="NAME")
    rs.add_argument("hash", nargs="?", metavar="HASH")
    rs.add_argument("--file", metavar="FILE")


# -- talking to a learner ---------------------------------------------------------------------


def _ask(s: Session, name: str, msg: Any, timeout: float = _TIMEOUT) -> dict[str, Any]:
    """Send `msg` to learner `name`; its reply as plain data. A job or checkpoint the learner
    does not know is exit 5, as an unknown neuro is."""
    import neuro

    from .cli import EXIT_NOT_FOUND, Problem

    try:
        return s.call(name, msg, timeout=timeout)
    except neuro.RemoteError as e:
        text = str(e)
        if " knows no job " in text or " has no checkpoint of job " in text or " has run no job yet" in text:
            raise Problem(text, code=EXIT_NOT_FOUND, type="NoSuchJob",
                          hint=f"see its jobs with `neuro learn status {name} --all`") from None
        raise
    except neuro.InvalidPayload as e:
        raise Problem(f"{name} does not speak the learner protocol: {e}", hint="see the learners with "
                      "`neuro learn list`") from None


def _strip(reply: Any) -> Any:
    if isinstance(reply, dict):
        return {k: v for k, v in reply.items() if k != "type"}
    return reply


def _list(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    try:
        from neuro.neuros.learning.registry import installed

        entries = installed()
    except ImportError:
        entries = {}
    rows = []
    with Session(args) as s:
        running = {p["name"] for p in s.ps()}
        names = list(entries) + sorted(n for n in running if n not in entries)
        for name in names:
            entry = entries.get(name)
            row: dict[str, Any] = {"name": name, "running": name in running,
                                   "installed": entry.spec if entry else ""}
            if args.no_spawn and name not in running:
                row.update(tasks="", capabilities="", trained="", summary=entry.description if entry else "")
                rows.append(row)
                continue
            try:
                d = s.call(name, P.Describe(), timeout=_TIMEOUT)
            except Exception as e:  # noqa: BLE001 - not a learner (running neuros), or it failed to start
                if entry is None:
                    continue
                row.update(tasks="", capabilities="", trained="", summary=f"(no Describe: {type(e).__name__})")
            else:
                row.update(tasks=",".join(d.get("tasks", [])), capabilities=",".join(d.get("capabilities", [])),
                           trained=d.get("trained", False),
                           summary=d.get("summary") or (entry.description if entry else ""))
            rows.append(row)
    print_rows(rows, args)
    return 0


def _describe(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    with Session(args) as s:
        d = _strip(_ask(s, args.name, P.Describe()))
    if output_of(args) != "table":
        print_value(d, args)
        return 0
    options = d.pop("options", [])
    print_value({k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in d.items()}, args)
    print()
    print_rows([{"option": o["name"], "type": o["value_type"], "default": o.get("default"),
                 "range": _range(o), "meaning": o.get("help", "")} for o in options], args, key="option")
    return 0


def _range(option: dict[str, Any]) -> str:
    if option.get("choices"):
        return "|".join(option["choices"])
    r = option.get("range")
    if not r:
        return ""
    lo, hi = r
    return f"[{'' if lo is None else lo}, {'' if hi is None else hi}]"


def _option(text: str) -> tuple[str, Any]:
    import json

    from .cli import EXIT_USAGE, Problem

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise Problem(f"an option is KEY=VALUE, got {text!r}", code=EXIT_USAGE, hint="for example -o lr=0.01")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _train(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    options = dict(_option(o) for o in args.option)
    msg = P.Train(dataset=args.dataset, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size,
                  options=options, fresh=args.fresh, job=args.job)
    return _start(args, msg)


def _resume(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    return _start(args, P.Resume(job=args.job))


def _start(args: argparse.Namespace, msg: Any) -> int:
    """Start a job (Train or Resume), then detach, wait, or follow it with a bar."""
    with Session(args) as s:
        started = _strip(_ask(s, args.name, msg))
    if args.detach:
        if output_of(args) == "quiet":
            print(started["job"])
        else:
            print_value(started, args)
        return 0
    bar = not args.wait and sys.stderr.isatty() and output_of(args) == "table"
    try:
        status = _follow(args, started["job"], bar)
    except KeyboardInterrupt:
        print(f"stopped following; the job runs on: neuro learn status {args.name} {started['job']}", file=sys.stderr)
        return 130
    return _report(args, status)


def _follow(args: argparse.Namespace, job: str, bar: bool) -> dict[str, Any]:
    """Wait for `job` to end, drawing its progress events as a bar; its final JobStatus."""
    import trio

    import neuro
    from neuro.neuros.learning import protocol as P

    from .commands_pubsub import ProgressBar

    drawn = ProgressBar(sys.stderr)

    async def main() -> dict[str, Any]:
        async with neuro.connect(home=args.home, raw=True, client="neuro-cli") as client:
            async with client.subscribe(f"progress.{args.name}") as events, trio.open_nursery() as nursery:
                async def show() -> None:
                    async for _topic, _sender, event in events:
                        if bar and isinstance(event, dict) and event.get("job") == job:
                            drawn.update(event)

                nursery.start_soon(show)
                while True:  # the events draw the bar; Status says when the job ended, however it ended
                    status = await client.call(args.name, P.Status(job=job), timeout=60)
                    if status.get("state") != "running":
                        nursery.cancel_scope.cancel()
                        return status
                    await trio.sleep(0.5)

    try:
        return trio.run(main)
    finally:
        drawn.clear()


def _report(args: argparse.Namespace, status: dict[str, Any]) -> int:
    from .cli import EXIT_FAILED, EXIT_OK, EXIT_PROBLEM

    status = _strip(status)
    state = status.get("state", "")
    if output_of(args) == "quiet":
        print(status.get("job", ""))
    elif output_of(args) == "table":
        head = paint(state, {"done": "ok", "failed": "error", "cancelled": "warn"}.get(state, "bold"), args)
        print(f"job {status.get('job')} {head}: {status.get('note', '')}")
        print_value({k: v for k, v in status.items() if k not in ("job", "state", "note", "metrics")}, args)
        if status.get("metrics"):
            print_value({k: round(v, 6) if isinstance(v, float) else v for k, v in status["metrics"].items()}, args)
    else:
        print_value(status, args)
    return {"done": EXIT_OK, "failed": EXIT_FAILED}.get(state, EXIT_PROBLEM)


def _status(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    with Session(args) as s:
        reply = _strip(_ask(s, args.name, P.Status(job=args.job, all=args.all)))
    if args.all:
        print_rows([{"job": j["job"], "state": j["state"], "done": j["done"], "total": j["total"],
                     "unit": j["unit"], "started": j["started"], "updated": j["updated"],
                     "dataset": j["dataset"], "checkpoint": j["checkpoint"][:12], "error": j["error"]}
                    for j in reply["jobs"]], args, key="job")
    else:
        print_value(reply, args)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    with Session(args) as s:
        print_value(_strip(_ask(s, args.name, P.Cancel(job=args.job))), args)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from neuro.neuros.learning import protocol as P

    with Session(args) as s:
        reply = _strip(_ask(s, args.name, P.Evaluate(dataset=args.dataset, split=args.split)))
    print_value({"n": reply["n"], **reply["metrics"]}, args)
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    import msgspec

    from neuro.neuros.learning import protocol as P

    with Session(args) as s:
        reply = _ask(s, args.name, P.Snapshot(inline=bool(args.out)))
    if args.out:
        weights = msgspec.convert(reply, P.Weights)
        with open(args.out, "wb") as f:
            f.write(msgspec.msgpack.encode(weights))
        print_value({"file": args.out, "format": weights.format, "format_version": weights.version,
                     "size": len(weights.data)}, args)
        return 0
    if reply.get("type") == "weights":  # a daemon without a log answers inline
        reply = {"hash": "", "format": reply["format"], "format_version": reply["version"],
                 "size": len(reply.get("data", b""))}
    reply = _strip(reply)
    if output_of(args) == "quiet":
        print(reply["hash"])
    else:
        print_value(reply, args)
    return 0


def _restore(args: argparse.Namespace) -> int:
    import msgspec

    from neuro.neuros.learning import protocol as P

    from .cli import EXIT_USAGE, Problem

    if bool(args.hash) == bool(args.file):
        raise Problem("restore takes a HASH (from `neuro learn snapshot`) or --file FILE, one of them",
                      code=EXIT_USAGE)
    if args.file:
        with open(args.file, "rb") as f:
            try:
                msg = P.Restore(weights=msgspec.msgpack.decode(f.read(), type=P.Weights))
            except msgspec.DecodeError as e:
                raise Problem(f"{args.file} holds no weights ({e})", hint="write one with `neuro learn snapshot "
                              "NAME --out FILE`") from None
    else:
        msg = P.Restore(hash=args.hash)
    with Session(args) as s:
        print_value(_strip(_ask(s, args.name, msg)), args)
    return 0
