"""The plasticity learner's config: every knob, and why it has its default. No torch.

Kept apart from the model so the neuro (and the kernel importing it) reads and checks options
without importing torch. `Describe` lists these fields with the comment above each one.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["PlasticityConfig", "config_with", "RANGES"]


class PlasticityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- the task family meta-training draws from (a bank of associative tasks)
    # Width of a cue and of a target: the one-shot recall task is D=32.
    dim: int = 32
    # Pairs per meta-training task, drawn uniformly from [k_min, k_max]: a range, so the rule
    # cannot fit one load; it spans the K=12 and K=24 (the bench holds K=32 and D=64 out).
    k_min: int = 4
    k_max: int = 24

    # -- the genome (the rule, theta; genome.py has its rule family)
    # Hidden units of the MLP over a post neuron's (post, drive, teacher gate) that adds to the
    # rule's linear terms: 16 is plenty for a function of three scalars, and it costs (B, D, H).
    genome_hidden: int = 16
    # Initial step size eta of dW = (eta / D) * Phi; part of theta and meta-learnt. 1: the start
    # is the Hebbian baseline exactly, at the step rules.py gives it.
    eta: float = 1.0
    # Steps of the feedback pulse that gives the rule its presynaptic activity (p <- p - rate *
    # ((p - pre) + gain * W^T W p)); its gain starts at 0, so these cost time but change nothing
    # until meta-training turns the pulse on. 4: the hand-tuned rule in this cortex scored 0.950
    # at K=24 with 3 steps, 0.956 with 4 (docs/learning/plasticity.md).
    reflect_steps: int = 4

    # -- the cortex (the inner loop)
    # Row-wise L2 normalisation after every update (the seed's homeostasis, stage 3). "unit":
    # each post neuron's incoming weights are scaled to unit length (the seed's Norm); "cap": only
    # rows longer than 1 are scaled back to 1, so a memory still filling up is not rescaled at
    # every pair (rescaling weighs the newest pair most: the delta rule scores 0.948 at K=12 in a
    # "unit" cortex, 0.972 in a "cap" one); "off": none.
    homeostasis: Literal["unit", "cap", "off"] = "cap"
    # Meta-steps at the start of meta-training run with "unit" whatever `homeostasis` says. The
    # first build's genome started random and needed it (under "cap" it collapsed to W -> 0);
    # this one starts at Hebbian, so the default is none.
    homeostasis_warmup: int = 0
    # Steps of the seed's recurrence h_s = tanh(x W + h_{s-1}) each time a cue is shown (h_0 = 0).
    # One answer keeps its signs (tanh(z + tanh z) has z's sign) but a confident one moves
    # towards +-1: that is the own response the rule reads, and the confidence Predict reports.
    settle_steps: int = 2
    # Scale of the slow weights W0, the fast weights' starting point in every lifetime (fixed
    # random, never trained): small, so a lifetime's own associations dominate recall.
    w0_scale: float = 0.01
    # Whether the rule keeps running while the cortex recalls (its post activity is then its own
    # response, no teacher, gate 0): the seed's "always in flux". Off (default), recall reads W
    # and changes nothing, so every cue is answered by the same memory, as the baselines answer.
    # On, a rule meta-trained with it learnt to unlearn each pair once recalled (anti-Hebbian at
    # gate 0), which helps only a test that asks each cue once, in order: a memory it empties.
    plastic_recall: bool = False

    # Distractor cues shown between storing and recalling (a delay filled with random cues the
    # rule runs on with no teacher, gate 0, whatever plastic_recall says): 0 for the issue's
    # one-shot task.
    distractors: int = 0

    # -- the outer loop (meta-training)
    # Tasks per meta-gradient step, and Adam's rate on theta: the settings of the CPU runs in
    # docs/learning/plasticity.md (16 tasks keep one step near 0.1 s on one loaded core).
    tasks_per_step: int = 16
    lr: float = 2e-2
    # "cosine": Adam's rate falls over a job's stages from lr to lr / 30 (half a cosine), so the
    # last stages average out the step-to-step noise of a constant 1e-2; "none": constant.
    lr_decay: Literal["none", "cosine"] = "cosine"
    # Meta-gradient steps in each stage of the teacher-forcing schedule (a job's unit is a stage;
    # Train.epochs stages K_s, stage k with alpha_k = 1 - k / (K_s - 1)).
    steps_per_stage: int = 100
    # Where the teacher is faded: "recall" mixes the target into the post activity during the
    # recall phase of meta-training lifetimes (alpha_k * target + (1 - alpha_k) * own response),
    # falling to 0 by the last stage, as in every validation and test; "off": alpha = 0 always.
    teacher_forcing: Literal["recall", "off"] = "recall"
    # The meta-loss on each recalled bit: "scaled" (default), the logistic loss on the drive
    # divided by the task's RMS drive, so a rule cannot lower it by growing W, only by getting
    # bits right (with it the genome reached 0.960 at K=24 in 400 meta-steps, with "logistic"
    # 0.942 in 1,200); "logistic" on the raw drive into tanh; "mse", the seed's squared error.
    meta_loss: Literal["logistic", "scaled", "mse"] = "scaled"
    # Clip of the meta-gradient's norm: BPTT through 48 plastic steps has rare spikes.
    grad_clip: float = 1.0
    # Fresh validation tasks scored after every stage (never trained on, no answer shown).
    validation_tasks: int = 128

    # -- sleep (consolidation, the seed's stage 20)
    # Share of the weakest fast synapses (by |w|) that sleep prunes to zero.
    prune_fraction: float = 0.2
    # Pairs of the episodic buffer (stage 4) that sleep replays through the rule, newest kept.
    buffer_size: int = 64

    # -- where and how
    # "auto": the GPU when the policy grants one and the machine has it; "cpu" always works.
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, least in (("dim", 2), ("k_min", 1), ("distractors", 0), ("homeostasis_warmup", 0), ("genome_hidden", 1),
                            ("reflect_steps", 0), ("settle_steps", 1),
                            ("tasks_per_step", 1), ("steps_per_stage", 1), ("validation_tasks", 1),
                            ("buffer_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"option {name} must be a whole number >= {least}, got {value!r}")
        if self.k_max < self.k_min:
            raise ValueError(f"option k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        for name in ("eta", "lr", "w0_scale", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"option {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.prune_fraction < 1.0:
            raise ValueError(f"option prune_fraction is a share in [0, 1), got {self.prune_fraction!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"option device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


#: Ranges Describe reports: (min, max), None for an open end (the checks above bound them).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "dim": (2, None), "k_min": (1, None), "k_max": (1, None), "genome_hidden": (1, None), "eta": (0.0, None),
    "reflect_steps": (0, None),
    "settle_steps": (1, None), "distractors": (0, None), "homeostasis_warmup": (0, None), "w0_scale": (0.0, None), "tasks_per_step": (1, None),
    "lr": (0.0, None),
    "steps_per_stage": (1, None), "grad_clip": (0.0, None), "validation_tasks": (1, None),
    "prune_fraction": (0.0, 1.0), "buffer_size": (1, None),
}


def config_with(base: PlasticityConfig, options: dict[str, Any]) -> PlasticityConfig:
    """`base` with `options` applied; an unknown name or a bad value is a ValueError that says
    what is allowed."""
    known = set(PlasticityConfig.__struct_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for learning.plasticity; known: "
                         f"{', '.join(sorted(known))}")
    try:
        return msgspec.convert({**msgspec.to_builtins(base), **options}, PlasticityConfig)
    except msgspec.ValidationError as e:
        raise ValueError(f"bad option for learning.plasticity: {e}") from None
