"""What a neuro's policy grants it, as the neuro sees it: `ctx.resources`.

The kernel makes the grant from the neuro's policy (`grant_of`); where the neuro runs, the
grant is completed by a look at the machine (`probe`): whether a GPU is there, which device
index to use and how many bytes the policy's share of it is. In the kernel's process that
look is taken there; in a sandbox the Load frame carries the grant and the worker looks from
inside, so a container that was given no GPU says so. The probe imports no torch: it asks
torch only when the neuro has already imported it, else NVML through ctypes (the driver's own
library), else the driver's /proc folder (present, size unknown).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec

__all__ = ["Resources", "grant_of", "probe"]


class Resources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the running neuro's policy grants it, and what of it the machine has.

    0 means "no limit" for the limits, as in a policy. `sandbox` is where the neuro runs:
    ``inproc`` holds it to none of the process limits (cpu, memory, the GPU share), the
    ``process`` and ``docker`` sandboxes enforce them (docker passes no GPU in).

    - `policy`, `sandbox`: the policy's name and the backend the neuro runs in.
    - `cpu_share`: fraction of one core; `cpu_time`: CPU seconds per worker.
    - `memory`: bytes of memory.
    - `wall_time`: seconds one message may take (the kernel cancels past it).
    - `concurrency`: handlers that may run at once.
    - `gpu_granted`: the policy gives it a share of a GPU (`gpu_memory` > 0).
    - `gpu_present`: a GPU is visible where it runs (`gpu_count` of them).
    - `gpu_device`: the CUDA device index to use (``cuda:N``), -1 when there is none to use.
    - `gpu_memory_share`: the fraction of that device's memory granted.
    - `gpu_total_bytes`, `gpu_memory_bytes`: the device's memory and the share of it, in bytes
      (0 when unknown or not granted).
    - `gpu_memory_enforced`: the share is held by torch's per-process memory fraction (only in
      a sandbox that set it; in-process it is a budget the neuro must keep itself).
    """

    policy: str = ""
    sandbox: str = "inproc"
    cpu_share: float = 0.0
    cpu_time: float = 0.0
    memory: int = 0
    wall_time: float = 0.0
    concurrency: int = 1
    gpu_granted: bool = False
    gpu_present: bool = False
    gpu_count: int = 0
    gpu_device: int = -1
    gpu_memory_share: float = 0.0
    gpu_total_bytes: int = 0
    gpu_memory_bytes: int = 0
    gpu_memory_enforced: bool = False

    @property
    def gpu(self) -> bool:
        """Whether the neuro may use a GPU: granted by its policy and present where it runs."""
        return self.gpu_granted and self.gpu_present


def grant_of(policy: Any, sandbox: str) -> Resources:
    """The grant of `policy` (a kernel Policy) to a neuro running in `sandbox`, before any
    look at the machine."""
    share = float(policy.gpu_memory)
    return Resources(policy=policy.name, sandbox=sandbox, cpu_share=float(policy.cpu_share),
                     cpu_time=float(policy.cpu_time), memory=int(policy.memory), wall_time=float(policy.wall_time),
                     concurrency=int(policy.concurrency), gpu_granted=share > 0, gpu_memory_share=share)


# Set by the sandbox worker once it has set torch's per-process memory fraction.
_fraction_applied = False


def mark_fraction_applied() -> None:
    """The sandbox worker set torch's per-process memory fraction on every visible device."""
    global _fraction_applied
    _fraction_applied = True


_seen: tuple[int, int, int] | None = None  # (count, device index, total bytes) of this process


def probe(grant: Resources) -> Resources:
    """`grant` completed with what this machine has: GPU presence, device and bytes."""
    global _seen
    if _seen is None:
        _seen = _look()
    count, device, total = _seen
    present = count > 0
    use = grant.gpu_granted and present
    return msgspec.structs.replace(
        grant, gpu_present=present, gpu_count=count, gpu_device=device if use else -1,
        gpu_total_bytes=total if present else 0,
        gpu_memory_bytes=int(total * grant.gpu_memory_share) if use else 0,
        gpu_memory_enforced=use and grant.sandbox != "inproc" and _fraction_applied)


def _look() -> tuple[int, int, int]:
    """(GPUs visible, CUDA index to use, its total bytes): torch if loaded, else NVML, else /proc."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0, -1, 0  # CUDA is told to see none
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available() and torch.cuda.device_count():
                return torch.cuda.device_count(), 0, int(torch.cuda.get_device_properties(0).total_memory)
            return 0, -1, 0
        except Exception:  # noqa: BLE001 - a broken CUDA install is no GPU
            return 0, -1, 0
    found = _nvml(visible)
    if found is not None:
        return found
    try:
        count = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        count = 0
    return (count, 0, 0) if count else (0, -1, 0)


def _nvml(visible: str | None) -> tuple[int, int, int] | None:
    """Ask the NVIDIA driver's library; None where it is not installed or not reachable."""
    import ctypes

    for name in ("libnvidia-ml.so.1", "libnvidia-ml.so"):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    try:
        if lib.nvmlInit_v2() != 0:
            return None
        try:
            count = ctypes.c_uint(0)
            if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0 or count.value == 0:
                return 0, -1, 0
            n = count.value
            first = "0"
            if visible is not None:
                ids = [v.strip() for v in visible.split(",") if v.strip()]
                n, first = min(n, len(ids)), ids[0]
            handle = ctypes.c_void_p()
            if first.isdigit():
                ok = lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(int(first)), ctypes.byref(handle)) == 0
            else:
                ok = lib.nvmlDeviceGetHandleByUUID(first.encode(), ctypes.byref(handle)) == 0
            if not ok:
                return n, 0, 0

            class Memory(ctypes.Structure):
                _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]

            mem = Memory()
            total = int(mem.total) if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) == 0 else 0
            return n, 0, total
        finally:
            lib.nvmlShutdown()
    except AttributeError:  # an old driver without these entry points
        return None
