"""MARBLE's core: neurons with representations and typed synapses, held as columns of numpy
arrays (one row a neuron or a synapse), so decays, limits and prunes are vectorised.

Roles: entry neurons (0) hold a receptive-field centre in input space, hidden neurons (1),
output neurons (2, one per output). Tiers (0 vram, 1 ram, 2 disk) are labels the brain's
tier choice and the split's promotion set; every tier computes on the CPU here. A removed
synapse is marked dead and its slot reused, so synapse ids stay stable inside a wander.
"""

from __future__ import annotations

from typing import Any

from .registries import NEURON_TYPES, SYNAPSE_TYPES

__all__ = ["Core", "SYNAPSE_COLUMNS", "mandelbrot_representations", "interconnect_cores"]

ENTRY, HIDDEN, OUTPUT = 0, 1, 2
#: per-synapse float state: weight, route potential, fatigue, visits, phase, eligibility trace,
#: RMSProp v, momentum m, Q value, echo, last |update|, memory gate
SYNAPSE_COLUMNS = ("w", "pot", "fat", "visits", "phase", "elig", "rms", "mom", "q", "echo", "grad", "gate")


def mandelbrot_representations(n: int, size: int, iterations: int, noise_std: float, rng: Any) -> Any:
    """(n, size) representations: escape times of the Mandelbrot set on a grid of the complex
    plane (one row of the grid a neuron), scaled to [0, 1], plus Gaussian noise."""
    import numpy as np

    re = np.linspace(-2.0, 0.6, size)[None, :]
    im = np.linspace(-1.2, 1.2, max(n, 1))[:, None]
    c = re + 1j * im  # (n, size)
    z = np.zeros_like(c)
    escape = np.full(c.shape, iterations, np.float64)
    for k in range(iterations):
        z = np.where(escape == iterations, z * z + c, z)
        escaped = (np.abs(z) > 2.0) & (escape == iterations)
        escape[escaped] = k
    reps = escape / iterations + rng.normal(0.0, noise_std, c.shape)
    return reps[:n].astype(np.float32)


class Core:
    """The graph. Neurons: `rep` (N, d), `role`, `ntype`, `tier`, `age`, `nvisits`; entry
    neurons also a `centre` row (input space). Synapses: `src`, `dst`, `stype`, `alive` and
    the float columns of SYNAPSE_COLUMNS; `out[n]` lists neuron n's live outgoing synapses."""

    def __init__(self, rep_size: int, input_dim: int) -> None:
        import numpy as np

        self.rep = np.zeros((0, rep_size), np.float32)
        self.role = np.zeros(0, np.int8)
        self.ntype = np.zeros(0, np.int16)
        self.tier = np.zeros(0, np.int8)
        self.age = np.zeros(0, np.float64)
        self.nvisits = np.zeros(0, np.float64)
        self.centre = np.zeros((0, input_dim), np.float32)  # rows of the entry neurons, in order
        self.entry_ids = np.zeros(0, np.int64)
        self.output_ids = np.zeros(0, np.int64)
        self.src = np.zeros(0, np.int64)
        self.dst = np.zeros(0, np.int64)
        self.stype = np.zeros(0, np.int16)
        self.alive = np.zeros(0, bool)
        for col in SYNAPSE_COLUMNS:
            setattr(self, col, np.zeros(0, np.float64))
        self.out: list[list[int]] = []
        self._free: list[int] = []
        self.structure_version = 0  # bumped by every change of the graph's shape

    # ------------------------------------------------------------------ counts

    @property
    def n_neurons(self) -> int:
        return len(self.role)

    @property
    def n_synapses(self) -> int:
        return int(self.alive.sum())

    def size(self) -> int:
        """Neurons plus live synapses (what the growth metric compares)."""
        return self.n_neurons + self.n_synapses

    def nbytes(self) -> int:
        cols = [self.rep, self.src, self.dst, self.stype, self.alive, *(getattr(self, c) for c in SYNAPSE_COLUMNS)]
        return int(sum(a.nbytes for a in cols))

    # ------------------------------------------------------------------ neurons

    def add_neuron(self, rep: Any, role: int = HIDDEN, ntype: str = "standard", tier: int = 0,
                   centre: Any = None) -> int:
        import numpy as np

        if ntype not in NEURON_TYPES:
            raise ValueError(f"unknown neuron type {ntype!r}; registered: {', '.join(NEURON_TYPES)}")
        i = self.n_neurons
        self.rep = np.vstack([self.rep, np.asarray(rep, np.float32).reshape(1, -1)])
        self.role = np.append(self.role, np.int8(role))
        self.ntype = np.append(self.ntype, np.int16(list(NEURON_TYPES).index(ntype)))
        self.tier = np.append(self.tier, np.int8(tier))
        self.age = np.append(self.age, 0.0)
        self.nvisits = np.append(self.nvisits, 0.0)
        self.out.append([])
        if role == ENTRY:
            self.centre = np.vstack([self.centre, np.asarray(centre, np.float32).reshape(1, -1)])
            self.entry_ids = np.append(self.entry_ids, i)
        elif role == OUTPUT:
            self.output_ids = np.append(self.output_ids, i)
        self.structure_version += 1
        return i

    # ------------------------------------------------------------------ synapses

    def add_synapse(self, src: int, dst: int, weight: float, stype: str = "standard", potential: float = 0.0) -> int:
        import numpy as np

        if stype not in SYNAPSE_TYPES:
            raise ValueError(f"unknown synapse type {stype!r}; registered: {', '.join(SYNAPSE_TYPES)}")
        if self.role[src] == OUTPUT:
            raise ValueError(f"neuron {src} is an output neuron: it sends nothing")
        tid = list(SYNAPSE_TYPES).index(stype)
        if self._free:
            i = self._free.pop()
            self.src[i], self.dst[i], self.stype[i], self.alive[i] = src, dst, tid, True
            for col in SYNAPSE_COLUMNS:
                getattr(self, col)[i] = 0.0
        else:
            i = len(self.src)
            self.src = np.append(self.src, src)
            self.dst = np.append(self.dst, dst)
            self.stype = np.append(self.stype, np.int16(tid))
            self.alive = np.append(self.alive, True)
            for col in SYNAPSE_COLUMNS:
                setattr(self, col, np.append(getattr(self, col), 0.0))
        self.w[i], self.pot[i], self.elig[i], self.echo[i] = weight, potential, 0.0, 1.0
        self.out[src].append(i)
        self.structure_version += 1
        return i

    def remove_synapse(self, i: int) -> None:
        if not self.alive[i]:
            return
        self.alive[i] = False
        self.out[int(self.src[i])].remove(i)
        self._free.append(i)
        self.structure_version += 1

    def limit_weights(self, limit: float) -> None:
        """Clip every weight to [-limit, limit] (MARBLE's weight limiting)."""
        import numpy as np

        np.clip(self.w, -limit, limit, out=self.w)

    def expand(self, neurons: int, synapses: int, types: list[str], rng: Any, weight_range: tuple[float, float],
               rep_noise_std: float, tier: int = 0) -> list[int]:
        """Add `neurons` hidden neurons (types cycled from `types`), each wired from a random
        entry or hidden neuron and to a random hidden or output neuron, then `synapses` more
        random synapses; representations are a random existing one's plus noise."""
        new = []
        for k in range(neurons):
            base = self.rep[int(rng.integers(self.n_neurons))]
            n = self.add_neuron(base + rng.normal(0.0, rep_noise_std, base.shape), HIDDEN, types[k % len(types)], tier)
            senders = [i for i in range(self.n_neurons - 1) if self.role[i] != OUTPUT]
            receivers = [i for i in range(self.n_neurons - 1) if self.role[i] != ENTRY]  # hidden or output
            self.add_synapse(int(rng.choice(senders)), n, float(rng.uniform(*weight_range)))
            self.add_synapse(n, int(rng.choice(receivers)), float(rng.uniform(*weight_range)))
            new.append(n)
        for _ in range(synapses):
            self.random_synapse(rng, weight_range)
        return new

    def random_synapse(self, rng: Any, weight_range: tuple[float, float], src: int | None = None) -> int | None:
        """A synapse from `src` (else a random non-output neuron) to a random non-entry neuron."""
        senders = [i for i in range(self.n_neurons) if self.role[i] != OUTPUT]
        s = int(rng.choice(senders)) if src is None else src
        # an entry neuron reaches the outputs through hidden neurons only, as it started
        receivers = [i for i in range(self.n_neurons) if i != s and (self.role[i] == HIDDEN
                     or (self.role[i] == OUTPUT and self.role[s] != ENTRY))]
        if not receivers:
            return None
        d = int(rng.choice(receivers))
        return self.add_synapse(s, d, float(rng.uniform(*weight_range)))

    # ------------------------------------------------------------------ state

    def to_dict(self) -> dict[str, Any]:
        import numpy as np

        def raw(a: Any) -> dict[str, Any]:
            a = np.ascontiguousarray(a)
            return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}

        names = ["rep", "role", "ntype", "tier", "age", "nvisits", "centre", "entry_ids", "output_ids", "src", "dst",
                 "stype", "alive", *SYNAPSE_COLUMNS]
        return {"arrays": {k: raw(getattr(self, k)) for k in names}, "free": list(self._free),
                "neuron_types": list(NEURON_TYPES), "synapse_types": list(SYNAPSE_TYPES)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Core":
        import numpy as np

        arrays = {k: np.frombuffer(v["data"], np.dtype(v["dtype"])).reshape(v["shape"]).copy()
                  for k, v in doc["arrays"].items()}
        for key, table in (("neuron_types", NEURON_TYPES), ("synapse_types", SYNAPSE_TYPES)):
            missing = [t for t in doc[key] if t not in table]
            if missing:
                raise ValueError(f"these weights use {key.replace('_', ' ')} {missing} that are not registered here")
        core = cls(arrays["rep"].shape[1], arrays["centre"].shape[1])
        for k, v in arrays.items():
            setattr(core, k, v)
        # type ids travel as indexes into the saving side's registry order: map them onto ours
        core.ntype = np.array([list(NEURON_TYPES).index(doc["neuron_types"][t]) for t in core.ntype], np.int16)
        core.stype = np.array([list(SYNAPSE_TYPES).index(doc["synapse_types"][t]) for t in core.stype], np.int16)
        core._free = list(doc["free"])
        core.out = [[] for _ in range(core.n_neurons)]
        for i in np.flatnonzero(core.alive):
            core.out[int(core.src[i])].append(int(i))
        return core


def interconnect_cores(cores: list[Core], prob: float, rng: Any, weight_range: tuple[float, float]) -> Core:
    """One core holding every neuron and synapse of `cores`, plus a cross-core synapse from
    each hidden neuron of one core to each hidden neuron of another with probability `prob`."""
    if not cores:
        raise ValueError("interconnect_cores needs at least one core")
    dims = {(c.rep.shape[1], c.centre.shape[1]) for c in cores}
    if len(dims) != 1:
        raise ValueError(f"interconnect_cores needs cores of one representation and input size, got {sorted(dims)}")
    merged = Core(*dims.pop())
    offsets, hidden = [], []
    for c in cores:
        base = merged.n_neurons
        offsets.append(base)
        centres = iter(c.centre)
        for i in range(c.n_neurons):
            role = int(c.role[i])
            merged.add_neuron(c.rep[i], role, list(NEURON_TYPES)[int(c.ntype[i])], int(c.tier[i]),
                              centre=next(centres) if role == ENTRY else None)
        for s in range(len(c.src)):
            if c.alive[s]:
                j = merged.add_synapse(base + int(c.src[s]), base + int(c.dst[s]), float(c.w[s]),
                                       list(SYNAPSE_TYPES)[int(c.stype[s])], float(c.pot[s]))
                for col in SYNAPSE_COLUMNS:
                    getattr(merged, col)[j] = getattr(c, col)[s]
        hidden.append([base + i for i in range(c.n_neurons) if c.role[i] == HIDDEN])
    for a, ha in enumerate(hidden):
        for b, hb in enumerate(hidden):
            if a == b:
                continue
            for s in ha:
                for d in hb:
                    if rng.random() < prob:
                        merged.add_synapse(s, d, float(rng.uniform(*weight_range)))
    return merged
