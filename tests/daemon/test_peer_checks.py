"""The control socket lets in the daemon's own user from the daemon's own namespaces only:
a peer of another uid, or one in another user or pid namespace (a sandbox, even one whose uid
maps to the daemon's), gets PeerRefused and is closed, and the refusal is an event. Each
peer is a real process: `setpriv`, `unshare` and `bwrap` run a small client of the stdlib."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from neuro import _control as c
from neuro.client import blocking, run_blocking

from .conftest import wait_until

# A peer that sends a Hello and prints, as hex, everything the daemon answers until it closes.
PEER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
except BrokenPipeError:
    pass  # refused at accept, before the Hello: what the daemon sent is still there to read
got = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
        if b"Welcome" in got or b"welcome" in got:
            break
except OSError as e:
    print("error", e, file=sys.stderr)
print(got.hex())
"""

HELLO = c.encode(c.Hello(protocol=c.PROTOCOL, client="peer-test")).hex()
# The system interpreter: one that another uid can run (the venv's may live under /root).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def as_peer(prefix: list[str], daemon) -> list:
    """Run the peer under `prefix`; the frames the daemon sent it."""
    done = subprocess.run([*prefix, PYTHON, "-c", PEER, str(daemon.socket), HELLO], capture_output=True,
                          text=True, timeout=60, cwd="/")
    assert 0 == done.returncode, done.stderr[-2000:]
    return c.FrameDecoder(c.ServerFrame).feed(bytes.fromhex(done.stdout.strip()))


def refusals(daemon) -> list[dict]:
    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        return [e["data"] for e in run_blocking(client.events(name="control.refused", limit=None))]
    finally:
        run_blocking(client.__aexit__(None, None, None))


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here (util-linux / bubblewrap)")


def test_a_peer_of_the_daemons_uid_and_namespaces_is_welcomed(daemon):
    """The same check lets in a plain client of the daemon's user: it gets Welcome."""
    frames = as_peer([], daemon)
    assert [c.Welcome] == [type(f) for f in frames]


def test_a_peer_of_another_uid_is_refused_even_when_the_modes_let_it_connect(daemon):
    """uid 65534 (setpriv), with the folder and socket opened to it, gets PeerRefused naming its uid."""
    needs("setpriv")
    if os.geteuid() != 0:
        pytest.skip("switching to uid 65534 needs root")
    daemon.home.chmod(0o711)
    daemon.socket.chmod(0o666)
    try:
        frames = as_peer(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], daemon)
    finally:
        daemon.socket.chmod(0o600)
        daemon.home.chmod(0o700)
    assert [("PeerRefused", True)] == [(f.type, "its uid 65534 is not the daemon's" in f.message) for f in frames]
    assert wait_until(lambda: any(r["uid"] == 65534 for r in refusals(daemon)), 10)


def test_a_peer_in_another_user_namespace_is_refused(daemon):
    """`unshare -U` (its uid on the host is still the daemon's) gets PeerRefused naming the user namespace."""
    needs("unshare")
    frames = as_peer(["unshare", "-U"], daemon)
    assert [("PeerRefused", True)] == [(f.type, "another user namespace" in f.message) for f in frames]
    assert wait_until(lambda: any("user namespace" in r["reason"] for r in refusals(daemon)), 10)


def test_a_peer_in_another_pid_namespace_is_refused(daemon):
    """`unshare -pf` (same user namespace, its own pid namespace) gets PeerRefused naming the pid namespace."""
    needs("unshare")
    if os.geteuid() != 0:
        pytest.skip("a new pid namespace without a new user namespace needs root")
    frames = as_peer(["unshare", "--pid", "--fork"], daemon)
    assert [("PeerRefused", True)] == [(f.type, "another pid namespace" in f.message) for f in frames]


def test_a_bubblewrapped_peer_whose_uid_maps_to_the_daemons_is_refused(daemon):
    """bwrap with uid 65534 inside (mapped to the daemon's uid outside), as a process sandbox runs, is refused."""
    needs("bwrap")
    prefix = ["bwrap", "--dev-bind", "/", "/", "--unshare-user", "--unshare-pid", "--uid", "65534",
              "--gid", "65534", "--die-with-parent", "--"]
    frames = as_peer(prefix, daemon)
    assert [("PeerRefused", True)] == [(f.type, "namespace" in f.message) for f in frames]


def test_a_refused_peer_leaves_the_daemon_serving(daemon):
    """After a refused peer, a plain client still pings, and status counts the refusal."""
    needs("unshare")
    as_peer(["unshare", "-U"], daemon)
    client = blocking(str(daemon.socket), timeout=10)
    run_blocking(client.__aenter__())
    try:
        assert ("pong", True) == (run_blocking(client.ping()), run_blocking(client.status())["peers_refused"] >= 1)
    finally:
        run_blocking(client.__aexit__(None, None, None))
