"""A neuro that looks at the sandbox it runs in. Shipped as source into the sandbox: it
imports only the SDK and the standard library."""

from __future__ import annotations

import subprocess

from neuro import sdk


class Look(sdk.Message):
    pass


class Seen(sdk.Message):
    ldconfig_finds_libpthread: bool
    detail: str = ""


class LdconfigProbe(sdk.Neuro, abstract=True):
    """Can `/sbin/ldconfig -p` list libpthread in here? It is how ctypes.util.find_library,
    which trio's import calls, finds a library; when it cannot, find_library runs gcc."""

    input = Look
    output = Seen
    policy = "untrusted"

    def handle(self, ctx, msg):
        try:
            done = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, timeout=10)
        except OSError as e:
            return Seen(ldconfig_finds_libpthread=False, detail=f"{type(e).__name__}: {e}")
        found = done.returncode == 0 and b"libpthread.so" in done.stdout
        return Seen(ldconfig_finds_libpthread=found, detail=done.stderr.decode(errors="replace")[-300:])


class LdconfigProbe_process(LdconfigProbe):
    name = "probe"
    sandbox = "process"


class LdconfigProbe_docker(LdconfigProbe):
    name = "probe"
    sandbox = "docker"
