"""The registry of paradigms: every one is built, resolves, costs no torch to read, and is an
installed learner the daemon can spawn on demand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from neuro.neuros.learning.learner import Learner
from neuro.neuros.learning.paradigms import NAMES, Outcome, _resolve, paradigm, paradigms
from neuro.neuros.learning.registry import installed


def test_every_registered_paradigm_is_built():
    assert list(NAMES) == list(paradigms())


@pytest.mark.parametrize("name", NAMES)
def test_each_paradigm_resolves_to_an_experiment_and_a_learner_installed_under_its_name(name):
    p = paradigm(name)
    assert name == p.name and p.issue in (28, 29) and p.baseline and p.figure
    assert callable(_resolve(p.experiment))
    learner = _resolve(p.learner)
    assert issubclass(learner, Learner)
    entry = installed()[name]
    assert f"neuro.neuros.learning.{p.learner}" == entry.spec
    assert entry.description  # read from the class docstring, not by importing it


def test_reading_the_registry_and_importing_every_learner_module_costs_no_torch():
    code = ("import sys, importlib\n"
            "from neuro.neuros.learning.paradigms import paradigms\n"
            "for p in paradigms().values():\n"
            "    importlib.import_module('neuro.neuros.learning.' + p.learner.partition(':')[0])\n"
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert 0 == done.returncode, done.stderr
    assert "[]" == done.stdout.strip()


def test_an_unknown_paradigm_names_the_known_ones():
    with pytest.raises(KeyError, match="the paradigms are contrastive, imitation"):
        paradigm("telepathy")


@pytest.mark.parametrize("figure, baseline, higher, margin, beats", [
    (0.9, 0.5, True, 0.3, True), (0.9, 0.5, True, 0.4, False), (0.1, 0.5, False, 0.3, True),
    (0.5, 0.1, False, 0.0, False), (float("nan"), 0.5, True, 0.0, False),
])
def test_an_outcome_beats_its_baseline_only_by_more_than_its_margin(figure, baseline, higher, margin, beats):
    assert beats == Outcome(figure, baseline, "u", higher_is_better=higher, margin=margin).beats()
