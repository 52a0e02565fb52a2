"""Adversarial learning (issue 28): FGSM examples and adversarial training of a classifier, and
a GAN on the 8-Gaussian ring. `AdversarialNeuro` (``learning.adversarial``) in neuro.py serves
the adversarially trained classifier; the experiment (experiment.py) reports FGSM's robust
accuracy as the figure and the GAN's mode coverage in extra. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="adversarial", issue=28,
    task="digits under FGSM at eps=0.1 (pixels in [0, 1]); and a GAN on a generated 8-Gaussian ring (extra)",
    figure="robust test accuracy at eps=0.1 of an MLP trained on clean + FGSM examples",
    baseline="the same MLP trained on clean examples only (standard training); GAN: a Gaussian fit (extra)",
    experiment="adversarial.experiment:run", learner="adversarial.neuro:AdversarialNeuro")

__all__ = ["PARADIGM"]
