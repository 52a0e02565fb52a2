"""The genome's weights: a round trip keeps every tensor and the buffer; bad weights are
refused with what to do; sleep prunes and replays, saying what each did."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuro.neuros.learning.plasticity import weights as W  # noqa: E402
from neuro.neuros.learning.plasticity.config import PlasticityConfig  # noqa: E402
from neuro.neuros.learning.plasticity.consolidate import sleep  # noqa: E402
from neuro.neuros.learning.plasticity.model import PlasticModel  # noqa: E402
from neuro.neuros.learning.plasticity.tasks import random_tasks  # noqa: E402
from neuro.neuros.learning.protocol import Weights  # noqa: E402

CFG = PlasticityConfig(dim=8, k_min=2, k_max=3, genome_hidden=4, buffer_size=5, device="cpu")


def _model_with_memory():
    model = PlasticModel(CFG)
    cues, targets = random_tasks(1, 6, 8, seed=0)
    model.store(cues[0], targets[0])
    return model


def test_weights_round_trip_every_tensor_the_buffer_and_the_step_count():
    """from_weights(to_weights(m)) has m's genome, W0, memory, buffer (newest 5 of 6) and meta-steps."""
    model = _model_with_memory()
    model.meta_steps = 17
    back = PlasticModel.from_weights(model.to_weights())
    assert model.tensors().keys() == back.tensors().keys()
    assert all(np.array_equal(v, back.tensors()[k]) for k, v in model.tensors().items())
    assert (5, 17) == (len(back.buffer), back.meta_steps)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(model.buffer, back.buffer))
    assert (W.FORMAT, W.VERSION) == (model.to_weights().format, model.to_weights().version)


def test_newer_or_foreign_weights_are_refused_with_what_to_do():
    """A version above the current one, or another learner's format, is a ValueError saying so."""
    w = _model_with_memory().to_weights()
    with pytest.raises(ValueError, match="newer than this code reads \\(2\\); upgrade the learner"):
        W.migrate(msgspec.structs.replace(w, version=3))
    with pytest.raises(ValueError, match="version 1 hold the first build's genome .* meta-train a new genome"):
        W.migrate(msgspec.structs.replace(w, version=1))
    with pytest.raises(ValueError, match="these weights are 'learning.eqprop', not 'learning.plasticity'"):
        W.migrate(msgspec.structs.replace(w, format="learning.eqprop"))
    with pytest.raises(ValueError, match="are damaged"):
        W.decode(Weights(format=W.FORMAT, version=2, data=b"\x01\x02"))


def test_sleep_prunes_the_weakest_share_and_replays_the_buffer():
    """Sleep zeroes prune_fraction of the synapses, replays the 5 buffered pairs, keeps the buffer."""
    model = _model_with_memory()
    report = sleep(model)
    assert (5.0, float(int(0.2 * 64))) == (report["buffered"], report["pruned"])
    assert {"recall_before", "recall_after_prune", "recall_after_replay"} <= report.keys()
    assert 5 == len(model.buffer)
    assert all(0.0 <= report[k] <= 1.0 for k in ("recall_before", "recall_after_prune", "recall_after_replay"))


def test_sleep_with_nothing_buffered_changes_nothing():
    """A cortex that stored nothing sleeps without touching its memory."""
    model = PlasticModel(CFG)
    before = model.memory.clone()
    assert {"buffered": 0.0, "pruned": 0.0} == sleep(model)
    assert torch.equal(before, model.memory)


def test_config_refuses_a_bad_option_naming_it():
    """k_max below k_min, or a share of 1, is refused naming the option."""
    with pytest.raises(ValueError, match="k_max \\(2\\) must be >= k_min \\(3\\)"):
        PlasticityConfig(k_min=3, k_max=2)
    with pytest.raises(ValueError, match="prune_fraction is a share in \\[0, 1\\)"):
        PlasticityConfig(prune_fraction=1.0)


def test_a_job_checkpoint_resumes_to_exactly_the_genome_of_an_unbroken_run():
    """save_job then load_job (Adam's state, the step counter) and one more stage give the same theta."""
    from neuro.neuros.learning.plasticity import PlasticityNeuro
    from neuro.neuros.learning.plasticity.metatrain import fit_stage

    cfg = PlasticityConfig(dim=8, k_min=2, k_max=3, genome_hidden=4, tasks_per_step=4, steps_per_stage=3,
                           validation_tasks=8, device="cpu")
    learner = PlasticityNeuro()
    unbroken = PlasticModel(cfg)
    fit_stage(unbroken, 0, 3)
    resumed = learner.load_job(learner.save_job(unbroken))
    fit_stage(unbroken, 1, 3)
    fit_stage(resumed, 1, 3)
    assert unbroken.meta_steps == resumed.meta_steps
    assert all(torch.equal(a, b) for a, b in zip(unbroken.genome.parameters(), resumed.genome.parameters()))
