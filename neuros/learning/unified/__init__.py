"""Unified learning (issue 29): learners of different kinds under a softmax gate, trained on the
log mixture objective L = -log sum_i g_i exp(-L_i). `UnifiedNeuro` (``learning.unified``) in
neuro.py; the experiment (experiment.py) compares the mixture with the best single learner on a
task where different learners win on different inputs. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="unified", issue=29,
    task="1-D regression: a line left of 0, sin(10 x) right of it (generated, noise 0.05)",
    figure="test MSE of a gated mixture (line, sine bank, small MLP) trained on the log mixture objective "
           "(lower is better)",
    baseline="the best single learner of the three, trained alone on the MSE with the same steps",
    experiment="unified.experiment:run", learner="unified.neuro:UnifiedNeuro")

__all__ = ["PARADIGM"]
