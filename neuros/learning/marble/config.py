"""MARBLE's config: every parameter of the seed's inventory (section 4.17) and of the core
and the brain (sections 3.2, 3.6), in one msgspec Struct, each with its meaning and default.

Unknown keys are errors (`config_with` names the known ones). `ranges.py` holds each field's
range; tests/learning/marble/test_config_usage.py proves that every key is read by a code
path (or refused, for the few with no meaning here: `NO_MEANING`). No numpy, no torch.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["MarbleConfig", "config_with", "NO_MEANING"]

#: Keys of MARBLE's inventory that name something Neuro has no counterpart for; each must keep
#: its empty default, and setting one is refused saying why (they are not faked).
NO_MEANING: dict[str, str] = {
    "torrent_client": "Neuro has no torrent tier; a wanderer on another neuro is `remote_client`",
    "torrent_map": "Neuro has no torrent tier, so there is no shard map",
    "dataset_path": "data sets come from the data set registry (Train.dataset) or inline arrays, not a path",
    "metrics_visualizer": "metrics are published as Progress events on progress.<learner> after each slice",
}


class MarbleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- the core (section 3.2)
    # Hidden neurons at the start, between the entry and the output neurons.
    core_neurons: int = 16
    # Entry neurons: each holds a receptive-field centre in input space (taken from the
    # training inputs); an input enters at the nearest ones, so paths depend on the input.
    input_neurons: int = 32
    # Outgoing synapses of each entry neuron into the hidden neurons at the start.
    entry_fanout: int = 4
    # Length of each neuron's representation vector.
    rep_size: int = 8
    # New neurons' and synapses' initial weights are uniform in [weight_init_min, weight_init_max].
    weight_init_min: float = 0.5
    # Upper end of the initial weight range.
    weight_init_max: float = 1.5
    # Gaussian noise on the representation of a neuron neurogenesis adds.
    representation_noise_std: float = 0.01
    # Escape-time iterations of the Mandelbrot set that seeds the initial representations.
    mandelbrot_iterations: int = 32
    # Gaussian noise added to the Mandelbrot-seeded representations.
    mandelbrot_noise_std: float = 0.01
    # Softmax temperature of the attention module in message passing.
    attention_temperature: float = 1.0
    # Gating of the attention weights: none, a sine of the step, or a logistic-map chaos.
    attention_gating: Literal["none", "sine", "chaotic"] = "sine"
    # Dropout of attention weights during message passing (training only).
    attention_dropout: float = 0.0
    # How much of the layer-normalised MLP update a message-passing round mixes in.
    message_passing_alpha: float = 0.5
    # Training examples between message-passing rounds (0: never).
    message_passing_interval: int = 50
    # Probability of a cross-core synapse per neuron pair in `interconnect_cores`.
    interconnection_prob: float = 0.05
    # Width of the entry neurons' receptive fields, in units of the inputs' spread.
    entry_width: float = 0.05
    # Softmax temperature over route potentials when a wanderer picks a synapse. Low, so a
    # used route stays the route (at 0.5 a training wander strayed so often from the greedy
    # path that prediction uses that sine's held-out MSE stayed at 0.2; at 0.1, 0.012).
    wander_temperature: float = 0.1
    # Eligibility trace per synapse: trace <- decay * trace + (1 - decay) on each traversal.
    eligibility_decay: float = 0.5
    # Potential below which a synapse is pruned at `synapse_prune_interval` (the seed's
    # "low-potential synapses"); a neuron's last outgoing synapse is never pruned.
    prune_potential_threshold: float = 0.02
    # Examples a parallel wanderer trains per round: the learner merges the wanderers' nets
    # once a round (with parallel_wanderers > 1 or wanderer_neuros).
    parallel_chunk_size: int = 64
    # Train in a wanderer neuro even with parallel_wanderers = 1 (the same path as with
    # several, so the bench can time one wanderer against two).
    wanderer_neuros: bool = False
    # Held-out share of the training split that early stopping watches.
    validation_fraction: float = 0.1

    # -- the brain (section 3.6)
    # Grow the core at the end of an epoch when validation loss rose (or by the trigger).
    neurogenesis_enabled: bool = True
    # Initial growth factor f; f = (1 + max(arousal, reward)) * neurogenesis_factor.
    neurogenesis_factor: float = 1.0
    # Neurons (N = floor(base * f)) one growth adds.
    neurogenesis_base_neurons: int = 2
    # Synapses (S = floor(base * f)) one growth adds.
    neurogenesis_base_synapses: int = 4
    # Cap of the adaptive growth factor.
    max_neurogenesis_factor: float = 3.0
    # Added to the factor when validation loss rises.
    neurogenesis_increase_step: float = 0.1
    # Taken from the factor (down to 1) when validation loss drops.
    neurogenesis_decrease_step: float = 0.05
    # P(growth) = auto_neurogenesis_prob * min(1, val_loss), tried once an epoch.
    auto_neurogenesis_prob: float = 0.0
    # Megabytes of the core's arrays above which growth leaves the fast tier (vram).
    vram_limit_mb: float = 256.0
    # Megabytes above which growth goes to the disk tier.
    ram_limit_mb: float = 1024.0
    # Mean neuron age (epochs) above which new neurons go to a slower tier.
    max_neuron_age: float = 1000.0
    # Sleep's weight decay d = dream_synapse_decay (1 + s_a arousal)(1 - s_s stress).
    dream_synapse_decay: float = 0.995
    # s_a: how much arousal strengthens the dream decay factor.
    dream_arousal_scale: float = 0.1
    # s_s: how much stress weakens it.
    dream_stress_scale: float = 0.1
    # Salience-weighted replays of remembered examples per sleep (section 7.1).
    dream_cycles: int = 32
    # Salience at which an example moves from the instant to the long-term dream buffer.
    dream_salience_threshold: float = 0.5
    # Epochs without an improvement of `early_stopping_delta` before training stops.
    early_stopping_patience: int = 10
    # Smallest drop of validation loss that counts as an improvement.
    early_stopping_delta: float = 1e-4
    # Initial arousal of the neuromodulatory context.
    initial_arousal: float = 0.0
    # Initial stress.
    initial_stress: float = 0.0
    # Initial reward.
    initial_reward: float = 0.0

    # -- Neuronenblitz: wandering (4.3)
    # Probability of stepping back one synapse and choosing again.
    backtrack_probability: float = 0.1
    # Backtracking happens only while depth < backtrack_depth_limit, and only if enabled.
    backtrack_depth_limit: int = 3
    # Whether a wander may backtrack at all.
    backtrack_enabled: bool = True
    # Deepest a wander goes before it stops (a wander that has not reached its target then
    # gives 0).
    max_wander_depth: int = 6
    # Standard deviation of the per-wander jitter of max_wander_depth.
    wander_depth_noise: float = 0.0
    # p' = min(cap, p * route_potential_decay + route_potential_increase) on traversal.
    route_potential_increase: float = 0.05
    # Decay of a route potential at each traversal (and every route_visit_decay_interval wanders).
    route_potential_decay: float = 0.99
    # Wanders between decays of every route potential and visit count.
    route_visit_decay_interval: int = 100
    # Each candidate synapse is dropped with this probability (training wanders).
    dropout_probability: float = 0.0
    # dropout_probability is multiplied by this after each epoch.
    dropout_decay_rate: float = 1.0
    # Urge to wander on past a synapse to the target decays as continue_decay_rate ** depth.
    continue_decay_rate: float = 0.5
    # Bonus b / (1 + visits) for little-used synapses; b decays by exploration_decay a wander.
    exploration_bonus: float = 0.1
    # Per-wander decay of the exploration bonus.
    exploration_decay: float = 0.999
    # Bonus for a synapse into a rarely visited neuron (novelty).
    curiosity_strength: float = 0.0
    # Width of beam search (1: a single stochastic wander).
    beam_width: int = 1
    # Paths blended into one output: the top-k nearest entry neurons' greedy paths.
    top_k_paths: int = 2
    # Gaussian noise added to the input's value at the entry (training).
    noise_injection_std: float = 0.0
    # Add the context-aware attention of the representations to each choice's score.
    dynamic_attention_enabled: bool = False
    # Parallel wanderers (kernel workers: neuros named `remote_client`-0, -1, ...), each
    # training its share of a round on its copy of the net; 1: the learner trains alone
    # (unless wanderer_neuros).
    parallel_wanderers: int = 1
    # How a round of parallel wanderers moves the weights: by the sum of their deltas (as if
    # their shares ran in turn), or by the mean delta.
    parallel_update_strategy: Literal["replay", "average"] = "replay"
    # Entries (neurons x wanders) of the wander cache of greedy paths.
    wander_cache_size: int = 4096
    # Wanders after which a cached path expires (the clock counts wanders, so equal seeds
    # give equal results).
    wander_cache_ttl: int = 2000
    # Entries of the subpath cache (a path's tail from a neuron to a target).
    subpath_cache_size: int = 4096
    # Wanders after which a cached subpath expires.
    subpath_cache_ttl: int = 2000
    # Remembered path lengths, for anomaly detection.
    wander_history_size: int = 100
    # A path longer than mean + threshold * std of the history is an anomaly.
    wander_anomaly_threshold: float = 3.0
    # On an anomaly, the depth allowance is multiplied by this...
    monitor_wander_factor: float = 0.9
    # ... and epsilon by this.
    monitor_epsilon_factor: float = 1.1
    # Paths taken this many times get a shortcut synapse from their first to their last neuron.
    shortcut_creation_threshold: int = 0
    # Per wander, the probability of a new random synapse between two hidden neurons.
    emergent_connection_prob: float = 0.0
    # Per traversed neuron, the probability of an alternative synapse to a random neuron.
    alternative_connection_prob: float = 0.0
    # Name of the wanderer neuro(s) (kernel messaging stands for MARBLE's remote client).
    remote_client: str = "learning.marble.wanderer"
    # Seconds a wanderer neuro has to answer.
    remote_timeout: float = 30.0
    # If a wanderer neuro fails, wander locally instead of failing the job.
    remote_fallback: bool = True
    # Greedy paths prefer synapses with large recent gradients (score scale).
    use_gradient_path_scoring: bool = False
    # Weight of the gradient term in a choice score.
    gradient_path_score_scale: float = 1.0
    # Score by the RMS accumulator sqrt(v) instead of the last |update|.
    rms_gradient_path_scoring: bool = False

    # -- Neuronenblitz: output and learning (4.4, 4.5, 4.14)
    # y = combine_fn(x, w) into a hidden neuron: relu max(x w, 0) (MARBLE's default); linear
    # x w; tanh. Linear here: with relu a hidden neuron whose weight went negative never
    # fires again (held-out MSE on sine 0.105 against 0.012).
    combine_fn: Literal["relu", "linear", "tanh"] = "linear"
    # ell = loss_fn(t, y): error is t - y; clipped_error clips it to [-1, 1].
    loss_fn: Literal["error", "clipped_error"] = "error"
    # A named loss whose negative gradient replaces loss_fn ("": none).
    loss_module: Literal["", "mse", "l1", "smooth_l1"] = ""
    # Delta = weight_update_fn(s, e, L): default e s / (L + 1) (MARBLE's); plain e s;
    # path_gradient e s dy/dz_k, the chain rule along the path (Neuro's addition: MARBLE's
    # rule ignores the weights after a synapse, so on a path of two negative-going weights
    # it pushes the output the wrong way; docs/learning/marble.md shows the runs).
    weight_update_fn: Literal["default", "plain", "path_gradient"] = "path_gradient"
    # v = validation_fn(t, y): one (1.0), or error (min(1, |t - y|): big errors learn more).
    validation_fn: Literal["one", "error"] = "one"
    # The error is multiplied by this.
    loss_scale: float = 1.0
    # Initial learning rate (the schedulers move it).
    learning_rate: float = 0.03
    # Multiplicative decay of updated weights at each applied update.
    weight_decay: float = 0.0
    # |update| cap, shrunk with depth: cap / (1 + depth_clip_scaling * L / max_wander_depth).
    synapse_update_cap: float = 1.0
    # How fast the update cap shrinks with path length.
    depth_clip_scaling: float = 1.0
    # Weights are clipped to +-weight_limit.
    weight_limit: float = 10.0
    # Potentials are capped here.
    synapse_potential_cap: float = 1.0
    # potential += |scaled| * gradient_score_scale after an update.
    gradient_score_scale: float = 0.01
    # Gaussian noise added to each raw update.
    gradient_noise_std: float = 0.0
    # RMSProp: v' = beta v + (1 - beta) g^2; g / sqrt(v' + grad_epsilon).
    rmsprop_beta: float = 0.9
    # RMSProp epsilon.
    grad_epsilon: float = 1e-8
    # m' = mu m + scaled; update = lr (mu m' + scaled).
    momentum_coefficient: float = 0.5
    # Updates are summed over this many examples before they are applied.
    gradient_accumulation_steps: int = 1
    # Activity gate 1 / (1 + visits ** exponent). 0: a constant 1/2; at 0.5 a busy synapse's
    # updates shrank to a twentieth and sine's held-out MSE stayed at 0.09.
    activity_gate_exponent: float = 0.0
    # Scale the update by the synapse's echo (the mean of its recent input values).
    use_echo_modulation: bool = False
    # Per epoch, every weight shrinks by this fraction.
    forgetting_rate: float = 0.0
    # Per epoch, the lowest share of |gradient| synapses is pruned (0: off).
    gradient_prune_ratio: float = 0.0
    # With this probability a path's weights are multiplied by consolidation_strength.
    consolidation_probability: float = 0.0
    # The factor consolidation multiplies a path's weights by.
    consolidation_strength: float = 1.0

    # -- schedulers (4.14)
    # Learning-rate schedule at each epoch: none, exponential (every scheduler_steps
    # epochs times scheduler_gamma) or cosine; clipped to [min, max]_learning_rate.
    lr_scheduler: Literal["none", "exponential", "cosine"] = "cosine"
    # Epochs between two exponential learning-rate steps.
    scheduler_steps: int = 1
    # Factor of one exponential learning-rate step.
    scheduler_gamma: float = 0.9
    # Floor of the learning rate.
    min_learning_rate: float = 1e-5
    # Ceiling of the learning rate.
    max_learning_rate: float = 1.0
    # After each epoch: lr *= 1 + f when training loss fell, 1 - f when it rose (0: off).
    lr_adjustment_factor: float = 0.0
    # Epsilon schedule at each epoch: none or exponential (every epsilon_scheduler_steps epochs).
    epsilon_scheduler: Literal["none", "exponential"] = "none"
    # Epochs between two epsilon steps.
    epsilon_scheduler_steps: int = 1
    # Factor of one epsilon step.
    epsilon_scheduler_gamma: float = 0.9

    # -- phase and chaos (4.15)
    # phi_global += phase_rate + phase_adaptation_rate * e per update; updates are scaled by
    # cos(phi_syn - phi_global).
    phase_rate: float = 0.0
    # How much the error moves the global phase.
    phase_adaptation_rate: float = 0.0
    # Multiply updates by a logistic-map gate c' = r c (1 - c).
    chaotic_gating_enabled: bool = False
    # r of the logistic map (chaotic above about 3.57).
    chaotic_gating_param: float = 3.7
    # c_0 of the logistic map.
    chaotic_gate_init: float = 0.5

    # -- fatigue and attention (4.7, 4.9, 4.11)
    # Whether fatigue gates updates.
    synaptic_fatigue_enabled: bool = True
    # f' = f * fatigue_decay + fatigue_increase * activity.
    fatigue_increase: float = 0.01
    # Per-example decay of every synapse's fatigue.
    fatigue_decay: float = 0.99
    # Type attention a' = a * attention_decay + attention_update_scale * activity.
    attention_decay: float = 0.9
    # How much one traversal raises its type's attention.
    attention_update_scale: float = 1.0
    # Dynamic attention span: only the last `span` synapses of a path learn.
    span_module: Literal["", "threshold"] = ""
    # A path element's normalised type attention must reach this to stay in the span.
    attention_span_threshold: float = 0.0
    # Most synapses of one path that learn.
    max_attention_span: int = 16

    # -- structural plasticity (4.6)
    # Split, type actions and the structural side effects of wanders.
    structural_plasticity_enabled: bool = True
    # A traversed synapse whose potential reaches this may be split.
    plasticity_threshold: float = 0.95
    # Probability that a qualifying synapse is split. A split changes its path's output
    # (w1 w2 is not w), so it is rare: on sine 0.002 left the held-out MSE at 0.7, 0.0005 at
    # 0.03 to 0.1 over five seeds, 0.0002 at 0.019 to 0.038 (no splits: 0.009 to 0.035).
    split_probability: float = 0.0002
    # Probability that the split's dropout check fails (no split).
    structural_dropout_prob: float = 0.0
    # Split weights: w1 = w * m1 * mod * structural_learning_rate * (1 + rep_sim), w2 likewise.
    struct_weight_multiplier1: float = 1.0
    # m2: the second split synapse's multiplier.
    struct_weight_multiplier2: float = 1.0
    # Scale of both split weights.
    structural_learning_rate: float = 1.0
    # mod: the neuromodulatory plasticity modulation factor's base.
    plasticity_modulation: float = 1.0
    # mod += reward_scale * reward - stress_scale * stress.
    reward_scale: float = 0.0
    # How much stress lowers the plasticity modulation.
    stress_scale: float = 0.0
    # Per example, the neuromodulatory reward decays by this.
    reward_decay: float = 0.99
    # Parallel synapses (same ends) whose weights differ by less than this are merged.
    merge_tolerance: float = 0.01
    # Training examples between prunes of low-potential synapses.
    synapse_prune_interval: int = 200
    # Remembered structural events (splits, merges, prunes, growth).
    plasticity_history_size: int = 100
    # Two neurons seen consecutively on this many paths get a concept neuron (0: off).
    concept_association_threshold: int = 0
    # Weight of the concept neuron's synapses.
    concept_learning_rate: float = 0.1

    # -- reinforcement learning (4.13)
    # Wanderers choose epsilon-greedily by Q(neuron, synapse), learnt from -|error|.
    reinforcement_learning_enabled: bool = False
    # gamma of Q-learning.
    rl_discount: float = 0.9
    # Initial epsilon of the epsilon-greedy choice.
    rl_epsilon: float = 0.1
    # Per-wander epsilon decay.
    rl_epsilon_decay: float = 0.999
    # Floor of epsilon.
    rl_min_epsilon: float = 0.01
    # Scale epsilon by a sigmoid of the choice distribution's entropy.
    entropy_epsilon_enabled: bool = False
    # Slope of the entropy sigmoid.
    exploration_entropy_scale: float = 1.0
    # Normalised entropy at which the sigmoid is 1/2.
    exploration_entropy_shift: float = 0.0

    # -- replay and memory (4.16, 7.1)
    # Replay prioritised examples after each one.
    use_experience_replay: bool = False
    # Examples the replay and dream buffers keep.
    replay_buffer_size: int = 1000
    # P_i = p_i^alpha / sum p_j^alpha; w_i = (1 / (N P_i))^beta.
    replay_alpha: float = 0.6
    # Importance-weight exponent.
    replay_beta: float = 0.4
    # Replayed examples after each training example.
    replay_batch_size: int = 1
    # g' = g * memory_gate_decay + memory_gate_strength * |e| per synapse.
    memory_gate_decay: float = 0.99
    # How much |e| raises a synapse's memory gate.
    memory_gate_strength: float = 0.1
    # Paths episodic memory keeps (also the long-term dream buffer's size).
    episodic_memory_size: int = 100
    # Paths whose |error| is below this are remembered.
    episodic_memory_threshold: float = 0.05
    # Probability that a wander starts by replaying a remembered path...
    episodic_memory_prob: float = 0.0
    # ... for up to this many steps.
    episodic_sim_length: int = 3
    # Remembered neuromodulatory contexts; their decayed mean is the attention's context.
    context_history_size: int = 10
    # Weight decay of older contexts in their mean.
    context_embedding_decay: float = 0.9

    # -- precision, data, remote tiers (kept for MARBLE's inventory)
    # Message passing computes in float16 (the representations stay float32).
    use_mixed_precision: bool = False
    # Reset the learning state when a named data set's content hash changed since the last
    # job (MARBLE watched a folder).
    auto_update: bool = True
    # No meaning here (NO_MEANING): leave empty.
    dataset_path: str = ""
    # No meaning here (NO_MEANING): leave empty.
    torrent_client: str = ""
    # No meaning here (NO_MEANING): leave empty.
    torrent_map: str = ""
    # No meaning here (NO_MEANING): leave empty.
    metrics_visualizer: str = ""

    # -- bookkeeping
    # Seed of the net's generator: equal seeds give equal nets.
    seed: int = 0
    # Epochs a Train job runs (Train.epochs sets it unless options do).
    epochs: int = 30

    def __post_init__(self) -> None:
        from .ranges import problems

        found = problems(self)
        for key, why in NO_MEANING.items():
            if getattr(self, key):
                found.append(f"`{key}` has no meaning in Neuro ({why}); leave it empty")
        if found:
            raise ValueError("invalid MarbleConfig: " + "; ".join(found))


def config_with(base: MarbleConfig, options: dict[str, Any]) -> MarbleConfig:
    """`base` with `options` applied by name; unknown names raise, naming the known ones."""
    fields = MarbleConfig.__struct_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for learning.marble; "
                         f"known options: {', '.join(fields)}")
    merged = {**msgspec.structs.asdict(base), **options}
    try:
        return msgspec.convert(merged, MarbleConfig, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"invalid option for learning.marble: {e}") from None
