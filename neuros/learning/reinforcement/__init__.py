"""Reinforcement learning (issue 28): tabular Q-learning and policy gradient with a baseline on a
generated grid world (discrete), soft actor-critic on a generated point-mass task (continuous).
`ReinforcementNeuro` (``learning.reinforcement``) in neuro.py; the experiment in experiment.py.
Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="reinforcement", issue=28,
    task="a generated 8x8 grid world (20% walls, +1 at the goal, -0.05 a step); in extra also a generated "
         "point-mass task in the plane (reward -distance to the origin)",
    figure="mean return of Q-learning's greedy policy on the grid world (policy gradient with baseline and, on "
           "the point mass, soft actor-critic in extra)",
    baseline="the uniformly random policy on the same world (and on the point mass, in extra)",
    experiment="reinforcement.experiment:run", learner="reinforcement.neuro:ReinforcementNeuro")

__all__ = ["PARADIGM"]
