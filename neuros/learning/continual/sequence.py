"""Learning a sequence of tasks and scoring it: the accuracy matrix, final accuracy, forgetting.

R[i][j] is the accuracy on task j's test examples after learning tasks 0..i. The final
accuracy is the mean of the last row (every task, after all of them); forgetting is the mean,
over every task but the last, of its best accuracy minus its final one (Chaudhry et al. 2018).
"""

from __future__ import annotations

from typing import Any

__all__ = ["learn_sequence", "final_accuracy", "forgetting"]


def learn_sequence(model: Any, train_tasks: list, test_tasks: list, epochs: int) -> list[list[float]]:
    """Learn `train_tasks` in order with `model` (a ContinualModel); the accuracy matrix R."""
    matrix = []
    for x, y in train_tasks:
        model.learn_task(x, y, epochs)
        matrix.append([model.accuracy(tx, ty) for tx, ty in test_tasks])
    return matrix


def final_accuracy(matrix: list[list[float]]) -> float:
    last = matrix[-1]
    return sum(last) / len(last)


def forgetting(matrix: list[list[float]]) -> float:
    tasks = len(matrix[-1])
    if tasks < 2:
        return 0.0
    drops = [max(matrix[i][j] for i in range(len(matrix))) - matrix[-1][j] for j in range(tasks - 1)]
    return sum(drops) / len(drops)
