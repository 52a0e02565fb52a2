"""Advanced GPT (issue 28): our autograd's gradients equal torch's, the decoder beats a unigram
model on the generated corpus, clipping and the causal mask by hand, and the neuro through a real
kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuro.neuros.learning import protocol as P  # noqa: E402
from neuro.neuros.learning.gpt.config import GPTConfig  # noqa: E402
from neuro.neuros.learning.gpt.gradcheck import gradient_check  # noqa: E402
from neuro.neuros.learning.gpt.neuro import GPTNeuro  # noqa: E402
from neuro.neuros.learning.gpt.tensor import parameter  # noqa: E402
from neuro.neuros.learning.gpt.train import GPT, clip_gradients  # noqa: E402
from neuro.neuros.learning.paradigms import run_experiment  # noqa: E402

from .kernel_calls import call_all, inproc  # noqa: E402


def test_the_decoder_beats_the_unigram_model_and_its_gradients_match_torch():
    """The quick experiment: cross-entropy per character below the unigram's by the margin; the
    gradient check against torch autograd is at float64 rounding."""
    outcome = run_experiment("gpt", quick=True)
    assert outcome.beats(), outcome
    assert outcome.extra["max_abs_grad_diff"] < 1e-10, outcome.extra


def test_gradient_check_holds_for_another_shape_and_seed():
    """Three layers, four heads, a longer context: still equal to torch's gradients."""
    assert gradient_check(seed=3, context=9, d_model=12, layers=3, heads=4)["max_abs_grad_diff"] < 1e-10


def test_elementwise_ops_and_broadcasting_have_the_textbook_gradients():
    """d/da sum(a * b + a / b) = b + 1/b, with b broadcast over rows (its gradient summed)."""
    a, b = parameter(np.ones((3, 2))), parameter(np.array([2.0, 4.0]))
    (a * b + a / b).sum().backward()
    np.testing.assert_allclose(np.tile([2.5, 4.25], (3, 1)), a.grad, rtol=1e-6)
    np.testing.assert_allclose([3 * (1 - 1 / 4), 3 * (1 - 1 / 16)], b.grad, rtol=1e-6)


def test_clipping_scales_to_the_max_norm_and_leaves_small_gradients_alone():
    """A gradient of norm 5 clipped to 1 becomes norm ~1; one of norm 0.5 is untouched."""
    big, small = [np.array([3.0, 4.0])], [np.array([0.3, 0.4])]
    assert 5.0 == clip_gradients(big, 1.0)
    assert 1.0 == pytest.approx(float(np.linalg.norm(big[0])), abs=1e-6)
    clip_gradients(small, 1.0)
    np.testing.assert_array_equal([0.3, 0.4], small[0])


def test_attention_is_causal_a_later_token_never_changes_an_earlier_logit():
    """Changing the last token leaves the logits of every earlier position as they were."""
    model = GPT(GPTConfig(context=8, d_model=8, heads=2, layers=1), vocab=5)
    ids = np.array([[1, 2, 3, 4, 0, 1, 2, 3]])
    changed = ids.copy()
    changed[0, -1] = 0
    np.testing.assert_allclose(model.logits(ids).data[0, :-1], model.logits(changed).data[0, :-1], atol=1e-6)


def test_the_neuro_trains_on_the_corpus_predicts_generates_evaluates_and_round_trips(tmp_path):
    """Train (2 slices of 10 steps), then distil into a fresh model; Predict, Generate, Evaluate, Snapshot/Restore."""
    tiny = {"steps_per_epoch": 10, "d_model": 16, "heads": 2, "layers": 1, "context": 16}
    ids = np.random.default_rng(0).integers(0, 20, (2, 16))
    x, y = P.Array.of(ids), P.Array.of(np.roll(ids, -1, 1))
    d, res, distilled, pred, gen, ev, snap, restored, again = call_all(
        tmp_path, inproc(GPTNeuro), P.Describe(), P.Train(epochs=2, options=tiny, wait=True),
        P.Train(epochs=1, options={**tiny, "distill_alpha": 0.5}, fresh=True, wait=True), P.Predict(x=x),
        P.Generate(y=P.Array.of(ids[:1, :4]), steps=12), P.Evaluate(x=x, y=y), P.Snapshot(inline=True),
        lambda answers: P.Restore(weights=answers[-1]), P.Predict(x=x))
    assert ("learning.gpt", ["sequence"]) == (d.name, d.tasks)
    assert res.metrics["test_cross_entropy"] < res.metrics["test_unigram_cross_entropy"]
    assert np.isfinite(distilled.metrics["loss"])
    vocab = pred.scores.numpy().shape[1]
    assert ((2, vocab), (1, 12)) == (tuple(pred.scores.numpy().shape), tuple(gen.x.numpy().shape))
    assert ev.metrics["cross_entropy"] > 0
    assert 1 == restored.version
    np.testing.assert_allclose(pred.scores.numpy(), again.scores.numpy(), atol=1e-5)


def test_the_torch_array_backend_gives_the_numpy_backends_gradients():
    """Our autograd on torch arrays (the GPU path, here on the CPU) equals it on numpy arrays."""
    from neuro.neuros.learning.gpt.backend import NumpyOps, TorchOps

    start = np.random.default_rng(0).normal(size=(2, 3, 4))
    grads = []
    for ops in (NumpyOps("float64"), TorchOps("cpu", "float64")):
        a = parameter(start, ops)
        h = (a @ a.transpose(1, 2)).tanh()
        ((h - h.amax(-1, keepdim=True)).exp().mean(-1).log() * 3.0).sum().backward()
        grads.append(ops.to_numpy(a.grad))
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)
