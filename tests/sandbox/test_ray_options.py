"""A policy in Ray's terms (sandbox/_ray_options.py), the `placement` table of a policy file,
and what a kernel without Ray, or without a ray policy, does. No cluster is started here."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from neuro._errors import PolicyError
from neuro.kernel._policy import Capabilities, Placement, Policy
from neuro.kernel._policyfiles import check_policy_file
from neuro.sandbox._ray_options import actor_options, ray_unenforced


def test_quotas_and_placement_become_actor_options(monkeypatch):
    """CPUs, GPUs, memory, labels, custom resources and granted variables map one to one."""
    monkeypatch.setenv("TOKEN_FOR_RAY", "s3")
    policy = Policy(name="p", sandbox="ray", cpu_share=0.5, gpu_memory=0.25, memory=1 << 30,
                    capabilities=Capabilities(env=("TOKEN_FOR_RAY",)),
                    placement=Placement(labels=("zone=b", "disk = ssd"), resources=("accel=2",)))
    assert {"max_restarts": 0, "max_task_retries": 0, "num_cpus": 0.5, "num_gpus": 0.25, "memory": 1 << 30,
            "label_selector": {"zone": "b", "disk": "ssd"}, "resources": {"accel": 2.0},
            "runtime_env": {"env_vars": {"TOKEN_FOR_RAY": "s3"}}} == actor_options(policy)


def test_placement_cpus_and_gpus_win_over_the_shares():
    """`placement.cpus` and `placement.gpus`, when set, are what Ray reserves."""
    policy = Policy(name="p", sandbox="ray", cpu_share=0.5, gpu_memory=0.25, placement=Placement(cpus=2, gpus=1))
    options = actor_options(policy)
    assert (2.0, 1.0) == (options["num_cpus"], options["num_gpus"])


def test_a_plain_policy_reserves_nothing_and_restarts_nothing_by_itself():
    """No share asked: 0 CPUs and GPUs (an actor holds no core idle); Ray never restarts it."""
    assert {"max_restarts": 0, "max_task_retries": 0, "num_cpus": 0.0, "num_gpus": 0.0} == \
        actor_options(Policy(name="p", sandbox="ray"))


def test_what_ray_does_not_hold_is_said():
    """CPU share (placement only), the capabilities and the host uid are listed as not held."""
    missing = ray_unenforced(Policy(name="p", sandbox="ray", cpu_share=0.5, memory=1 << 20, processes=4))
    assert {"cpu_share", "memory_burst", "processes", "network", "read", "write", "env", "host_uid"} == set(missing)
    assert "does not throttle" in missing["cpu_share"]


def test_a_policy_file_places_a_neuro_with_a_placement_table(tmp_path):
    """`[placement]` in a policy file is read into the policy, sizes and all."""
    path = tmp_path / "gpu-node.toml"
    path.write_text(textwrap.dedent("""\
        sandbox = "ray"
        memory = "2GiB"
        [placement]
        cpus = 2
        gpus = 1
        labels = ["zone=b"]
        placement_group = "learners"
        bundle = 0
        """))
    policy = check_policy_file(str(path))
    assert (Placement(cpus=2, gpus=1, labels=("zone=b",), placement_group="learners", bundle=0), 2 << 30) == \
        (policy.placement, policy.memory)


@pytest.mark.parametrize("field, value, words", [
    ("labels", ("zone",), "`placement.labels` entry 'zone' is not KEY=VALUE"),
    ("resources", ("accel=lots",), "`placement.resources` entry 'accel=lots' needs a number"),
    ("cpus", -1, "`placement.cpus` must be 0"),
])
def test_a_bad_placement_is_refused_naming_the_field(field, value, words):
    """A malformed label, a resource without an amount, a negative count: refused, named."""
    with pytest.raises((PolicyError, ValueError, TypeError), match=words.replace("(", r"\(").replace(")", r"\)")):
        Placement(**{field: value})


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_a_kernel_that_places_nothing_on_ray_never_imports_ray():
    """An embedded kernel told of a cluster but serving an in-process neuro has not imported Ray."""
    done = _run("""
        import sys, trio, neuro
        from neuro.testing import Echo, Ping
        async def main():
            async with neuro.Kernel(ray="auto") as k:
                await k.spawn(Echo)
                await k.call("echo", Ping(n=1))
        trio.run(main)
        print("ray" in sys.modules)
        """)
    assert ("False", "") == (done.stdout.strip(), done.returncode and done.stderr or "")


def test_without_ray_the_backend_says_how_to_install_it():
    """Where Ray is not installed, spawning on it fails with the extra to install."""
    done = _run("""
        import sys
        sys.modules["ray"] = None  # as if not installed
        import trio, neuro
        from neuro.kernel._policy import Policy
        from neuro.testing import Echo
        async def main():
            async with neuro.Kernel(policies={"onray": Policy(name="onray", sandbox="ray")}) as k:
                try:
                    await k.spawn(Echo, policy="onray")
                except neuro.NeuroError as e:
                    print(e)
        trio.run(main)
        """)
    assert "pip install 'neuro-runtime[ray]'" in done.stdout, done.stderr


def test_the_ray_backend_and_its_carrier_match_the_sandbox_interface():
    """RayBackend is a Backend and RayCarrier a Carrier, every method's signature the same."""
    import inspect

    from neuro.sandbox._base import Backend
    from neuro.sandbox._carrier import Carrier
    from neuro.sandbox._ray import RayBackend
    from neuro.sandbox._ray_carrier import RayCarrier

    from .test_interface import _mismatches

    assert [(False, []), (False, [])] == [(inspect.isabstract(RayBackend), _mismatches(Backend, RayBackend)),
                                          (inspect.isabstract(RayCarrier), _mismatches(Carrier, RayCarrier))]


def test_an_unreachable_actor_is_reported_as_killed_never_as_may_or_may_not():
    """Ray's ActorUnavailableError ("may or may not have been executed") becomes a reason
    that says the kernel killed the actor and no call it held was answered."""
    exceptions = pytest.importorskip("ray.exceptions", reason="Ray is not installed: .venv/bin/pip install "
                                                              "'neuro-runtime[ray]'")
    from neuro.sandbox._ray_carrier import ray_reason

    reason = ray_reason(exceptions.ActorUnavailableError("the connection to its node was lost", None))
    assert "may or may not" not in reason
    assert reason.startswith("ray: the actor could not be reached (The actor None is unavailable: the connection "
                             "to its node was lost); the kernel killed it")
