"""Where a learner computes: the GPU only when its policy grants one and the machine has it.

    device = choose_device(ctx.resources, cfg.device)   # torch.device("cuda:0") or ("cpu")

`want` is the learner's own wish (its config's ``device``): ``"cpu"`` always gets the CPU,
``"auto"`` (the default) the granted GPU when there is one, ``"cuda"`` or ``"cuda:N"`` the
same (a GPU the policy does not grant is never used: the CPU is the answer, not an error, so
a learner trained on a GPU machine still serves on a laptop). torch is imported here, so call
it inside the learner, never at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["choose_device", "gpu_allowed"]


def gpu_allowed(resources: Any) -> bool:
    """Whether `resources` (a `neuro.sdk.Resources`, or None: nothing known) lets a learner
    use the GPU: granted by its policy and present where it runs."""
    return bool(resources is not None and resources.gpu)


def choose_device(resources: Any, want: str = "auto") -> Any:
    """The torch device a learner should use under `resources` for its wish `want`."""
    import torch

    if want not in ("auto", "cpu", "cuda") and not (isinstance(want, str) and want.startswith("cuda:")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {want!r}")
    if want == "cpu" or not gpu_allowed(resources) or not torch.cuda.is_available():
        return torch.device("cpu")
    if want.startswith("cuda:"):
        return torch.device(want)
    return torch.device("cuda", max(resources.gpu_device, 0))
