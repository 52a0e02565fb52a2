"""Neuronenblitz on a MARBLE core: a net that learns by wandering (section 4).

An input enters at its `top_k_paths` nearest entry neurons (receptive-field centres taken
from the training inputs), each firing value 1; for each output neuron a wander runs from
each of those entries, and the output is the blend of the paths' outputs by the entries'
closeness, y_c = sum_j a_j y_jc. The error of the blend drives each path's learning step
scaled by its a_j (the blend's chain rule). Prediction takes greedy, cached paths.

    net = Neuronenblitz(cfg, x_train, outputs=1)
    net.fit_epoch(x, t)            # t: (N, outputs) floats; returns metrics
    net.predict(x)                 # (B, outputs)
    Neuronenblitz.from_dict(net.to_dict())

numpy only; identical seeds give identical nets (every draw is from `net.rng`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import brain, plasticity
from .attention import AttentionModule
from .core import ENTRY, HIDDEN, OUTPUT, Core, mandelbrot_representations
from .learn import error_of, flush_updates, learn_path
from .memory import DreamReplayBuffer, EpisodicMemory, PrioritizedReplay
from .registries import NEURON_TYPES
from .schedules import adjusted_lr, q_update, scheduled_epsilon, scheduled_lr
from .state import BlitzState
from .wander import Path, beam_wander, greedy_path, replay_values, wander

__all__ = ["Neuronenblitz", "build_core"]

FORMAT_VERSION = 1


def build_core(cfg: Any, x_train: Any, outputs: int, rng: Any) -> Core:
    """The starting core: entry neurons at training inputs (evenly spaced quantiles for one
    feature, a seeded sample otherwise), hidden neurons, one output neuron per output; each
    entry wired to `entry_fanout` hidden neurons, each hidden to every output and to one
    other hidden neuron; Mandelbrot-seeded representations; weights uniform in the init range."""
    import numpy as np

    x = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
    k = min(cfg.input_neurons, len(x))
    if x.shape[1] == 1:
        order = np.argsort(x[:, 0], kind="stable")
        centres = x[order[np.linspace(0, len(x) - 1, k).round().astype(int)]]
    else:
        centres = x[np.sort(rng.choice(len(x), k, replace=False))]
    hidden = max(cfg.core_neurons, 1)
    reps = mandelbrot_representations(k + hidden + outputs, cfg.rep_size, cfg.mandelbrot_iterations,
                                      cfg.mandelbrot_noise_std, rng)
    core = Core(cfg.rep_size, x.shape[1])
    entries = [core.add_neuron(reps[i], ENTRY, centre=centres[i]) for i in range(k)]
    hid = [core.add_neuron(reps[k + i], HIDDEN) for i in range(hidden)]
    outs = [core.add_neuron(reps[k + hidden + i], OUTPUT) for i in range(outputs)]
    wr = (cfg.weight_init_min, cfg.weight_init_max)
    for e in entries:
        for h in rng.choice(hid, min(cfg.entry_fanout, hidden), replace=False):
            core.add_synapse(e, int(h), float(rng.uniform(*wr)))
    for i, h in enumerate(hid):
        for o in outs:
            core.add_synapse(h, o, float(rng.uniform(*wr)))
        if hidden > 1:
            core.add_synapse(h, hid[(i + 1 + int(rng.integers(hidden - 1))) % hidden], float(rng.uniform(*wr)))
    return core


class Neuronenblitz:
    """The learner's model: a core, its learning state and memories, and the generator."""

    def __init__(self, cfg: Any, x_train: Any, outputs: int, core: Core | None = None) -> None:
        import numpy as np

        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        x = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
        self.scale = (x.std(0) + 1e-6).astype(np.float32)  # (D,) the inputs' spread per feature
        self.core = core if core is not None else build_core(cfg, x, outputs, self.rng)
        self.outputs = outputs
        self.attention = AttentionModule(cfg.rep_size, self.rng)
        self.state = BlitzState(cfg)
        self.episodic = EpisodicMemory(cfg.episodic_memory_size)
        self.replay = PrioritizedReplay(cfg.replay_buffer_size)
        self.dreams = DreamReplayBuffer(cfg.replay_buffer_size, cfg.episodic_memory_size, cfg.dream_salience_threshold)
        self.start_size = self.core.size()
        self._entry_cache: dict[bytes, list[tuple[int, float]]] = {}

    # ------------------------------------------------------------------ config

    def reconfigure(self, cfg: Any) -> None:
        """Take a new config for further training (sizes of histories and caches follow)."""
        self.cfg = cfg
        self.state.resize(cfg)
        self.state.lr = cfg.learning_rate

    def reset_learning_state(self) -> None:
        """Clear momentum, RMSProp, eligibility traces, caches and replay buffers (4.11)."""
        core = self.core
        for col in ("rms", "mom", "elig", "grad", "gate", "fat"):
            getattr(core, col)[:] = 0.0
        keep = (self.state.wanders, self.state.epochs)
        self.state = BlitzState(self.cfg)
        self.state.wanders, self.state.epochs = keep
        self.episodic = EpisodicMemory(self.cfg.episodic_memory_size)
        self.replay = PrioritizedReplay(self.cfg.replay_buffer_size)
        self.dreams = DreamReplayBuffer(self.cfg.replay_buffer_size, self.cfg.episodic_memory_size,
                                        self.cfg.dream_salience_threshold)

    def interconnect(self, other: "Neuronenblitz") -> None:
        """Take `other`'s core into this net's (`interconnect_cores`, with cross-core synapses
        at interconnection_prob); both must have one input size and as many outputs."""
        import numpy as np

        from .core import interconnect_cores

        if other.outputs != self.outputs or other.core.centre.shape[1] != self.core.centre.shape[1]:
            raise ValueError("interconnect needs nets of one input size and as many outputs")
        cfg = self.cfg
        merged = interconnect_cores([self.core, other.core], cfg.interconnection_prob, self.rng,
                                    (cfg.weight_init_min, cfg.weight_init_max))
        # the merged core has both nets' output neurons: keep this net's, rewire the other's into them
        mine = set(self.core.output_ids.tolist())
        theirs = [int(o) for o in merged.output_ids if int(o) not in mine]
        for o_new, o_mine in zip(theirs, sorted(mine)):
            for s in np.flatnonzero(merged.alive & (merged.dst == o_new)):
                merged.dst[s] = o_mine
        merged.output_ids = np.array(sorted(mine), np.int64)
        self.core = merged
        self._entry_cache.clear()
        self.state.wander_cache.clear()
        self.state.subpath_cache.clear()

    # ------------------------------------------------------------------ inputs

    def entries(self, x: Any) -> list[tuple[int, float]]:
        """The entry neurons an input enters at, with their blend weights (summing to 1)."""
        import numpy as np

        key = x.tobytes()
        hit = self._entry_cache.get(key)
        if hit is not None:
            return hit
        core = self.core
        d = (((core.centre - x) / self.scale) ** 2).mean(1)  # (K,)
        k = min(self.cfg.top_k_paths, len(d))
        near = np.argsort(d, kind="stable")[:k]
        logits = -d[near] / (2 * self.cfg.entry_width**2)
        a = np.exp(logits - logits.max())
        a /= a.sum()
        found = [(int(core.entry_ids[j]), float(w)) for j, w in zip(near, a)]
        if len(self._entry_cache) < 100_000:  # the centres never move: an input's entries stay its own
            self._entry_cache[key] = found
        return found

    def prime_entries(self, xs: Any) -> None:
        """Fill the entry cache for many inputs in one vectorised pass, as `entries` would
        (a parallel share's copy of the net starts with the cache empty)."""
        import numpy as np

        core, cfg = self.core, self.cfg
        xs = np.asarray(xs, np.float32).reshape(len(xs), -1)
        d = (((core.centre[None, :, :] - xs[:, None, :]) / self.scale) ** 2).mean(2)  # (B, K)
        near = np.argsort(d, axis=1, kind="stable")[:, :min(cfg.top_k_paths, d.shape[1])]
        for row, idx, dist in zip(xs, near, np.take_along_axis(d, near, 1)):
            a = np.exp(-dist / (2 * cfg.entry_width**2) - (-dist / (2 * cfg.entry_width**2)).max())
            a /= a.sum()
            self._entry_cache.setdefault(row.tobytes(), [(int(core.entry_ids[j]), float(w)) for j, w in zip(idx, a)])

    def context_embedding(self) -> Any:
        """The decayed mean of the context history, padded or cut to the representation size:
        the `ctx` of the context-aware attention."""
        import numpy as np

        out = np.zeros(self.cfg.rep_size, np.float32)
        total, weight = np.zeros(4), 0.0
        for k, c in enumerate(reversed(self.state.context_history)):
            w = self.cfg.context_embedding_decay**k
            total += w * np.asarray(c)
            weight += w
        if weight:
            m = total / weight
            out[:min(4, len(out))] = m[:len(out)]
        return out

    def preferred_neuron_type(self) -> str:
        """The neuron type the brain grows: the most visited type's (4.12)."""
        import numpy as np

        core = self.core
        visits = np.bincount(core.ntype, weights=core.nvisits, minlength=len(NEURON_TYPES))
        return list(NEURON_TYPES)[int(np.argmax(visits))]

    # ------------------------------------------------------------------ training

    def train_example(self, x: Any, t: Any, index: int = -1, importance: float = 1.0, replaying: bool = False,
                      deferred: list | None = None) -> float:
        """One example: wander, learn, structural side effects; returns the squared error
        summed over outputs. `deferred` (a parallel wanderer's share, parallel.py): the graph's
        shape stays as it is, each reached path's synapses are appended to it instead, and the
        learner settles the example (`settle`) when it merges the round."""
        cfg, core, st, rng = self.cfg, self.core, self.state, self.rng
        entries = self.entries(x)
        total, novelty = 0.0, 0.0
        for c in range(self.outputs):
            target = int(core.output_ids[c])
            paths: list[tuple[Path, float, int]] = []
            for j, (entry, a) in enumerate(entries):
                value = 1.0 + (rng.normal(0.0, cfg.noise_injection_std) if cfg.noise_injection_std else 0.0)
                if cfg.beam_width > 1:
                    path = beam_wander(self, entry, target, value, cfg.beam_width)
                    self._traverse(path)
                else:
                    path = wander(self, entry, target, value, rng)
                paths.append((path, a, entry))
                st.wanders += 1
                self._after_each_wander(path)
            y = sum(a * (p.output if p.reached else 0.0) for p, a, _ in paths)
            e = error_of(cfg, float(t[c]), y)
            total += (float(t[c]) - y) ** 2
            for path, a, entry in paths:
                if not path.reached:
                    continue
                learn_path(self, path, e * a, importance)
                novelty += sum(1.0 / (1.0 + core.visits[s]) for s in path.synapses) / max(len(path.synapses), 1)
                if cfg.reinforcement_learning_enabled:
                    q_update(core, cfg, path.synapses, -abs(e), st.lr)
                if abs(e) < cfg.episodic_memory_threshold:
                    self.episodic.remember(entry, target, tuple(path.synapses))
                if cfg.consolidation_probability and rng.random() < cfg.consolidation_probability:
                    for s in path.synapses:
                        core.w[s] = max(-cfg.weight_limit, min(cfg.weight_limit, core.w[s] * cfg.consolidation_strength))
                if deferred is not None:
                    deferred.append(list(path.synapses))
                elif not replaying:
                    plasticity.after_wander(self, path)
        if cfg.synaptic_fatigue_enabled:
            core.fat *= cfg.fatigue_decay
        brain.update_context(self, math.sqrt(total / self.outputs), novelty)
        if not replaying and deferred is None:
            self._after_example(index, total)
        return total

    def _settle_round(self, replies: list[Any], shape_version: int) -> float:
        """Settle every example of a merged round, share by share; their summed error."""
        se = 0.0
        for reply in replies:
            by_example: dict[int, list[list[int]]] = {}
            for row in reply.paths:
                by_example.setdefault(row[0], []).append(row[1:])
            for i, err in zip(reply.indexes, reply.errors):
                self.settle(i, err, by_example.get(i, []), shape_version)
                se += err
        return se

    def settle(self, index: int, total: float, paths: list[list[int]], shape_version: int) -> None:
        """What a parallel wanderer left to the learner of one example of its share: the
        structural side effects of its reached paths, then the bookkeeping after an example.
        `shape_version`: the core's structure_version the share saw; once the graph has
        changed since, a path is checked against it (a split may have removed a synapse)."""
        core = self.core
        for syns in paths:
            path = Path(synapses=syns, reached=True)
            if core.structure_version != shape_version:
                path = replay_values(core, self.cfg, syns, 1.0)
                path.reached = len(path.synapses) == len(syns)
                if not path.reached:
                    continue
            plasticity.after_wander(self, path)
        self._after_example(index, total)

    def _after_example(self, index: int, total: float) -> None:
        """The counter, the replay and dream buffers, and pruning and message passing at
        their intervals."""
        cfg, core, st, rng = self.cfg, self.core, self.state, self.rng
        st.examples += 1
        if index >= 0:
            self.replay.add(index, math.sqrt(total))
            self.dreams.add(index, math.sqrt(total))
        if cfg.synapse_prune_interval and st.examples % cfg.synapse_prune_interval == 0:
            plasticity.prune_low_potential(self, cfg.prune_potential_threshold)
            plasticity.merge_parallel(self)
        if cfg.message_passing_interval and st.examples % cfg.message_passing_interval == 0:
            self.attention.message_passing(core, cfg, self.context_embedding(), rng, training=True)

    def _traverse(self, path: Path) -> None:
        """The traversal side effects a local wander applies itself (route potentials, visits),
        for a path beam search found."""
        core, cfg = self.core, self.cfg
        for s in path.synapses:
            core.pot[s] = min(cfg.synapse_potential_cap, core.pot[s] * cfg.route_potential_decay
                              + cfg.route_potential_increase)
            core.visits[s] += 1.0
            core.nvisits[int(core.dst[s])] += 1.0

    def _after_each_wander(self, path: Path) -> None:
        cfg, st, core = self.cfg, self.state, self.core
        st.exploration_bonus *= cfg.exploration_decay
        if cfg.reinforcement_learning_enabled:
            st.epsilon = max(cfg.rl_min_epsilon, st.epsilon * cfg.rl_epsilon_decay)
        if st.wanders % cfg.route_visit_decay_interval == 0:
            core.pot *= cfg.route_potential_decay
            core.visits *= cfg.route_potential_decay
        hist, n = st.wander_history, len(path.synapses)
        if len(hist) >= 10:
            mean = st.history_sum / len(hist)
            std = math.sqrt(max(0.0, st.history_sq / len(hist) - mean * mean)) + 1e-9
            if n > mean + cfg.wander_anomaly_threshold * std:
                st.anomalies += 1  # the monitor shortens wanders and explores more after one
                st.depth_factor = max(0.25, st.depth_factor * cfg.monitor_wander_factor)
                st.epsilon = min(1.0, st.epsilon * cfg.monitor_epsilon_factor)
        if len(hist) == hist.maxlen:  # running sums: the oldest length leaves the window
            st.history_sum -= hist[0]
            st.history_sq -= hist[0] * hist[0]
        hist.append(n)
        st.history_sum += n
        st.history_sq += n * n

    def replay_step(self, x: Any, t: Any) -> None:
        """Prioritised experience replay after an example (4.16)."""
        cfg = self.cfg
        for i, w in self.replay.sample(cfg.replay_batch_size, cfg.replay_alpha, cfg.replay_beta, self.rng):
            self.train_example(x[i], t[i], importance=w, replaying=True)

    def fit_epoch(self, x: Any, t: Any, total_epochs: int = 1, wanderer: Any = None,
                  x_val: Any = None, t_val: Any = None) -> dict[str, float]:
        """One pass over (x, t) in a seeded order, then the epoch's schedules and structure.
        `wanderer` (parallel.py's `ParallelWanderers`, None: learn here) trains each round of
        the order (`parallel_chunk_size` examples a wanderer) in the wanderer neuros, each on
        its copy of the net, and merges what they learnt into this net (merge.py) before the
        next round. In the metrics: `train_seconds`, the wall time of the pass alone, and
        `learner_cpu_s`, the CPU seconds this thread spent on it (all the work when learning
        here; merging and settling with wanderers)."""
        import time

        import numpy as np

        from .merge import merge_round

        cfg, st = self.cfg, self.state
        x = np.asarray(x, np.float32).reshape(len(x), -1)
        t = np.asarray(t, np.float64).reshape(len(t), -1)
        order = self.rng.permutation(len(x)).tolist()
        size = cfg.parallel_chunk_size * cfg.parallel_wanderers
        rounds = [order[k:k + size] for k in range(0, len(order), size)]
        se, start, cpu = 0.0, time.perf_counter(), time.thread_time()
        for k, chunk in enumerate(rounds):
            if wanderer is not None:
                shape_version = self.core.structure_version
                replies = wanderer.train_round(k, self, x, t, chunk)
                merge_round(self, replies)
                se += self._settle_round(replies, shape_version)
                continue
            for i in chunk:
                se += self.train_example(x[i], t[i], index=i)
                if cfg.use_experience_replay:
                    self.replay_step(x, t)
        flush_updates(self)
        seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
        train_mse = se / (len(x) * self.outputs)
        st.epochs += 1
        st.lr = scheduled_lr(cfg, adjusted_lr(cfg, st.lr, train_mse, st.prev_train_loss), st.epochs, total_epochs)
        st.prev_train_loss = train_mse
        st.epsilon = scheduled_epsilon(cfg, st.epsilon, st.epochs)
        st.dropout *= cfg.dropout_decay_rate
        self.core.age += 1.0
        if cfg.forgetting_rate:
            self.core.w *= 1.0 - cfg.forgetting_rate
        if cfg.gradient_prune_ratio:
            mask = plasticity.gradient_prune_mask(self.core.grad, self.core.alive, cfg.gradient_prune_ratio)
            plasticity.apply_gradient_prune_mask(self, mask)
        if cfg.structural_plasticity_enabled:
            plasticity.decide_synapse_action(self)
        metrics = {"train_mse": train_mse, "neurons": float(self.core.n_neurons), "synapses": float(self.core.n_synapses),
                   "lr": st.lr, "anomalies": float(st.anomalies), "train_seconds": seconds, "learner_cpu_s": cpu,
                   "epoch_examples": float(len(x))}
        if x_val is not None and len(x_val):
            val = float(((self.predict(x_val) - np.asarray(t_val).reshape(len(t_val), -1)) ** 2).mean())
            metrics["val_mse"] = val
            if cfg.neurogenesis_enabled:
                if st.prev_val_loss is not None and val > st.prev_val_loss:
                    brain.neurogenesis(self)
                brain.adapt_factor(self, val, st.prev_val_loss)
                brain.maybe_autonomous_neurogenesis(self, val)
            st.prev_val_loss = val
            st.stopped_early = st.early.update(val)
        return metrics

    # ------------------------------------------------------------------ serving

    def predict(self, x: Any) -> Any:
        """(B, outputs): the blend of greedy paths' outputs."""
        import numpy as np

        x = np.asarray(x, np.float32).reshape(len(x), -1)
        out = np.zeros((len(x), self.outputs))
        for b in range(len(x)):
            for entry, a in self.entries(x[b]):
                for c in range(self.outputs):
                    target = int(self.core.output_ids[c])
                    syns = greedy_path(self, entry, target)
                    if syns and int(self.core.dst[syns[-1]]) == target:
                        out[b, c] += a * replay_values(self.core, self.cfg, syns, 1.0).output
            self.state.wanders += 1
        return out

    def sleep(self, x: Any, t: Any) -> dict[str, float]:
        """Consolidation: salience-weighted dream replay of remembered examples (7.1), then
        the dream decay of every weight (3.6)."""
        cfg = self.cfg
        picks = self.dreams.sample(cfg.dream_cycles, self.rng) if x is not None else []
        for i in picks:
            self.train_example(x[i], t[i], replaying=True)
        flush_updates(self)
        d = brain.dream_decay(cfg, self.state.context)
        self.core.w *= d
        return {"dream_decay": d, "replayed": float(len(picks)), "neurons": float(self.core.n_neurons),
                "synapses": float(self.core.n_synapses)}

    # ------------------------------------------------------------------ state

    def to_dict(self, buffers: bool = True) -> dict[str, Any]:
        """The whole net; `buffers=False` leaves the replay and dream buffers empty (a parallel
        share without experience replay reads neither)."""
        import msgspec

        return {"format_version": FORMAT_VERSION, "cfg": msgspec.to_builtins(self.cfg), "core": self.core.to_dict(),
                "attention": self.attention.to_dict(), "state": self.state.to_dict(), "outputs": self.outputs,
                "scale": self.scale.astype("<f4").tobytes(), "start_size": self.start_size,
                "rng": json.dumps(self.rng.bit_generator.state),  # PCG64's 128-bit ints: msgpack has no such int
                "episodic": [[e, t, list(p)] for e, t, p in self.episodic.paths],
                "replay": [list(item) for item in self.replay.items] if buffers else [],
                "dreams": {"instant": [list(i) for i in self.dreams.instant] if buffers else [],
                           "long_term": [list(i) for i in self.dreams.long_term] if buffers else []}}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Neuronenblitz":
        import msgspec
        import numpy as np

        from .config import MarbleConfig

        cfg = msgspec.convert(doc["cfg"], MarbleConfig)
        net = cls.__new__(cls)
        net.cfg, net.outputs, net.start_size = cfg, int(doc["outputs"]), int(doc["start_size"])
        net.core = Core.from_dict(doc["core"])
        net._entry_cache = {}
        net.scale = np.frombuffer(doc["scale"], "<f4").copy()
        net.rng = np.random.default_rng()
        net.rng.bit_generator.state = json.loads(doc["rng"])
        net.attention = AttentionModule.from_dict(doc["attention"])
        net.state = BlitzState.from_dict(cfg, doc["state"])
        net.episodic = EpisodicMemory(cfg.episodic_memory_size)
        for e, t, p in doc["episodic"]:
            net.episodic.remember(e, t, tuple(p))
        net.replay = PrioritizedReplay(cfg.replay_buffer_size)
        net.replay.items.extend((int(i), float(p)) for i, p in doc["replay"])
        net.dreams = DreamReplayBuffer(cfg.replay_buffer_size, cfg.episodic_memory_size, cfg.dream_salience_threshold)
        net.dreams.instant.extend((int(i), float(s)) for i, s in doc["dreams"]["instant"])
        net.dreams.long_term = [(int(i), float(s)) for i, s in doc["dreams"]["long_term"]]
        return net
