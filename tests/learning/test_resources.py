"""`ctx.resources`: a neuro sees what its policy grants it, in-process, in the process sandbox
and in a container, and a learner picks the GPU only when it is granted and present."""

from __future__ import annotations

import shutil

import msgspec
import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel._policy import parse_size
from neuro.kernel._policyfiles import apply_overrides
from neuro.neuros.learning.device import choose_device, gpu_allowed

from .resource_neuros import (Ask, ContainedGrants, Grants, LearningDefault, PlainGrants, SandboxedGpu,
                              SandboxedGrants, TorchInside)

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="the process sandbox needs bubblewrap")


def _machine_gpu() -> tuple[bool, int]:
    """(a CUDA GPU is here, its total bytes), as torch in this test's process sees it."""
    try:
        import torch
    except ImportError:
        return False, 0
    if not torch.cuda.is_available():
        return False, 0
    return True, int(torch.cuda.get_device_properties(0).total_memory)


def _ask(*classes, **kernel_options):
    async def main():
        async with neuro.Kernel(**kernel_options) as k:
            out = []
            for cls in classes:
                info = await k.spawn(cls)
                out.append((await k.call(info.name, Ask(), timeout=120), k.policies()[info.policy]))
            return out

    return trio.run(main)


def _expected(cls, base, sandbox: str) -> dict:
    """The grant of `cls`'s policy (its overrides applied) in `sandbox`, field by field."""
    policy = apply_overrides(base, cls.policy_overrides, "test") if cls.policy_overrides else base
    return {"policy": policy.name, "sandbox": sandbox, "cpu_share": policy.cpu_share, "cpu_time": policy.cpu_time,
            "memory": policy.memory, "wall_time": policy.wall_time, "concurrency": policy.concurrency,
            "gpu_granted": policy.gpu_memory > 0, "gpu_memory_share": policy.gpu_memory}


def _granted(got: sdk.Resources) -> dict:
    fields = ("policy", "sandbox", "cpu_share", "cpu_time", "memory", "wall_time", "concurrency", "gpu_granted",
              "gpu_memory_share")
    return {f: getattr(got, f) for f in fields}


def test_an_inprocess_neuro_sees_its_policy_and_overrides():
    """In-process, ctx.resources holds the learning policy with the neuro's overrides applied."""
    [(got, base)] = _ask(Grants)
    assert _expected(Grants, base, "inproc") == _granted(got)
    assert (0.5, parse_size("768MiB"), 45.0, 0.25) == (got.cpu_share, got.memory, got.wall_time, got.gpu_memory_share)


@needs_bwrap
def test_a_sandboxed_neuro_sees_the_same_grant_through_its_load_frame():
    """In the process sandbox, the Load frame carries the same grant the in-process neuro sees."""
    [(inside, base), (outside, _)] = _ask(SandboxedGrants, Grants)
    assert _expected(SandboxedGrants, base, "process") == _granted(inside)
    assert {**_granted(outside), "sandbox": "process"} == _granted(inside)


def test_the_gpu_is_used_only_when_granted_and_present():
    """gpu is granted-and-present; a neuro whose policy grants none never gets a device."""
    [(plain, _), (granted, _)] = _ask(PlainGrants, Grants)
    present, total = _machine_gpu()
    assert (False, False, -1, 0) == (plain.gpu_granted, plain.gpu, plain.gpu_device, plain.gpu_memory_bytes)
    assert (True, present, present) == (granted.gpu_granted, granted.gpu_present, granted.gpu)
    assert (0 if present else -1, int(total * 0.25)) == (granted.gpu_device, granted.gpu_memory_bytes)
    assert granted.gpu_memory_enforced is False  # in-process nothing holds the share


@needs_bwrap
def test_the_gpu_share_is_enforced_in_the_sandbox_where_there_is_a_gpu():
    """In the process sandbox the share is torch's memory fraction when a GPU is there, and absent otherwise."""
    [(got, _)] = _ask(SandboxedGpu)
    present, total = _machine_gpu()
    assert (present, present, int(total * 0.25)) == (got.gpu_present, got.gpu_memory_enforced, got.gpu_memory_bytes)


@needs_bwrap
def test_the_learning_policy_runs_in_the_process_sandbox_where_torch_imports():
    """A neuro under `learning` that names no sandbox runs in the process sandbox, and torch imports there."""

    async def main():
        async with neuro.Kernel() as k:
            a = await k.spawn(LearningDefault)
            b = await k.spawn(TorchInside)
            return a.sandbox, b.sandbox, await k.call("torch-inside", Ask(), timeout=120)

    pytest.importorskip("torch")
    first, second, inside = trio.run(main)
    present, _ = _machine_gpu()
    assert ("process", "process", "process", "learning") == (first, second, inside.sandbox, inside.policy)
    assert (present, present) == (inside.gpu, inside.gpu_memory_enforced)  # learning's GPU share, held where there is one


@needs_bwrap
def test_a_memory_limited_sandbox_says_the_gpu_share_is_not_enforced():
    """Under a memory limit torch cannot map CUDA in the sandbox, so the share is not held, and it says so."""
    [(got, _)] = _ask(SandboxedGrants)
    assert (True, False) == (got.gpu_granted, got.gpu_memory_enforced)


def test_a_context_no_kernel_made_grants_no_gpu():
    """A stand-in context (a replay's shadow, a test's fake) grants nothing: no GPU, no limits known."""
    from neuro.kernel._replay import ShadowContext

    got = ShadowContext("x", "v1").resources
    assert (False, False, "", -1) == (got.gpu_granted, got.gpu, got.policy, got.gpu_device)


def test_resources_are_frozen_and_travel_as_msgpack():
    """Resources is a frozen Struct that survives a msgpack round trip (it rides in the Load frame)."""
    r = sdk.Resources(policy="learning", gpu_granted=True, gpu_memory_share=0.5)
    with pytest.raises(AttributeError):
        r.memory = 1  # type: ignore[misc]
    assert r == msgspec.msgpack.decode(msgspec.msgpack.encode(r), type=sdk.Resources)


def test_choose_device_keeps_to_the_cpu_unless_the_gpu_is_granted_and_present():
    """choose_device: the CPU when asked, when not granted, or when absent; the granted device otherwise."""
    torch = pytest.importorskip("torch")
    present = torch.cuda.is_available()
    not_granted = sdk.Resources(gpu_present=present, gpu_device=0 if present else -1)
    granted = sdk.Resources(gpu_granted=True, gpu_present=present, gpu_device=0 if present else -1, gpu_memory_share=0.5)
    assert ["cpu", "cpu", "cpu", "cuda" if present else "cpu"] == [
        choose_device(None).type, choose_device(not_granted).type, choose_device(granted, "cpu").type,
        choose_device(granted).type]
    assert (False, present) == (gpu_allowed(not_granted), gpu_allowed(granted))


def test_choose_device_refuses_a_device_it_does_not_know():
    """A wish that is no device is a ValueError naming the accepted ones."""
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        choose_device(sdk.Resources(), "tpu")


def test_a_contained_neuro_sees_its_grant_and_no_gpu():
    """In a Docker container the grant is the same and the GPU is absent (docker passes none in)."""
    pytest.importorskip("docker", reason="the docker SDK is not installed")
    from ..sandbox.docker_support import make_backends, require_backend

    require_backend("docker")
    [(got, base)] = _ask(ContainedGrants, backends=make_backends())
    assert _expected(ContainedGrants, base, "docker") == _granted(got)
    assert (False, False) == (got.gpu_present, got.gpu)
