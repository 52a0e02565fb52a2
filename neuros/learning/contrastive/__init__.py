"""Contrastive learning (issue 28): an encoder pre-trained with InfoNCE on augmented digits
(noise, shifts, masking), measured by a linear probe on its features. `ContrastiveNeuro`
(``learning.contrastive``) in neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="contrastive", issue=28,
    task="digits: pre-train an MLP encoder with InfoNCE on two augmented views of each train image (no labels), "
         "then fit a logistic-regression probe on its features with the train labels",
    figure="test accuracy of the linear probe on the contrastive encoder's features",
    baseline="the same linear probe on raw pixels (and, in extra, on the same encoder left at its random init)",
    experiment="contrastive.experiment:run", learner="contrastive.neuro:ContrastiveNeuro")

__all__ = ["PARADIGM"]
