"""The correlation dimension (Grassberger-Procaccia, seed section 5.7) and a box count.

    C(r) = 2 / (N (N - 1)) #{i < j : |x_i - x_j| < r}         the correlation sum
    D2   = lim_{r -> 0} log C(r) / log r                       estimated as the slope of
                                                               log C against log r

In a finite set the limit is a fit over a scaling range: C is the distribution of the pair
distances, so the range is given as the share of pairs closer than r, [q_lo, q_hi] (r at those
quantiles), with `radii` points log-spaced between. Too low and few pairs count (noise); too
high and the set's edges bend the curve. Which window fits is what the learner calibrates.
`box_dimension` is the naive one-scale estimate log N(eps) / log(1/eps). numpy and scipy inside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pair_distances", "correlation_sum", "correlation_dimension", "box_dimension"]


def pair_distances(points: Any) -> Any:
    """The N (N - 1) / 2 distances between distinct points (condensed, sorted)."""
    import numpy as np
    from scipy.spatial.distance import pdist

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) < 3:
        raise ValueError(f"a point set is (N, D) with N >= 3, got shape {tuple(points.shape)}")
    return np.sort(pdist(points))


def correlation_sum(points: Any, radii: Any, distances: Any = None) -> Any:
    """C(r) for each r in `radii`: the share of distinct pairs closer than r."""
    import numpy as np

    d = pair_distances(points) if distances is None else distances
    return np.searchsorted(d, np.asarray(radii, dtype=np.float64), side="left") / len(d)


def correlation_dimension(points: Any, q_lo: float = 1e-3, q_hi: float = 1e-1, radii: int = 12,
                          distances: Any = None) -> float:
    """The slope of log C(r) against log r over the radii where C runs from q_lo to q_hi."""
    import numpy as np

    if not 0 < q_lo < q_hi <= 1:
        raise ValueError(f"the scaling window needs 0 < q_lo < q_hi <= 1, got q_lo={q_lo}, q_hi={q_hi}")
    d = pair_distances(points) if distances is None else distances
    last = len(d) - 1
    r_lo, r_hi = d[int(q_lo * last)], d[int(q_hi * last)]  # d is sorted: its quantiles are entries
    if not r_lo > 0:
        r_lo = d[d > 0][0] if (d > 0).any() else 1.0
    r = np.geomspace(r_lo, max(r_hi, r_lo * 1.0001), radii)
    c = correlation_sum(None, r, distances=d)
    ok = c > 0
    if ok.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(r[ok]), np.log(c[ok]), 1)
    return float(slope)


def box_dimension(points: Any, eps: float = 1.0 / 16) -> float:
    """log N(eps) / log(1/eps) at one scale: N boxes of side eps (of the set's largest extent)
    that hold a point. The naive baseline: one scale, no slope."""
    import numpy as np

    p = np.asarray(points, dtype=np.float64)
    extent = float((p.max(0) - p.min(0)).max()) or 1.0
    cells = np.floor((p - p.min(0)) / (extent * eps)).astype(np.int64)
    occupied = len(np.unique(cells, axis=0))
    return float(np.log(occupied) / np.log(1.0 / eps))
