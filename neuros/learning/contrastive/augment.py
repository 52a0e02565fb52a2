"""The views InfoNCE compares: each input with Gaussian noise, a random shift (images) and a
random share of its values masked to 0. torch inside."""

from __future__ import annotations

from typing import Any

__all__ = ["augment"]


def augment(x: Any, gen: Any, *, noise: float, shift: int, mask: float, image: tuple[int, int] | None) -> Any:
    """One random view of x (B, n): shifted by up to `shift` pixels each way (zeros enter) when
    `image` gives its (H, W), then masked, then noised."""
    import torch
    import torch.nn.functional as F

    b = len(x)
    if image is not None and shift > 0:
        h, w = image
        padded = F.pad(x.view(b, 1, h, w), (shift, shift, shift, shift))  # (B, 1, H+2s, W+2s)
        rows = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        cols = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        r = (rows[:, None] + torch.arange(h)).to(x.device)  # (B, H) the rows each view keeps
        c = (cols[:, None] + torch.arange(w)).to(x.device)
        x = padded[torch.arange(b, device=x.device)[:, None, None], 0, r[:, :, None], c[:, None, :]].reshape(b, -1)
    keep = (torch.rand(x.shape, generator=gen) >= mask).to(x.device)
    return x * keep + noise * torch.randn(x.shape, generator=gen).to(x.device)
