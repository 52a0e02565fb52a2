"""A quota event comes from the kernel's own evidence, never from what a neuro chooses: a
worker that exits with code 3 (the worker's code for a MemoryError) or kills itself with
SIGKILL is reported as doing so, with no quota.memory event; a real memory breach (the cgroup's
OOM kill, docker's OOMKilled) still is one. Real process and docker sandboxes."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest
import trio

import neuro

from .docker_support import make_backends, require_backend

# Shipped into the sandbox as source: the SDK and the stdlib only.
NEURO_SOURCE = textwrap.dedent('''
    import os
    import signal

    from neuro import sdk


    class Ask(sdk.Message):
        what: str


    class Done(sdk.Message):
        detail: str = ""


    class Forger(sdk.Neuro, abstract=True):
        input = Ask
        output = Done
        policy = "untrusted"

        async def handle(self, ctx, msg):
            if msg.what == "exit3":
                os._exit(3)
            if msg.what == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if msg.what == "sigxcpu":
                os.kill(os.getpid(), signal.SIGXCPU)
            if msg.what == "raise":
                raise MemoryError("forged")
            if msg.what == "memory":
                hoard = [bytearray(16 << 20) for _ in range(64)]  # 1 GiB, every page touched
                return Done(detail=f"held {len(hoard) * 16} MiB")
            return Done(detail="pong")


    class Forger_process(Forger):
        name = "forger"
        sandbox = "process"


    class Forger_docker(Forger):
        name = "forger"
        sandbox = "docker"
''')


@pytest.fixture(params=["process", "docker"])
def backend(request):
    require_backend(request.param)
    return request.param


@pytest.fixture
def forger(tmp_path, backend):
    path = tmp_path / "quota_forger.py"
    path.write_text(NEURO_SOURCE)
    spec = importlib.util.spec_from_file_location("quota_forger", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["quota_forger"] = module
    spec.loader.exec_module(module)
    yield getattr(module, f"Forger_{backend}")
    sys.modules.pop("quota_forger", None)


def attempt(forger, tmp_path, what: str) -> tuple[str, list[tuple[str, dict]], str]:
    """Ask the forger to do `what`; the call's error, the events logged, and its answer after."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", backends=make_backends()) as k:
            await k.spawn(forger)
            error = ""
            try:
                await k.call("forger", forger.input(what=what), timeout=60)
            except neuro.NeuroError as e:
                error = str(e)
            after = await k.call("forger", forger.input(what="ping"), timeout=60)
            events = [(e.name, e.data) for e in await k.log.events()]
            return error, events, after.detail

    return trio.run(main)


def names(events) -> list[str]:
    return [name for name, _ in events]


def test_exit_code_3_is_an_exit_not_a_memory_breach(forger, tmp_path):
    """os._exit(3) logs no quota.memory; the crash says the worker exited with code 3, and it restarts."""
    error, events, after = attempt(forger, tmp_path, "exit3")
    crashed = [data["error"] for name, data in events if name == "neuro.crashed"]
    assert (False, True, True, "pong") == (
        "quota.memory" in names(events), "exited with code 3" in error,
        any("exited with code 3" in e for e in crashed), after)


def test_a_self_sent_sigkill_is_a_signal_not_a_memory_breach(forger, tmp_path):
    """A worker that SIGKILLs itself logs no quota.memory; the crash names the signal."""
    error, events, after = attempt(forger, tmp_path, "sigkill")
    assert (False, True, "pong") == ("quota.memory" in names(events), "SIGKILL" in error, after)


def test_a_real_memory_breach_is_still_a_quota_event(forger, tmp_path):
    """Holding 1 GiB under the 256 MiB limit logs quota.memory from the cgroup's OOM kill (or docker's OOMKilled)."""
    error, events, after = attempt(forger, tmp_path, "memory")
    quota = [data for name, data in events if name == "quota.memory"]
    assert (1, True, "pong") == (len(quota), "memory limit" in error, after)


def test_a_raised_memory_error_is_a_crash_not_a_memory_breach(forger, tmp_path):
    """A sandboxed handler that raises MemoryError itself logs no quota.memory: the type is the worker's claim."""
    error, events, after = attempt(forger, tmp_path, "raise")
    assert (False, True, "pong") == ("quota.memory" in names(events), "forged" in error, after)


def test_a_self_sent_sigxcpu_is_a_signal_not_a_cpu_time_breach(forger, tmp_path):
    """A worker that sends itself SIGXCPU logs no quota.cpu_time: its cgroup's CPU counter shows no such use."""
    error, events, after = attempt(forger, tmp_path, "sigxcpu")
    assert (False, True, "pong") == ("quota.cpu_time" in names(events), "SIGXCPU" in error, after)
