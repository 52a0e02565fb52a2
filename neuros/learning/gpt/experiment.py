"""The GPT experiment: a decoder on our own autograd learns a generated text corpus (corpus.py).
Figure: cross-entropy per character (nats) on held-out sentences; baseline: the unigram model
of the training characters (add-one smoothed), lower is better. Extra: the gradient check
against torch autograd (max abs difference), a bigram model, and distillation: a smaller
student trained with CE + alpha KL(student || teacher) beside the same student on CE alone."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run", "ngram_cross_entropy"]


def ngram_cross_entropy(train: list, test: list, vocab: int, order: int) -> float:
    """Cross-entropy per character of an add-one smoothed unigram (order 1) or bigram (2) model."""
    import numpy as np

    train, test = np.asarray(train), np.asarray(test)
    if order == 1:
        p = (np.bincount(train, minlength=vocab) + 1.0) / (len(train) + vocab)
        return float(-np.log(p[test]).mean())
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    p = counts / counts.sum(1, keepdims=True)
    return float(-np.log(p[test[:-1], test[1:]]).mean())


def run(quick: bool = True, seed: int = 0, device: str = "cpu") -> Outcome:
    import msgspec

    from .config import GPTConfig
    from .corpus import Vocab, corpus
    from .gradcheck import gradient_check
    from .train import GPT

    vocab = Vocab()
    train, test = vocab.encode(corpus(3000, seed)), vocab.encode(corpus(300, seed + 1000))
    steps, student_steps = (150, 80) if quick else (2000, 800)
    cfg = GPTConfig(seed=seed, device=device)
    teacher = GPT(cfg, len(vocab), device)
    teacher.fit(train, steps)
    extra = gradient_check(seed)
    extra["bigram_cross_entropy"] = ngram_cross_entropy(train, test, len(vocab), 2)
    small = msgspec.structs.replace(cfg, d_model=16, heads=2, layers=1)
    for name, alpha in (("distilled", 0.5), ("plain", 0.0)):
        student = GPT(msgspec.structs.replace(small, distill_alpha=alpha), len(vocab), device)
        student.fit(train, student_steps, teacher if alpha else None)
        extra[f"student_{name}_cross_entropy"] = student.cross_entropy(test)
    return Outcome(figure=teacher.cross_entropy(test), baseline=ngram_cross_entropy(train, test, len(vocab), 1),
                   unit="nats/char", higher_is_better=False, margin=0.5, extra=extra,
                   note=f"generated sentences, {steps} steps of d_model {cfg.d_model} x {cfg.layers} layers on our "
                        f"autograd; students d_model 16 x 1, {student_steps} steps")
