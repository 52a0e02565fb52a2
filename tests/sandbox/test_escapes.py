"""Every escape an untrusted neuro might try, against the real process and docker backends.

Each test runs a real kernel, an in-process echo (the neuro that must keep serving) and an
attacker under the `untrusted` policy in the backend under test. The attacker tries one
thing and reports what happened; the test checks from outside that it was blocked or
contained, that the event is in the log where one applies, and that the echo answered
during and after the attempt.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

import neuro
from neuro.testing import Echo, Ping, Pong

from .docker_support import ROOT, make_backends, require_backend
from .escape_neuros import Attempt, Report, attacker

BACKENDS = ["process", "docker"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    require_backend(request.param)
    return request.param


@dataclass
class Observed:
    report: Report | None
    error: BaseException | None
    echo_during: int
    echo_failures: list[str]
    echo_after: Pong
    attacker_after: Report
    events: list[str] = field(default_factory=list)


def attack(backend: str, tmp_path, kind: str, target: str = "", n: int = 0, variant: str = "plain",
           timeout: float = 30.0) -> Observed:
    """Run one attempt while the echo is called every 10 ms; then call both again."""

    async def main() -> Observed:
        async with neuro.Kernel(log=tmp_path / "run.db", backends=make_backends()) as k:
            await k.spawn(Echo)
            await k.spawn(attacker(backend, variant), name="attacker")
            ok, failures = 0, []

            async def keep_calling_echo() -> None:
                nonlocal ok
                while True:
                    try:
                        assert Pong(n=ok) == await k.call("echo", Ping(n=ok), timeout=2.0)
                        ok += 1
                    except Exception as e:  # noqa: BLE001 - recorded, asserted by the test
                        failures.append(repr(e))
                    await trio.sleep(0.01)

            report = error = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_calling_echo)
                try:
                    report = await k.call("attacker", Attempt(kind=kind, target=target, n=n), timeout=timeout)
                except neuro.NeuroError as e:
                    error = e
                nursery.cancel_scope.cancel()
            echo_after = await k.call("echo", Ping(n=-1), timeout=5.0)
            attacker_after = await k.call("attacker", Attempt(kind="ping"), timeout=60.0)
            events = [e.name for e in await k.log.events()]
            return Observed(report, error, ok, failures, echo_after, attacker_after, events)

    return trio.run(main)


def assert_kernel_kept_serving(seen: Observed) -> None:
    assert [] == seen.echo_failures
    assert Pong(n=-1) == seen.echo_after
    assert "pong" == seen.attacker_after.detail


# -- the network --------------------------------------------------------------------------


def test_tcp_connect_to_a_port_on_the_host_fails(backend, tmp_path):
    """A TCP connect to a port the test listens on (loopback, and the host's other addresses) fails."""
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    hosts = ["127.0.0.1", "172.17.0.1"] + [a for a in _host_addresses() if a != "127.0.0.1"]
    seen = attack(backend, tmp_path, "tcp", ",".join(f"{h}:{port}" for h in hosts))
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()
    assert False is seen.report.escaped, seen.report.seen
    assert_kernel_kept_serving(seen)


def test_udp_datagram_to_the_host_never_arrives(backend, tmp_path):
    """A UDP datagram to a port the test listens on is not delivered."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    seen = attack(backend, tmp_path, "udp", f"127.0.0.1:{receiver.getsockname()[1]}")
    with pytest.raises(BlockingIOError):
        receiver.recv(100)
    receiver.close()
    assert_kernel_kept_serving(seen)


def test_dns_lookup_fails(backend, tmp_path):
    """Resolving a public name fails: there is no resolver to reach."""
    seen = attack(backend, tmp_path, "dns", "example.com")
    assert False is seen.report.escaped, seen.report.detail
    assert_kernel_kept_serving(seen)


def test_abstract_unix_socket_of_the_host_is_unreachable(backend, tmp_path):
    """An abstract Unix socket the test listens on (it lives in the network namespace) is out of reach."""
    name = f"neuro-escape-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)
    seen = attack(backend, tmp_path, "abstract", name)
    listener.close()
    assert False is seen.report.escaped, seen.report.detail
    assert_kernel_kept_serving(seen)


# -- files --------------------------------------------------------------------------------


def test_file_planted_in_home_cannot_be_read(backend, tmp_path, monkeypatch):
    """A secret in the kernel's HOME is not readable by absolute path, nor are the host's secrets."""
    home = tmp_path / "home"
    home.mkdir()
    secret = f"secret-{os.urandom(8).hex()}"
    (home / "secret.txt").write_text(secret)
    monkeypatch.setenv("HOME", str(home))
    seen = attack(backend, tmp_path, "read", "\n".join([str(home / "secret.txt"), "/etc/shadow", "/root/.bashrc"]))
    assert [] == [s for s in seen.report.seen if secret in s or "root:" in s]
    assert_kernel_kept_serving(seen)


def test_writes_outside_granted_paths_fail(backend, tmp_path, monkeypatch):
    """Writes into HOME, Neuro's code, the virtual environment and /usr all fail; nothing appears on the host."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    import site

    targets = [str(home / "pwned"), os.path.join(ROOT, "sandbox", "pwned.py"),
               os.path.join(site.getsitepackages()[0], "pwned.pth"), "/usr/pwned"]
    seen = attack(backend, tmp_path, "write", "\n".join(targets))
    assert [] == [t for t in targets if os.path.exists(t)]
    assert False is seen.report.escaped, seen.report.seen
    assert_kernel_kept_serving(seen)


# -- the kernel's process -----------------------------------------------------------------


def test_kernel_environment_and_memory_cannot_be_read(backend, tmp_path, monkeypatch, request):
    """/proc/<kernel pid>/environ and mem show nothing of the kernel (a secret in its environment stays there)."""
    secret = f"secret-{os.urandom(8).hex()}"
    monkeypatch.setenv("NEURO_ESCAPE_SECRET", secret)
    seen = attack(backend, tmp_path, "proc", str(os.getpid()))
    text = "\n".join(seen.report.seen)
    assert (False, False) == (secret in text, "pytest" in text)
    assert_kernel_kept_serving(seen)


def test_signalling_the_kernel_fails(backend, tmp_path):
    """os.kill(kernel pid, SIGTERM) reaches no kernel."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda *a: received.append(a))
    try:
        seen = attack(backend, tmp_path, "kill", str(os.getpid()))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert ([], False) == (received, seen.report.escaped)
    assert_kernel_kept_serving(seen)


def test_only_the_sandboxes_own_processes_are_visible(backend, tmp_path):
    """Listing /proc shows the worker and its sandbox's init, never the host's processes."""
    seen = attack(backend, tmp_path, "ps")
    foreign = [s for s in seen.report.seen
               if not any(mark in s for mark in ("neuro.sandbox.worker", "bwrap", "docker-init"))]
    assert [] == foreign
    assert seen.report.count <= 3
    assert_kernel_kept_serving(seen)


TTY_SCRIPT = textwrap.dedent("""
    # The kernel in a session of its own whose controlling terminal is a fresh pty, as when
    # a person runs Neuro in a terminal; the attacker tries TIOCSTI into it.
    import fcntl, os, pty, sys, termios
    import trio, neuro
    sys.path.insert(0, sys.argv[1])
    from escape_neuros import Attempt, attacker
    from docker_support import make_backends
    os.setsid()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    out = os.dup(1)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)

    async def main():
        async with neuro.Kernel(backends=make_backends()) as k:
            await k.spawn(attacker(sys.argv[2]), name="attacker")
            return await k.call("attacker", Attempt(kind="tiocsti"), timeout=30)

    report = trio.run(main)
    os.set_blocking(slave, False)
    try:
        pending = os.read(slave, 100)
    except BlockingIOError:
        pending = b""
    os.write(out, repr((report.escaped, pending, report.seen)).encode())
""")


def test_tiocsti_cannot_push_keystrokes_into_the_kernels_terminal(backend, tmp_path):
    """TIOCSTI on fds 0/1/2 and /dev/tty injects nothing into the terminal the kernel runs in."""
    done = subprocess.run([sys.executable, "-c", TTY_SCRIPT, os.path.dirname(__file__), backend],
                          capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert 0 == done.returncode, done.stderr[-2000:]
    escaped, pending, detail = eval(done.stdout)  # noqa: S307 - our own repr
    assert (False, b"") == (escaped, pending), detail


# -- resources ----------------------------------------------------------------------------


def test_fork_bomb_stops_at_the_pids_limit(backend, tmp_path):
    """Forking without end fails (EAGAIN) before the policy's process limit of 32."""
    seen = attack(backend, tmp_path, "fork", n=10_000)
    assert (False, "BlockingIOError(EAGAIN)") == (seen.report.escaped, seen.report.detail)
    assert seen.report.count < 32
    assert_kernel_kept_serving(seen)


def test_memory_bomb_kills_and_restarts_the_worker(backend, tmp_path, request):
    """Holding 1 GiB under a 256 MiB limit ends the worker: quota.memory and crashed are logged, it restarts."""
    seen = attack(backend, tmp_path, "memory", n=1024)
    assert None is seen.report
    assert {"quota.memory", "neuro.crashed", "neuro.restarted"} <= set(seen.events)
    assert_kernel_kept_serving(seen)


def test_cpu_spin_past_wall_time_is_cancelled_and_restarted(backend, tmp_path):
    """A handler spinning past its 1.5 s wall time is cancelled, its worker killed and restarted."""
    seen = attack(backend, tmp_path, "spin", variant="wall")
    assert isinstance(seen.error, neuro.CallTimeout)
    assert {"quota.wall_time", "neuro.crashed", "neuro.restarted"} <= set(seen.events)
    assert_kernel_kept_serving(seen)


def test_cpu_spin_past_cpu_time_kills_the_worker(backend, tmp_path, request):
    """A spin past 1 s of CPU time (RLIMIT_CPU) ends the worker: quota.cpu_time is logged, it restarts."""
    seen = attack(backend, tmp_path, "spin", variant="cpu")
    assert None is seen.report
    assert {"quota.cpu_time", "neuro.crashed", "neuro.restarted"} <= set(seen.events)
    assert_kernel_kept_serving(seen)


def test_cpu_share_caps_a_spinning_neuro(backend, tmp_path):
    """A neuro spinning for 1.5 s gets about its 0.5 share of one core, not more."""
    seen = attack(backend, tmp_path, "share", n=1500)
    assert seen.report.count <= 650, f"{seen.report.count / 1000:.2f} cores"
    assert_kernel_kept_serving(seen)


def test_filling_tmp_stops_at_the_disk_quota(backend, tmp_path):
    """Writing 256 MiB into /tmp stops at the policy's 64 MiB disk quota."""
    seen = attack(backend, tmp_path, "fill", "/tmp", n=256)
    assert False is seen.report.escaped
    assert seen.report.count <= 64, seen.report.detail
    assert seen.report.detail in ("OSError(ENOSPC)", "OSError(EFBIG)")
    assert_kernel_kept_serving(seen)


# -- the wire -----------------------------------------------------------------------------


def test_publish_flood_is_held_back_and_others_keep_serving(backend, tmp_path):
    """Publishing in a tight loop for 1.5 s is paced by backpressure; the echo answers throughout."""
    seen = attack(backend, tmp_path, "flood", n=1500)
    assert seen.report.count > 0
    assert seen.echo_during >= 20
    assert_kernel_kept_serving(seen)


def test_send_flood_to_another_neuro_is_held_back(backend, tmp_path):
    """Sending to the echo in a tight loop for 1.5 s waits on its mailbox; the echo answers the test throughout."""
    seen = attack(backend, tmp_path, "flood", "echo", n=1500)
    assert seen.report.count > 0
    assert seen.echo_during >= 20
    assert_kernel_kept_serving(seen)


def test_garbage_on_the_socket_kills_the_worker_not_the_kernel(backend, tmp_path):
    """Raw junk written to the worker's socket is a protocol violation: the worker is killed and restarted."""
    seen = attack(backend, tmp_path, "garbage")
    assert None is seen.report
    assert {"sandbox.protocol_violation", "neuro.crashed", "neuro.restarted"} <= set(seen.events)
    assert_kernel_kept_serving(seen)


def _host_addresses() -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        return []


