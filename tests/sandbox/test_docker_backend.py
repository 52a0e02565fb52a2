"""The docker backend: long-lived containers of the local image, reached over a Unix socket."""

from __future__ import annotations

import os

import pytest
import trio

import neuro
from neuro.sandbox import default_backends
from neuro.sandbox._docker import LABEL, DockerBackend
from neuro.testing import Ping, Pong

from .docker_support import require_backend
from .escape_neuros import Boxed

pytest.importorskip("docker", reason="the docker SDK is not installed: .venv/bin/pip install 'neuro-runtime[docker]'")


@pytest.fixture
def docker_ready():
    require_backend("docker")


def run_with(backend: DockerBackend, body, log=None):
    async def main():
        async with neuro.Kernel(log=log, backends={"docker": backend}) as k:
            return await body(k)

    return trio.run(main)


def _our_containers() -> list[str]:
    """The ids of the containers this process's kernels started."""
    import docker

    client = docker.from_env()
    try:
        # the plain list: inspecting each container races with other kernels (test workers) removing theirs
        return [c["Id"] for c in client.api.containers(all=True, filters={"label": LABEL})
                if (c.get("Labels") or {}).get(LABEL, "").endswith(f":{os.getpid()}")]
    finally:
        client.close()


def test_constructing_the_backend_contacts_no_daemon():
    """Making the backend (as every kernel does) touches no daemon, even a missing one."""
    backend = DockerBackend(base_url="unix:///nonexistent/docker.sock")
    assert ("docker", None) == (backend.name, backend._client)
    assert "docker" in default_backends()


def test_daemon_down_is_a_clear_error_that_says_how_to_fix_it():
    """With no daemon at the socket, spawning says so and names scripts/docker.sh."""

    async def body(k):
        with pytest.raises(neuro.NeuroError) as err:
            await k.spawn(Boxed)
        return str(err.value)

    message = run_with(DockerBackend(base_url="unix:///nonexistent/docker.sock"), body)
    assert "no Docker daemon answers at unix:///nonexistent/docker.sock" in message
    assert "bash scripts/docker.sh" in message


def test_missing_image_is_a_clear_error_that_says_how_to_fix_it(docker_ready):
    """With no sandbox image, spawning names the image and scripts/docker.sh."""

    async def body(k):
        with pytest.raises(neuro.NeuroError) as err:
            await k.spawn(Boxed)
        return str(err.value)

    message = run_with(DockerBackend(image="neuro-sandbox:no-such-tag", pool_size=0), body)
    assert "the sandbox image neuro-sandbox:no-such-tag is not built" in message
    assert "bash scripts/docker.sh" in message


def test_call_round_trips_through_a_container(docker_ready):
    """A call to a docker-backed neuro returns its handler's reply."""

    async def body(k):
        await k.spawn(Boxed)
        return [await k.call("boxed", Ping(n=i)) for i in (1, 2, 3)]

    assert [Pong(n=1), Pong(n=2), Pong(n=3)] == run_with(DockerBackend(pool_size=0), body)


def test_handler_error_arrives_typed(docker_ready):
    """An exception raised in the container reaches the caller as RemoteError with its type."""

    async def body(k):
        await k.spawn(Boxed)
        with pytest.raises(neuro.RemoteError) as err:
            await k.call("boxed", Ping(n=-4))
        return err.value

    error = run_with(DockerBackend(pool_size=0), body)
    assert "ValueError: negative: -4" in str(error)
    assert "raise ValueError" in error.traceback


def test_worker_that_exits_is_restarted(docker_ready, tmp_path):
    """A worker whose process exits is restarted in a new container; the next call is served."""

    async def body(k):
        await k.spawn(Boxed)
        with pytest.raises(neuro.NeuroError):
            await k.call("boxed", Ping(n=0))
        reply = await k.call("boxed", Ping(n=9), timeout=30)
        return reply, [e.name for e in await k.log.events()], k.info("boxed").restarts

    reply, events, restarts = run_with(DockerBackend(pool_size=0), body, log=tmp_path / "run.db")
    assert (Pong(n=9), 1) == (reply, restarts)
    assert {"neuro.crashed", "neuro.restarted"} <= set(events)


def test_warm_pool_hands_out_a_started_container(docker_ready):
    """With a warm pool, the second spawn gets a container that was already started."""
    backend = DockerBackend(pool_size=1)

    async def body(k):
        await k.spawn(Boxed, name="first")
        with trio.fail_after(30):
            while backend.statistics()["idle"] < 1:
                await trio.sleep(0.05)
        waiting = next(iter(backend._pool.idle.values()))[0]
        await k.spawn(Boxed, name="second")
        served = await k.call("second", Ping(n=2))
        return waiting is k._router.procs["second"].worker.handle, served

    assert (True, Pong(n=2)) == run_with(backend, body)


def test_container_runs_under_the_policys_limits(docker_ready):
    """The container has no network, a read-only root, no capabilities and the untrusted limits."""

    async def body(k):
        await k.spawn(Boxed)
        await k.call("boxed", Ping(n=1))
        import docker

        [container] = _our_containers()
        client = docker.from_env()
        try:
            attrs = client.api.inspect_container(container)
        finally:
            client.close()
        return attrs["HostConfig"], attrs["Config"]["User"]

    host, user = run_with(DockerBackend(pool_size=0), body)
    expected = {"NetworkMode": "none", "ReadonlyRootfs": True, "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"], "Memory": 256 << 20, "MemorySwap": 256 << 20,
                "NanoCpus": 500_000_000, "PidsLimit": 32, "Init": True, "ShmSize": 8 << 20}
    assert expected == {key: host[key] for key in expected}
    # /tmp and /dev/shm share the 64 MiB disk quota: 56 MiB and 8 MiB.
    assert ("65534:65534", {"/tmp": "rw,nosuid,nodev,mode=1777,size=58720256"}) == (user, host["Tmpfs"])


def test_no_container_is_left_when_the_kernel_stops(docker_ready):
    """Stopping the kernel removes every container it started, the warm pool's too."""
    backend = DockerBackend(pool_size=2)

    async def body(k):
        await k.spawn(Boxed)
        return await k.call("boxed", Ping(n=1))

    assert Pong(n=1) == run_with(backend, body)
    assert [] == _our_containers()


def test_a_container_left_by_a_kernel_that_died_is_removed_when_the_next_one_starts(docker_ready):
    """A worker container whose kernel is gone (its label names a pid no process has) is
    removed the first time a kernel on this host connects to Docker."""
    import socket
    import subprocess

    import docker

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now (reused only after the kernel's pid range wraps)
    backend = DockerBackend(pool_size=0)
    client = docker.from_env()
    orphan = client.api.create_container(backend.image, command="true",
                                         labels={LABEL: f"{socket.gethostname()}:{gone.pid}"})["Id"]
    try:
        async def body(k):
            await k.spawn(Boxed)
            return await k.call("boxed", Ping(n=3))

        assert Pong(n=3) == run_with(backend, body)
        left = [c["Id"] for c in client.api.containers(all=True, filters={"id": orphan})]
    finally:
        try:
            client.api.remove_container(orphan, force=True)
        except docker.errors.NotFound:
            pass
        client.close()
    assert [] == left
