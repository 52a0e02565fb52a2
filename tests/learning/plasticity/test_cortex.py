"""The inner and outer loops in torch, without a kernel: the slow weights stay fixed through
meta-training, recall never reads a target, the schedule, the task streams, homeostasis and
the baselines' rules."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuro.neuros.learning.plasticity import cortex, metatrain, rules, tasks  # noqa: E402
from neuro.neuros.learning.plasticity.config import PlasticityConfig  # noqa: E402
from neuro.neuros.learning.plasticity.model import PlasticModel  # noqa: E402

SMALL = PlasticityConfig(dim=8, k_min=2, k_max=4, genome_hidden=4, tasks_per_step=4, steps_per_stage=3,
                         validation_tasks=8, device="cpu", lr=1e-2)
PLASTIC = msgspec.structs.replace(SMALL, plastic_recall=True)  # the rule runs on while recalling


def _recall_time_rule(model):
    """Give the genome a rule at gate 0 (no teacher): at its Hebbian start it has none."""
    with torch.no_grad():
        model.genome.coef[2] = 1.0  # r_post
    return model


def _t(a):
    return torch.from_numpy(a)


def test_meta_training_changes_the_genome_and_leaves_the_slow_weights_bit_for_bit():
    """After a stage of meta-steps theta moved, W0's bytes did not, and Adam holds theta alone."""
    model = PlasticModel(SMALL)
    w0_before = model.W0.numpy().tobytes()
    theta_before = [p.detach().clone() for p in model.genome.parameters()]
    metatrain.fit_stage(model, 0, 2)
    optimised = {id(p) for group in model.opt.param_groups for p in group["params"]}
    assert {id(p) for p in model.genome.parameters()} == optimised
    assert w0_before == model.W0.numpy().tobytes()
    assert (False, 3) == (model.W0.requires_grad, model.meta_steps)
    assert any(not torch.equal(a, b) for a, b in zip(theta_before, model.genome.parameters()))


def test_meta_steps_on_one_batch_lower_its_meta_loss():
    """Ten meta-gradient steps on the same tasks lower the loss on them: the gradient reaches theta."""
    model = PlasticModel(SMALL)
    cues, targets = tasks.random_tasks(8, 3, 8, seed=5)
    losses = [metatrain.meta_step(model, cues, targets, alpha=0.0) for _ in range(10)]
    assert losses[-1] < losses[0]


def test_recall_is_the_same_whatever_the_teacher_says_when_alpha_is_zero():
    """At alpha = 0 (validation, test) recall reads no target: random teachers change nothing."""
    model = _recall_time_rule(PlasticModel(PLASTIC))
    cues, targets = map(_t, tasks.random_tasks(3, 4, 8, seed=1))
    with torch.no_grad():
        W = cortex.store(model.genome, model.W0.expand(3, 8, 8).clone(), cues, targets, PLASTIC)
        plain, _, _ = cortex.recall(model.genome, W, cues, PLASTIC)
        other, _, _ = cortex.recall(model.genome, W, cues, PLASTIC, teacher=-targets, alpha=0.0)
    assert torch.equal(plain, other)


def test_the_answer_to_a_cue_is_read_before_a_teacher_can_reach_it():
    """With the teacher fully on at recall, the first cue's answer still equals the untaught one."""
    model = _recall_time_rule(PlasticModel(PLASTIC))
    cues, targets = map(_t, tasks.random_tasks(2, 3, 8, seed=2))
    W = model.W0.expand(2, 8, 8).clone()
    with torch.no_grad():
        taught, _, _ = cortex.recall(model.genome, W, cues, PLASTIC, teacher=targets, alpha=1.0)
        untaught, _, _ = cortex.recall(model.genome, W, cues, PLASTIC)
    assert torch.equal(taught[:, 0], untaught[:, 0])
    assert not torch.equal(taught[:, 1:], untaught[:, 1:])  # the teacher did reach the later cues


def test_teacher_forcing_falls_from_one_to_zero_over_the_stages():
    """alpha_k = 1 - k / (S - 1): 1 at the first stage, 0 at the last; 0 throughout when off."""
    assert [1.0, 0.75, 0.5, 0.25, 0.0] == [metatrain.alpha_at(k, 5) for k in range(5)]
    assert [0.0, 0.0] == [metatrain.alpha_at(0, 1), metatrain.alpha_at(0, 5, "off")]


def test_test_tasks_are_never_drawn_in_meta_training():
    """No test task (test seeds) equals a task of the first 200 meta-steps (training seeds)."""
    cfg = PlasticityConfig(dim=8, k_min=2, k_max=2, tasks_per_step=8)
    test_cues, test_targets = tasks.random_tasks(512, 2, 8, tasks.TEST_SEED + (8 << 20) + 2)
    seen = set()
    for step in range(200):
        c, t = metatrain.draw_tasks(cfg, step)
        seen |= {np.concatenate([ci, ti]).tobytes() for ci, ti in zip(c, t)}
    test = {np.concatenate([ci, ti]).tobytes() for ci, ti in zip(test_cues, test_targets)}
    assert set() == seen & test


def test_meta_training_draws_the_same_tasks_for_the_same_step():
    """A meta-step's tasks depend only on the seed and the step (so a resumed job repeats none)."""
    a = metatrain.draw_tasks(SMALL, 7)
    b = metatrain.draw_tasks(SMALL, 7)
    c = metatrain.draw_tasks(SMALL, 8)
    assert (True, False) == (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]),
                             a[0].shape == c[0].shape and np.array_equal(a[0], c[0]))


@pytest.mark.parametrize("mode, low, high", [("unit", 1.0, 1.0), ("cap", 0.0, 1.0)])
def test_homeostasis_holds_every_row_at_unit_length_or_below(mode, low, high):
    """After storing, each post neuron's incoming weights have L2 norm 1 ("unit") or at most 1 ("cap")."""
    cfg = msgspec.structs.replace(SMALL, homeostasis=mode)
    model = PlasticModel(cfg)
    cues, targets = map(_t, tasks.random_tasks(2, 4, 8, seed=3))
    with torch.no_grad():
        norms = cortex.store(model.genome, model.W0.expand(2, 8, 8).clone(), cues, targets, cfg).norm(dim=-1)
    assert (True, True) == (bool((norms >= low - 1e-5).all()), bool((norms <= high + 1e-5).all()))


def test_distractors_make_a_delay_that_the_rule_runs_through():
    """With distractor cues between storing and recalling, the answers differ from a lifetime without."""
    model = _recall_time_rule(PlasticModel(SMALL))
    cues, targets = tasks.random_tasks(4, 3, 8, seed=6)
    torch.manual_seed(0)
    plain, _ = model.lifetimes(cues, targets)
    model.cfg = msgspec.structs.replace(SMALL, distractors=3)
    delayed, _ = model.lifetimes(cues, targets)
    assert plain.shape == delayed.shape and not np.array_equal(plain, delayed)


def test_the_baseline_rules_store_what_they_should():
    """One pair: Hebbian and the delta rule recall it exactly; no plasticity is near chance."""
    cues, targets = map(_t, tasks.random_tasks(64, 1, 16, seed=4))
    W0 = torch.randn(16, 16, generator=torch.Generator().manual_seed(0)) * 0.01
    assert 1.0 == rules.rule_accuracy("hebbian", cues, targets)
    assert 1.0 == rules.rule_accuracy("delta", cues, targets)
    assert 0.4 < rules.rule_accuracy("none", cues, targets, W0=W0) < 0.6
    with pytest.raises(ValueError, match="unknown rule 'sgd'; known: none, hebbian, oja, delta"):
        rules.store_with("sgd", cues, targets)


def test_the_miconi_style_net_recalls_one_stored_pair_and_its_training_moves_it():
    """Its Hebbian trace stores one pair exactly at the start; a few Adam steps change W, alpha and eta."""
    from neuro.neuros.learning.plasticity.miconi import PlasticNet, plastic_net_accuracy, train_plastic_net

    cues, targets = map(_t, tasks.random_tasks(16, 1, 8, seed=7))
    assert 1.0 == plastic_net_accuracy(PlasticNet(8), cues, targets)
    trained = train_plastic_net(SMALL, 3)
    assert not torch.equal(PlasticNet(8).alpha, trained.alpha)


def test_the_homeostasis_warm_up_meta_trains_with_unit_rows_then_with_the_configured_ones():
    """Under "cap" with a warm-up of 2 steps, the first 2 steps equal a "unit" run's, the third does not."""
    cap, unit = (PlasticModel(msgspec.structs.replace(SMALL, homeostasis=mode, homeostasis_warmup=2))
                 for mode in ("cap", "unit"))
    cues, targets = tasks.random_tasks(4, 4, 8, seed=8)
    same = []
    for _ in range(3):
        metatrain.meta_step(cap, cues, targets, 0.0)
        metatrain.meta_step(unit, cues, targets, 0.0)
        same.append(all(torch.equal(a, b) for a, b in zip(cap.genome.parameters(), unit.genome.parameters())))
    assert [True, True, False] == same


def test_adams_rate_falls_over_the_stages_with_cosine_decay():
    """lr at the first stage, lr / 30 at the last, constant without decay."""
    cfg = msgspec.structs.replace(SMALL, lr=0.03)
    assert [0.03, 0.001] == [round(metatrain.lr_at(cfg, k, 5), 6) for k in (0, 4)]
    assert 0.03 == metatrain.lr_at(msgspec.structs.replace(cfg, lr_decay="none"), 4, 5)
