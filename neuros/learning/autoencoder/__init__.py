"""Autoencoders (issue 28): plain, denoising (input noise whose sigma decays each epoch) and
variational (with the KL term), reconstructing digits through a code of fixed size.
`AutoencoderNeuro` (``learning.autoencoder``) in neuro.py; the experiment in experiment.py.
Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="autoencoder", issue=28,
    task="digits: reconstruct each test image through an 8-number code; plain, denoising and variational "
         "autoencoders trained on the train images",
    figure="test reconstruction MSE per pixel of the plain autoencoder (all three kinds in extra)",
    baseline="PCA with the same 8 components, fitted on the same train images",
    experiment="autoencoder.experiment:run", learner="autoencoder.neuro:AutoencoderNeuro")

__all__ = ["PARADIGM"]
