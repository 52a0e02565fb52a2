"""Continual learning (issue 28): EWC and replay guard old tasks while new ones are learnt, and a
meta-parameter controller moves the learning rate and EWC's lambda from validation-loss trends.
`ContinualNeuro` (``learning.continual``) in neuro.py; the experiment (split digits against naive
fine-tuning) in experiment.py. Importing the package costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="continual", issue=28,
    task="split digits: 5 tasks of 2 classes learnt in order, one shared 10-way head (class-incremental)",
    figure="mean test accuracy over all 5 tasks after the last (EWC + replay + the meta-parameter controller)",
    baseline="naive fine-tuning (the same net and steps, nothing guarding old tasks)",
    experiment="continual.experiment:run", learner="continual.neuro:ContinualNeuro")

__all__ = ["PARADIGM"]
