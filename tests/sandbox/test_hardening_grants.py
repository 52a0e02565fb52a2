"""Granted paths: resolved on the host without following links at every start, refused when
the sandbox's uid cannot write a write grant, and never a way to NEURO_HOME."""

from __future__ import annotations

import os
import socket

import pytest
import trio

import neuro

from .docker_support import make_backends, require_backend
from .test_hardening_host import BACKENDS, granted_folder, probe, sandbox_host_uid
from .test_hardening_neuros import Try, prober


@pytest.fixture(params=BACKENDS)
def backend(request):
    require_backend(request.param)
    return request.param


def test_a_link_planted_in_a_write_grant_is_not_followed_at_restart(backend, tmp_path):
    """write=[G], read=[G/ref] missing: the neuro makes G/ref a link to a host folder and exits;
    the restart is refused, naming the grant, and the folder's secret is never read."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = f"secret-{os.urandom(6).hex()}"
    (elsewhere / "secret.txt").write_text(secret)
    folder = granted_folder(tmp_path, backend)
    ref = os.path.join(folder, "ref")

    async def main():
        policies = tmp_path / "policies"
        policies.mkdir()
        (policies / "granted.toml").write_text(
            f'inherit = "untrusted"\n[capabilities]\nread = ["{ref}"]\nwrite = ["{folder}"]\n')
        async with neuro.Kernel(log=tmp_path / "run.db", policy_dirs=[str(policies)], backends=make_backends()) as k:
            await k.spawn(prober(backend), policy="granted")
            with pytest.raises(neuro.NeuroError):  # the worker ends itself
                await k.call("prober", Try(kind="plant_link", target=f"{ref}\n{elsewhere}"), timeout=60)
            with trio.move_on_after(30):  # the supervisor tries to start it again
                while not await k.log.events(name="neuro.restart_failed"):
                    await trio.sleep(0.05)
            try:
                read = await k.call("prober", Try(kind="read", target=f"{ref}/secret.txt"), timeout=30)
                seen = read.seen
            except neuro.NeuroError as e:
                seen = [f"call refused: {e}"]
            return seen, [e for e in await k.log.events()]

    seen, events = trio.run(main)
    assert [] == [s for s in seen if secret in s]
    failures = [e.data["error"] for e in events if e.name == "neuro.restart_failed"]
    assert failures, [(e.name, e.data) for e in events]
    assert f"the granted path '{ref}' is refused: {ref} is a symbolic link (to '{elsewhere}')" in failures[0]


def test_a_grant_with_a_link_in_its_path_is_refused_at_spawn(backend, tmp_path):
    """A read grant whose path passes through a symbolic link is refused at spawn, naming the grant and the link."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    seen = probe(backend, tmp_path, read=(f"{link}/inside",))
    assert isinstance(seen.spawn_error, neuro.NeuroError)
    message = str(seen.spawn_error)
    assert f"the granted path '{link}/inside' is refused: {link} is a symbolic link" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root kernel's sandbox has a uid other than the kernel's")
def test_a_write_grant_the_sandbox_cannot_write_is_refused_at_spawn_with_the_fix(backend, tmp_path):
    """A write grant on a root-owned 0755 folder is refused at spawn, naming the path, the uid and the fix."""
    folder = tmp_path / "roots-only"
    folder.mkdir()
    os.chmod(folder, 0o755)
    seen = probe(backend, tmp_path, write=(str(folder),))
    assert isinstance(seen.spawn_error, neuro.NeuroError)
    message = str(seen.spawn_error)
    uid, gid = sandbox_host_uid(backend)
    assert f"the write grant '{folder}' cannot be written by the {backend} sandbox" in message
    assert f"uid {uid}, gid {gid}" in message
    assert f"chown {uid}:{gid} {folder}" in message


def test_neuro_home_is_masked_when_a_grant_covers_it(backend, tmp_path, monkeypatch):
    """read=[a folder above NEURO_HOME]: the neuro sees NEURO_HOME empty, cannot read its files nor
    connect to a socket there, and the kernel logs which grant covered it."""
    above = tmp_path / "user"
    home = above / ".neuro"
    home.mkdir(parents=True)
    for folder in (tmp_path, above, home):
        os.chmod(folder, 0o755)
    (home / "log.db").write_text("every payload")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / "control.sock"))
    listener.listen(1)
    os.chmod(home / "control.sock", 0o777)
    (above / "notes.txt").write_text("granted")
    monkeypatch.setenv("NEURO_HOME", str(home))
    try:
        seen = probe(backend, tmp_path, Try(kind="read", target="\n".join([str(home), str(home / "log.db"),
                                                                           str(above / "notes.txt")])),
                     Try(kind="connect", target=str(home / "control.sock")), read=(str(above),))
    finally:
        listener.close()
    listed, connect = seen.answers
    assert [f"{home}: lists []", f"{home / 'log.db'}: ENOENT", f"{above / 'notes.txt'}: reads 'granted'"] == listed.seen
    assert connect.detail in ("ENOENT", "ECONNREFUSED", "EACCES"), connect.detail
    notes = [e.data["limits"].get("neuro_home", "") for e in seen.events if e.name == "quota.unenforceable"]
    assert any(str(above) in note and "empty read-only folder" in note for note in notes), notes


def test_a_grant_inside_neuro_home_is_refused_at_spawn(backend, tmp_path, monkeypatch):
    """A grant of a path inside NEURO_HOME is refused at spawn, saying why."""
    home = tmp_path / "state"
    (home / "neuros").mkdir(parents=True)
    monkeypatch.setenv("NEURO_HOME", str(home))
    seen = probe(backend, tmp_path, read=(str(home / "neuros"),))
    assert isinstance(seen.spawn_error, neuro.NeuroError)
    assert f"it is inside NEURO_HOME ({home})" in str(seen.spawn_error)
