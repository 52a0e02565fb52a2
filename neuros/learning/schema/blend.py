"""Conceptual integration (seed section 5.13): blend two dissimilar concepts into a new one.

    when a draw < blend_probability and cos(r_i, r_j) < threshold:
        r_new = tanh(r_i * r_j)                  (elementwise)
        connect new <-> i and new <-> j with unit weights

Here a concept is an induced schema, its representation the mean of its patterns' embeddings.
numpy inside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["blend", "integrate", "schema_representations"]


def blend(r_i: Any, r_j: Any) -> Any:
    """tanh(r_i * r_j), the blended concept's representation."""
    import numpy as np

    return np.tanh(np.asarray(r_i, dtype=np.float64) * np.asarray(r_j, dtype=np.float64))


def schema_representations(schemas: list[tuple[int, ...]], vocabulary: int, dim: int = 16, seed: int = 0) -> Any:
    """(S, dim): each schema's mean pattern embedding (fixed random embeddings, seeded)."""
    import numpy as np

    emb = np.random.default_rng(seed).normal(size=(vocabulary, dim))
    return np.array([emb[list(s)].mean(0) for s in schemas]).reshape(len(schemas), dim)


def integrate(reps: Any, blend_probability: float = 0.5, threshold: float = 0.2,
              seed: int = 0) -> tuple[Any, list[tuple[int, int, int]], list[tuple[int, int, float]]]:
    """Blend each dissimilar pair of `reps` (S, dim) with probability `blend_probability`:
    (the new representations (B, dim), (new index, i, j) parents, the unit-weight edges both ways)."""
    import numpy as np

    reps = np.asarray(reps, dtype=np.float64)
    rng = np.random.default_rng(seed)
    unit = reps / np.maximum(np.linalg.norm(reps, axis=1, keepdims=True), 1e-12)
    new, parents, edges = [], [], []
    for i in range(len(reps)):
        for j in range(i + 1, len(reps)):
            if rng.random() < blend_probability and float(unit[i] @ unit[j]) < threshold:
                k = len(reps) + len(new)
                new.append(blend(reps[i], reps[j]))
                parents.append((k, i, j))
                edges += [(k, i, 1.0), (i, k, 1.0), (k, j, 1.0), (j, k, 1.0)]
    return np.array(new).reshape(len(new), reps.shape[1]), parents, edges
