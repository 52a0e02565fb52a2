"""Untrusted code may only tighten its policy: an override that loosens its labels or energy
budget is looser (kernel/_loading.py), and overrides and inheritance merge `labels`,
`labels.egress` and `energy` key by key, so a child keeps what its parent labels."""

from __future__ import annotations

import pytest

import neuro
from neuro.kernel._governance import Egress, EnergyBudget, LabelRules
from neuro.kernel._loading import looser_than
from neuro.kernel._policyfiles import apply_overrides, resolve_all

BASE = neuro.Policy(name="base", labels=LabelRules(inputs=("mail",), outputs=("private",), clearance=("private",),
                                                 egress=Egress(clients=("private",))),
                    energy=EnergyBudget(per_hour=100.0, on_breach="stop", mains_only=True))


@pytest.mark.parametrize("override, looser", [
    ({"labels": {"clearance": ["*"]}}, "labels.clearance"),
    ({"labels": {"clearance": ["private", "health"]}}, "labels.clearance"),
    ({"labels": {"declassify": ["private"]}}, "labels.declassify"),
    ({"labels": {"egress": {"network": ["private"]}}}, "labels.egress.network"),
    ({"labels": {"outputs": []}}, "labels.outputs"),
    ({"labels": {"inputs": []}}, "labels.inputs"),
    ({"energy": {"per_hour": 1000.0}}, "energy.per_hour"),
    ({"energy": {"per_hour": 0}}, "energy.per_hour"),
    ({"energy": {"on_breach": "reject"}}, "energy.on_breach"),
    ({"energy": {"mains_only": False}}, "energy.mains_only"),
])
def test_an_override_that_loosens_labels_or_energy_is_looser(override, looser):
    assert looser in looser_than(BASE, apply_overrides(BASE, override, "test"))


def test_an_override_that_tightens_labels_and_energy_is_not_looser():
    tighter = {"labels": {"clearance": [], "outputs": ["private", "extra"]}, "energy": {"per_hour": 50.0}}
    assert [] == looser_than(BASE, apply_overrides(BASE, tighter, "test"))


def test_an_override_of_one_label_rule_keeps_the_others():
    """Overriding only `labels.egress.files` keeps outputs, clearance and egress.clients."""
    got = apply_overrides(BASE, {"labels": {"egress": {"files": ["private"]}}, "energy": {"per_message": 1.0}}, "t")
    assert ((("private",), ("private",), ("private",), ("private",)), (100.0, 1.0, "stop")) == (
        (got.labels.outputs, got.labels.clearance, got.labels.egress.clients, got.labels.egress.files),
        (got.energy.per_hour, got.energy.per_message, got.energy.on_breach))


def test_a_child_policy_inherits_its_parents_labels_and_energy():
    raw = {"parent": ({"labels": {"outputs": ["private"], "egress": {"clients": ["private"]}},
                       "energy": {"per_hour": 10.0}}, "parent"),
           "child": ({"inherit": "parent", "labels": {"egress": {"files": ["private"]}},
                      "energy": {"on_breach": "stop"}}, "child")}
    child = resolve_all(raw)["child"]
    assert (("private",), ("private",), 10.0) == (child.labels.outputs, child.labels.egress.clients,
                                                  child.energy.per_hour)
