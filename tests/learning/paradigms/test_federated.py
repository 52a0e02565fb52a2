"""Federated averaging (issue 29): FedAvg over non-IID clients beats one client alone, the average
by hand, the split, and the neuro through a real kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.federated.fedavg import (  # noqa: E402
    client_update, fed_average, make_net, non_iid_split, state_of,
)
from neuro.neuros.learning.federated.neuro import FederatedNeuro  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_fedavg_over_non_iid_clients_beats_a_single_client():
    """The quick experiment: FedAvg's test accuracy is above one client's alone by the margin,
    and centralised training is reported beside it."""
    outcome = run_experiment("federated", quick=True)
    assert outcome.beats(), outcome
    assert outcome.figure / outcome.extra["centralised_accuracy"] == pytest.approx(
        outcome.extra["fedavg_over_centralised"])


def test_fedavg_weighs_each_client_by_its_samples():
    """w = sum_k (n_k / N) w_k: counts 1 and 3 give 1/4 and 3/4; equal clients give their mean."""
    a, b = {"w": np.array([0.0, 4.0], np.float32)}, {"w": np.array([8.0, 0.0], np.float32)}
    np.testing.assert_allclose([6.0, 1.0], fed_average([a, b], [1, 3])["w"])
    np.testing.assert_allclose([4.0, 2.0], fed_average([a, b], [5, 5])["w"])


def test_fed_average_refuses_counts_that_do_not_match():
    """One count per state, summing above 0, or a ValueError that says so."""
    with pytest.raises(ValueError, match="one positive sample count per client state"):
        fed_average([{"w": np.zeros(1)}], [1, 2])


def test_the_non_iid_split_gives_each_client_few_classes_and_all_the_data():
    """Five clients, two shards each: every index once, each client at most 3 classes (shard edges)."""
    y = np.repeat(np.arange(10), 20)
    parts = non_iid_split(y, clients=5, per_client=2, seed=0)
    assert list(range(200)) == sorted(np.concatenate(parts).tolist())
    assert all(len(np.unique(y[p])) <= 3 for p in parts)


def test_a_client_update_is_a_pure_function_of_its_arguments():
    """The same arguments give the same weights (what lets the clients run in other processes)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    start = state_of(make_net(4, 5, 3, seed=0))
    one, n, _ = client_update(start, x, y, (4, 5, 3), 2, 0.1, 8, seed=7)
    two, _, _ = client_update(start, x, y, (4, 5, 3), 2, 0.1, 8, seed=7)
    assert 20 == n
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])
    assert any(not np.array_equal(one[k], start[k]) for k in one)


def test_the_neuro_runs_rounds_predicts_and_round_trips(tmp_path):
    """Train on digits as a job of rounds, Evaluate, Snapshot/Restore give the same answers."""
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    d, res, ev, first, snap, restored, again = call_all(
        tmp_path, inproc(FederatedNeuro), P.Describe(), P.Train(epochs=5, wait=True),
        P.Evaluate(dataset="digits"), P.Predict(x=P.Array.of(x)), P.Snapshot(inline=True),
        lambda a: P.Restore(weights=a[-1]), P.Predict(x=P.Array.of(x)))
    assert "learning.federated" == d.name
    assert 5 == res.epochs
    assert ev.metrics["accuracy"] > 0.4  # one client alone scores about 0.2
    assert 1 == restored.version
    assert first.labels == again.labels
