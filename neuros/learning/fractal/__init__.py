"""Fractal dimension learning (issue 29): the correlation dimension D2 (Grassberger-Procaccia),
its scaling window calibrated on point sets of known dimension. `FractalNeuro`
(``learning.fractal``) in neuro.py maps a point set to its dimension; the experiment
(experiment.py) measures Lorenz and Hénon against their known D2. Importing it costs nothing heavy."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="fractal", issue=29,
    task="correlation dimension of generated Lorenz (D2 ~ 2.05) and Hénon (D2 ~ 1.22) attractors",
    figure="mean |D2 estimate - known| over both attractors, Grassberger-Procaccia with a window calibrated on "
           "sets of known dimension (lower is better)",
    baseline="the naive estimate: the embedding dimension (3, 2); box counting at one scale in extra",
    experiment="fractal.experiment:run", learner="fractal.neuro:FractalNeuro")

__all__ = ["PARADIGM"]
