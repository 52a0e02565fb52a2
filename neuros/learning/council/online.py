"""The council as an online learner: a stream of observations in, predictions out, learning
as it goes. torch; built inside the learner's worker thread.

One step, for a batch of B streams (one example each):

1. The neuromodulator turns each stream's last surprise into plasticity scalars.
2. System 1 reads the last `window` symbols: logits, value, memory write. The write goes to
   the end of the stream's executive memory (a ring of `memory_slots` thoughts).
3. The gate decides per example whether the council runs (config `gate`; the default,
   "doubt", where System 1's entropy is high or the stream's alarm is: its surprise held
   as a decaying maximum, so the rows just after a rule switch, where System 1 is sure of
   the old rule and wrong, are called too).
4. The council runs on those examples only, over their memories.
5. The answer scored is the council's where it ran, System 1's elsewhere: the model's own
   action. Only then is the true next symbol used, to learn from: it is the next observation
   of the stream, never an input to the answer just scored.
6. The loss: System 1's cross-entropy and value loss on every example; where the council ran,
   its cross-entropy, its ponder cost, the distillation KL from its (detached) output into
   System 1 at temperature T, and for the learnt gate g * (loss_S2 - loss_S1 + gate_cost)
   with the losses detached: the gradient of the expected loss of calling with probability g.
7. The meta-update (metaupdate.py) applies it; the EMA teacher follows. The stream's
   surprise becomes System 1's loss on the revealed symbol, and its alarm max(surprise,
   alarm_decay * alarm).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .config import CouncilConfig
from .metaupdate import MetaUpdater
from .model import CouncilModel, entropy
from .world import windows_at

__all__ = ["OnlineCouncil", "StepOut"]


@dataclass
class StepOut:
    """What one step did, per example (numpy): the answer scored and System 1's own."""

    pred: Any  # (B,) int64
    s1_pred: Any
    ran: Any  # (B,) bool: the council answered
    probs: Any  # (B, V) the scored answer's distribution
    s1_entropy: Any  # (B,)
    gate: Any  # (B,) P(call) of the learnt gate (whatever gate decided)
    loss: float = 0.0  # the step's total loss (0 when it did not learn)
    ponder: float = 0.0  # mean expected ponder steps per council call, summed over voices
    aggressive: float = 0.0


class OnlineCouncil:
    """The net, its optimiser and teacher, and each stream's state (memory, last surprise)."""

    def __init__(self, cfg: CouncilConfig, device: Any = "cpu") -> None:
        self.cfg, self.device = cfg, torch.device(device)
        torch.manual_seed(cfg.seed)
        self.model = CouncilModel(cfg).to(self.device)
        self.meta = MetaUpdater(self.model, cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)  # exploration and random gating, on the CPU
        self.memory: torch.Tensor | None = None  # (B, M, D)
        self.surprise: torch.Tensor | None = None  # (B,) nats
        self.alarm: torch.Tensor | None = None  # (B,) nats: the surprise as a decaying maximum
        self.previous: tuple[torch.Tensor, ...] | None = None  # last step's (windows, targets, surprise, memory)
        self.replay: deque = deque(maxlen=cfg.replay_steps)
        self.steps = 0
        self.examples = 0
        self.s2_calls = 0
        self.cursor = (0, 0)  # a Train job's place: (group of streams, step)

    # ------------------------------------------------------------------ stream state

    def reset_streams(self, streams: int) -> None:
        """Fresh executive memories and surprises for `streams` streams."""
        self.memory = torch.zeros(streams, self.cfg.memory_slots, self.cfg.dim, device=self.device)
        self.surprise = torch.full((streams,), math.log(self.cfg.vocab), device=self.device)
        self.alarm = self.surprise.clone()  # a fresh stream is as surprising as can be
        self.previous = None

    def _state(self, streams: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.memory is None or self.memory.shape[0] != streams:
            self.reset_streams(streams)
        return self.memory, self.surprise, self.alarm

    def _peek(self, streams: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The streams' state if there are `streams` of them, else a fresh one, kept nowhere."""
        if self.memory is not None and self.memory.shape[0] == streams:
            return self.memory, self.surprise, self.alarm
        fresh = torch.full((streams,), math.log(self.cfg.vocab), device=self.device)
        return torch.zeros(streams, self.cfg.memory_slots, self.cfg.dim, device=self.device), fresh, fresh

    def _advance(self, memory: torch.Tensor, surprise: torch.Tensor) -> None:
        """The streams' state after a step: this step's memory, System 1's surprise on the
        revealed symbol, and the alarm, which holds a surprise for a few steps."""
        self.memory, self.surprise = memory, surprise
        self.alarm = torch.maximum(surprise, self.cfg.alarm_decay * self.alarm)

    def stream_state(self) -> tuple[Any, ...]:
        return self.memory, self.surprise, self.alarm, self.previous

    def set_stream_state(self, state: tuple[Any, ...]) -> None:
        self.memory, self.surprise, self.alarm, self.previous = state

    def set_config(self, cfg: CouncilConfig) -> None:
        """New options of the same shape (gate, costs, rates): the net and its state stay."""
        self.cfg = self.model.cfg = self.model.council.cfg = self.meta.cfg = cfg
        for group in self.meta.opt.param_groups:
            group["lr"] = cfg.lr
        self.replay = deque(self.replay, maxlen=cfg.replay_steps)

    # ------------------------------------------------------------------ one step

    def _decide(self, gate_p: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        cfg, B = self.cfg, gate_p.shape[0]
        u = torch.rand(B, generator=self.gen).to(self.device)
        if cfg.gate == "always":
            return torch.ones(B, dtype=torch.bool, device=self.device)
        if cfg.gate == "never":
            return torch.zeros(B, dtype=torch.bool, device=self.device)
        if cfg.gate == "random":
            return u < cfg.random_rate
        if cfg.gate == "entropy":
            return feats[:, 0] > cfg.entropy_threshold
        if cfg.gate == "doubt":
            return (feats[:, 0] > cfg.entropy_threshold) | (feats[:, 2] > cfg.surprise_threshold)
        if cfg.gate == "batch":
            return (feats[:, 0].mean() > cfg.entropy_threshold).expand(B)
        return (gate_p.detach() > 0.5) | (u < cfg.explore)

    def _forward(self, windows: torch.Tensor, memory: torch.Tensor, surprise: torch.Tensor, alarm: torch.Tensor,
                 gate: bool = True) -> dict[str, Any]:
        m = self.model
        rho = m.modulator(surprise / math.log(self.cfg.vocab))  # (B, layers, 2)
        s1 = m.s1(windows, rho[:, :-1], memory)
        memory = torch.cat([memory[:, 1:], s1.write[:, None]], 1)  # (B, M, D): this step's thought is the newest
        feats = m.gate_features(s1.logits.detach(), s1.value.detach(), alarm)
        gate_p = m.gate_prob(feats)
        run = self._decide(gate_p, feats) if gate else torch.zeros_like(gate_p, dtype=torch.bool)
        idx = run.nonzero().squeeze(-1)
        council = None
        if len(idx):
            council = m.council(s1.summary[idx], s1.tokens[idx], memory[idx], rho[idx, -1])
        return {"rho": rho, "s1": s1, "memory": memory, "feats": feats, "gate_p": gate_p, "run": run, "idx": idx,
                "council": council}

    def _answer(self, f: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The scored answer's probabilities and labels: the council's where it ran."""
        probs = torch.softmax(f["s1"].logits.detach(), -1)
        if f["council"] is not None:
            probs = probs.clone()
            probs[f["idx"]] = torch.softmax(f["council"].logits.detach(), -1)
        return probs, probs.argmax(-1)

    def _out(self, f: dict[str, Any], probs: torch.Tensor, pred: torch.Tensor, **extra: float) -> StepOut:
        c = f["council"]
        return StepOut(pred=pred.cpu().numpy(), s1_pred=f["s1"].logits.argmax(-1).cpu().numpy(),
                       ran=f["run"].cpu().numpy(), probs=probs.cpu().numpy(),
                       s1_entropy=entropy(f["s1"].logits.detach()).cpu().numpy(),
                       gate=f["gate_p"].detach().cpu().numpy(),
                       ponder=float(c.steps.detach().mean()) if c is not None else 0.0, **extra)

    def step(self, windows: Any, targets: Any) -> StepOut:
        """Answer for `windows` (B, W), then learn from the revealed `targets` (B,)."""
        cfg = self.cfg
        w = torch.as_tensor(windows, dtype=torch.long, device=self.device)
        y = torch.as_tensor(targets, dtype=torch.long, device=self.device)
        memory, surprise, alarm = self._state(len(w))
        self.model.train()
        f = self._forward(w, memory, surprise, alarm)
        probs, pred = self._answer(f)  # the action, fixed before the target is looked at
        s1, c, idx, B = f["s1"], f["council"], f["idx"], len(w)
        ce1 = F.cross_entropy(s1.logits, y, reduction="none")
        right1 = (s1.logits.argmax(-1) == y).float()
        loss = ce1.mean() + F.binary_cross_entropy_with_logits(s1.value, right1)
        if c is not None:
            T = cfg.distill_temperature
            ce2 = F.cross_entropy(c.logits, y[idx], reduction="none")
            kl = F.kl_div(torch.log_softmax(s1.logits[idx] / T, -1), torch.log_softmax(c.logits.detach() / T, -1),
                          reduction="none", log_target=True).sum(-1) * T * T
            loss = loss + (ce2.sum() + cfg.ponder_cost * c.steps.sum() / cfg.max_ponder
                           + cfg.distill_weight * kl.sum()) / B
            if cfg.gate == "learnt":
                advantage = (ce2 - ce1[idx] + cfg.gate_cost).detach()
                loss = loss + (f["gate_p"][idx] * advantage).sum() / B
        loss.backward()
        now = (w, y, surprise, memory)
        previous = self.previous

        def judge() -> float:
            batches = [now] + ([previous] if previous is not None and len(previous[0]) == len(w) else [])
            wq, yq, sq, mq = (torch.cat(parts) for parts in zip(*batches))
            rho = self.model.modulator(sq / math.log(cfg.vocab))
            return float(F.cross_entropy(self.model.s1(wq, rho[:, :-1], mq).logits, yq))

        chosen = self.meta.step(judge)
        self.replay.append((w, memory.detach(), surprise.detach()))
        self.previous = (w, y, surprise.detach(), memory.detach())
        self._advance(f["memory"].detach(), ce1.detach())
        self.steps += 1
        self.examples += B
        self.s2_calls += len(idx)
        return self._out(f, probs, pred, loss=float(loss.detach()), aggressive=chosen["aggressive"])

    @torch.no_grad()
    def observe(self, windows: Any, targets: Any | None = None, gate: bool = True) -> StepOut:
        """Answer for `windows` (B, W) without learning; with `targets` (the revealed next
        symbols), advance the streams' memories and surprises as a step would."""
        w = torch.as_tensor(windows, dtype=torch.long, device=self.device)
        memory, surprise, alarm = self._state(len(w)) if targets is not None else self._peek(len(w))
        self.model.eval()
        f = self._forward(w, memory, surprise, alarm, gate=gate)
        probs, pred = self._answer(f)
        if targets is not None:
            y = torch.as_tensor(targets, dtype=torch.long, device=self.device)
            self._advance(f["memory"], F.cross_entropy(f["s1"].logits, y, reduction="none"))
        return self._out(f, probs, pred)

    # ------------------------------------------------------------------ streams

    def run(self, x: Any, y: Any, *, learn: bool = True, start: int = 0, stop: int | None = None,
            reset: bool = True, on_step: Any = None) -> dict[str, Any]:
        """Steps `start`..`stop` of streams x, y (S, T): learning (`step`) or not (`observe`),
        from fresh memories when `reset`. Returns per-step arrays (T', S): correct,
        s1_correct, ran, and the mean loss."""
        import numpy as np

        stop = x.shape[1] if stop is None else stop
        if reset:
            self.reset_streams(len(x))
        rows: dict[str, list[Any]] = {"correct": [], "s1_correct": [], "ran": []}
        losses = []
        for t in range(start, stop):
            win, target = windows_at(x, t, self.cfg.window), y[:, t]
            out = self.step(win, target) if learn else self.observe(win, target)
            rows["correct"].append(out.pred == target)
            rows["s1_correct"].append(out.s1_pred == target)
            rows["ran"].append(out.ran)
            losses.append(out.loss)
            if on_step is not None:
                on_step(t, out)
        result = {k: np.asarray(v) for k, v in rows.items()}
        result["loss"] = float(np.mean(losses)) if losses else 0.0
        return result

    # ------------------------------------------------------------------ sleep

    def consolidate(self) -> dict[str, float]:
        """Distil the EMA teacher's council into System 1 over the replay buffer (`sleep_steps`
        steps of Adam on System 1 alone, KL at the distillation temperature). Returns the KL
        and the agreement of System 1's answers with the teacher council's, before and after."""
        cfg = self.cfg
        if not self.replay:
            return {"replayed": 0.0}
        T = cfg.distill_temperature
        w = torch.cat([r[0] for r in self.replay])
        mem = torch.cat([r[1] for r in self.replay])
        sur = torch.cat([r[2] for r in self.replay])
        teacher = self.meta.teacher.eval()
        with torch.no_grad():
            rho = teacher.modulator(sur / math.log(cfg.vocab))
            s1t = teacher.s1(w, rho[:, :-1], mem)
            mem_t = torch.cat([mem[:, 1:], s1t.write[:, None]], 1)
            target = torch.log_softmax(teacher.council(s1t.summary, s1t.tokens, mem_t, rho[:, -1]).logits / T, -1)
        student = self.model.s1
        opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
        rho_s = self.model.modulator(sur / math.log(cfg.vocab)).detach()

        def measure() -> tuple[float, float]:
            with torch.no_grad():
                logits = student(w, rho_s[:, :-1], mem).logits
                kl = F.kl_div(torch.log_softmax(logits / T, -1), target, reduction="batchmean", log_target=True)
                return float(kl * T * T), float((logits.argmax(-1) == target.argmax(-1)).float().mean())

        kl0, agree0 = measure()
        self.model.train()
        for _ in range(cfg.sleep_steps):
            logits = student(w, rho_s[:, :-1], mem).logits
            kl = F.kl_div(torch.log_softmax(logits / T, -1), target, reduction="batchmean", log_target=True) * T * T
            opt.zero_grad(set_to_none=True)
            kl.backward()
            opt.step()
        kl1, agree1 = measure()
        return {"replayed": float(len(w)), "kl_before": kl0, "kl_after": kl1, "agreement_before": agree0,
                "agreement_after": agree1, "steps": float(cfg.sleep_steps)}
