"""A policy in Ray's terms: the actor options a neuro's policy asks for, and what Ray cannot hold.

| policy | on Ray |
|---|---|
| `placement.cpus` (else `cpu_share`) | `num_cpus`: CPUs reserved on the node, for placement; not a throttle |
| `placement.gpus` (else `gpu_memory`) | `num_gpus`: a (fraction of a) GPU; Ray sets CUDA_VISIBLE_DEVICES, the worker sets torch's memory fraction |
| `memory` | `memory`: placed only where that much is free; held by the host's watchdog (`_ray_host.py`) |
| `cpu_time` | held by the host's watchdog |
| `placement.labels` | `label_selector`: the node labels it must run on |
| `placement.resources` | `resources`: custom Ray resources it needs |
| `placement.placement_group`, `placement.bundle` | `PlacementGroupSchedulingStrategy` of that named group |
| `capabilities.env` | `runtime_env.env_vars`: the granted variables, from the kernel's environment |

Ray restarts nothing by itself (`max_restarts=0`, `max_task_retries=0`): the kernel's
supervisor does, with its strategy and intensity, and retries nothing a neuro may have begun.
"""

from __future__ import annotations

import os
from typing import Any

from neuro._errors import NeuroError

__all__ = ["actor_options", "ray_unenforced", "pairs"]

WHERE = "under the ray backend, which runs trusted code as the Ray worker's user"


def pairs(entries: tuple[str, ...], what: str, number: bool = False) -> dict[str, Any]:
    """`("zone=a", ...)` as a dict; `number`: the values are amounts. Bad entries were
    refused when the policy was made (kernel/_policy.py), so this only converts."""
    out: dict[str, Any] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise NeuroError(f"`placement.{what}` entry {entry!r} is not KEY=VALUE")
        out[key.strip()] = float(value) if number else value.strip()
    return out


def actor_options(policy: Any) -> dict[str, Any]:
    """The `.options(...)` of the host actor for a neuro under `policy`."""
    place = policy.placement
    options: dict[str, Any] = {
        "max_restarts": 0, "max_task_retries": 0,
        "num_cpus": float(place.cpus or policy.cpu_share),
        "num_gpus": float(place.gpus or policy.gpu_memory),
    }
    if policy.memory:
        options["memory"] = int(policy.memory)
    if place.labels:
        options["label_selector"] = pairs(place.labels, "labels")
    if place.resources:
        options["resources"] = pairs(place.resources, "resources", number=True)
    env = {name: os.environ[name] for name in policy.capabilities.env if name != "*" and name in os.environ}
    if env:
        options["runtime_env"] = {"env_vars": env}
    if place.placement_group:
        options["scheduling_strategy"] = _in_group(place.placement_group, place.bundle)
    return options


def _in_group(name: str, bundle: int) -> Any:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    try:
        group = ray.util.get_placement_group(name)
    except ValueError:
        raise NeuroError(f"the policy's `placement.placement_group` {name!r} names no placement group on this "
                         "Ray cluster; create it first (ray.util.placement_group(..., name=NAME, "
                         "lifetime=\"detached\")) or remove the key") from None
    return PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=bundle)


def ray_unenforced(policy: Any) -> dict[str, str]:
    """What `policy` asks that a Ray actor is not held to, by the policy's key, with why."""
    missing: dict[str, str] = {}
    if policy.cpu_share:
        missing["cpu_share"] = (f"reserved as {policy.placement.cpus or policy.cpu_share:g} Ray CPUs for placement; "
                                "Ray does not throttle an actor's CPU")
    if policy.memory:
        missing["memory_burst"] = ("memory is read every 50 ms by the host actor's watchdog: a faster burst can pass "
                                   "the limit until the next look, or until Ray's node memory monitor acts")
    for name in ("processes", "open_files"):
        if getattr(policy, name):
            missing[name] = f"not limited {WHERE}"
    caps = policy.capabilities
    if not caps.network:
        missing["network"] = f"denied by the policy, reachable {WHERE}"
    for kind in ("read", "write"):
        granted = getattr(caps, kind)
        if "*" not in granted:
            missing[kind] = f"limited to {list(granted)} by the policy, unlimited {WHERE}"
    if "*" not in caps.env:
        missing["env"] = (f"the granted variables {list(caps.env)} are set, beside the environment the Ray worker "
                          "has on its node")
    if caps.disk:
        missing["disk"] = f"{caps.disk:,} bytes by the policy, not limited {WHERE}"
    missing["host_uid"] = "the actor runs as the Ray worker's own user on its node, with its file system"
    return missing
