"""Curriculum learning (issue 28): training examples sampled from a difficulty schedule that
moves from the easiest examples to the full set, each stage's distribution within a KL bound
of the last (the seed's KL(D_{t+1} || D_t) < epsilon). `CurriculumNeuro` (``learning.curriculum``)
in neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="curriculum", issue=28,
    task="a generated 50-D two-class task whose labels are noisy near the boundary (logistic label noise); "
         "difficulty scored by a teacher's cross-validated confidence; SGD on a linear classifier",
    figure="SGD steps (batches of 16) until clean test accuracy reaches 0.9, mean over 5 seeds, with the schedule",
    baseline="the same SGD sampling the training set uniformly (random order)",
    experiment="curriculum.experiment:run", learner="curriculum.neuro:CurriculumNeuro")

__all__ = ["PARADIGM"]
