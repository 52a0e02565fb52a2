"""Distillation: a student learns from a teacher's soft targets at a temperature (seed 8.11, 5.14).

    soft_targets(z, T)            = softmax(z / T)
    distillation_loss(s, t, y)    = alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE(s, y)

(Hinton et al.'s form: T^2 keeps the soft term's gradients the size of the hard one's as T
grows; without labels the loss is the soft term alone.) `distill` trains a dense tanh student on
inputs and the teacher's logits and returns its layers as the dream daemon's students keep them
(``w0`` (in, out), ``b0``, ``w1``, ...; tanh between; float64, dream/_model.py), so a daemon
student, or any learner, can be distilled with a temperature; `student_logits` runs them (numpy).
"""

from __future__ import annotations

from typing import Any

__all__ = ["soft_targets", "distillation_loss", "distill", "student_logits"]


def soft_targets(logits: Any, temperature: float = 1.0) -> Any:
    """softmax(logits / T) along the last axis (numpy), the teacher's soft targets."""
    import numpy as np

    if not temperature > 0:
        raise ValueError(f"the temperature must be > 0, got {temperature!r}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def distillation_loss(student: Any, teacher: Any, labels: Any = None, temperature: float = 2.0,
                      alpha: float = 0.5) -> Any:
    """The loss above for torch logits `student` (B, K) and `teacher` (B, K), labels (B,) or None."""
    import torch.nn.functional as F

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is the soft term's share in [0, 1], got {alpha!r}")
    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), reduction="batchmean",
                    log_target=True) * t * t
    if labels is None:
        return soft
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student, labels)


def distill(x: Any, teacher_logits: Any, labels: Any = None, *, hidden: tuple[int, ...] = (32,),
            temperature: float = 2.0, alpha: float = 0.7, steps: int = 500, lr: float = 3e-3,
            batch_size: int = 128, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Train a student x (N, D) -> logits (N, K) on the teacher's logits (and `labels`, if given,
    with weight 1 - alpha); its layers in the dream student format (see the module's docstring)."""
    import numpy as np
    import torch

    x = np.asarray(x, dtype=np.float32)
    t_logits = np.asarray(teacher_logits, dtype=np.float32)
    if x.ndim != 2 or t_logits.ndim != 2 or len(x) != len(t_logits):
        raise ValueError(f"distill needs x (N, D) and teacher_logits (N, K) with the same N, got {x.shape} "
                         f"and {t_logits.shape}")
    torch.manual_seed(seed)
    dev = torch.device(device)
    widths = [x.shape[1], *hidden, t_logits.shape[1]]
    layers: list[Any] = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    tx, tt = torch.as_tensor(x, device=dev), torch.as_tensor(t_logits, device=dev)
    ty = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64), device=dev)
    gen = torch.Generator().manual_seed(seed)
    batch = min(len(x), batch_size)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen).to(dev)
        loss = distillation_loss(net(tx[idx]), tt[idx], None if ty is None else ty[idx], temperature, alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
    dense = [m for m in net if isinstance(m, torch.nn.Linear)]
    out: dict[str, Any] = {}
    for i, m in enumerate(dense):
        out[f"w{i}"] = m.weight.detach().cpu().double().numpy().T  # (in, out)
        out[f"b{i}"] = m.bias.detach().cpu().double().numpy()
    return out


def student_logits(layers: dict[str, Any], x: Any) -> Any:
    """The logits (N, K) of a student's `layers` (w0, b0, ...; tanh between) for inputs x (N, D)."""
    import numpy as np

    h = np.asarray(x, dtype=np.float64)
    n = sum(1 for k in layers if k.startswith("w"))
    for i in range(n):
        h = h @ layers[f"w{i}"] + layers[f"b{i}"]
        if i < n - 1:
            h = np.tanh(h)
    return h
