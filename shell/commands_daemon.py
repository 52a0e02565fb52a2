"""`neuro daemon start|stop|status|restart|run`."""

from __future__ import annotations

import argparse
from typing import Any

from . import daemon as d
from ._cliutil import Session, print_value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import Parser, add, seconds

    parser = add(sub, "daemon", common, help="start, stop or inspect the background kernel",
                 description="A long-running kernel, detached, with its control socket (0600), pid file and "
                             "event log in the state folder ($NEURO_HOME, default ~/.neuro).",
                 example="neuro daemon start")
    actions = parser.add_subparsers(dest="daemon_command", metavar="ACTION", parser_class=Parser)
    start = add(actions, "start", common, help="start the daemon in the background",
                description="Start a detached daemon and wait until its socket answers. A second start "
                            "says one is running (exit 1).", example="neuro daemon start --home /tmp/nh", run=_start)
    start.add_argument("--wait", type=seconds, default=20.0, metavar="SECONDS", help="how long to wait for it (default 20)")
    _log_keep_option(start)
    stop = add(actions, "stop", common, help="stop the daemon gracefully",
               description="Ask the daemon to stop over its socket (it drains, dead-letters the rest and "
                           "flushes the log); then SIGTERM, then SIGKILL, each after a bounded wait.",
               example="neuro daemon stop", run=_stop)
    stop.add_argument("--grace", type=seconds, default=15.0, metavar="SECONDS",
                      help="how long a graceful stop may take before SIGTERM (default 15)")
    add(actions, "status", common, help="say whether the daemon runs, and its counters",
        description="Show the daemon's pid, socket, log, uptime, clients and kernel counters; exit 4 "
                    "if none is running.", example="neuro daemon status --json", run=_status)
    restart = add(actions, "restart", common, help="stop the daemon (if running), then start it",
                  example="neuro daemon restart", run=_restart)
    restart.add_argument("--wait", type=seconds, default=20.0, metavar="SECONDS", help="how long to wait (default 20)")
    restart.add_argument("--grace", type=seconds, default=15.0, metavar="SECONDS", help="graceful stop time (default 15)")
    _log_keep_option(restart)
    run = add(actions, "run", common, help="be the daemon, in the foreground (what start runs)",
              description="Run the daemon in this terminal until Ctrl-C, SIGTERM or `neuro daemon stop`.",
              example="neuro daemon run --home /tmp/nh", run=_run)
    _log_keep_option(run)


def _log_keep_option(parser: Any) -> None:
    from .commands_log import _keep

    parser.add_argument("--log-keep", type=_keep, metavar="KEEP",
                        help=f"how much of the event log to keep, pruned in the background: 30d (an age), 10GB "
                             f"(a size), 30d,10GB, or all (the default: everything); else ${d.LOG_KEEP_ENV}")


def _log_keep_env(args: argparse.Namespace) -> dict[str, str]:
    """--log-keep for the daemon's process (it reads $NEURO_LOG_KEEP); a bad inherited value
    is an error here, before a daemon is started only to exit."""
    import os

    from neuro._errors import SettingError
    from neuro.kernel._retention import parse_retention

    if args.log_keep is not None:
        return {d.LOG_KEEP_ENV: args.log_keep}
    try:
        parse_retention(os.environ.get(d.LOG_KEEP_ENV) or None, d.LOG_KEEP_ENV)
    except ValueError as e:
        raise SettingError(str(e)) from None
    return {}


def _state(args: argparse.Namespace) -> d.State:
    return d.State(args.home)


def _start(args: argparse.Namespace) -> int:
    from .cli import EXIT_PROBLEM, Problem

    st = _state(args)
    try:
        pid = d.start(st, wait=args.wait, extra_env=_log_keep_env(args))
    except d.AlreadyStarted as e:
        raise Problem(str(e), code=EXIT_PROBLEM, type="AlreadyRunning",
                      hint="`neuro daemon status` shows it; `neuro daemon restart` replaces it") from None
    except d.DaemonError as e:
        raise Problem(str(e), type="DaemonError", hint=f"read {st.out}") from None
    doc = {"pid": pid, "socket": str(st.socket), "log": str(st.log), "home": str(st.home)}
    if args.json:
        print_value(doc, as_json=True)
    else:
        print(f"daemon started: pid {pid}, socket {st.socket}, log {st.log}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from .cli import EXIT_NO_DAEMON, Problem

    st = _state(args)
    try:
        done = d.stop(st, grace=args.grace)
    except d.NotStarted as e:
        raise Problem(str(e), code=EXIT_NO_DAEMON, type="DaemonNotRunning",
                      hint="start one with `neuro daemon start`") from None
    if args.json:
        print_value(done, as_json=True)
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
    facts = {"running": True, **facts}
    if not args.json:
        stats = facts.pop("statistics", {})
        facts["messages"] = (f"{stats.get('accepted', 0)} accepted, {stats.get('handled', 0)} handled, "
                             f"{stats.get('errors', 0)} errors, {stats.get('dead_letters', 0)} dead")
        facts["uptime"] = f"{facts.get('uptime', 0):.1f}s"
        facts.pop("started", None)
    print_value(facts, as_json=args.json)
    return 0


def _restart(args: argparse.Namespace) -> int:
    st = _state(args)
    stopped = None
    if d.running_pid(st) is not None:
        stopped = d.stop(st, grace=args.grace)
    pid = d.start(st, wait=args.wait, extra_env=_log_keep_env(args))
    doc = {"pid": pid, "previous": stopped["pid"] if stopped else None, "socket": str(st.socket)}
    if args.json:
        print_value(doc, as_json=True)
    else:
        print(f"daemon restarted: pid {pid}" + (f" (was {stopped['pid']})" if stopped else " (none was running)"))
    return 0


def _run(args: argparse.Namespace) -> int:
    import os

    os.environ.update(_log_keep_env(args))
    return d.run(_state(args))
