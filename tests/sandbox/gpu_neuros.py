"""A neuro that allocates GPU memory, for the GPU quota test (shipped into the sandbox)."""

from neuro import sdk


class Alloc(sdk.Message):
    fraction: float  # of the GPU's total memory


class Allocated(sdk.Message):
    bytes: int
    limit: float


class GpuHog(sdk.Neuro):
    name = "gpu-hog"
    input = Alloc
    output = Allocated
    sandbox = "process"
    policy = "learning"
    policy_overrides = {"gpu_memory": 0.25}

    def handle(self, ctx, msg):
        import os

        import torch

        total = torch.cuda.get_device_properties(0).total_memory
        block = torch.empty(int(total * msg.fraction), dtype=torch.uint8, device="cuda")
        n = block.numel()
        del block
        torch.cuda.empty_cache()
        return Allocated(bytes=n, limit=float(os.environ.get("NEURO_GPU_MEMORY_FRACTION", "0")))
