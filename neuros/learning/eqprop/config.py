"""The equilibrium-propagation config: every knob, and why it has its default.

Kept apart from `model.py` so the neuro (and the kernel importing it) can read and validate
options without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["EqPropConfig", "config_with"]


class EqPropConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # -- shape
    # One hidden layer of 256 units: enough for digits; deeper nets are supported (the bench
    # runs 1, 2, 3 and 5) but the nudge signal fades with depth, so they learn slower.
    hidden: tuple[int, ...] = (256,)

    # -- the two phases
    # Nudge strength. Centred nudging has an O(beta^2) bias only while both phases stay inside
    # the box: the -beta phase pushes the target class's output to (o - beta) / (1 - beta),
    # which is clipped to 0 (and the contrast cut short) whenever o < beta. An MSE net starts,
    # and a deep one stays for epochs, near the class prior o ~ 1/n_out (0.1 for 10 classes;
    # 80% of targets were below 0.2 at depth 5 on MNIST-1D), so beta sits well below it: 0.05.
    # s(+b) - s(-b) is still >= 1e-4 in every hidden layer at depth 5 (10x `tol`): settling
    # to `tol` instead of 1e-7 moved the cosine with BPTT by < 0.01.
    beta: float = 0.05
    # "centred": phases at +beta and -beta (Laborieux et al. 2021), bias O(beta^2).
    # "one-sided": free phase and +beta only (Scellier & Bengio 2017), bias O(beta).
    nudge: Literal["centred", "one-sided"] = "centred"
    # Cap on free-phase iterations. The dynamics contract by at least (1 - lipschitz) a step,
    # and saturated units contract faster; 60 settles digits batches to `tol` in the bench.
    free_steps: int = 60
    # Cap on each nudged phase; it starts at the free fixed point, so it needs fewer steps.
    nudge_steps: int = 30
    # A unit has settled when it moves less than this in one step: far below beta's effect
    # on the states (about 1e-2) so the contrast is not drowned in settling error.
    tol: float = 1e-5
    # How the free layers are updated each step. "synchronous": every layer at once from the
    # previous state (a projected gradient step with unit step size; it converges only while
    # the couplings contract, hence `lipschitz`). "alternating": odd layers, then even layers,
    # each set to its exact minimiser given its neighbours (block coordinate descent, as in
    # Scellier et al. 2023): the energy never rises, so it settles for any weights, needs no
    # contraction bound, and moves information two layers a step instead of one. Same fixed
    # points either way. Synchronous stays the default for the one-layer net it was tuned on.
    schedule: Literal["synchronous", "alternating"] = "synchronous"
    # The output units. "clipped": in [0, 1] like every other unit. "linear": unbounded, so
    # the output is the readout W_L s_L + b_L at the fixed point (E stays bounded below: the
    # output's energy is 1/2 |o|^2 minus a linear term). With clipped outputs an example whose
    # target unit sits below 0 gives no contrast at all (both nudged phases stay clipped at 0),
    # and in a deep net at initialisation that was 65% of the outputs. "readout" (Laborieux et
    # al. 2021): the output is not a layer of the energy but logits W_L s_L + b_L read off the
    # top hidden layer, the cost is cross-entropy (the MLP's), the nudge pulls the top hidden
    # layer by -beta dCE/ds_L, and W_L learns from the free phase's exact gradient. The free
    # phase then gets no top-down drive from a prediction it has not made yet.
    output: Literal["clipped", "linear", "readout"] = "clipped"
    # Test for settling every this many steps (1: every step). Each test synchronises with
    # the device; on a GPU, 5-10 lets the steps in between queue without waiting.
    check_every: int = 1

    # -- learning rule
    # Adam on the EP update direction (no autograd involved). 1e-3 is Adam's usual default.
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    # Only used by "sgd".
    momentum: float = 0.9
    # "cosine": the rate rises linearly over the first tenth of `epochs` (a deep net's first
    # steps at the full rate saturated it), then falls to 0 (half a cosine), so the last epochs
    # average out the step-to-step noise of the estimate. "none": constant.
    lr_decay: Literal["none", "cosine"] = "none"
    # Layer-wise learning rates (Scellier & Bengio 2017): W_k and b_k learn at
    # lr * layer_lr_ratio ** (L - k), L the output layer, so a ratio > 1 speeds up the layers
    # far from the output, whose EP signal is weakest. 1.0: one rate for all.
    layer_lr_ratio: float = 1.0
    # Scale of the initial weights, times nn.Linear's uniform(+-1/sqrt(fan_in)). Units live in
    # [0, 1] and are clipped, so with gain 1 a signal shrinks at each layer; deep nets without
    # the contraction bound need more (see docs/learning/eqprop.md for the runs).
    init_gain: float = 1.0
    batch_size: int = 32
    epochs: int = 20

    # -- stability
    # Bound on the spectral norm of the coupling operator (all hidden/output couplings).
    # Below 1 the relaxation is a contraction: one fixed point, reached from anywhere.
    # None turns the constraint off (then only homeostasis keeps the dynamics in check).
    # With the alternating schedule (which settles for any weights) a bound >= 1 is allowed:
    # it is then a cap against runaway couplings that saturate every unit, not a contraction.
    lipschitz: float | None = 0.95
    # Power-iteration steps per update to track the norm; warm-started, so 3 is enough.
    power_iters: int = 3
    # Homeostatic braking: after each free phase, if the 90th-percentile final velocity (largest
    # state change in the last step) is above `brake_velocity` the net has not settled and
    # the couplings shrink by `brake`; if every input settled within `boost_steps` the
    # couplings grow by `boost` (capped by `lipschitz`). 1e-2 is 1000x `tol`: clearly
    # not converging, not merely slow.
    homeostasis: bool = True
    brake_velocity: float = 1e-2
    brake: float = 0.9
    boost_steps: int = 3
    boost: float = 1.02

    # -- variants
    # "symmetric": feedback through W^T (true EP). "random": fixed random feedback weights
    # (feedback alignment). "learned": feedback weights get the transposed EP update plus a
    # decay on both, so they drift towards W^T by local rules only (Kolen-Pollack).
    feedback: Literal["symmetric", "random", "learned"] = "symmetric"
    # Weight decay of the Kolen-Pollack variant; it is what aligns B with W^T over time.
    fb_decay: float = 1e-3
    # Lazy (event-driven) relaxation: a unit is updated, and its change sent to its
    # neighbours, only while it moves more than `lazy_tol`; counted FLOPs are the ones done.
    lazy: bool = False
    lazy_tol: float = 1e-4
    # Ternary weights {-a, 0, +a} per layer (Li & Liu 2016): latent float weights learn,
    # the dynamics use the ternarised ones. Threshold = ternary_delta * mean |W|.
    ternary: bool = False
    ternary_delta: float = 0.7

    # -- bookkeeping
    seed: int = 0
    # "auto": the GPU when torch sees one and the caller allows it, else the CPU.
    device: str = "auto"
    # Steps of relaxation for dreaming (input freed, output clamped).
    dream_steps: int = 200
    # Then this many refinement steps: the input follows EP's own estimate of -dC/dx (the
    # input's coupling W_0^T times the contrast of the first hidden layer between the +beta
    # and -beta phases, a local signal) towards the label, so the same net recognises the
    # dream. 0 keeps the pure energy-relaxation dream, which the net recognised 30% of the time.
    dream_refine: int = 60
    # Size of each refinement step, as a fraction of the input box's width, per unit rms.
    dream_lr: float = 0.02

    def __post_init__(self) -> None:
        problems = []
        if not self.hidden or any(h < 1 for h in self.hidden):
            problems.append(f"`hidden` must be one or more layer widths >= 1, got {self.hidden}")
        if not 0.0 < self.beta < 1.0:
            problems.append(f"`beta` must be in (0, 1), got {self.beta}")
        if self.lipschitz is not None and self.schedule == "synchronous" and not 0.0 < self.lipschitz < 1.0:
            problems.append(f"`lipschitz` must be in (0, 1) or None, got {self.lipschitz} (a bound >= 1 needs "
                            f"schedule=\"alternating\")")
        if self.lipschitz is not None and self.schedule == "alternating" and self.lipschitz <= 0.0:
            problems.append(f"`lipschitz` must be > 0 or None, got {self.lipschitz}")
        if self.output == "readout" and (self.lazy or self.feedback != "symmetric"):
            problems.append("`output=\"readout\"` works with dense, symmetric relaxation only "
                            "(set lazy=False, feedback=\"symmetric\")")
        for name in ("free_steps", "nudge_steps", "batch_size", "epochs", "power_iters", "dream_steps", "check_every"):
            if getattr(self, name) < 1:
                problems.append(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            problems.append(f"`lr` must be > 0, got {self.lr}")
        if self.layer_lr_ratio <= 0 or self.init_gain <= 0:
            problems.append(f"`layer_lr_ratio` and `init_gain` must be > 0, got {self.layer_lr_ratio}, {self.init_gain}")
        if self.dream_refine < 0:
            problems.append(f"`dream_refine` must be >= 0, got {self.dream_refine}")
        if problems:
            raise ValueError("invalid EqPropConfig: " + "; ".join(problems))


def config_with(base: EqPropConfig, options: dict[str, Any]) -> EqPropConfig:
    """`base` with `options` applied by field name; unknown names raise, naming the known ones."""
    fields = EqPropConfig.__struct_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for learning.eqprop; "
            f"known options: {', '.join(fields)}"
        )
    merged = {**msgspec.structs.asdict(base), **options}
    try:
        return msgspec.convert(merged, EqPropConfig, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"invalid option for learning.eqprop: {e}") from None
