"""The GPU memory quota: a sandboxed neuro gets torch's per-process fraction of the GPU.

Needs a CUDA GPU and bubblewrap: it runs on the device machine (see docs/sandbox.md)."""

from __future__ import annotations

import shutil

import pytest
import trio

import neuro

torch = pytest.importorskip("torch", reason="the GPU quota test needs torch")
if not torch.cuda.is_available():
    pytest.skip("the GPU quota test needs a CUDA GPU; it runs on the device machine", allow_module_level=True)
if shutil.which("bwrap") is None:
    pytest.skip("the GPU quota test runs the neuro under bubblewrap, which is not installed",
                allow_module_level=True)

from .gpu_neuros import Alloc, GpuHog  # noqa: E402


def test_a_sandboxed_neuro_can_allocate_within_its_gpu_share(tmp_path):
    """A neuro limited to 25% of the GPU allocates 10% of it."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await k.spawn(GpuHog)
            return await k.call("gpu-hog", Alloc(fraction=0.10), timeout=120)

    got = trio.run(main)
    assert 0.25 == got.limit
    assert got.bytes > 0


def test_allocating_past_the_gpu_share_fails_in_the_neuro_not_the_kernel(tmp_path):
    """Asking for 50% of the GPU under a 25% share raises OutOfMemoryError; the kernel serves on."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await k.spawn(GpuHog)
            with pytest.raises(neuro.RemoteError) as err:
                await k.call("gpu-hog", Alloc(fraction=0.50), timeout=120)
            after = await k.call("gpu-hog", Alloc(fraction=0.05), timeout=120)
            return err.value, after

    err, after = trio.run(main)
    assert "OutOfMemoryError" in err.type
    assert after.bytes > 0
