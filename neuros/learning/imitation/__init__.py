"""Imitation learning (issue 28): behaviour cloning of a scripted expert (shortest paths by
breadth-first search) in generated grid worlds. `ImitationNeuro` (``learning.imitation``) in
neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="imitation", issue=28,
    task="generated 7x7 grid worlds (20% walls, random start and goal): clone the expert's action from what the "
         "agent sees (the walls in a 5x5 window around it and the goal's offset); train maps and test maps differ",
    figure="action accuracy on the test maps' expert demonstrations of an MLP trained by cross-entropy (behaviour "
           "cloning); in extra the share of test episodes the cloned policy finishes",
    baseline="always the majority action of the training demonstrations",
    experiment="imitation.experiment:run", learner="imitation.neuro:ImitationNeuro")

__all__ = ["PARADIGM"]
