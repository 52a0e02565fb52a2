"""Maximum mean discrepancy between two samples with a Gaussian kernel. numpy.

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y),   k(a, b) = exp(-|a - b|^2 / (2 h^2))

the biased (V-statistic) estimate, averaged over bandwidths h (a mixture of kernels sees
both coarse and fine differences). 0 when the samples are the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mmd2"]


def mmd2(x: Any, y: Any, bandwidths: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0)) -> float:
    import numpy as np

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def sq(a: Any, b: Any) -> Any:
        return (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T

    dxx, dyy, dxy = sq(x, x), sq(y, y), sq(x, y)
    total = 0.0
    for h in bandwidths:
        k = lambda d: np.exp(-np.maximum(d, 0) / (2 * h * h)).mean()  # noqa: E731
        total += k(dxx) + k(dyy) - 2 * k(dxy)
    return float(total / len(bandwidths))
