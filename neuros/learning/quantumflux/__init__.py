"""Quantum flux learning (issue 29): a layer of complex amplitudes held unitary, U^H U = I, by
its parametrisation U = exp(A - A^H) (the seed's 5.8). `QuantumFluxNeuro` (``learning.quantumflux``)
in neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="quantumflux", issue=29,
    task="learn an unknown 8x8 unitary map of complex amplitude vectors (a norm-preserving task) from 6 noisy "
         "examples (noise 0.05), fewer than the dimension",
    figure="test task error mean ||U psi - U_true psi||^2 on 500 fresh unit states of the unitary layer "
           "U = exp(A - A^H) (lower is better); its unitarity error ||U^H U - I|| in extra",
    baseline="an unconstrained complex layer W (same init, optimiser and steps); its unitarity error in extra",
    experiment="quantumflux.experiment:run", learner="quantumflux.neuro:QuantumFluxNeuro")

__all__ = ["PARADIGM"]
