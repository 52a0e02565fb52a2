"""Split tasks: a classification set cut by classes into tasks (digits 0-1, 2-3, ...). numpy."""

from __future__ import annotations

from typing import Any

__all__ = ["split_by_classes"]


def split_by_classes(x: Any, y: Any, classes_per_task: int) -> list[tuple[Any, Any]]:
    """[(x_t, y_t)] for the tasks of `classes_per_task` consecutive classes, in class order."""
    import numpy as np

    y = np.asarray(y)
    labels = np.unique(y)
    tasks = []
    for start in range(0, len(labels), classes_per_task):
        keep = np.isin(y, labels[start:start + classes_per_task])
        tasks.append((x[keep], y[keep]))
    return tasks
