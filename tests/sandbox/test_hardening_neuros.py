"""The neuros the hardening tests run (this file holds no tests): a prober under the
`untrusted` policy that tries one thing per message on the host it is sandboxed from and
reports what happened. It never raises, so only the sandbox can stop it.

Shipped as source into the sandbox: it imports only the SDK and the standard library.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import socket
import stat
import sys

from neuro import sdk


class Try(sdk.Message):
    kind: str
    target: str = ""
    n: int = 0


class Seen(sdk.Message):
    detail: str = ""
    count: int = 0
    seen: list[str] = []


def _err(e: BaseException) -> str:
    name = errno.errorcode.get(getattr(e, "errno", None) or -1, "")
    return name or type(e).__name__


_libc = ctypes.CDLL(None, use_errno=True)


def _syscall(nr: int, *args: int) -> str:
    """'ok' or the errno name of a raw system call (each argument a long)."""
    ctypes.set_errno(0)
    result = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if result != -1 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


# x86_64 numbers: the machine these tests run on (the filter has an aarch64 table too).
NR = dict(mount=165, unshare=272, setns=308, ptrace=101, bpf=321, kcmp=312, keyctl=250, userfaultfd=323,
          io_uring_setup=425, perf_event_open=298, personality=135, clone3=435, open_tree=428, fsopen=430)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000


def _forked(body) -> str:
    """Run `body()` (it returns a short string) in a child process; return what it returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = body()
        except BaseException as e:  # noqa: BLE001 - reported
            out = f"raised {_err(e)}"
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    out = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return out


class Prober(sdk.Neuro, abstract=True):
    input = Try
    output = Seen
    policy = "untrusted"

    async def handle(self, ctx, msg):
        try:
            return getattr(self, "do_" + msg.kind)(msg)
        except Exception as e:  # noqa: BLE001 - report, never crash on purpose
            return Seen(detail=f"raised {type(e).__name__}: {e}")

    def do_ping(self, msg):
        return Seen(detail="pong", count=os.getpid())

    def do_status(self, msg):
        """The lines of /proc/self/status that say what the sandbox took away."""
        with open("/proc/self/status") as f:
            lines = [line.strip() for line in f if line.startswith(("NoNewPrivs", "Seccomp:", "CapEff", "Uid"))]
        return Seen(seen=lines)

    def do_plant_setuid(self, msg):
        """Write a file and a setuid copy of `id` into the granted folder `target`."""
        with open(os.path.join(msg.target, "made-here"), "w") as f:
            f.write("from the sandbox")
        copy = os.path.join(msg.target, "id")
        shutil.copyfile("/usr/bin/id", copy)
        os.chmod(copy, 0o4755)
        return Seen(detail=oct(os.stat(copy).st_mode))

    def do_proc_write(self, msg):
        """Which of /proc's system parts are writable: mount flags, and a write back of the
        value a per-sandbox sysctl already has (harmless wherever it lands)."""
        seen = []
        for name in ("sys", "sysrq-trigger", "irq", "bus", "fs"):
            path = f"/proc/{name}"
            if os.path.exists(path):
                ro = os.statvfs(path).f_flag & os.ST_RDONLY
                seen.append(f"{path}: {'read-only' if ro else 'writable mount'}")
        path = "/proc/sys/kernel/hostname"
        try:
            with open(path) as f:
                value = f.read()
            with open(path, "w") as f:
                f.write(value)
            seen.append(f"{path}: written")
        except OSError as e:
            seen.append(f"{path}: {_err(e)}")
        return Seen(seen=seen)

    def do_syscalls(self, msg):
        """System calls the seccomp filter refuses, each with arguments that would succeed or
        fail with another errno than EPERM without the filter."""
        seen = {
            "unshare": _forked(lambda: _syscall(NR["unshare"], CLONE_NEWUSER)),
            "setns": _syscall(NR["setns"], -1, 0),
            "kcmp": _syscall(NR["kcmp"], os.getpid(), os.getpid(), 0, 0, 0),
            "keyctl": _syscall(NR["keyctl"], 0, -3, 0),  # KEYCTL_GET_KEYRING_ID, the session keyring
            "userfaultfd": _syscall(NR["userfaultfd"], 1),  # UFFD_USER_MODE_ONLY: open to any user
            "io_uring_setup": _syscall(NR["io_uring_setup"], 1, 0),
            "perf_event_open": _syscall(NR["perf_event_open"], 0, 0, -1, -1, 0),
            "personality": _forked(lambda: _syscall(NR["personality"], 0x0040000)),  # ADDR_COMPAT_LAYOUT
            "bpf": _syscall(NR["bpf"], 0, 0, 0),
            "fsopen": _syscall(NR["fsopen"], 0, 0),
            "open_tree": _syscall(NR["open_tree"], -100, 0, 0),
            "clone3": _syscall(NR["clone3"], 0, 0),
            "mount": _forked(self._unshare_and_mount),
            "ptrace": _forked(lambda: _syscall(NR["ptrace"], 0, 0, 0, 0)),  # PTRACE_TRACEME
            "tiocsti": _forked(self._tiocsti),
        }
        return Seen(seen=[f"{k}: {v}" for k, v in sorted(seen.items())])

    @staticmethod
    def _unshare_and_mount() -> str:
        """A new user and mount namespace, then a tmpfs mount in it: the usual first step out."""
        done = _syscall(NR["unshare"], CLONE_NEWUSER | CLONE_NEWNS)
        if done != "ok":
            return done
        names = [ctypes.create_string_buffer(b) for b in (b"none", b"/tmp", b"tmpfs")]
        return _syscall(NR["mount"], *[ctypes.addressof(b) for b in names], 0, 0)

    @staticmethod
    def _tiocsti() -> str:
        """TIOCSTI into a terminal of its own, made its controlling one (so only a filter stops it)."""
        import fcntl
        import pty
        import termios

        os.setsid()
        master, slave = pty.openpty()
        os.close(os.open(os.ttyname(slave), os.O_RDWR))  # a session leader opening a tty takes it
        try:
            fcntl.ioctl(slave, termios.TIOCSTI, b"x")
            return "ok"
        except OSError as e:
            return _err(e)

    def do_userns(self, msg):
        return Seen(detail=_forked(lambda: _syscall(NR["unshare"], CLONE_NEWUSER)))

    def do_fill(self, msg):
        """Write 1 MiB chunks into each folder of `target` (one per line) until refused, up to
        n MiB each; count: MiB written in all; seen: each folder's MiB and how it ended."""
        chunk = b"x" * (1 << 20)
        seen, total = [], 0
        for folder in msg.target.split("\n"):
            written, end = 0, "no limit hit"
            try:
                with open(os.path.join(folder, "fill"), "wb") as f:
                    while written < msg.n:
                        f.write(chunk)
                        f.flush()
                        os.fsync(f.fileno())
                        written += 1
            except OSError as e:
                end = _err(e)
            seen.append(f"{folder}: {written} MiB, {end}")
            total += written
        return Seen(seen=seen, count=total)

    def do_fds(self, msg):
        """Every open descriptor and what it refers to; then try reopening 0, 1 and 2 by
        /proc/self/fd for reading and writing."""
        seen = []
        for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
            try:
                seen.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
            except OSError:
                pass  # the listing's own descriptor, closed again
        for fd in (0, 1, 2):
            try:
                reopened = os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_NONBLOCK)
                seen.append(f"reopen {fd} -> {os.readlink(f'/proc/self/fd/{reopened}')}")
                os.close(reopened)
            except OSError as e:
                seen.append(f"reopen {fd}: {_err(e)}")
        return Seen(seen=seen)

    def do_say(self, msg):
        """Write `target` to stdout and to stderr."""
        print(msg.target, flush=True)
        print(msg.target, file=sys.stderr, flush=True)
        return Seen(detail="said")

    def do_plant_link(self, msg):
        """Make `target` (path, newline, link target) a symbolic link, then end the worker."""
        path, points_to = msg.target.split("\n")
        os.symlink(points_to, path)
        os._exit(1)

    def do_read(self, msg):
        """List folders and read files (one path per line)."""
        seen = []
        for path in msg.target.split("\n"):
            try:
                if os.path.isdir(path):
                    seen.append(f"{path}: lists {sorted(os.listdir(path))}")
                else:
                    with open(path) as f:
                        seen.append(f"{path}: reads {f.read(200)!r}")
            except OSError as e:
                seen.append(f"{path}: {_err(e)}")
        return Seen(seen=seen)

    def do_connect(self, msg):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(msg.target)
            return Seen(detail="connected")
        except OSError as e:
            return Seen(detail=_err(e))

    def do_mode(self, msg):
        st = os.stat(msg.target)
        return Seen(detail=f"{stat.filemode(st.st_mode)} {st.st_uid}")


def prober(backend: str) -> type:
    return globals()[f"Prober_{backend}"]


for _backend in ("process", "docker"):
    _qual = f"Prober_{_backend}"
    globals()[_qual] = type(_qual, (Prober,), {"name": "prober", "sandbox": _backend, "__module__": __name__,
                                               "__qualname__": _qual})
