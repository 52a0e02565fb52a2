"""What an untrusted neuro gains on the host: nothing of the kernel's uid, no writable /proc,
no new privileges, no namespaces of its own, no system calls past the filter, no writable
place outside the disk quota, and no view of the kernel's terminal or output files.

Each test runs a real kernel with a prober (tests/sandbox/test_hardening_neuros.py) under
the `untrusted` policy, or one that inherits it with granted paths, in the real backend.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

import neuro

from .docker_support import make_backends, require_backend
from .test_hardening_neuros import Try, prober

BACKENDS = ["process", "docker"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    require_backend(request.param)
    return request.param


@dataclass
class Probed:
    answers: list[Any]  # a Seen, or the NeuroError the call raised
    events: list[Any] = field(default_factory=list)
    spawn_error: BaseException | None = None
    output: bytes = b""


def probe(backend: str, tmp_path, *tries: Try, read: tuple[str, ...] = (), write: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> Probed:
    """Spawn the prober in `backend` (granted `read` and `write`), send it `tries` in order."""
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / "granted.toml").write_text(
        'inherit = "untrusted"\n[capabilities]\n'
        f"read = {list(read)!r}\nwrite = {list(write)!r}\n".replace("'", '"'))

    async def main() -> Probed:
        backends = make_backends()
        async with neuro.Kernel(log=tmp_path / "run.db", policy_dirs=[str(folder)], backends=backends) as k:
            try:
                await k.spawn(prober(backend), policy="granted")
            except neuro.NeuroError as e:
                return Probed([], await k.log.events(), e)
            answers: list[Any] = []
            for one in tries:
                try:
                    answers.append(await k.call("prober", one, timeout=60))
                except neuro.NeuroError as e:
                    answers.append(e)
            workers = list(getattr(backends[backend], "_all", ()))
            seen = Probed(answers, await k.log.events())
        seen.output = b"".join(w.output_tail for w in workers)  # read to the end: the workers are gone
        return seen

    return trio.run(main)


def sandbox_host_uid(backend: str) -> tuple[int, int]:
    from neuro.sandbox._hostuid import DOCKER_IDS, sandbox_ids

    ids = sandbox_ids() if backend == "process" else DOCKER_IDS
    return ids.uid, ids.gid


def granted_folder(tmp_path, backend: str, name: str = "granted") -> str:
    """A folder the sandbox's host uid may write, as a write grant now needs (and, 0777,
    one that a sandbox mapped to root could write too, so that an attack runs the same on
    the code before this change)."""
    path = tmp_path / name
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, *sandbox_host_uid(backend))
    os.chmod(path, 0o777)
    return str(path)


# -- the host uid -------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="a sandbox differs from the kernel's uid only under a root kernel")
def test_a_file_made_in_a_write_grant_belongs_to_the_sandbox_uid_not_the_kernels(backend, tmp_path):
    """A file the neuro writes into a granted folder is owned on the host by the unprivileged sandbox uid."""
    folder = granted_folder(tmp_path, backend)
    seen = probe(backend, tmp_path, Try(kind="plant_setuid", target=folder), write=(folder,))
    assert seen.answers[0].detail.startswith("0o"), seen.answers[0].detail
    st = os.stat(os.path.join(folder, "made-here"))
    assert sandbox_host_uid(backend) == (st.st_uid, st.st_gid)


@pytest.fixture
def open_tmp():
    """A folder under /tmp that every user may reach (pytest's own are root's alone)."""
    path = tempfile.mkdtemp(prefix="neuro-hardening-", dir="/tmp")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="a setuid file is setuid root only when the sandbox maps to root")
def test_a_setuid_copy_planted_in_a_write_grant_gives_no_one_root(backend, tmp_path, open_tmp):
    """A copy of `id` chmod 4755 in a write grant is not setuid root: run by another user, its euid is not 0."""
    folder = granted_folder(open_tmp, backend)
    probe(backend, tmp_path, Try(kind="plant_setuid", target=folder), write=(folder,))
    planted = os.path.join(folder, "id")
    done = subprocess.run(["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups", planted, "-u"],
                          capture_output=True, text=True, timeout=10)
    assert (0, False) == (done.returncode, os.stat(planted).st_uid == 0), done.stderr
    assert "0" != done.stdout.strip()


def test_proc_sys_and_the_rest_of_procs_system_parts_are_read_only(backend, tmp_path):
    """/proc/sys, /proc/irq, /proc/bus, /proc/fs (where present) are read-only mounts; a sysctl write fails."""
    seen = probe(backend, tmp_path, Try(kind="proc_write"))
    lines = seen.answers[0].seen
    assert [] == [line for line in lines if "writable" in line or line.endswith("written")], lines
    assert any(line.startswith("/proc/sys:") for line in lines)


def test_no_new_privileges_is_set_in_the_sandbox(backend, tmp_path):
    """NoNewPrivs is 1 in the worker (bwrap sets it; docker by no-new-privileges), and it has no capabilities."""
    seen = probe(backend, tmp_path, Try(kind="status"))
    status = dict(line.split(":", 1) for line in seen.answers[0].seen)
    assert ("1", "0000000000000000") == (status["NoNewPrivs"].strip(), status["CapEff"].strip())


def test_the_neuro_cannot_make_a_user_namespace(backend, tmp_path):
    """unshare(CLONE_NEWUSER) fails: no namespace of its own to gain capabilities in."""
    seen = probe(backend, tmp_path, Try(kind="userns"))
    assert seen.answers[0].detail in ("EPERM", "ENOSPC"), seen.answers[0].detail


# -- system calls -------------------------------------------------------------------------


def test_the_seccomp_filter_refuses_what_dockers_default_profile_refuses(tmp_path):
    """mount (after unshare), unshare, setns, ptrace, bpf, kcmp, keyctl, io_uring, TIOCSTI and more get EPERM."""
    require_backend("process")
    if os.uname().machine != "x86_64":
        pytest.skip("the prober's raw syscall numbers are x86_64's")
    seen = probe("process", tmp_path, Try(kind="status"), Try(kind="syscalls"), Try(kind="ping"))
    status, calls, ping = seen.answers
    assert "Seccomp:\t2" in status.seen
    assert {"clone3: ENOSYS"} == {line for line in calls.seen if not line.endswith(": EPERM")}, calls.seen
    assert "pong" == ping.detail


# -- the disk quota -----------------------------------------------------------------------


def test_every_writable_place_together_stays_within_the_disk_quota(backend, tmp_path):
    """Under disk = 64 MiB, /, /etc, /dev refuse writes; /tmp and /dev/shm together hold at most 64 MiB."""
    places = ["/", "/etc", "/dev", "/tmp", "/dev/shm"]
    seen = probe(backend, tmp_path, Try(kind="fill", target="\n".join(places), n=96))
    assert not isinstance(seen.answers[0], Exception), seen.answers[0]  # an unbounded tmpfs eats the memory limit
    lines = seen.answers[0].seen
    written = {line.split(": ")[0]: int(line.split(": ")[1].split()[0]) for line in lines}
    assert {"/": 0, "/etc": 0, "/dev": 0} == {p: written[p] for p in ("/", "/etc", "/dev")}, lines
    assert written["/tmp"] + written["/dev/shm"] <= 64, lines


# -- the worker's stdio -------------------------------------------------------------------


def _foreign(lines: list[str]) -> list[str]:
    """Descriptors that refer to something other than /dev/null, a pipe, a socket or an anon inode."""
    return [line for line in lines if "->" in line
            and not line.split("-> ", 1)[1].startswith(("/dev/null", "pipe:", "socket:", "anon_inode:", "/proc/"))]


STDIO_SCRIPT = textwrap.dedent("""
    # The kernel with its stdio on a terminal or a file (argv[3]); it reports what the worker saw.
    import fcntl, os, pty, sys, termios
    import trio, neuro
    sys.path.insert(0, sys.argv[1])
    from test_hardening_neuros import Try, prober
    from docker_support import make_backends
    out = os.dup(1)
    if sys.argv[3] == "terminal":  # a session whose controlling terminal is a fresh pty
        os.setsid()
        master, stdio = pty.openpty()
        fcntl.ioctl(stdio, termios.TIOCSCTTY, 0)
    else:  # a log file, as the daemon's daemon.out
        stdio = os.open(sys.argv[3], os.O_RDWR | os.O_CREAT | os.O_APPEND)
    for fd in (0, 1, 2):
        os.dup2(stdio, fd)

    async def main():
        async with neuro.Kernel(backends=make_backends()) as k:
            await k.spawn(prober(sys.argv[2]))
            return await k.call("prober", Try(kind="fds"), timeout=60)

    os.write(out, repr(trio.run(main).seen).encode())
""")


def seen_from(backend: str, tmp_path, stdio: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", STDIO_SCRIPT, os.path.dirname(__file__), backend, stdio],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert 0 == done.returncode, done.stderr[-2000:]
    return eval(done.stdout)  # noqa: S307 - our own repr


def test_the_worker_sees_no_terminal_of_the_kernels(backend, tmp_path):
    """With the kernel on a terminal, the worker's fds are /dev/null and pipes, none the terminal."""
    lines = seen_from(backend, tmp_path, "terminal")
    assert "0 -> /dev/null" in lines
    assert [] == _foreign(lines), lines


def test_the_worker_cannot_reach_the_kernels_output_file(backend, tmp_path):
    """With the kernel's stdout and stderr on a file (as daemon.out), the worker's 1 and 2 are pipes, not it."""
    lines = seen_from(backend, tmp_path, str(tmp_path / "daemon.out"))
    stdio = [line for line in lines if line.startswith(("1 ->", "2 ->", "reopen 1 ->", "reopen 2 ->"))]
    assert [] == [line for line in stdio if "pipe:" not in line], lines
    assert [] == _foreign(lines), lines


def test_what_the_worker_prints_is_kept_as_a_tail_by_the_kernel(tmp_path, capfd):
    """Text a neuro writes to stdout and stderr ends up in its worker's output tail, not the kernel's."""
    require_backend("process")
    mark = f"said-{os.getpid()}"
    seen = probe("process", tmp_path, Try(kind="say", target=mark), Try(kind="ping"))
    assert "said" == seen.answers[0].detail
    assert 2 == seen.output.count(mark.encode()), seen.output[-500:]
    captured = capfd.readouterr()
    assert mark not in captured.out + captured.err


def test_a_kernel_that_cannot_give_the_sandbox_its_own_uid_says_so(tmp_path):
    """Where the kernel is not root (simulated: no sandbox uid), the spawn logs a `host_uid` entry."""
    require_backend("process")
    from neuro.sandbox._process import ProcessBackend

    backend = ProcessBackend(pool_size=0)
    backend.ids = None  # what a kernel that is not root has: it can only be itself

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", backends={"process": backend}) as k:
            await k.spawn(prober("process"))
            return await k.log.events(name="quota.unenforceable")

    [event] = trio.run(main)
    assert "the sandbox shares the kernel's uid on the host" in event.data["limits"]["host_uid"]
