"""Complex amplitudes under the unitary constraint U^H U = I (the seed's 5.8). torch inside.

A unitary layer is U = exp(A - A^H): A - A^H is skew-Hermitian, so its matrix exponential is
exactly unitary for any complex A, and gradient steps on A never leave the unitary group. The
unconstrained layer is a free complex matrix W. Both act on complex amplitudes psi (N, n) as
psi @ U^T (each row psi_i -> U psi_i).

    unitarity_error(U) = ||U^H U - I||_F
    task_error         = mean_i ||U psi_i - target_i||^2        (the experiment's figure)
"""

from __future__ import annotations

from typing import Any

__all__ = ["unitary_of", "unitarity_error", "ComplexLayer", "fit_layer", "random_unitary", "random_states"]


def unitary_of(a: Any) -> Any:
    """exp(A - A^H): unitary for any complex square A."""
    import torch

    return torch.linalg.matrix_exp(a - a.conj().T)


def unitarity_error(u: Any) -> float:
    import torch

    eye = torch.eye(u.shape[-1], dtype=u.dtype, device=u.device)
    return float(torch.linalg.matrix_norm(u.conj().T @ u - eye))


class ComplexLayer:
    """n complex amplitudes -> n: unitary (U = exp(A - A^H)) or unconstrained (W), started at I."""

    def __init__(self, n: int, unitary: bool, seed: int, device: Any = "cpu") -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.n, self.unitary, self.device = n, unitary, device
        noise = 0.01 * torch.randn(n, n, 2, generator=gen)
        start = torch.view_as_complex(noise)
        if not unitary:
            start = start + torch.eye(n, dtype=torch.complex64)
        self.param = start.to(device).requires_grad_()

    def matrix(self) -> Any:
        return unitary_of(self.param) if self.unitary else self.param

    def forward(self, psi: Any) -> Any:
        """psi (N, n) complex -> (N, n): each row mapped by the matrix."""
        return psi @ self.matrix().T


def fit_layer(layer: ComplexLayer, psi: Any, target: Any, steps: int, lr: float, opt: Any = None) -> float:
    """`steps` full-batch Adam steps on the task error; the last error."""
    import torch

    opt = opt or torch.optim.Adam([layer.param], lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        loss = (layer.forward(psi) - target).abs().pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def random_unitary(n: int, seed: int) -> Any:
    """A Haar-random unitary (QR of a complex Gaussian, phases fixed)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    z = torch.view_as_complex(torch.randn(n, n, 2, generator=gen)) / 2 ** 0.5
    q, r = torch.linalg.qr(z)
    d = torch.diagonal(r)
    return q * (d / d.abs())[None, :]


def random_states(count: int, n: int, seed: int) -> Any:
    """`count` random unit-norm complex amplitude vectors (count, n)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    z = torch.view_as_complex(torch.randn(count, n, 2, generator=gen))
    return z / z.norm(dim=1, keepdim=True)
