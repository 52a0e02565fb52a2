"""Advanced GPT (issue 28): a decoder with masked attention on our own reverse-mode autograd
`Tensor` (numpy; torch arrays on a GPU), trained with cross-entropy, optional distillation and
gradient clipping. `GPTNeuro` (``learning.gpt``) in neuro.py; the experiment (a generated corpus
against a unigram model, and a gradient check against torch autograd) in experiment.py."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="gpt", issue=28,
    task="next character of generated sentences (corpus.py), context 32; gradient check vs torch autograd",
    figure="held-out cross-entropy per character (nats) of the decoder on our autograd",
    baseline="the unigram model of the training characters (add-one smoothed)",
    experiment="gpt.experiment:run", learner="gpt.neuro:GPTNeuro")

__all__ = ["PARADIGM"]
