"""The council's parts: halting with a cost that has a gradient, the per-example gate, no
true answer in the action, the memory ring, distillation, the meta-update, weights and an
exact resume. A tiny net, a few steps each."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuro.neuros.learning.council.config import CouncilConfig, config_with  # noqa: E402
from neuro.neuros.learning.council.online import OnlineCouncil  # noqa: E402
from neuro.neuros.learning.council.world import make_world, windows_at  # noqa: E402

TINY = dict(dim=16, heads=2, voices=2, max_ponder=3, memory_slots=4, batch_size=4, device="cpu")


def _online(**kw):
    return OnlineCouncil(CouncilConfig(**{**TINY, **kw}))


def _batch(seed=0, t=5):
    w = make_world(streams=4, steps=20, seed=seed)
    return windows_at(w.x, t, 2), w.y[:, t]


def test_expected_ponder_steps_lie_between_one_and_max_ponder_per_voice():
    """Each voice's expected steps are in [1, max_ponder]; the batch's sum counts every voice."""
    oc = _online(gate="always")
    out = oc.step(*_batch())
    assert 2 * 1.0 - 1e-5 <= out.ponder <= 2 * 3.0 + 1e-5


def test_the_ponder_cost_has_a_gradient_into_the_halting_rule():
    """The expected-steps cost alone moves the halting weights (ACT/PonderNet: differentiable)."""
    oc = _online(gate="always")
    m = oc.model
    rho = m.modulator(torch.zeros(4))
    s1 = m.s1(torch.as_tensor(_batch()[0]), rho[:, :-1])
    mem = torch.zeros(4, 4, 16)
    out = m.council(s1.summary, s1.tokens, mem, rho[:, -1])
    out.steps.sum().backward()
    assert float(m.council.halt.weight.grad.abs().sum()) > 0
    assert float(m.council.halt.bias.grad) < 0  # a larger bias halts sooner and costs less: descent raises it


def test_a_voice_that_halts_at_once_computes_one_step():
    """Once every voice has almost no halting mass left, the loop stops: the steps are not run."""
    oc = _online(gate="always")
    with torch.no_grad():
        oc.model.council.halt.bias.fill_(20.0)
    oc.step(*_batch())
    m = oc.model
    rho = m.modulator(torch.zeros(4))
    s1 = m.s1(torch.as_tensor(_batch()[0]), rho[:, :-1])
    out = m.council(s1.summary, s1.tokens, torch.zeros(4, 4, 16), rho[:, -1])
    assert 1 == out.computed
    assert torch.allclose(out.steps, torch.full((4,), 2.0))  # one step for each of the two voices


def test_the_entropy_gate_decides_per_example():
    """The council runs exactly where System 1's entropy passes the threshold, row by row."""
    oc = _online(gate="entropy", entropy_threshold=0.5)
    w, y = _batch()
    with torch.no_grad():  # make row 0 sure (one huge logit) and leave the others near uniform
        oc.model.s1.head.weight.zero_()
        oc.model.s1.head.bias.zero_()
    out = oc.observe(w)
    assert out.ran.all()  # uniform logits: every row unsure
    with torch.no_grad():
        oc.model.s1.head.bias[3] = 50.0
    out = oc.observe(w)
    assert not out.ran.any() and (out.s1_entropy < 0.5 * math.log(20)).all()


def test_the_doubt_gate_also_calls_where_the_alarm_is_up_though_system1_is_sure():
    """After a rule switch System 1 is sure of the old rule and wrong: its entropy is low, its
    surprise high. The doubt gate calls the council on the rows whose alarm passes the
    threshold, and on no other row while System 1 is sure."""
    oc = _online(gate="doubt", entropy_threshold=0.5, surprise_threshold=0.3)
    w, _ = _batch()
    with torch.no_grad():  # every row sure: one huge logit
        oc.model.s1.head.weight.zero_()
        oc.model.s1.head.bias.zero_()
        oc.model.s1.head.bias[3] = 50.0
    oc.reset_streams(4)
    oc.alarm = torch.tensor([0.4, 0.0, 0.4, 0.2]) * math.log(20)
    assert [True, False, True, False] == oc.observe(w).ran.tolist()
    entropy_only = _online(gate="entropy", entropy_threshold=0.5)
    entropy_only.model.load_state_dict(oc.model.state_dict())
    entropy_only.reset_streams(4)
    entropy_only.alarm = oc.alarm.clone()
    assert not entropy_only.observe(w).ran.any()


def test_the_alarm_holds_a_surprise_and_decays():
    """After a step the alarm is max(this step's surprise, alarm_decay * the alarm before):
    a large surprise outlasts its step, halving each step (alarm_decay 0.5)."""
    oc = _online(gate="never", alarm_decay=0.5)
    w, y = _batch()
    oc.reset_streams(4)
    oc.alarm = torch.tensor([40.0, 0.0, 40.0, 0.0])
    oc.step(w, y)
    surprise = oc.surprise
    assert (surprise < 20.0).all()  # an untrained net's loss is near log 20
    assert torch.allclose(oc.alarm, torch.maximum(surprise, torch.tensor([20.0, 0.0, 20.0, 0.0])))
    assert torch.allclose(oc.alarm[[1, 3]], surprise[[1, 3]])


def test_the_answer_scored_does_not_depend_on_the_true_next_symbol():
    """Two steps from the same state, told different targets, answer the same: the target is
    learnt from after the answer, never fed into it."""
    w, y = _batch()
    a, b = _online(gate="always", seed=1), _online(gate="always", seed=1)
    out_a = a.step(w, y)
    out_b = b.step(w, (y + 7) % 20)
    assert out_a.pred.tolist() == out_b.pred.tolist()
    assert np.allclose(out_a.probs, out_b.probs)


def test_the_executive_memory_is_a_ring_the_newest_thought_last():
    """After a step the old slots have moved one to the left and the new write is the last."""
    oc = _online(gate="never")
    w, y = _batch()
    oc.step(w, y)
    before = oc.memory.clone()
    oc.step(*_batch(t=6))
    assert torch.equal(before[:, 1:], oc.memory[:, :-1])
    assert not torch.equal(before[:, -1], oc.memory[:, -1])


def test_sleep_distils_the_teacher_council_into_system1():
    """consolidate lowers System 1's KL to the EMA teacher's council on the replay buffer."""
    oc = _online(gate="always", ema=0.0, sleep_steps=30)
    world = make_world(streams=4, steps=12, seed=2)
    oc.run(world.x, world.y)
    out = oc.consolidate()
    assert 48.0 == out["replayed"]
    assert out["kl_after"] < out["kl_before"]


def test_the_meta_update_keeps_the_candidate_with_the_lower_loss():
    """With a judge that prefers bigger steps the aggressive candidate is kept, and the other way."""
    for prefer_big, want in ((True, "aggressive"), (False, "conservative")):
        oc = _online(gate="never", meta_update=True, max_grad_norm=1e9)
        p = oc.meta.params[0]
        start = p.detach().clone()
        (p.sum() * 1.0).backward()

        def judge():
            moved = float((p.detach() - start).abs().sum())
            return -moved if prefer_big else moved

        oc.meta.step(judge)
        assert 1 == oc.meta.choices[want]


def test_weights_round_trip_gives_the_same_answers():
    """to_weights then from_weights answers the same windows with the same probabilities
    (from fresh memories: the streams' memories are state, not weights)."""
    from neuro.neuros.learning.council.weights import from_weights, to_weights

    oc = _online()
    world = make_world(streams=4, steps=10, seed=0)
    oc.run(world.x, world.y)
    again = from_weights(to_weights(oc))
    w = windows_at(world.x, 9, 2)
    oc.reset_streams(4)
    assert np.allclose(oc.observe(w).probs, again.observe(w).probs, atol=1e-6)


def test_a_resumed_job_continues_exactly_as_one_never_stopped():
    """save_job/load_job keep weights, Adam, memories, generator and counters: the same answers after."""
    from neuro.neuros.learning.council.weights import load_job, save_job

    world = make_world(streams=4, steps=16, seed=4)
    a = _online(gate="learnt", explore=0.3)
    a.run(world.x, world.y, stop=8)
    b = load_job(save_job(a))
    ra = a.run(world.x, world.y, start=8, reset=False)
    rb = b.run(world.x, world.y, start=8, reset=False)
    assert (ra["correct"] == rb["correct"]).all() and (ra["ran"] == rb["ran"]).all()
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_a_resumed_job_keeps_the_streams_alarms():
    """The doubt gate reads the alarm, so a resumed job carries it: the same calls after."""
    from neuro.neuros.learning.council.weights import load_job, save_job

    world = make_world(streams=4, steps=16, seed=4)
    a = _online(gate="doubt")
    a.run(world.x, world.y, stop=8)
    a.alarm = torch.tensor([9.0, 0.0, 9.0, 0.0])
    b = load_job(save_job(a))
    assert torch.equal(a.alarm, b.alarm)
    ra = a.run(world.x, world.y, start=8, reset=False)
    rb = b.run(world.x, world.y, start=8, reset=False)
    assert (ra["ran"] == rb["ran"]).all() and (ra["correct"] == rb["correct"]).all()


def test_an_unknown_option_lists_the_known_ones():
    """config_with refuses a name the config lacks, naming the known options."""
    with pytest.raises(ValueError, match="unknown option\\(s\\) 'voicez' for learning.council; known options: vocab"):
        config_with(CouncilConfig(), {"voicez": 3})


def test_an_invalid_value_says_what_it_must_be():
    """A dim that heads do not divide is refused with both numbers."""
    with pytest.raises(ValueError, match="`dim` \\(10\\) must be a multiple of `heads` \\(4\\)"):
        CouncilConfig(dim=10, heads=4)


def test_the_seed_batch_gate_calls_all_of_a_batch_or_none():
    """gate="batch" (the seed's) decides once for the batch, on its mean entropy."""
    oc = _online(gate="batch", entropy_threshold=0.5)
    w, _ = _batch()
    with torch.no_grad():
        oc.model.s1.head.weight.zero_()
        oc.model.s1.head.bias.zero_()
    assert oc.observe(w).ran.all()
    with torch.no_grad():
        oc.model.s1.head.bias[3] = 50.0
    assert not oc.observe(w).ran.any()


def test_the_learnt_gate_closes_when_calls_cost_more_than_they_gain():
    """A call price far above any loss the council could save lowers the gate's logit for
    every input: the compute cost reaches the gate through its gradient."""
    oc = _online(gate="learnt", explore=1.0, gate_cost=100.0, meta_update=False)
    w, y = _batch()
    feats = torch.rand(8, 3)
    before = oc.model.gate(feats).detach()
    oc.step(w, y)
    after = oc.model.gate(feats).detach()
    assert (after < before).all()
