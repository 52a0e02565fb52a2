"""Neuronenblitz's learning state beside the core (section 4.2): schedules, phase and chaos,
the neuromodulatory context and its history, accumulated updates, type attention, counters,
histories and the caches. `to_dict`/`from_dict` carry all of it but the caches, which are
derived (a restored net refills them); `reset` is `reset_learning_state` (4.11).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .brain import EarlyStopping
from .caches import TTLCache
from .registries import SYNAPSE_TYPES

__all__ = ["BlitzState"]


class BlitzState:
    def __init__(self, cfg: Any) -> None:
        import numpy as np

        self.lr = cfg.learning_rate
        self.epsilon = cfg.rl_epsilon
        self.dropout = cfg.dropout_probability
        self.exploration_bonus = cfg.exploration_bonus
        self.phase = 0.0
        self.chaos = cfg.chaotic_gate_init
        self.depth_factor = 1.0
        self.wanders = self.examples = self.epochs = self.accumulated = self.anomalies = 0
        self.pending: dict[int, float] = {}
        self.type_attention = np.zeros(len(SYNAPSE_TYPES))
        self.type_loss = np.zeros(len(SYNAPSE_TYPES))
        self.context = {"arousal": cfg.initial_arousal, "stress": cfg.initial_stress, "reward": cfg.initial_reward,
                        "emotion": cfg.initial_reward - cfg.initial_stress}
        self.context_history: deque[tuple[float, float, float, float]] = deque(maxlen=cfg.context_history_size)
        self.error_mean = 1.0
        self.neurogenesis_factor = cfg.neurogenesis_factor
        self.plasticity_events: deque[tuple[str, int, Any]] = deque(maxlen=cfg.plasticity_history_size)
        self.path_counts: dict[tuple[int, ...], int] = {}
        self.pair_counts: dict[tuple[int, int], int] = {}
        self.wander_history: deque[int] = deque(maxlen=cfg.wander_history_size)
        self.history_sum = self.history_sq = 0  # of the lengths in wander_history
        self.prev_train_loss: float | None = None
        self.prev_val_loss: float | None = None
        self.early = EarlyStopping(cfg.early_stopping_patience, cfg.early_stopping_delta)
        self.stopped_early = False
        self.data_hash = ""
        self.wander_cache = TTLCache(cfg.wander_cache_size, cfg.wander_cache_ttl)
        self.subpath_cache = TTLCache(cfg.subpath_cache_size, cfg.subpath_cache_ttl)

    def resize(self, cfg: Any) -> None:
        """Apply a new config's sizes to the bounded histories and caches."""
        self.context_history = deque(self.context_history, maxlen=cfg.context_history_size)
        self.plasticity_events = deque(self.plasticity_events, maxlen=cfg.plasticity_history_size)
        self.wander_history = deque(self.wander_history, maxlen=cfg.wander_history_size)
        self.history_sum = sum(self.wander_history)
        self.history_sq = sum(n * n for n in self.wander_history)
        self.wander_cache = TTLCache(cfg.wander_cache_size, cfg.wander_cache_ttl)
        self.subpath_cache = TTLCache(cfg.subpath_cache_size, cfg.subpath_cache_ttl)
        self.early.patience, self.early.delta = cfg.early_stopping_patience, cfg.early_stopping_delta

    _SCALARS = ("lr", "epsilon", "dropout", "exploration_bonus", "phase", "chaos", "depth_factor", "wanders", "examples",
                "epochs", "accumulated", "anomalies", "error_mean", "neurogenesis_factor", "prev_train_loss",
                "prev_val_loss", "stopped_early", "data_hash")

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self._SCALARS},
                "pending": [[k, v] for k, v in self.pending.items()],
                "type_attention": self.type_attention.tolist(), "type_loss": self.type_loss.tolist(),
                "context": dict(self.context), "context_history": [list(c) for c in self.context_history],
                "plasticity_events": [[k, t, repr(d)] for k, t, d in self.plasticity_events],
                "path_counts": [[list(k), v] for k, v in self.path_counts.items()],
                "pair_counts": [[list(k), v] for k, v in self.pair_counts.items()],
                "wander_history": list(self.wander_history), "early": self.early.to_dict()}

    @classmethod
    def from_dict(cls, cfg: Any, doc: dict[str, Any]) -> "BlitzState":
        import numpy as np

        st = cls(cfg)
        for k in cls._SCALARS:
            setattr(st, k, doc[k])
        st.pending = {int(k): float(v) for k, v in doc["pending"]}
        st.type_attention = np.array(doc["type_attention"], float)
        st.type_loss = np.array(doc["type_loss"], float)
        st.context = dict(doc["context"])
        st.context_history.extend(tuple(c) for c in doc["context_history"])
        st.plasticity_events.extend((k, t, d) for k, t, d in doc["plasticity_events"])
        st.path_counts = {tuple(k): v for k, v in doc["path_counts"]}
        st.pair_counts = {tuple(k): v for k, v in doc["pair_counts"]}
        st.wander_history.extend(doc["wander_history"])
        st.history_sum = sum(st.wander_history)
        st.history_sq = sum(n * n for n in st.wander_history)
        st.early.load(doc["early"])
        return st
