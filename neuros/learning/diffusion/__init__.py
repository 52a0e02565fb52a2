"""Diffusion (issue 28): the forward noising process with a linear or cosine schedule, a learnt
noise (score) model and reverse sampling. `DiffusionNeuro` (``learning.diffusion``) in neuro.py;
the experiment (two moons, MMD against a Gaussian fit) in experiment.py. No torch at import."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="diffusion", issue=28,
    task="generate two moons (2-D, generated, standardised); linear and cosine schedules, T=100",
    figure="MMD^2 between reverse-process samples and held-out moons, the worse of the two schedules",
    baseline="samples of a Gaussian fitted to the same training points",
    experiment="diffusion.experiment:run", learner="diffusion.neuro:DiffusionNeuro")

__all__ = ["PARADIGM"]
