"""The genome's rule family: it starts at the Hebbian baseline exactly, holds the delta rule,
its meta-gradient reaches the terms that make it error-correcting, and meta-training takes it
past Hebbian on fresh tasks."""

from __future__ import annotations

import msgspec
import pytest

torch = pytest.importorskip("torch")

from neuro.neuros.learning.plasticity import cortex, metatrain, rules, tasks  # noqa: E402
from neuro.neuros.learning.plasticity.config import PlasticityConfig  # noqa: E402
from neuro.neuros.learning.plasticity.model import PlasticModel  # noqa: E402

# homeostasis off: the baselines have none, so the two cortices are the same one
BARE = PlasticityConfig(dim=16, k_min=4, k_max=12, genome_hidden=4, homeostasis="off", device="cpu")


def _tasks(n, k, dim, seed):
    return (torch.from_numpy(a) for a in tasks.random_tasks(n, k, dim, seed))


def _lifetime_W(model, cues, targets):
    with torch.no_grad():
        return cortex.store(model.genome, model.W0.expand(len(cues), *model.W0.shape).clone(), cues, targets,
                            model.cfg)


def test_the_genome_starts_at_the_hebbian_baseline_exactly():
    """Untrained, its fast weights are W0 + Hebbian's, and its recall scores what Hebbian scores."""
    model = PlasticModel(BARE)
    cues, targets = _tasks(64, 12, 16, seed=11)
    hebbian = rules.store_with("hebbian", cues, targets, W0=model.W0)
    assert torch.allclose(_lifetime_W(model, cues, targets), hebbian, atol=1e-6)
    h, _ = model.lifetimes(cues.numpy(), targets.numpy())
    genome = rules.bit_accuracy(torch.from_numpy(h), targets)
    assert genome == rules.rule_accuracy("hebbian", cues, targets, W0=model.W0)
    assert genome < 1.0  # K=12 in D=16: Hebbian makes errors, so the equality says something


def test_the_rule_family_holds_the_delta_rule():
    """a_drive = -a_post turns the start into the delta rule: the same weights as rules.py's."""
    model = PlasticModel(BARE)
    with torch.no_grad():
        model.genome.coef[1] = -1.0  # a_drive
        model.genome.log_eta.fill_(torch.tensor(0.5).log())
    cues, targets = _tasks(32, 8, 16, seed=12)
    delta = rules.store_with("delta", cues, targets, eta=0.5, W0=model.W0)
    assert torch.allclose(_lifetime_W(model, cues, targets), delta, atol=1e-5)


def test_the_meta_gradient_reaches_the_error_correcting_terms_at_the_start():
    """From Hebbian, the loss has a gradient on the coefficients, the step, the MLP's output
    layer and the feedback pulse's gain: nothing that makes the rule error-correcting is stuck."""
    model = PlasticModel(msgspec.structs.replace(BARE, homeostasis="cap"))
    cues, targets = _tasks(8, 12, 16, seed=13)
    h, u = cortex.lifetime(model.genome, model.W0, cues, targets, model.cfg, drive=True)
    metatrain.meta_loss(h, u, targets, model.cfg.meta_loss).backward()
    g = model.genome
    assert all(float(p.grad.abs().sum()) > 0 for p in (g.log_eta, g.w_out, g.reflect_gain))
    assert float(g.coef.grad[1].abs()) > 0  # a_drive: the delta rule's term


def test_meta_training_takes_the_genome_past_hebbian_on_fresh_tasks():
    """20 meta-steps at D=16 (K in [4, 12]) and the genome beats Hebbian at K=12 on 256 fresh
    validation tasks by more than 2 points (it starts equal to it)."""
    torch.set_num_threads(1)  # the machine is shared; threads only contend here
    cfg = PlasticityConfig(dim=16, k_min=4, k_max=12, genome_hidden=4, tasks_per_step=8, steps_per_stage=20,
                           validation_tasks=8, device="cpu", seed=3)
    model = PlasticModel(cfg)
    cues, targets = _tasks(256, 12, 16, seed=tasks.VALIDATION_SEED + 99)
    start = metatrain.validate(model, 12, 256, seed=tasks.VALIDATION_SEED + 87)
    metatrain.fit_stage(model, 0, 1)
    trained = metatrain.validate(model, 12, 256, seed=tasks.VALIDATION_SEED + 87)
    hebbian = rules.rule_accuracy("hebbian", cues, targets, W0=model.W0)
    assert trained > start + 0.02
    h, _ = model.lifetimes(cues.numpy(), targets.numpy())
    assert rules.bit_accuracy(torch.from_numpy(h), targets) > hebbian + 0.02
