"""The neuro tests/sandbox/test_nonroot_uid.py runs (this file holds no tests): under a kernel
that is not root, it tries one thing per message on the host and reports what happened.

Shipped as source into the sandbox: it imports only the SDK and the standard library. It
never raises, so only the sandbox can stop it.
"""

from __future__ import annotations

import ctypes
import errno
import os

from neuro import sdk


class Look(sdk.Message):
    kind: str  # read, kill, write, ids, status, userns or sysctl
    target: str = ""


class Saw(sdk.Message):
    detail: str = ""


class Peek(sdk.Neuro):
    name = "peek"
    input = Look
    output = Saw
    policy = "untrusted"
    sandbox = "process"

    async def handle(self, ctx, msg):
        try:
            return Saw(detail=getattr(self, "do_" + msg.kind)(msg.target))
        except OSError as e:
            return Saw(detail=errno.errorcode.get(e.errno or -1, type(e).__name__))

    def do_read(self, path: str) -> str:
        with open(path) as f:
            return "read: " + f.read()

    def do_kill(self, pid: str) -> str:
        os.kill(int(pid), 0)
        return "signalled"

    def do_write(self, folder: str) -> str:
        with open(os.path.join(folder, "from-the-sandbox"), "w") as f:
            f.write("written in the sandbox")
        return "wrote"

    def do_ids(self, _: str) -> str:
        return f"{os.getuid()}:{os.getgid()}"

    def do_status(self, _: str) -> str:
        """What the sandbox took away, as /proc/self/status says."""
        with open("/proc/self/status") as f:
            return "; ".join(" ".join(line.split()) for line in f
                             if line.startswith(("NoNewPrivs", "Seccomp:", "CapEff", "CapPrm")))

    def do_userns(self, _: str) -> str:
        """unshare(CLONE_NEWUSER) in a child: 'ok' or the errno name."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.unshare(0x10000000)
            os.write(write, b"ok" if done == 0 else errno.errorcode.get(ctypes.get_errno(), "?").encode())
            os._exit(0)
        os.close(write)
        out = os.read(read, 64).decode()
        os.close(read)
        os.waitpid(pid, 0)
        return out

    def do_sysctl(self, _: str) -> str:
        """Write /proc/sys/kernel/hostname back with the value it has (harmless wherever it lands)."""
        with open("/proc/sys/kernel/hostname") as f:
            value = f.read()
        with open("/proc/sys/kernel/hostname", "w") as f:
            f.write(value)
        return "written"
