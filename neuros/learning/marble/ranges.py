"""The range of every numeric MarbleConfig field, and the check that enforces them.

Kept out of config.py so the Struct stays a list of fields with their meaning. `RANGES` is
what Describe reports ([min, max], None for an open end); `problems` lists every violation
at once (an error names them all, not the first).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RANGES", "problems"]

_PROBABILITIES = (
    "attention_dropout", "interconnection_prob", "message_passing_alpha", "eligibility_decay", "validation_fraction",
    "auto_neurogenesis_prob", "backtrack_probability", "route_potential_decay", "dropout_probability",
    "dropout_decay_rate", "continue_decay_rate", "exploration_decay", "emergent_connection_prob",
    "alternative_connection_prob", "rmsprop_beta", "momentum_coefficient", "forgetting_rate", "gradient_prune_ratio",
    "consolidation_probability", "fatigue_decay", "attention_decay", "split_probability", "structural_dropout_prob",
    "reward_decay", "rl_discount", "rl_epsilon", "rl_epsilon_decay", "rl_min_epsilon", "memory_gate_decay",
    "episodic_memory_prob", "context_embedding_decay", "dream_stress_scale", "weight_decay", "scheduler_gamma",
    "epsilon_scheduler_gamma", "dream_synapse_decay", "lr_adjustment_factor",
)
_AT_LEAST_ONE = (
    "input_neurons", "entry_fanout", "rep_size", "mandelbrot_iterations", "max_wander_depth",
    "route_visit_decay_interval", "beam_width", "top_k_paths", "parallel_wanderers", "wander_cache_size",
    "subpath_cache_size", "wander_cache_ttl", "subpath_cache_ttl", "wander_history_size", "gradient_accumulation_steps",
    "scheduler_steps", "epsilon_scheduler_steps", "max_attention_span", "synapse_prune_interval",
    "plasticity_history_size", "replay_buffer_size", "episodic_memory_size", "context_history_size",
    "parallel_chunk_size", "epochs", "early_stopping_patience",
)
_AT_LEAST_ZERO = (
    "core_neurons", "mandelbrot_noise_std", "message_passing_interval", "prune_potential_threshold",
    "neurogenesis_base_neurons", "neurogenesis_base_synapses", "neurogenesis_increase_step",
    "neurogenesis_decrease_step", "vram_limit_mb", "ram_limit_mb", "max_neuron_age", "dream_arousal_scale",
    "dream_cycles", "dream_salience_threshold", "early_stopping_delta", "initial_arousal", "initial_stress",
    "initial_reward", "backtrack_depth_limit", "wander_depth_noise", "route_potential_increase", "exploration_bonus",
    "curiosity_strength", "noise_injection_std", "wander_anomaly_threshold", "shortcut_creation_threshold",
    "gradient_path_score_scale", "loss_scale", "depth_clip_scaling", "gradient_score_scale", "gradient_noise_std",
    "grad_epsilon", "activity_gate_exponent", "consolidation_strength", "phase_rate", "fatigue_increase",
    "attention_update_scale", "attention_span_threshold", "struct_weight_multiplier1", "struct_weight_multiplier2",
    "structural_learning_rate", "plasticity_modulation", "reward_scale", "stress_scale", "merge_tolerance",
    "concept_association_threshold", "concept_learning_rate", "plasticity_threshold", "exploration_entropy_scale", "replay_alpha",
    "replay_beta", "replay_batch_size", "memory_gate_strength", "episodic_memory_threshold", "episodic_sim_length",
    "seed",
)
_POSITIVE = ("attention_temperature", "entry_width", "wander_temperature", "remote_timeout", "learning_rate",
             "synapse_update_cap", "weight_limit", "synapse_potential_cap", "min_learning_rate", "max_learning_rate",
             "neurogenesis_factor", "max_neurogenesis_factor", "monitor_wander_factor", "monitor_epsilon_factor")

RANGES: dict[str, tuple[float | None, float | None]] = {
    **{k: (0.0, 1.0) for k in _PROBABILITIES},
    **{k: (1, None) for k in _AT_LEAST_ONE},
    **{k: (0, None) for k in _AT_LEAST_ZERO},
    **{k: (0.0, None) for k in _POSITIVE},
    "chaotic_gating_param": (0.0, 4.0),
    "weight_init_min": (None, None),
    "weight_init_max": (None, None),
    "representation_noise_std": (0, None),
    "chaotic_gate_init": (0.0, 1.0),
    "phase_adaptation_rate": (None, None),
    "exploration_entropy_shift": (None, None),
}
_STRICT = set(_POSITIVE)  # > 0, not >= 0


def problems(cfg: Any) -> list[str]:
    """Every field of `cfg` outside its range, as one message each."""
    found = []
    for name, (lo, hi) in RANGES.items():
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if lo is not None and (value < lo or (name in _STRICT and value <= lo)):
            found.append(f"`{name}` must be {'>' if name in _STRICT else '>='} {lo:g}, got {value!r}")
        if hi is not None and value > hi:
            found.append(f"`{name}` must be <= {hi:g}, got {value!r}")
    if cfg.min_learning_rate > cfg.max_learning_rate:
        found.append(f"`min_learning_rate` ({cfg.min_learning_rate}) exceeds `max_learning_rate` "
                     f"({cfg.max_learning_rate})")
    if cfg.weight_init_min > cfg.weight_init_max:
        found.append(f"`weight_init_min` ({cfg.weight_init_min}) exceeds `weight_init_max` ({cfg.weight_init_max})")
    if cfg.rl_min_epsilon > cfg.rl_epsilon:
        found.append(f"`rl_min_epsilon` ({cfg.rl_min_epsilon}) exceeds `rl_epsilon` ({cfg.rl_epsilon})")
    return found
