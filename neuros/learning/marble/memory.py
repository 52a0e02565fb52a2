"""What Neuronenblitz remembers: prioritised experience replay (4.16), episodic memory of
good paths, and the dream replay buffer of section 7.1 (instant and long-term, by salience).

Sampling draws from the net's own generator, so equal seeds replay equal examples.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["PrioritizedReplay", "EpisodicMemory", "DreamReplayBuffer"]


class PrioritizedReplay:
    """P_i = p_i^alpha / sum_j p_j^alpha; importance weight w_i = (1 / (N P_i))^beta,
    normalised by the largest. An example's priority is its last |error|."""

    def __init__(self, size: int) -> None:
        self.items: deque[tuple[int, float]] = deque(maxlen=size)  # (example index, priority)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, index: int, priority: float) -> None:
        self.items.append((index, abs(priority) + 1e-6))

    def sample(self, k: int, alpha: float, beta: float, rng: Any) -> list[tuple[int, float]]:
        """k (example index, importance weight) pairs."""
        import numpy as np

        if not self.items:
            return []
        p = np.array([pr for _, pr in self.items]) ** alpha
        probs = p / p.sum()
        picks = rng.choice(len(probs), size=k, p=probs)  # with replacement
        weights = (1.0 / (len(probs) * probs[picks])) ** beta
        weights /= weights.max()
        return [(self.items[i][0], float(wt)) for i, wt in zip(picks, weights)]


class EpisodicMemory:
    """Paths whose |error| was below the threshold, newest kept: (entry, target, synapse ids)."""

    def __init__(self, size: int) -> None:
        self.paths: deque[tuple[int, int, tuple[int, ...]]] = deque(maxlen=size)
        self.added = 0  # paths remembered since it was made (a parallel share reports its new ones)

    def __len__(self) -> int:
        return len(self.paths)

    def remember(self, entry: int, target: int, path: tuple[int, ...]) -> None:
        self.paths.append((entry, target, path))
        self.added += 1

    def recall(self, entry: int, target: int) -> tuple[int, ...] | None:
        for e, t, path in reversed(self.paths):
            if e == entry and t == target:
                return path
        return None


class DreamReplayBuffer:
    """Examples with a salience (|error| here): the newest in an instant buffer; those at or
    above `threshold` move to the long-term one, where housekeeping keeps the most salient."""

    def __init__(self, instant: int, long_term: int, threshold: float) -> None:
        self.instant: deque[tuple[int, float]] = deque(maxlen=instant)
        self.long_term: list[tuple[int, float]] = []
        self.capacity, self.threshold = long_term, threshold

    def __len__(self) -> int:
        return len(self.instant) + len(self.long_term)

    def add(self, index: int, salience: float) -> None:
        self.instant.append((index, salience))
        if salience >= self.threshold:
            self.long_term.append((index, salience))
            if len(self.long_term) > self.capacity:
                self.housekeep()

    def housekeep(self) -> None:
        self.long_term.sort(key=lambda item: -item[1])
        del self.long_term[self.capacity:]

    def sample(self, k: int, rng: Any) -> list[int]:
        """k example indexes drawn in proportion to salience from both buffers."""
        import numpy as np

        pool = list(self.instant) + self.long_term
        if not pool:
            return []
        s = np.array([max(sal, 1e-6) for _, sal in pool])
        picks = rng.choice(len(pool), size=k, p=s / s.sum())
        return [pool[i][0] for i in picks]
