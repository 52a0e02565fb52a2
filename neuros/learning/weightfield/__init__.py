"""Continuous weight field learning (issue 29): weights that vary smoothly with the input, a
field of radial basis functions over the input space (the seed's 5.10). `WeightFieldNeuro`
(``learning.weightfield``) in neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="weightfield", issue=29,
    task="generated 1-D regression on [-1, 1]: y = sin(2 pi x) + 0.5 x^2 + noise 0.1 (256 train points)",
    figure="test MSE of the RBF weight field y = phi(x)^T W r_x trained by the seed's rule "
           "w_j += eta phi(x) e r_x[j] - eta lambda w_j (lower is better)",
    baseline="linear regression (least squares) on the same points",
    experiment="weightfield.experiment:run", learner="weightfield.neuro:WeightFieldNeuro")

__all__ = ["PARADIGM"]
