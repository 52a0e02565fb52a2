"""Harmonic resonance learning (issue 29): a waveform learnt by matching its Fourier magnitude
spectrum to the recordings' (the seed's 5.8). `HarmonicNeuro` (``learning.harmonic``) in
neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="harmonic", issue=29,
    task="reproduce a generated 3-tone signal (3, 11, 29 cycles, amplitudes 1, 0.6, 0.4) from 32 noisy "
         "recordings (noise 0.1) whose start times are unknown (each circularly shifted at random); "
         "a bank of 64 learnable harmonics",
    figure="spectral error ||S(y_hat) - S(y)|| / ||S(y)|| of the bank trained on the Fourier spectrum loss "
           "(lower is better)",
    baseline="the same bank trained on the time-domain MSE only (and, in extra, both on aligned recordings)",
    experiment="harmonic.experiment:run", learner="harmonic.neuro:HarmonicNeuro")

__all__ = ["PARADIGM"]
