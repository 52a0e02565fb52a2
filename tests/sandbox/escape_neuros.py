"""Neuros the escape tests run: an attacker that tries one escape per message and reports what
happened (it never raises, so only the sandbox can stop it), beside neuro.testing's Echo,
trusted and in-process: the 'other neuro' that must keep serving.

This file is shipped as source into the sandbox: it imports only the SDK, neuro.testing and
the stdlib.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import time

from neuro import sdk
from neuro.testing import Ping, Pong


class Attempt(sdk.Message):
    kind: str
    target: str = ""
    n: int = 0


class Report(sdk.Message):
    escaped: bool  # True: the attempt got through
    detail: str = ""
    count: int = 0
    seen: list[str] = []


def _err(e: BaseException) -> str:
    name = errno.errorcode.get(getattr(e, "errno", None) or -1, "")
    return f"{type(e).__name__}{'(' + name + ')' if name else ''}"


class Attacker(sdk.Neuro, abstract=True):
    input = Attempt
    output = Report
    policy = "untrusted"

    async def handle(self, ctx, msg):
        try:
            return await getattr(self, "do_" + msg.kind)(ctx, msg)
        except BaseException as e:  # noqa: BLE001 - report, never crash on purpose
            if isinstance(e, (KeyboardInterrupt, SystemExit)) or type(e).__name__ == "Cancelled":
                raise
            return Report(escaped=False, detail=f"raised {_err(e)}: {e}")

    async def do_ping(self, ctx, msg):
        return Report(escaped=False, detail="pong", count=os.getpid())

    async def do_tcp(self, ctx, msg):
        seen = []
        for addr in msg.target.split(","):
            host, port = addr.rsplit(":", 1)
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
                seen.append(f"{addr}: connected")
            except OSError as e:
                seen.append(f"{addr}: {_err(e)}")
        return Report(escaped=any(s.endswith("connected") for s in seen), seen=seen)

    async def do_udp(self, ctx, msg):
        host, port = msg.target.rsplit(":", 1)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"hello from the sandbox", (host, int(port)))
            return Report(escaped=False, detail="sent (into its own loopback, if any): the test checks arrival")
        except OSError as e:
            return Report(escaped=False, detail=_err(e))

    async def do_dns(self, ctx, msg):
        try:
            infos = socket.getaddrinfo(msg.target, 80)
            return Report(escaped=True, detail=str(infos[0][4]))
        except OSError as e:
            return Report(escaped=False, detail=_err(e))

    async def do_abstract(self, ctx, msg):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect("\0" + msg.target)
            return Report(escaped=True, detail="connected")
        except OSError as e:
            return Report(escaped=False, detail=_err(e))

    async def do_read(self, ctx, msg):
        seen = []
        for path in msg.target.split("\n"):
            try:
                with open(path, "rb") as f:
                    seen.append(f.read(4096).decode(errors="replace"))
            except OSError as e:
                seen.append(f"{path}: {_err(e)}")
        return Report(escaped=False, seen=seen)  # the test decides from what was seen

    async def do_write(self, ctx, msg):
        seen = []
        for path in msg.target.split("\n"):
            try:
                with open(path, "w") as f:
                    f.write("written from the sandbox")
                seen.append(f"{path}: written")
            except OSError as e:
                seen.append(f"{path}: {_err(e)}")
        return Report(escaped=any(s.endswith("written") for s in seen), seen=seen)

    async def do_proc(self, ctx, msg):
        """Read the environment and memory of the kernel's pid, and of every pid it can see."""
        seen = []
        pids = {msg.target} | {p for p in os.listdir("/proc") if p.isdigit()}
        for pid in sorted(pids):
            for name in ("environ", "cmdline"):
                try:
                    with open(f"/proc/{pid}/{name}", "rb") as f:
                        seen.append(f"{pid}/{name}: " + f.read().decode(errors="replace"))
                except OSError as e:
                    seen.append(f"{pid}/{name}: {_err(e)}")
            try:
                with open(f"/proc/{pid}/maps") as f:
                    start = int(f.readline().split("-")[0], 16)
                with open(f"/proc/{pid}/mem", "rb") as f:
                    f.seek(start)
                    seen.append(f"{pid}/mem: read {len(f.read(64))} bytes")
            except (OSError, ValueError) as e:
                seen.append(f"{pid}/mem: {_err(e)}")
        return Report(escaped=False, seen=seen)

    async def do_kill(self, ctx, msg):
        try:
            os.kill(int(msg.target), signal.SIGTERM)
            return Report(escaped=True, detail="signal delivered")
        except OSError as e:
            return Report(escaped=False, detail=_err(e))

    async def do_ps(self, ctx, msg):
        seen = []
        for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.append(f"{pid}: " + f.read().replace(b"\0", b" ").decode(errors="replace").strip())
            except OSError as e:
                seen.append(f"{pid}: {_err(e)}")
        return Report(escaped=False, seen=seen, count=len(seen))

    async def do_tiocsti(self, ctx, msg):
        import fcntl
        import termios

        seen = []
        fds = [(str(fd), fd) for fd in (0, 1, 2)]
        try:
            fds.append(("/dev/tty", os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)))
        except OSError as e:
            seen.append(f"/dev/tty: open {_err(e)}")
        for label, fd in fds:
            try:
                for ch in b"echo pwned\n":
                    fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
                seen.append(f"{label}: injected")
            except OSError as e:
                seen.append(f"{label}: {_err(e)}")
        return Report(escaped=any(s.endswith("injected") for s in seen), seen=seen)

    async def do_fork(self, ctx, msg):
        """Fork until the system says no (children sleep); report how many, then end them."""
        children = []
        detail = "no limit hit"
        try:
            while len(children) < msg.n:
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as e:
            detail = _err(e)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        return Report(escaped=len(children) >= msg.n, detail=detail, count=len(children))

    async def do_memory(self, ctx, msg):
        hoard = []
        for _ in range(msg.n // 16):
            hoard.append(bytearray(16 << 20))  # zero-filled: every page touched
        return Report(escaped=True, detail=f"held {len(hoard) * 16} MiB", count=len(hoard) * 16)

    async def do_spin(self, ctx, msg):
        end = time.monotonic() + msg.n / 1000 if msg.n else float("inf")
        while time.monotonic() < end:
            pass
        return Report(escaped=True, detail="spun to the end")

    async def do_share(self, ctx, msg):
        """Spin for n ms of wall time; count: CPU time used per 1000 ms of wall time."""
        cpu, wall = time.process_time(), time.monotonic()
        while time.monotonic() - wall < msg.n / 1000:
            pass
        ratio = (time.process_time() - cpu) / (time.monotonic() - wall)
        return Report(escaped=False, count=int(ratio * 1000))

    async def do_fill(self, ctx, msg):
        """Write 1 MiB chunks into files under `target` until refused, up to n MiB."""
        written, detail = 0, "no limit hit"
        chunk = b"x" * (1 << 20)
        try:
            for i in range(msg.n // 8):
                with open(os.path.join(msg.target, f"fill-{i}"), "wb") as f:
                    for _ in range(8):
                        f.write(chunk)
                        f.flush()
                        written += 1
        except OSError as e:
            detail = _err(e)
        return Report(escaped=written >= msg.n, detail=detail, count=written)

    async def do_flood(self, ctx, msg):
        """Publish (or send to `target`) in a tight loop for n ms."""
        sent = errors = 0
        end = time.monotonic() + msg.n / 1000
        while time.monotonic() < end:
            try:
                if msg.target:
                    await ctx.send(msg.target, Ping(n=sent), timeout=0.5)
                else:
                    await ctx.publish("flood", Ping(n=sent))
                sent += 1
            except Exception:  # noqa: BLE001 - a refusal is backpressure doing its job
                errors += 1
        return Report(escaped=False, detail=f"{errors} refused", count=sent)

    async def do_garbage(self, ctx, msg):
        """Find this worker's socket to the kernel and write junk into it, then wait."""
        import stat

        hit = []
        for fd in range(3, 256):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, b"\xff\xff\xff\xff" + b"\xc1" * 64)
                    hit.append(str(fd))
            except OSError:
                pass
        time.sleep(5)  # the kernel should kill this worker before it wakes
        return Report(escaped=True, detail="still alive after writing garbage", seen=hit)


_VARIANTS = {
    "plain": {},
    "wall": {"wall_time": 1.5},  # a spin is cancelled (and its worker killed) after 1.5 s
    "cpu": {"cpu_time": 1, "wall_time": 20.0},  # RLIMIT_CPU ends it first
}


def attacker(backend: str, variant: str = "plain") -> type:
    return globals()[f"Attacker_{backend}_{variant}"]


for _backend in ("process", "docker"):
    for _variant, _overrides in _VARIANTS.items():
        _qual = f"Attacker_{_backend}_{_variant}"
        globals()[_qual] = type(_qual, (Attacker,), {
            "name": "attacker", "sandbox": _backend, "policy_overrides": _overrides,
            "__module__": __name__, "__qualname__": _qual})


class Boxed(sdk.Neuro):
    """A plain neuro in a container: n > 0 echoes, n < 0 raises, n == 0 exits its worker."""

    name = "boxed"
    input = Ping
    output = Pong
    policy = "untrusted"
    sandbox = "docker"

    async def handle(self, ctx, msg):
        if msg.n < 0:
            raise ValueError(f"negative: {msg.n}")
        if msg.n == 0:
            os._exit(1)
        return Pong(n=msg.n)
