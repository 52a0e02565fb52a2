"""`neuro daemon start|stop|status|restart|run`."""

from __future__ import annotations

import argparse
from typing import Any

from . import daemon as d
from ._cliutil import Session
from ._output import output_of, print_rows, print_value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add, seconds, whole_number

    parser = add(sub, "daemon", common, help="start, stop or inspect the background kernel",
                 description="A long-running kernel, detached, with its control socket (0600), pid file and "
                             "event log in the state folder ($NEURO_HOME, default ~/.neuro).",
                 example="neuro daemon start")
    actions = parser.add_subparsers(dest="daemon_command", metavar="ACTION", parser_class=Parser)
    start = add(actions, "start", common, help="start the daemon in the background",
                description="Start a detached daemon and wait until it is ready: its socket answers, its drop "
                            "folders are loaded (each file spawned, or failed with its drop.error) and its kept "
                            "neuros are started again, so `neuro daemon start && neuro call X` finds X. A second "
                            "start says one is running (exit 1); a daemon still loading after --wait is exit 3 "
                            "(it goes on loading).", example="neuro daemon start --home /tmp/nh", run=_start)
    start.add_argument("--wait", type=seconds, default=20.0, metavar="SECONDS",
                       help="how long to wait for it to be ready (default 20)")
    _kernel_options(start)
    stop = add(actions, "stop", common, help="stop the daemon gracefully",
               description="Ask the daemon to stop over its socket (it drains, dead-letters the rest and "
                           "flushes the log); then SIGTERM, then SIGKILL, each after a bounded wait.",
               example="neuro daemon stop", run=_stop)
    stop.add_argument("--grace", type=seconds, default=15.0, metavar="SECONDS",
                      help="how long a graceful stop may take before SIGTERM (default 15)")
    status = add(actions, "status", common, help="say whether the daemon runs: its counters, neuros and last errors",
                 description="Show the daemon's pid, socket, log, uptime, readiness, clients and kernel counters, "
                             "its neuros (a short table, drop-folder files that do not load included), its pins, "
                             "and its last errors (error events and error outcomes from the log, newest last); "
                             "exit 4 if none is running.", example="neuro daemon status --json", run=_status)
    status.add_argument("--errors", type=whole_number, default=5, metavar="N",
                        help="how many of the last errors to show (default 5; 0: none)")
    restart = add(actions, "restart", common, help="stop the daemon (if running), then start it",
                  example="neuro daemon restart", run=_restart)
    restart.add_argument("--wait", type=seconds, default=20.0, metavar="SECONDS", help="how long to wait (default 20)")
    restart.add_argument("--grace", type=seconds, default=15.0, metavar="SECONDS", help="graceful stop time (default 15)")
    _kernel_options(restart)
    run = add(actions, "run", common, help="be the daemon, in the foreground (what start runs)",
              description="Run the daemon in this terminal until Ctrl-C, SIGTERM or `neuro daemon stop`.",
              example="neuro daemon run --home /tmp/nh", run=_run)
    _kernel_options(run)


def _kernel_options(parser: Any) -> None:
    """What the daemon's kernel runs with: log retention, the dream daemon, the Ray cluster."""
    from .commands_log import _keep

    parser.add_argument("--log-keep", type=_keep, metavar="KEEP",
                        help=f"how much of the event log to keep, pruned in the background: 30d (an age), 10GB "
                             f"(a size), 30d,10GB, or all (the default: everything); else ${d.LOG_KEEP_ENV}")
    parser.add_argument("--dream", action="store_true",
                        help=f"run the dream daemon with the kernel (docs/dream.md); else ${d.DREAM_ENV}=1")
    parser.add_argument("--ray", type=_ray_address, metavar="ADDRESS",
                        help="the Ray cluster for neuros whose policy says sandbox = \"ray\" (docs/ray.md): auto "
                             f"(the one this machine belongs to) or HOST:PORT; else ${d.RAY_ENV}")


def _ray_address(text: str) -> str:
    """`auto` or HOST:PORT, checked here so a typo is an error at start, not at first placement."""
    import argparse

    host, sep, port = text.rpartition(":")
    if text == "auto" or (sep and host and port.isdigit() and 0 < int(port) < 65536):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a Ray address: give auto or HOST:PORT (e.g. 10.0.0.5:6379)")


def _kernel_env(args: argparse.Namespace) -> dict[str, str]:
    """The kernel options for the daemon's process, which reads them from its environment
    ($NEURO_LOG_KEEP, $NEURO_DREAM, $NEURO_RAY); a bad inherited --log-keep value is an error
    here, before a daemon is started only to exit."""
    import os

    from neuro._errors import SettingError
    from neuro.kernel._retention import parse_retention

    env = {d.DREAM_ENV: "1"} if args.dream else {}
    if args.ray:
        env[d.RAY_ENV] = args.ray
    if args.log_keep is not None:
        return {**env, d.LOG_KEEP_ENV: args.log_keep}
    try:
        parse_retention(os.environ.get(d.LOG_KEEP_ENV) or None, d.LOG_KEEP_ENV)
    except ValueError as e:
        raise SettingError(str(e)) from None
    return env


def _state(args: argparse.Namespace) -> d.State:
    return d.State(args.home)


def _start(args: argparse.Namespace) -> int:
    st = _state(args)
    pid = _started(args, st)
    doc = {"pid": pid, "socket": str(st.socket), "log": str(st.log), "home": str(st.home)}
    if args.json:
        print_value(doc, args)
    else:
        print(f"daemon started: pid {pid}, socket {st.socket}, log {st.log}")
    return 0


def _started(args: argparse.Namespace, st: d.State) -> int:
    """Start the daemon and wait until it is ready; its failures as the CLI reports them."""
    from .cli import EXIT_PROBLEM, Problem

    try:
        return d.start(st, wait=args.wait, extra_env=_kernel_env(args))
    except d.AlreadyStarted as e:
        raise Problem(str(e), code=EXIT_PROBLEM, type="AlreadyRunning",
                      hint="`neuro daemon status` shows it; `neuro daemon restart` replaces it") from None
    except d.NotReady as e:
        raise Problem(str(e), type="DaemonNotReady", hint=f"`neuro daemon status`; its output is in {st.out}") from None
    except d.DaemonError as e:
        raise Problem(str(e), type="DaemonError", hint=f"read {st.out}") from None


def _stop(args: argparse.Namespace) -> int:
    from .cli import EXIT_NO_DAEMON, Problem

    st = _state(args)
    try:
        done = d.stop(st, grace=args.grace)
    except d.NotStarted as e:
        raise Problem(str(e), code=EXIT_NO_DAEMON, type="DaemonNotRunning",
                      hint="start one with `neuro daemon start`") from None
    if args.json:
        print_value(done, args)
    else:
        print(f"daemon stopped: pid {done['pid']} ({'gracefully' if done['stopped_by'] == 'socket' else done['stopped_by']})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from .cli import EXIT_NO_DAEMON, Problem

    st = _state(args)
    if d.running_pid(st) is None:
        raise Problem(f"no daemon is running for {st.home}", code=EXIT_NO_DAEMON, type="DaemonNotRunning",
                      hint="start one with `neuro daemon start`")
    with Session(args, timeout=10.0) as s:
        facts = s.status()
        neuros = [_neuro_row(p) for p in s.ps()]
        errors = last_errors(s, args.errors)
    facts = {"running": True, **facts}
    if output_of(args) in ("json", "jsonl"):
        print_value({**facts, "neuros": neuros, "errors": errors}, args)
        return 0
    stats = facts.pop("statistics", {})
    facts["messages"] = (f"{stats.get('accepted', 0)} accepted, {stats.get('handled', 0)} handled, "
                         f"{stats.get('errors', 0)} errors, {stats.get('dead_letters', 0)} dead")
    facts["uptime"] = f"{facts.get('uptime', 0):.1f}s"
    if "ready" in facts:
        after = facts.pop("ready_after", None)
        loading = facts.pop("loading", None)
        facts["ready"] = f"yes, after {after:.2f}s" if facts["ready"] and after is not None else \
            "yes" if facts["ready"] else f"no: {loading or 'loading'}"
    pins = facts.pop("pins", [])
    facts["pins"] = ", ".join(f"{p['name']} ({p['how'].replace('_', ' ')})" for p in pins) or "none"
    facts.pop("started", None)
    print_value(facts, args)
    print(f"\nneuros ({len(neuros)}):")
    print_rows(neuros, args)
    if args.errors:
        print(f"\nlast errors ({len(errors)}, newest last):")
        print_rows(errors, args)
    return 0


def _neuro_row(p: dict[str, Any]) -> dict[str, Any]:
    """A neuro in `daemon status`: who it is and how it is, not its counters (`neuro ps`)."""
    return {"name": p["name"], "state": p["state"], "pid": p["pid"], "version": p["version"][:8],
            "restarts": p["restarts"], "errors": p["errors"], "error": p.get("error", "")}


# The events that say something went wrong (`name` globs of the catalogue, kernel/_events.py).
ERROR_EVENTS = ("*.error", "*failed", "*.crashed", "*.gave_up", "*.invalid", "*.protocol_violation")


def last_errors(s: Any, n: int) -> list[dict[str, Any]]:
    """The last `n` errors in the log, oldest first: error events and messages whose outcome
    was an error, each with its time, neuro, what it was and its message."""
    if n <= 0:
        return []
    rows = []
    for pattern in ERROR_EVENTS:
        for e in s.events(name=pattern, newest_first=True, limit=n):
            data = e.get("data") or {}
            message = data.get("error") or data.get("reason") or data.get("message") or \
                ", ".join(f"{k}={v}" for k, v in data.items() if k != "traceback")
            rows.append({"time": e["time"], "neuro": e.get("neuro"), "what": e["name"], "message": str(message)})
    for m in s.messages(outcome="error", newest_first=True, limit=n):
        error = m.get("error") or {}
        rows.append({"time": m.get("outcome_time") or m["time"], "neuro": m.get("recipient"),
                     "what": f"{m.get('kind', 'message')} {m['id']}",
                     "message": f"{error.get('type', 'Error')}: {error.get('message', m.get('reason') or '')}"})
    rows.sort(key=lambda r: r["time"])
    return rows[-n:]


def _restart(args: argparse.Namespace) -> int:
    st = _state(args)
    stopped = None
    if d.running_pid(st) is not None:
        stopped = d.stop(st, grace=args.grace)
    pid = _started(args, st)
    doc = {"pid": pid, "previous": stopped["pid"] if stopped else None, "socket": str(st.socket)}
    if args.json:
        print_value(doc, args)
    else:
        print(f"daemon restarted: pid {pid}" + (f" (was {stopped['pid']})" if stopped else " (none was running)"))
    return 0


def _run(args: argparse.Namespace) -> int:
    import os

    os.environ.update(_kernel_env(args))
    return d.run(_state(args))
