"""`neuro daemon start|stop|status|restart|run`: a long-running kernel behind a control socket.

The state folder (``$NEURO_HOME``, default ``~/.neuro``) holds:

    control.sock   the control socket (a Unix socket, mode 0600: its user only)
    daemon.pid     the running daemon's pid
    daemon.lock    held (flock) by the running daemon for its whole life: a pid file whose
                   lock nobody holds is stale, whatever pid it names
    log.db         the kernel's event log (SQLite, WAL)
    daemon.out     the daemon's stdout and stderr
    policies/      policy files (watched); neuros/  a drop folder, when the kernel has them
    keep.toml      the neuros started again at each start (`neuro spawn --keep`, `neuro apply`)
    drop-pins.jsonl  drop-folder neuros a person stopped or rolled back (`neuro unpin`)

The folder is 0700 and every file in it 0600 (the log holds every payload): the daemon
creates them so, and tightens looser ones it finds, saying so in daemon.out. It refuses a
folder that is not its user's, or that others may write (like /tmp itself).

`start` runs ``python -m neuro daemon run`` in a new session, detached, and waits until the
daemon is ready: its socket answers and it has loaded its drop folders (each file spawned, or
failed with its ``drop.error``) and started its kept neuros again, so ``neuro daemon start &&
neuro call X`` finds X. `stop` asks over the socket, then sends SIGTERM, then SIGKILL, each after a
bounded wait.
"""

from __future__ import annotations

import errno
import fcntl
import inspect
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["State", "state", "running_pid", "start", "stop", "run", "DaemonError", "NotReady", "LOG_KEEP_ENV"]

LOG_KEEP_ENV = "NEURO_LOG_KEEP"  # the log's retention (`--log-keep`): 30d, 10GB, 30d,10GB or all
DREAM_ENV = "NEURO_DREAM"  # 1: start the dream daemon (neuro.dream) with the kernel
RAY_ENV = "NEURO_RAY"  # the Ray cluster's address (auto, HOST:PORT) for sandbox = "ray"


class DaemonError(Exception):
    """Starting or stopping the daemon failed; the message says why and what to do."""


class State:
    """The files of one state folder."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        from neuro._home import neuro_home as state_home

        self.home = Path(home or state_home()).expanduser().absolute()
        self.socket = self.home / "control.sock"
        self.pid_file = self.home / "daemon.pid"
        self.lock_file = self.home / "daemon.lock"
        self.log = self.home / "log.db"
        self.out = self.home / "daemon.out"
        self.policies = self.home / "policies"
        self.neuros = self.home / "neuros"
        self.keep = self.home / "keep.toml"
        self.pins = self.home / "drop-pins.jsonl"


def state(home: str | None = None) -> State:
    return State(home)


def running_pid(st: State) -> int | None:
    """The running daemon's pid, or None. A pid file nobody holds the lock for is removed."""
    if not st.lock_file.exists():
        return None
    fd = os.open(st.lock_file, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            try:
                return int(st.pid_file.read_text().strip() or 0) or _lock_owner(st)
            except (OSError, ValueError):
                return _lock_owner(st)
        fcntl.flock(fd, fcntl.LOCK_UN)
        for stale in (st.pid_file,):
            try:
                stale.unlink()
            except FileNotFoundError:
                pass
        return None
    finally:
        os.close(fd)


def _lock_owner(st: State) -> int:
    return -1  # running, but its pid file is not written yet (it is starting)


# -- start ----------------------------------------------------------------------------------

def start(st: State, *, wait: float = 20.0, extra_env: dict[str, str] | None = None) -> int:
    """Start a detached daemon; return its pid once it is ready (its socket answers, its drop
    folders are loaded, its kept neuros started). Raises DaemonError (NotReady when it answers
    but is still loading after `wait` seconds)."""
    pid = running_pid(st)
    if pid is not None:
        raise AlreadyStarted(pid, st)
    st.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # an existing one: `run` checks and tightens it
    env = {**os.environ, "NEURO_HOME": str(st.home), **(extra_env or {})}
    with os.fdopen(_open_private(st.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as out:
        child = subprocess.Popen([sys.executable, "-m", "neuro", "daemon", "run", "--home", str(st.home)],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                 start_new_session=True, close_fds=True, cwd=str(st.home))
    deadline = time.monotonic() + wait
    answered = False
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            tail = _tail(st.out)
            if "already running" in tail[-200:]:
                raise AlreadyStarted(running_pid(st) or -1, st)
            raise DaemonError(f"the daemon exited at start (code {code}); its output ends:\n{tail}")
        ready = _ready(st)
        if ready is True:
            return child.pid
        answered = answered or ready is not None
        time.sleep(0.02 if ready is None else 0.05)
    if answered:
        raise NotReady(child.pid, wait, st)
    raise DaemonError(f"the daemon (pid {child.pid}) did not answer on {st.socket} within {wait:.0f}s; "
                      f"see {st.out}, then `neuro daemon stop`")


class NotReady(DaemonError):
    def __init__(self, pid: int, wait: float, st: State) -> None:
        super().__init__(f"the daemon (pid {pid}) answers, but it had not loaded its drop folders and kept neuros "
                         f"within {wait:g}s; it goes on loading in the background: `neuro daemon status` says when "
                         "it is ready, `neuro logs --events` what it loaded (raise --wait to wait longer)")
        self.pid = pid


class AlreadyStarted(DaemonError):
    def __init__(self, pid: int, st: State) -> None:
        super().__init__(f"a daemon is already running (pid {pid}, socket {st.socket}); "
                         "stop it first with `neuro daemon stop`")
        self.pid = pid


def _ready(st: State) -> bool | None:
    """None while the socket does not answer; else whether the daemon says it is ready (a
    daemon too old to say is taken as ready)."""
    from neuro.client import blocking, run_blocking

    try:
        client = blocking(str(st.socket), timeout=2.0)
        run_blocking(client.__aenter__())
        try:
            return bool(run_blocking(client.status()).get("ready", True))
        finally:
            run_blocking(client.__aexit__(None, None, None))
    except Exception:
        return None


def _answers(st: State) -> bool:
    from neuro.client import blocking, run_blocking

    try:
        client = blocking(str(st.socket), timeout=2.0)
        run_blocking(client.__aenter__())
        try:
            return run_blocking(client.ping()) == "pong"
        finally:
            run_blocking(client.__aexit__(None, None, None))
    except Exception:
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- stop -----------------------------------------------------------------------------------

def stop(st: State, *, grace: float = 15.0, term_wait: float = 5.0) -> dict[str, Any]:
    """Stop the daemon: ask over the socket, then SIGTERM, then SIGKILL. Returns what it took."""
    pid = running_pid(st)
    if pid is None:
        raise NotStarted(st)
    how = "socket"
    try:
        from neuro.client import blocking, run_blocking

        client = blocking(str(st.socket), timeout=5.0)
        run_blocking(client.__aenter__())
        try:
            run_blocking(client.shutdown())
        finally:
            run_blocking(client.__aexit__(None, None, None))
    except Exception:
        how = "SIGTERM"
        _signal(pid, signal.SIGTERM)
    if not _wait_gone(st, grace):
        how = "SIGTERM"
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(st, term_wait):
            how = "SIGKILL"
            _signal(pid, signal.SIGKILL)
            _wait_gone(st, 5.0)
    for leftover in (st.socket, st.pid_file):
        if running_pid(st) is None:
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass
    return {"pid": pid, "stopped_by": how}


class NotStarted(DaemonError):
    def __init__(self, st: State) -> None:
        super().__init__(f"no daemon is running for {st.home}; start one with `neuro daemon start`")


def _signal(pid: int, sig: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(st: State, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if running_pid(st) is None:
            return True
        time.sleep(0.02)
    return running_pid(st) is None


# -- run: the daemon itself -----------------------------------------------------------------

def run(st: State, **server_options: Any) -> int:
    """Be the daemon, in the foreground, until asked to stop (Shutdown, SIGTERM or SIGINT)."""
    import faulthandler

    import trio

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack, to daemon.out
    st.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        for note in _make_private(st):
            print(f"neuro daemon: {note}", flush=True)
    except DaemonError as e:
        print(f"neuro daemon: {e}", file=sys.stderr, flush=True)
        return 1
    st.policies.mkdir(mode=0o700, exist_ok=True)
    fd = _open_private(st.lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"neuro daemon: a daemon is already running for {st.home}", file=sys.stderr, flush=True)
        return 1
    try:
        _write_pid(st)
        if st.socket.exists():  # left by a daemon that was killed: nobody holds the lock
            st.socket.unlink()
        trio.run(_serve, st, server_options)
        return 0
    finally:
        try:
            st.pid_file.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)


def _write_pid(st: State) -> None:
    tmp = st.pid_file.with_suffix(".tmp")
    with os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as f:
        f.write(f"{os.getpid()}\n")
    tmp.replace(st.pid_file)


# -- file modes -------------------------------------------------------------------------------

_PRIVATE_FILES = ("log.db", "log.db-wal", "log.db-shm", "log.db-journal", "daemon.out", "daemon.pid",
                 "daemon.tmp", "daemon.lock")


def _open_private(path: Path, flags: int) -> int:
    """Open (creating 0600) a state file, and make it 0600 if it was looser."""
    fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def _make_private(st: State) -> list[str]:
    """Make the state folder 0700 and its files 0600; return what was changed, to be said in
    daemon.out. Raises DaemonError for a folder the daemon must not take over."""
    info = os.stat(st.home)
    if info.st_uid != os.geteuid():
        raise DaemonError(f"the state folder {st.home} belongs to uid {info.st_uid}, not to the daemon's user "
                          f"(uid {os.geteuid()}); use a folder of your own (NEURO_HOME, or --home)")
    if info.st_mode & 0o1000:  # sticky, like /tmp: a folder for many users
        raise DaemonError(f"the state folder {st.home} is a shared folder (mode {info.st_mode & 0o7777:04o}, "
                          "sticky like /tmp); use a folder of its own, for example /tmp/neuro-$USER")
    notes = []
    if info.st_mode & 0o077:
        os.chmod(st.home, 0o700)
        notes.append(f"the state folder {st.home} was mode {info.st_mode & 0o777:04o}, open to other users; "
                     "it is 0700 now (it holds the message log and the control socket)")
    for name in _PRIVATE_FILES:
        path = st.home / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode) and mode & 0o077:
            os.chmod(path, 0o600)
            notes.append(f"{path} was mode {mode & 0o777:04o}; it is 0600 now")
    return notes


def _kernel_options(st: State) -> dict[str, Any]:
    import neuro

    options: dict[str, Any] = {"log": st.log, "policy_dirs": [str(st.policies)], "watch_policies": True}
    if "drop_pins" in inspect.signature(neuro.Kernel).parameters:
        options["drop_pins"] = st.pins
    keep = os.environ.get(LOG_KEEP_ENV)
    if keep:  # checked by the kernel: a bad value stops the start, saying which variable
        from neuro._errors import SettingError
        from neuro.kernel._retention import parse_retention

        try:
            options["log_retention"] = parse_retention(keep, LOG_KEEP_ENV)
        except ValueError as e:
            raise SettingError(str(e)) from None
    if os.environ.get(DREAM_ENV, "") not in ("", "0") and "dream" in inspect.signature(neuro.Kernel).parameters:
        options["dream"] = True  # the dream daemon: a supervised system neuro (docs/dream.md)
    if os.environ.get(RAY_ENV) and "ray" in inspect.signature(neuro.Kernel).parameters:
        options["ray"] = os.environ[RAY_ENV]  # imported only when a neuro is first placed there
    if "on_demand" in inspect.signature(neuro.Kernel).parameters:
        # Installed learners (entry points): a call to one's name spawns it, sandboxed, on first use.
        from neuro.neuros.learning.registry import on_demand_table

        options["on_demand"] = on_demand_table()
    if "neuro_dirs" in inspect.signature(neuro.Kernel).parameters:
        st.neuros.mkdir(mode=0o700, exist_ok=True)
        options["neuro_dirs"] = [str(st.neuros)]
        # Folders of code the user wrote: their files are imported and run in the daemon.
        trusted = [d for d in os.environ.get("NEURO_TRUSTED_DIRS", "").split(os.pathsep) if d]
        if trusted:
            options["trusted_dirs"] = trusted
    return options


async def _serve(st: State, server_options: dict[str, Any]) -> None:
    import trio

    import neuro

    from neuro.kernel._control_server import ControlServer

    async with neuro.Kernel(**_kernel_options(st)) as kernel:
        readiness = _Readiness()
        server = ControlServer(kernel, str(st.socket), facts=lambda: {"home": str(st.home), "log": str(st.log),
                                                                      "log_keep": str(kernel._retention.policy),
                                                                      **readiness.facts(kernel)},
                               **server_options)
        async with trio.open_nursery() as nursery:
            async def on_signals() -> None:
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        server.shutdown()
                        return

            nursery.start_soon(on_signals)
            print(f"neuro daemon: pid {os.getpid()}, socket {st.socket}, log {st.log}", flush=True)
            nursery.start_soon(readiness.reach, kernel, server, st)
            await server.serve()
            nursery.cancel_scope.cancel()
    print("neuro daemon: stopped", flush=True)


class _Readiness:
    """The daemon is ready once its drop folders have loaded what they held at start (each
    file spawned, or failed with its drop.error) and its kept neuros were started again;
    `neuro daemon start` waits for that (the `ready` fact of `Status`)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.ready_at: float | None = None
        self.stage = "loading the drop folders"

    def facts(self, kernel: Any) -> dict[str, Any]:
        pins = getattr(kernel, "_drop_pins", None)
        return {"ready": self.ready_at is not None, "ready_after": (self.ready_at - self.started
                                                                    if self.ready_at is not None else None),
                "loading": None if self.ready_at is not None else self.stage,
                "pins": [{"name": p.name, "how": p.how, "version": p.version, "file": os.path.join(p.folder, p.entry)}
                         for p in pins.all()] if pins is not None else []}

    async def reach(self, kernel: Any, server: Any, st: State) -> None:
        for drop in kernel.drop_folders():
            await drop.wait_idle()
        self.stage = "starting the kept neuros"
        await _respawn_kept(kernel, server.ops, st)
        self.ready_at = time.time()
        print(f"neuro daemon: ready after {self.ready_at - self.started:.2f}s", flush=True)


async def _respawn_kept(kernel: Any, ops: Any, st: State) -> None:
    """Start each neuro of the keep file again (`neuro spawn --keep`, `neuro apply`), as its
    spawn did; each start or failure is an event (keep.respawned, keep.failed)."""
    from neuro import _control as c

    from ._keepfile import KeepFileError, read_keep

    try:
        kept = read_keep(st.keep)
    except (KeepFileError, OSError) as e:
        print(f"neuro daemon: no kept neuro started: {e}", flush=True)
        kernel._event("keep.failed", None, "daemon", spec=None, error=str(e), file=str(st.keep))
        return
    for entry in kept:
        try:
            info = await ops.request(c.Spawn(id=0, neuro=entry.spec, name=entry.name, policy=entry.policy,
                                             trusted=entry.trusted))
        except Exception as e:  # noqa: BLE001 - one kept neuro's failure is its event; the others start
            error = f"{type(e).__name__}: {e}"
            print(f"neuro daemon: kept neuro {entry.name} did not start: {error}", flush=True)
            kernel._event("keep.failed", entry.name, "daemon", spec=entry.spec, error=error, file=str(st.keep))
            continue
        kernel._event("keep.respawned", entry.name, "daemon", spec=entry.spec, version=info.version,
                      kept_version=entry.version, applied=entry.applied)
