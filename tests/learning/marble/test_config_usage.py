"""Every key of MarbleConfig is used (MARBLE's CI checks for unused keys): a net trained with
every feature switched on, through a config that records each key read, reads every key but
those a named code path outside the net consumes (each checked by a test here or in
test_service.py) and those with no meaning here (each refused). Unknown keys are errors."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.neuros.learning.marble import brain
from neuro.neuros.learning.marble.blitz import Neuronenblitz
from neuro.neuros.learning.marble.config import NO_MEANING, MarbleConfig, config_with
from neuro.neuros.learning.marble.ranges import RANGES

# key -> the code path that consumes it, outside the net's own training
CONSUMED_ELSEWHERE = {
    "validation_fraction": "MarbleNeuro.begin: the rows held out for early stopping (test below)",
    "auto_update": "MarbleNeuro.begin: a changed data set hash resets the learning state (test below)",
    "epochs": "MarbleNeuro.begin: the job's total (test below)",
    "parallel_update_strategy": "merge_round: the weights' summed or mean delta (test_parallel.py)",
    "remote_client": "ParallelWanderers: the wanderer neuros' names (test_service.py)",
    "remote_timeout": "ParallelWanderers: each call's timeout (test_service.py)",
    "remote_fallback": "ParallelWanderers.train_round: train the share here or fail (test_service.py)",
    "wanderer_neuros": "MarbleNeuro.fit_steps: wanderer neuros with one wanderer (test_service.py)",
}

# every feature on, so every key's code path runs
ALL_ON = dict(
    input_neurons=8, core_neurons=6, message_passing_interval=3, attention_gating="chaotic", attention_dropout=0.1,
    use_mixed_precision=True, dynamic_attention_enabled=True, use_gradient_path_scoring=True,
    rms_gradient_path_scoring=True, curiosity_strength=0.1, wander_depth_noise=0.5, dropout_probability=0.1,
    chaotic_gating_enabled=True, use_echo_modulation=True, span_module="threshold", attention_span_threshold=0.1,
    reinforcement_learning_enabled=True, entropy_epsilon_enabled=True, split_probability=1.0,
    plasticity_threshold=0.0, synapse_prune_interval=5, shortcut_creation_threshold=2,
    concept_association_threshold=2, emergent_connection_prob=1.0, alternative_connection_prob=0.5,
    gradient_prune_ratio=0.1, forgetting_rate=0.01, lr_adjustment_factor=0.1, lr_scheduler="exponential",
    epsilon_scheduler="exponential", use_experience_replay=True, episodic_memory_prob=1.0,
    episodic_memory_threshold=10.0, consolidation_probability=1.0, gradient_noise_std=0.01,
    noise_injection_std=0.01, wander_anomaly_threshold=0.0, auto_neurogenesis_prob=1.0, loss_module="",
    weight_update_fn="path_gradient")


class Recorder:
    """A config that notes every key read."""

    def __init__(self, cfg, seen):
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name):
        self._seen.add(name)
        return getattr(self._cfg, name)


def _read_keys(options):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 6, (24, 1)).astype(np.float32)
    t = np.sin(x)
    seen: set[str] = set()
    net = Neuronenblitz(Recorder(config_with(MarbleConfig(), options), seen), x[:20], 1)
    for _ in range(4):
        net.fit_epoch(x[:20], t[:20], 4, x_val=x[20:], t_val=t[20:])
    net.predict(x[:4])
    brain.adapt_factor(net, 2.0, 1.0)  # validation loss rose, then fell
    brain.adapt_factor(net, 0.5, 1.0)
    net.sleep(x[:20], t[:20])
    net.interconnect(Neuronenblitz(config_with(MarbleConfig(), options), x[:20], 1))
    return seen


def test_every_key_is_read_by_the_net_or_consumed_by_a_named_code_path():
    seen = _read_keys(ALL_ON) | _read_keys({**ALL_ON, "beam_width": 2})
    fields = set(MarbleConfig.__struct_fields__)
    unused = sorted(fields - seen - set(CONSUMED_ELSEWHERE) - set(NO_MEANING))
    assert [] == unused


def test_every_numeric_key_has_a_range_and_every_key_a_meaning():
    from neuro.neuros.learning.marble.config import MarbleConfig as C
    from neuro.neuros.learning.options import option_specs

    specs = {s.name: s for s in option_specs(C, ranges=RANGES)}
    assert set(C.__struct_fields__) == set(specs)
    assert [] == [n for n, s in specs.items() if not s.help]
    numeric = [n for n in C.__struct_fields__ if type(getattr(C(), n)) in (int, float)]
    assert [] == [n for n in numeric if n not in RANGES]


def test_the_seed_inventory_of_section_4_17_is_all_there():
    inventory = (
        "backtrack_probability consolidation_probability consolidation_strength route_potential_increase "
        "route_potential_decay route_visit_decay_interval alternative_connection_prob split_probability merge_tolerance "
        "combine_fn loss_fn loss_module weight_update_fn validation_fn plasticity_threshold continue_decay_rate "
        "struct_weight_multiplier1 struct_weight_multiplier2 attention_decay max_wander_depth learning_rate weight_decay "
        "dropout_probability dropout_decay_rate exploration_decay reward_scale stress_scale auto_update dataset_path "
        "remote_fallback noise_injection_std dynamic_attention_enabled backtrack_depth_limit synapse_update_cap "
        "structural_plasticity_enabled backtrack_enabled loss_scale exploration_bonus synapse_potential_cap "
        "attention_update_scale attention_span_threshold max_attention_span span_module plasticity_modulation "
        "wander_depth_noise reward_decay synapse_prune_interval gradient_prune_ratio structural_learning_rate "
        "remote_timeout gradient_noise_std min_learning_rate max_learning_rate top_k_paths parallel_wanderers "
        "parallel_update_strategy beam_width synaptic_fatigue_enabled fatigue_increase fatigue_decay "
        "lr_adjustment_factor lr_scheduler scheduler_steps scheduler_gamma epsilon_scheduler epsilon_scheduler_steps "
        "epsilon_scheduler_gamma momentum_coefficient reinforcement_learning_enabled rl_discount rl_epsilon "
        "rl_epsilon_decay rl_min_epsilon entropy_epsilon_enabled shortcut_creation_threshold use_echo_modulation "
        "wander_cache_ttl phase_rate phase_adaptation_rate chaotic_gating_enabled chaotic_gating_param chaotic_gate_init "
        "context_history_size context_embedding_decay emergent_connection_prob concept_association_threshold "
        "concept_learning_rate weight_limit wander_cache_size plasticity_history_size rmsprop_beta grad_epsilon "
        "use_experience_replay replay_buffer_size replay_alpha replay_beta replay_batch_size exploration_entropy_scale "
        "exploration_entropy_shift gradient_score_scale memory_gate_decay memory_gate_strength episodic_memory_size "
        "episodic_memory_threshold episodic_memory_prob curiosity_strength depth_clip_scaling forgetting_rate "
        "structural_dropout_prob gradient_path_score_scale use_gradient_path_scoring rms_gradient_path_scoring "
        "activity_gate_exponent subpath_cache_size gradient_accumulation_steps wander_anomaly_threshold "
        "wander_history_size subpath_cache_ttl monitor_wander_factor monitor_epsilon_factor episodic_sim_length "
        "use_mixed_precision remote_client torrent_client torrent_map metrics_visualizer").split()
    assert [] == [k for k in inventory if k not in MarbleConfig.__struct_fields__]


def test_unknown_keys_are_errors_that_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown option\\(s\\) 'no_such_key' for learning.marble; known options: "):
        config_with(MarbleConfig(), {"no_such_key": 1})


@pytest.mark.parametrize("key", sorted(NO_MEANING))
def test_a_key_with_no_meaning_here_is_refused_saying_why(key):
    with pytest.raises(ValueError, match=f"`{key}` has no meaning in Neuro"):
        config_with(MarbleConfig(), {key: "something"})


def test_out_of_range_values_are_all_named_at_once():
    with pytest.raises(ValueError) as e:
        config_with(MarbleConfig(), {"backtrack_probability": 1.5, "learning_rate": 0.0})
    assert "`backtrack_probability` must be <= 1" in str(e.value) and "`learning_rate` must be > 0" in str(e.value)


def _begin(options, data_hash="h1", model=None):
    from neuro.neuros.learning.marble import MarbleNeuro
    from neuro.neuros.learning.protocol import Train
    from neuro.neuros.learning.traindata import TrainData

    x = np.linspace(0, 6, 40, dtype=np.float32)[:, None]
    data = TrainData(name="s", task="regress", x=x, y=np.sin(x[:, 0]), input_shape=(1,), hash=data_hash)
    learner = MarbleNeuro()
    return learner.begin(Train(epochs=3, options=options), data, model), learner, data


def test_begin_holds_out_validation_fraction_and_takes_epochs_as_the_total():
    (model, total, unit), _, _ = _begin({"validation_fraction": 0.25, "epochs": 5})
    assert (10, 5.0, "epoch") == (len(model.val_rows), total, unit)


def test_auto_update_resets_the_learning_state_when_the_data_changed():
    (model, _, _), learner, data = _begin({})
    model.net.fit_epoch(data.x, np.sin(data.x))
    assert np.abs(model.net.core.mom).sum() > 0
    (kept, _, _), _, _ = _begin({"auto_update": False}, "h2", model)
    assert np.abs(kept.net.core.mom).sum() > 0
    (reset, _, _), _, _ = _begin({"auto_update": True}, "h3", model)
    assert 0.0 == np.abs(reset.net.core.mom).sum()
