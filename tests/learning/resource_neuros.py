"""Neuros that report `ctx.resources`, for tests/learning/test_resources.py (shipped into sandboxes)."""

from neuro import sdk


class Ask(sdk.Message):
    pass


class Grants(sdk.Neuro):
    """Answers with what its policy grants it, as its context says (in-process by default)."""

    name = "grants"
    input = Ask
    output = sdk.Resources
    sandbox = "inproc"
    policy_overrides = {"cpu_share": 0.5, "memory": "768MiB", "wall_time": 45.0, "gpu_memory": 0.25}

    def handle(self, ctx, msg):
        return ctx.resources


class SandboxedGrants(Grants):
    name = "sandboxed-grants"
    sandbox = "process"


class SandboxedGpu(Grants):
    """A GPU share and no memory limit: CUDA maps far more address space than RLIMIT_AS
    (the `memory` limit in a process sandbox) allows, so a limited worker cannot load it."""

    name = "sandboxed-gpu"
    sandbox = "process"
    policy_overrides = {"gpu_memory": 0.25}


class ContainedGrants(Grants):
    name = "contained-grants"
    sandbox = "docker"
    # Docker passes no GPU into its containers: a policy that grants GPU memory there is an
    # `quota.unenforceable` event, and the neuro sees the GPU as absent.


class LearningDefault(sdk.Neuro):
    """Under the `learning` policy as shipped: no sandbox of its own, so the policy's."""

    name = "learning-default"
    input = Ask
    output = sdk.Resources
    policy = "learning"

    def handle(self, ctx, msg):
        return ctx.resources


class PlainGrants(sdk.Neuro):
    """Under the default policy: no GPU granted."""

    name = "plain-grants"
    input = Ask
    output = sdk.Resources

    def handle(self, ctx, msg):
        return ctx.resources


class TorchInside(sdk.Neuro):
    """Imports torch inside its sandbox (from the bound site-packages) and reports its grant."""

    name = "torch-inside"
    input = Ask
    output = sdk.Resources
    policy = "learning"

    def handle(self, ctx, msg):
        import torch  # must import in the sandbox: the venv's site-packages is bound read-only

        if not torch.ones(2).sum().item() == 2.0:
            raise RuntimeError("torch computed nonsense")
        return ctx.resources
