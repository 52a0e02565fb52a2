"""Switching PatternWorld: each rule does what its name says, rules switch on schedule per
phase group, and bad options are refused with what to pass."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.neuros.learning.council.world import make_world, windows_at


def test_each_step_follows_the_stream_rule():
    """y is x's next symbol, made by the rule recorded for that step."""
    w = make_world(streams=6, steps=400, seed=3)
    assert (w.x[:, 1:] == w.y[:, :-1]).all()
    for s in range(6):
        phase = 0
        for t in range(400):
            phase = 0 if w.since[s, t] == 0 else phase
            rule, v = w.rules[s, t], w.x[s, t]
            want = {0: v + 1, 1: 2 * v, 2: v + (1 if phase % 2 == 0 else -1)}[int(rule)] % 20
            assert want == w.y[s, t], (s, t)
            phase += 1


def test_rules_switch_every_50_steps_with_the_groups_half_a_phase_apart():
    """Group 0 switches at 50, 100, ...; group 1 at 25, 75, ...; a switch changes the rule."""
    w = make_world(streams=4, steps=300, seed=0)
    assert [50, 100, 150, 200, 250] == list(np.flatnonzero(w.switches[0]))
    assert [25, 75, 125, 175, 225, 275] == list(np.flatnonzero(w.switches[1]))
    for s, t in zip(*np.nonzero(w.switches)):
        assert w.rules[s, t] != w.rules[s, t - 1]


def test_the_same_options_give_the_same_world():
    """Seeds are fixed: two makes agree, another seed differs."""
    a, b, c = make_world(steps=200, seed=5), make_world(steps=200, seed=5), make_world(steps=200, seed=6)
    assert (a.x == b.x).all() and (a.rules == b.rules).all()
    assert not (a.x == c.x).all()


def test_windows_repeat_the_first_symbol_before_a_stream_has_enough():
    """windows_at pads on the left with the stream's first symbol."""
    x = np.array([[3, 4, 5, 6]])
    assert [[3, 3, 3]] == windows_at(x, 0, 3).tolist()
    assert [[4, 5, 6]] == windows_at(x, 3, 3).tolist()


def test_bad_options_are_refused_naming_the_option():
    """A world of zero streams says which option and what it needs."""
    with pytest.raises(ValueError, match="PatternWorld's streams must be a whole number >= 1, got 0"):
        make_world(streams=0)


def test_parity_strings_are_padded_and_their_targets_count_only_the_bits():
    """parity_batch pads with 2 past each string's length; the target is the parity of its bits."""
    from neuro.neuros.learning.council.parity import PAD, parity_batch

    x, y = parity_batch(np.random.default_rng(0), 200, 3, 6, 10)
    for row, target in zip(x, y):
        bits = row[row != PAD]
        assert 3 <= len(bits) <= 6 and (row[len(bits):] == PAD).all()
        assert int(bits.sum() % 2) == target
