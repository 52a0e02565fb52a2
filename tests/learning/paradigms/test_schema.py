"""Schema induction (issue 29): induced schemas recover the planted triples better than a
frequency-only extractor, Apriori's support and lift and the blend by hand, and the neuro
through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.neuros.learning import protocol as P
from neuro.neuros.learning.paradigms import run_experiment
from neuro.neuros.learning.schema.blend import blend, integrate
from neuro.neuros.learning.schema.induce import frequent_triples, induce, support
from neuro.neuros.learning.schema.neuro import SchemaNeuro

from .kernel_calls import call_all, inproc


def test_induced_schemas_recover_the_planted_triples_better_than_the_most_frequent_ones():
    """Quick experiment: triple-level F1 beats the frequency-only extractor by the margin."""
    outcome = run_experiment("schema", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["random_f1"] < outcome.baseline


def test_schemas_grow_while_support_holds_and_chance_co_occurrence_is_kept_out():
    """Episodes: {0,1,2} together in 4 of 10, pattern 3 in 9 of 10 (everywhere, by chance): the
    one schema is (0, 1, 2); the frequency-only top 3 includes 3."""
    x = np.zeros((10, 4), dtype=np.uint8)
    x[:4, :3] = 1
    x[:9, 3] = 1
    x[4, 0] = 1
    assert 0.4 == pytest.approx(support(x, (0, 1, 2)))
    assert [((0, 1, 2), pytest.approx(0.4))] == induce(x, min_support=0.3, min_lift=1.5)
    assert 3 in frequent_triples(x, 3)


def test_a_blend_is_tanh_of_the_elementwise_product_linked_both_ways_to_its_parents():
    """blend([1, 2], [0.5, -1]) = tanh([0.5, -2]); orthogonal concepts blend (prob 1), parallel ones do not."""
    np.testing.assert_allclose(np.tanh([0.5, -2.0]), blend([1.0, 2.0], [0.5, -1.0]))
    new, parents, edges = integrate(np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]), blend_probability=1.0,
                                    threshold=0.2)
    assert [(3, 0, 1), (4, 1, 2)] == parents
    assert {(3, 0, 1.0), (0, 3, 1.0), (3, 1, 1.0), (1, 3, 1.0)} <= set(edges)
    assert (2, 2) == new.shape


def test_the_neuro_mines_a_stream_names_schemas_in_episodes_and_round_trips_them(tmp_path):
    """Train on the generated stream; Predict finds a schema; Evaluate on its test split; Snapshot -> Restore."""
    neuro = SchemaNeuro()
    data = neuro.load_dataset("stream")
    xt, yt = data.test
    probe = P.Array.of(xt[:20])
    d, res, pred, ev, snap, restored, again = call_all(
        tmp_path, inproc(SchemaNeuro), P.Describe(), P.Train(wait=True), P.Predict(x=probe),
        P.Evaluate(dataset="stream"), P.Snapshot(inline=True), lambda answers: P.Restore(weights=answers[-1]),
        P.Predict(x=probe))
    assert ("learning.schema", ["schema"]) == (d.name, d.tasks)
    assert res.metrics["schemas"] >= 2 and res.metrics["test_f1"] > 0.8
    assert ev.metrics["f1"] > 0.8
    assert any(label >= 0 for label in pred.labels)
    assert 1 == restored.version
    np.testing.assert_array_equal(pred.y.numpy(), again.y.numpy())


def test_episodes_of_the_wrong_width_are_refused_with_the_width_the_schemas_were_mined_on():
    """Episodes of 5 patterns sent to schemas mined over 7: the error names (N, 7)."""
    from neuro.neuros.learning.schema.neuro import _episodes

    with pytest.raises(ValueError, match=r"multi-hot rows \(N, 7\).*got shape \(2, 5\)"):
        _episodes(np.zeros((2, 5)), 7)
