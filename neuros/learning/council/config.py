"""The council's config: every knob, and why it has its default. No torch.

Kept apart from the model so the neuro (and the kernel importing it) reads and validates
options without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["CouncilConfig", "config_with", "GATES"]

#: How System 2 is called: "doubt" (per example, System 1's entropy over a threshold or the
#: stream's alarm, its recent surprise, over another), "learnt" (a gate trained with its compute
#: cost, per example), "entropy" (System 1's entropy alone), "always", "never", "random", and
#: "batch" (the seed's: the whole batch when its mean entropy is over the threshold).
GATES = ("doubt", "learnt", "entropy", "always", "never", "random", "batch")


class CouncilConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- the world
    # Symbols in the stream. PatternWorld's is 20 (the issue's); a larger one is a GPU run.
    vocab: int = 20
    # Tokens System 1 sees: the last two, one transition. One transition tells +1 from x2 but
    # not +1 from the alternating rule, so System 1 must track that through its weights,
    # while the council can read the earlier transitions in the executive memory.
    window: int = 2

    # -- System 1: the reflex, one pass of a small transformer
    # Width of every hidden state (System 1, the voices, the memory slots).
    dim: int = 48
    heads: int = 2
    # Transformer blocks of System 1: one pass, so one is the reflex the seed describes.
    s1_layers: int = 1
    # Whether System 1's one pass also reads the executive memory. false: only the council
    # sees the earlier transitions, so what the council knows there System 1 cannot learn.
    s1_reads_memory: bool = False

    # -- executive memory
    # Slots of the ring buffer: the last this many steps' thoughts (System 1's memory writes).
    # Eight steps hold three transitions of any rule at least twice.
    memory_slots: int = 8

    # -- System 2: the council
    # Persona-parameterised voices (one shared block, FiLM'd by each voice's persona).
    voices: int = 4
    # The most ponder steps a voice takes; its learnt halting rule usually stops it sooner.
    max_ponder: int = 4
    # Loss per expected ponder step (of max_ponder), per voice: the halting rule's price.
    ponder_cost: float = 0.01
    # Remaining halting mass below which a batch stops pondering (no step is spent on it).
    halt_epsilon: float = 0.01

    # -- the gate, per example
    # "doubt" by default. Entropy alone misses the rows after a rule switch: there System 1 is
    # sure of the old rule and wrong, its entropy low and its surprise high; a call on the
    # alarm catches them (docs/learning/council.md has the runs).
    gate: Literal["doubt", "learnt", "entropy", "always", "never", "random", "batch"] = "doubt"
    # Loss (nats) charged per System 2 call in the learnt gate's objective
    # g * (loss_S2 - loss_S1 + gate_cost): the council must beat System 1 by this to be called.
    gate_cost: float = 0.05
    # Share of examples sent to the council at random besides the gate's own calls (learnt
    # gate only): the gate learns from rows where both losses are known, so a gate that
    # closed would otherwise never learn to open again. They count as System 2 calls.
    explore: float = 0.02
    # "entropy" gate: call System 2 where System 1's entropy exceeds this share of log(vocab)
    # ("batch": where the batch's mean entropy does).
    # 0.15 of log 20 is 0.45 nats: above a confident answer, below a two-way toss-up (0.69).
    entropy_threshold: float = 0.15
    # "doubt" gate: call System 2 also where the stream's alarm exceeds this share of log(vocab).
    # The alarm is System 1's surprise (its loss on the stream's last observation), held as a
    # decaying maximum: alarm <- max(surprise, alarm_decay * alarm). 0.35 of log 20 is 1.05
    # nats: above a two-way toss-up's loss (0.69), below a confident error's (2 and more).
    surprise_threshold: float = 0.35
    # How much of the alarm is left one step later: 0.5 keeps a 3-nat surprise over the
    # threshold for two more steps, about as long as a switch takes to tell its new rule.
    alarm_decay: float = 0.5
    # "random" gate: the probability of a call (the bench sets it to the gated run's rate).
    random_rate: float = 0.5

    # -- distillation: System 1 learns the council's outputs
    # Temperature of the KL between council and System 1 (Hinton et al. 2015); the loss is
    # scaled by T^2 so its gradient does not shrink with T.
    distill_temperature: float = 2.0
    distill_weight: float = 1.0
    # Sleep (consolidation): this many distillation steps from the EMA teacher's council into
    # System 1, over the replay buffer of the last `replay_steps` online steps.
    sleep_steps: int = 20
    replay_steps: int = 64

    # -- learning: Adam, with the conservative vs aggressive meta-update
    lr: float = 3e-3
    # Each step, Adam's proposed update is scaled by both factors and each candidate judged
    # on System 1's loss over this step's and the previous step's observations; the lower
    # wins. false: plain Adam.
    meta_update: bool = True
    conservative: float = 0.5
    aggressive: float = 2.0
    # Above this gradient norm the conservative step is taken without a trial (and the
    # gradient clipped to it): a surprise that large is more likely noise than a new rule.
    max_grad_norm: float = 5.0
    # Decay of the EMA teacher (a smoothed copy of every weight) that sleep distils from.
    ema: float = 0.99

    # -- bookkeeping
    # Streams stepped together (one batch: one example per stream per step).
    batch_size: int = 16
    # Online steps per slice of a Train job (a Progress event and a Status update after each).
    slice_steps: int = 100
    seed: int = 0
    # "auto": the GPU when the policy grants one and the machine has it, else the CPU.
    device: str = "auto"

    def __post_init__(self) -> None:
        problems = []
        for name, least in (("vocab", 2), ("window", 1), ("dim", 4), ("heads", 1), ("s1_layers", 1),
                            ("memory_slots", 1), ("voices", 1), ("max_ponder", 1), ("batch_size", 1),
                            ("slice_steps", 1), ("sleep_steps", 0), ("replay_steps", 1)):
            if getattr(self, name) < least:
                problems.append(f"`{name}` must be >= {least}, got {getattr(self, name)}")
        if self.dim % max(self.heads, 1):
            problems.append(f"`dim` ({self.dim}) must be a multiple of `heads` ({self.heads})")
        for name in ("explore", "random_rate", "entropy_threshold", "surprise_threshold", "alarm_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"`{name}` must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.ema < 1.0:
            problems.append(f"`ema` must be in [0, 1), got {self.ema}")
        for name in ("lr", "distill_temperature", "max_grad_norm", "conservative", "aggressive"):
            if getattr(self, name) <= 0:
                problems.append(f"`{name}` must be > 0, got {getattr(self, name)}")
        for name in ("ponder_cost", "gate_cost", "distill_weight", "halt_epsilon"):
            if getattr(self, name) < 0:
                problems.append(f"`{name}` must be >= 0, got {getattr(self, name)}")
        if problems:
            raise ValueError("invalid CouncilConfig: " + "; ".join(problems))


def config_with(base: CouncilConfig, options: dict[str, Any]) -> CouncilConfig:
    """`base` with `options` applied by field name; unknown names raise, naming the known ones."""
    fields = CouncilConfig.__struct_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for learning.council; "
                         f"known options: {', '.join(fields)}")
    merged = {**msgspec.structs.asdict(base), **options}
    try:
        return msgspec.convert(merged, CouncilConfig, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"invalid option for learning.council: {e}") from None
