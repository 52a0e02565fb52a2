"""Synaptic echo learning (issue 29): an MLP whose weight updates are scaled by a decaying echo
of the activity that fed each weight (the seed's 5.9). `EchoNeuro` (``learning.echo``) in
neuro.py; the experiment in experiment.py. Importing it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="echo", issue=29,
    task="generated 2-D regression, y = sin(2 x1) + 0.5 cos(3 x2) + 0.3 x1 x2 + noise 0.1 (512 train points): "
         "a 2-32-1 tanh MLP, minibatch gradient steps for a fixed budget",
    figure="test MSE of the net trained with echo-modulated updates, dw = -lr * echo_strength * e_t * g_t "
           "(lower is better)",
    baseline="the same net, same init, same lr and steps, plain SGD without echo (and, in extra, plain SGD "
             "at the lr the echo gave on average)",
    experiment="echo.experiment:run", learner="echo.neuro:EchoNeuro")

__all__ = ["PARADIGM"]
