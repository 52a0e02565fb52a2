"""MARBLE's core: Mandelbrot-seeded representations, typed synapses and their registries,
weight limiting, growth, interconnected cores, message passing with attention, and the
core's state round trip."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.neuros.learning.marble import registries
from neuro.neuros.learning.marble.attention import AttentionModule, context_attention
from neuro.neuros.learning.marble.config import MarbleConfig
from neuro.neuros.learning.marble.core import ENTRY, HIDDEN, OUTPUT, Core, interconnect_cores, mandelbrot_representations


def _core(seed=0):
    rng = np.random.default_rng(seed)
    core = Core(4, 1)
    reps = mandelbrot_representations(5, 4, 16, 0.0, rng)
    e = core.add_neuron(reps[0], ENTRY, centre=[0.0])
    h1, h2 = core.add_neuron(reps[1], HIDDEN), core.add_neuron(reps[2], HIDDEN)
    o = core.add_neuron(reps[3], OUTPUT)
    for a, b in ((e, h1), (e, h2), (h1, o), (h2, o), (h1, h2)):
        core.add_synapse(a, b, 1.0)
    return core, rng


def test_mandelbrot_representations_are_seeded_escape_times_in_unit_range():
    """Without noise the representations are escape times in [0, 1], and equal for equal seeds."""
    a = mandelbrot_representations(6, 8, 32, 0.0, np.random.default_rng(1))
    b = mandelbrot_representations(6, 8, 32, 0.0, np.random.default_rng(2))
    assert (6, 8) == a.shape
    assert np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert len(np.unique(a)) > 1


def test_removed_synapses_leave_the_adjacency_and_their_slot_is_reused():
    """remove_synapse drops the id from its source's list; the next synapse takes the slot."""
    core, _ = _core()
    before = core.n_synapses
    core.remove_synapse(0)
    assert 0 not in core.out[0]
    assert before - 1 == core.n_synapses
    assert 0 == core.add_synapse(0, 2, 0.5)


def test_an_output_neuron_sends_nothing_and_unknown_types_are_refused():
    """A synapse out of an output neuron, or of an unregistered type, is an error naming the fix."""
    core, _ = _core()
    with pytest.raises(ValueError, match="output neuron"):
        core.add_synapse(3, 1, 1.0)
    with pytest.raises(ValueError, match="registered: standard"):
        core.add_synapse(0, 1, 1.0, stype="no-such-type")


def test_limit_weights_clips_every_weight():
    core, _ = _core()
    core.w[:] = [-20.0, 3.0, 11.0, 0.5, -0.5]
    core.limit_weights(10.0)
    assert [-10.0, 3.0, 10.0, 0.5, -0.5] == core.w.tolist()


def test_registering_a_type_adds_it_and_a_second_registration_needs_replace():
    """The type registries take a plugin's type once; registering the name again is refused."""
    registries.register_synapse_type("test-halving", lambda v, w: 0.5 * v * w, replace=True)
    try:
        assert 1.0 == registries.SYNAPSE_TYPES["test-halving"](1.0, 2.0)
        with pytest.raises(ValueError, match="replace=True"):
            registries.register_synapse_type("test-halving", lambda v, w: v)
    finally:  # the registry is the process's: leave it as it was for the other tests
        del registries.SYNAPSE_TYPES["test-halving"]


def test_expand_adds_the_neurons_and_synapses_asked_for():
    core, rng = _core()
    n0, s0 = core.n_neurons, core.n_synapses
    new = core.expand(2, 3, ["tanh"], rng, (0.5, 1.5), 0.01, tier=1)
    assert (n0 + 2, s0 + 2 * 2 + 3) == (core.n_neurons, core.n_synapses)
    assert [1, 1] == core.tier[new].tolist()
    assert ["tanh", "tanh"] == [list(registries.NEURON_TYPES)[t] for t in core.ntype[new]]


def test_interconnect_cores_keeps_both_cores_and_adds_cross_core_synapses():
    a, _ = _core(0)
    b, _ = _core(1)
    merged = interconnect_cores([a, b], 1.0, np.random.default_rng(0), (0.5, 1.5))
    hidden_pairs = 2 * 2 * 2  # each core's 2 hidden neurons to the other's 2, both ways
    assert a.n_neurons + b.n_neurons == merged.n_neurons
    assert a.n_synapses + b.n_synapses + hidden_pairs == merged.n_synapses
    assert 2 == len(merged.entry_ids)


def test_the_core_survives_a_to_dict_from_dict_round_trip():
    core, _ = _core()
    core.remove_synapse(1)
    back = Core.from_dict(core.to_dict())
    assert np.array_equal(core.w, back.w) and np.array_equal(core.alive, back.alive)
    assert core.out == back.out


def test_message_passing_moves_only_neurons_that_receive_and_runs_in_half_precision():
    """A round changes the representations of neurons with incoming synapses only; the
    mixed-precision round gives close, not equal, results."""
    cfg = MarbleConfig(attention_gating="none")
    core, rng = _core()
    entry_rep = core.rep[0].copy()
    other = Core.from_dict(core.to_dict())
    mod = AttentionModule(4, np.random.default_rng(0))
    change = mod.message_passing(core, cfg, None, rng, training=False)
    assert change > 0
    assert np.array_equal(entry_rep, core.rep[0])
    half = AttentionModule(4, np.random.default_rng(0))
    half.message_passing(other, MarbleConfig(attention_gating="none", use_mixed_precision=True), None, rng, False)
    assert np.allclose(core.rep, other.rep, atol=5e-2)


def test_context_attention_rows_are_distributions():
    rng = np.random.default_rng(0)
    att = context_attention(rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), np.ones(4))
    assert (3, 5) == att.shape
    assert np.allclose(1.0, att.sum(1))
