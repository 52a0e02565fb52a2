"""One dream of one neuro: traces -> student -> gates -> a new version, or nothing.

Every step goes through `ctx.kernel` (describe, versions, messages, spawn, swap) and ends as
an event: ``dream.started``, then ``dream.shipped`` with the gate figures, or
``dream.rejected`` naming the gate that refused and its figures (nothing changes), or
``dream.failed`` (an error, with nothing changed either). The version store is written at
one point only, the last swap, so a dream cut short anywhere leaves no half-shipped version.

The gates, all of which must pass:

1. ``agreement``: held-out traces (the newest, never trained on) answered as the teacher
   did, at least the manifest's bound (a cascade: end to end, deferring what it is unsure of);
2. ``speedup``: the teacher's median service time on those same inputs (from the log) over
   the student's (timed here, on the same inputs), at least the manifest's factor;
3. ``selfcheck``: the student's (its weights fit its plan and answer finitely), as any swap runs;
4. ``replay``: the differential replay gate against the live version (a dry-run swap).
"""

from __future__ import annotations

import os
import pprint
import shutil
import statistics as stats_
import sys
import tempfile
import time
from typing import Any

import msgspec

from ._features import NotDistillable, Plan, agrees, plan_from_schemas
from ._jobs import Job
from ._kernelside import _event, distill_hook
from ._model import Model, fit_linear, pack, scaling
from ._settings import DreamSettings
from .student import WEIGHTS

__all__ = ["distil", "Rejected", "teacher_name"]

# How many held-out inputs the student is timed on (the median is taken).
TIMED_INPUTS = 200
# The MLP's Adam learning rate (cosine-annealed over its steps; full batches: dream/_trainer.py).
LEARNING_RATE = 1e-2
# A cascade's replay figure may fall this far below the student's own held-out agreement.
CASCADE_REPLAY_SLACK = 0.05


class Rejected(Exception):
    """A gate refused the student: `gate`, `reason` and the `figures` so far."""

    def __init__(self, gate: str, reason: str, figures: dict[str, float]) -> None:
        super().__init__(reason)
        self.gate, self.reason, self.figures = gate, reason, figures


def teacher_name(name: str) -> str:
    """The name a cascade's teacher serves under beside its student."""
    return f"{name}.teacher"


async def distil(ctx: Any, job: Job, settings: DreamSettings, folder: str, governed: Any) -> Job:
    """Run one distillation job of `job.neuro`; returns the job as it ended. `folder` is where
    the student package is written; `governed(argv, on_line)` runs the MLP trainer yielding."""
    k = ctx.kernel
    name = job.neuro
    figures: dict[str, float] = {}
    job.figures = figures  # live while it runs (`neuro dream status`): its trainer's steps so far
    job.seconds = {}
    stages = _Stages(job)
    stages.enter("start")  # describing the neuro and finding its teacher
    try:
        details = await k.describe(name, log=False)
        history = await k.versions(name)
        live = next((v for v in history if v.version == details.version), None)
        teacher = details.version
        if live is not None and live.origin == "dream" and live.lineage.teacher:
            teacher = live.lineage.teacher  # the live version is a student: learn from its teacher's traces
        job.teacher = teacher
        settings = _with_hook(ctx, name, settings)
        _event("dream.started", name, ctx, job=job.id, kind="distil", teacher=teacher, trigger=job.trigger)

        stages.enter("traces")
        ds, extra = await _traces(k, name, teacher, settings)
        n = len(ds.train) + len(ds.test) + (len(extra) if extra is not None else 0)
        figures["traces"] = float(n)
        if n < settings.min_traces:
            raise Rejected("traces", f"{n} traces of {name} {teacher}, fewer than min_traces = {settings.min_traces}",
                           figures)

        stages.enter("train")
        prepared = await ctx.run_sync(_prepare, details.input_schema, details.output_schema, ds, extra)
        plan, xtr, ytr, xte, teacher_te, inputs_te = prepared
        arrays, kind = await _fit(ctx, plan, xtr, ytr, xte, teacher_te, settings, governed, figures)
        model = Model(plan, arrays)

        stages.enter("agreement")
        verdict = await ctx.run_sync(_judge, model, xte, teacher_te, settings)
        figures.update(verdict)
        threshold = verdict.get("threshold")
        if settings.cascade:
            if verdict["answered"] <= 0.0:
                raise Rejected("agreement", "the cascade's student is confident of no held-out call at the "
                               f"agreement bound {settings.agreement}", figures)
        elif verdict["agreement"] < settings.agreement:
            raise Rejected("agreement", f"held-out agreement {verdict['agreement']:.4f} is below the bound "
                           f"{settings.agreement}", figures)

        stages.enter("speedup")
        spec = {"name": details.manifest["name"], "teacher": teacher, "job": job.id, "plan": plan.data,
                "policy": details.manifest["policy"], "sandbox": details.manifest["sandbox"], "kind": kind,
                "dream": msgspec.to_builtins(settings),  # the student keeps its teacher's opt-in
                "cascade": {"teacher": teacher_name(name), "threshold": threshold} if settings.cascade else None}
        package = os.path.join(folder, name, job.id, "student")
        cls = await ctx.run_sync(_write_and_load, package, spec, pack(arrays))
        teacher_service = await _teacher_service(k, name, teacher, ds)
        student_service = await ctx.run_sync(_time_student, cls, model, inputs_te)
        figures["teacher_service"], figures["student_service"] = teacher_service, student_service
        speed = teacher_service / student_service if student_service > 0 else float("inf")
        if settings.cascade:  # a deferred call costs the student's time and the teacher's
            deferred = 1.0 - figures["answered"]
            speed = teacher_service / (student_service + deferred * teacher_service)
        figures["speedup"] = speed
        if speed < settings.speedup:
            raise Rejected("speedup", f"the student is {speed:.1f}x the teacher's speed on the same inputs, below "
                           f"speedup = {settings.speedup:g}", figures)

        stages.enter("replay")
        cls.__neuro_lineage__ = {
            "teacher": teacher, "traces": [int(ds.options["first_id"]), int(ds.options["last_id"])],
            "gate": dict(figures),
            "notes": {"job": job.id, "dataset": ds.hash, "time": time.time(), "student": kind,
                      "cascade": bool(settings.cascade), "trigger": job.trigger,
                      # A student trained on labelled traces holds labelled data: it carries the labels.
                      "labels": sorted(next((r.labels for r in await k.ps() if r.name == name), ()))}}
        report = await _dry_run(k, name, cls, settings, figures)
        replay_agreement = report.replay.agreement if report.replay is not None else 1.0
        figures["replay"] = replay_agreement
        bound = (verdict["student_agreement"] - CASCADE_REPLAY_SLACK) if settings.cascade else settings.agreement
        if report.replay is not None and replay_agreement < bound:
            raise Rejected("replay", f"the replay gate: {report.replay.agreed} of {report.replay.compared} logged "
                           f"calls answered as the live version did ({replay_agreement:.4f} < {bound:.4f})",
                           figures)
        cls.__neuro_lineage__["gate"] = dict(figures)

        stages.enter("ship")
        if settings.cascade:
            await _ensure_teacher(k, name, teacher)
        shipped = await k.swap(name, cls)
        job.version, job.state, job.figures = shipped.new_version, "shipped", dict(figures)
        job.ended = time.time()  # before its event: a version made once the event is seen comes after it
        _event("dream.shipped", name, ctx, job=job.id, teacher=teacher, version=shipped.new_version, student=kind,
             cascade=bool(settings.cascade), dataset=ds.hash, traces=[int(ds.options["first_id"]),
                                                                       int(ds.options["last_id"])],
             figures=dict(figures))
    except Rejected as r:
        job.state, job.stage, job.figures, job.reason = "rejected", r.gate, dict(r.figures), r.reason
        job.ended = time.time()
        _event("dream.rejected", name, ctx, job=job.id, gate=r.gate, reason=r.reason, figures=dict(r.figures))
        _discard(folder, name, job.id)
    except NotDistillable as e:
        job.state, job.reason, job.ended = "rejected", f"not distillable: {e}", time.time()
        _event("dream.rejected", name, ctx, job=job.id, gate="types", reason=job.reason, figures=dict(figures))
    except Exception as e:  # noqa: BLE001 - a dream that fails changes nothing; the event says why
        job.state, job.reason, job.ended = "failed", f"{type(e).__name__}: {e}", time.time()
        _event("dream.failed", name, ctx, job=job.id, stage=job.stage, error=job.reason)
        _discard(folder, name, job.id)
    except BaseException:  # cancelled (perhaps inside a nursery's group): nothing went live
        if job.state == "running":
            job.state, job.ended = "cancelled", time.time()
            _event("dream.cancelled", name, ctx, job=job.id, stage=job.stage)
            _discard(folder, name, job.id)
        stages.enter(None)
        raise
    if job.ended is None:
        job.ended = time.time()
    stages.enter(None)
    return job


class _Stages:
    """One job's stage clock: entering a stage gives the one it leaves its wall seconds."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.began: float | None = None

    def enter(self, stage: str | None) -> None:
        """The job moves on to `stage` (None: it ended)."""
        now, job = time.perf_counter(), self.job
        if self.began is not None:
            job.seconds[job.stage] = job.seconds.get(job.stage, 0.0) + now - self.began
        self.began = None
        if stage is not None:
            job.stage, self.began = stage, now


def _with_hook(ctx: Any, name: str, settings: DreamSettings) -> DreamSettings:
    """The settings with what the teacher's own `distill` hook says of its student and loss."""
    hook = distill_hook(ctx, name)
    if hook is None:
        return settings
    given = hook()
    allowed = {"student", "hidden", "steps", "loss", "tolerance"}
    if not isinstance(given, dict) or set(given) - allowed:
        raise NotDistillable(f"its distill hook must return a dict of {', '.join(sorted(allowed))}, got {given!r}")
    return msgspec.convert({**msgspec.to_builtins(settings), **given}, DreamSettings)


# -- traces -------------------------------------------------------------------------------------

async def _traces(k: Any, name: str, teacher: str, settings: DreamSettings) -> tuple[Any, Any]:
    """The data set of the teacher's handled calls under `name` (split by time), and the calls
    a cascade deferred to it under its other name (training only), if any."""
    from neuro.neuros.learning.datasets import DatasetError, from_kernel

    try:
        ds = await from_kernel(k, name, version=teacher, held_out=settings.held_out, limit=settings.max_traces)
    except DatasetError as e:
        raise Rejected("traces", str(e), {"traces": 0.0}) from None
    extra = None
    try:
        deferred = await from_kernel(k, teacher_name(name), version=teacher, held_out=0.5,
                                     limit=settings.max_traces)
        extra = deferred
    except DatasetError:
        pass
    return ds, _ExtraSplit(extra) if extra is not None else None


class _ExtraSplit:
    """Both splits of the deferred calls' data set, as training rows."""

    def __init__(self, ds: Any) -> None:
        self.x = list(ds.train.x) + list(ds.test.x)
        self.y = list(ds.train.y) + list(ds.test.y)
        self.hash = ds.hash

    def __len__(self) -> int:
        return len(self.x)


def _prepare(input_schema: dict[str, Any], output_schema: dict[str, Any] | None, ds: Any, extra: Any
             ) -> tuple[Plan, Any, Any, Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """The plan, train rows (x, y), held-out rows, the teacher's held-out answers as fields
    and the held-out inputs as fields (blocking)."""
    import numpy as np

    train_x, train_y = list(ds.train.x), list(ds.train.y)
    if extra is not None:
        train_x += extra.x
        train_y += extra.y
    plan = plan_from_schemas(input_schema, output_schema, answers=train_y)
    xtr = np.asarray([plan.features(v) for v in train_x], dtype=np.float64)
    ytr = np.asarray([plan.targets(v) for v in train_y], dtype=np.float64)
    xte = np.asarray([plan.features(v) for v in ds.test.x], dtype=np.float64)
    if xtr.ndim != 2 or xtr.shape[1] != plan.width:
        raise NotDistillable(f"its logged inputs have {xtr.shape[-1]} numbers where its type has {plan.width}")
    teacher_te = [plan.fields(v) for v in ds.test.y]
    inputs_te = [plan.input_fields(v) for v in ds.test.x]
    return plan, xtr, ytr, xte, teacher_te, inputs_te


# -- the student --------------------------------------------------------------------------------

def _agreement(model: Model, xte: Any, teacher_te: list[dict[str, Any]], tolerance: float) -> float:
    answers = model.answers(xte)
    ok = sum(agrees(model.plan, t, a[0], tolerance) for t, a in zip(teacher_te, answers))
    return ok / max(1, len(teacher_te))


async def _fit(ctx: Any, plan: Plan, xtr: Any, ytr: Any, xte: Any, teacher_te: list[dict[str, Any]],
               settings: DreamSettings, governed: Any, figures: dict[str, float]) -> tuple[dict[str, Any], str]:
    """A linear student, then (when asked, or when it falls short) an MLP; the better one."""
    arrays, kind = None, ""
    if settings.student in ("auto", "linear"):
        arrays = await ctx.run_sync(fit_linear, plan, xtr, ytr)
        kind = "linear"
        figures["linear_agreement"] = await ctx.run_sync(_agreement, Model(plan, arrays), xte, teacher_te,
                                                         settings.tolerance)
        if settings.student == "linear" or figures["linear_agreement"] >= settings.agreement:
            return arrays, kind
    mlp = await _train_mlp(ctx, plan, xtr, ytr, settings, governed, figures)
    figures["mlp_agreement"] = await ctx.run_sync(_agreement, Model(plan, mlp), xte, teacher_te, settings.tolerance)
    if arrays is None or figures["mlp_agreement"] >= figures["linear_agreement"]:
        return mlp, "mlp"
    return arrays, kind


async def _train_mlp(ctx: Any, plan: Plan, xtr: Any, ytr: Any, settings: DreamSettings, governed: Any,
                     figures: dict[str, float]) -> dict[str, Any]:
    """Train the MLP in the trainer process (dream/_trainer.py), under the governor."""
    import numpy as np

    s = scaling(plan, xtr, ytr)
    regs, cats = plan.heads()
    reg_cols = [c for _, start, size in regs for c in range(start, start + size)]
    work = tempfile.mkdtemp(prefix="neuro-dream-")
    try:
        inp, out = os.path.join(work, "in.npz"), os.path.join(work, "out.npz")
        np.savez(inp, x=(xtr - s["mean_x"]) / s["std_x"], y=(ytr - s["mean_y"]) / s["std_y"],
                 reg=np.asarray(reg_cols, dtype=np.int64),
                 cats=np.asarray([[start, size] for _, start, size in cats], dtype=np.int64).reshape(-1, 2),
                 hidden=np.asarray(settings.hidden, dtype=np.int64), steps=settings.steps, seed=0, lr=LEARNING_RATE,
                 loss=settings.loss)
        losses: list[float] = []

        def on_line(line: str) -> None:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "step":
                figures["steps"] = float(parts[1])
                losses.append(float(parts[2]))

        stats = await governed([sys.executable, "-m", "neuro.dream._trainer", inp, out], on_line)
        figures["yields"] = float(stats.yields)
        figures["yielded_seconds"] = stats.yielded_seconds
        if losses:
            figures["final_loss"] = losses[-1]
        with np.load(out) as f:
            layers = {key: f[key] for key in f.files}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**s, **layers, "temperature": np.float64(1.0)}


def _judge(model: Model, xte: Any, teacher_te: list[dict[str, Any]], settings: DreamSettings) -> dict[str, float]:
    """Held-out agreement; for a cascade, the confidence threshold that keeps end-to-end
    agreement at the bound while the student answers as many calls as it can."""
    answers = model.answers(xte)
    agree = [agrees(model.plan, t, a[0], settings.tolerance) for t, a in zip(teacher_te, answers)]
    n = max(1, len(agree))
    out = {"student_agreement": sum(agree) / n, "held_out": float(len(agree))}
    if not settings.cascade:
        out["agreement"] = out["student_agreement"]
        return out
    eligible = sorted({a[1] for a in answers if a[2]})
    best = (float("inf"), 0.0, 1.0)  # threshold, answered share, end-to-end agreement
    for t in eligible:  # lowest threshold first: the first that keeps the bound answers most
        answered = [a[2] and a[1] >= t for a in answers]
        e2e = sum(ok if ans else True for ok, ans in zip(agree, answered)) / n
        if e2e >= settings.agreement:
            best = (t, sum(answered) / n, e2e)
            break
    out.update(threshold=best[0] if best[0] != float("inf") else 2.0, answered=best[1], agreement=best[2])
    return out


def _write_and_load(package: str, spec: dict[str, Any], weights: bytes) -> Any:
    """Write the student package (its code and weights) and load its class (blocking). The
    code is Neuro's own template with the plan as data, so it is imported here, trusted."""
    from neuro._neurofile import load_neuro_path

    os.makedirs(package, exist_ok=True)
    code = (f'"""Student of {spec["name"]} {spec["teacher"]}, distilled by neuro.dream (job {spec["job"]}).\n\n'
            'Generated code: its model is weights.npz, an artifact of this version (docs/dream.md)."""\n\n'
            "from neuro.dream.student import build\n\n"
            f"SPEC = {pprint.pformat(spec, width=110, sort_dicts=True)}\n\n"
            "Student = build(__name__, SPEC)\n")
    with open(os.path.join(package, WEIGHTS), "wb") as f:
        f.write(weights)
    with open(os.path.join(package, "__init__.py"), "w") as f:
        f.write(code)
    loaded = load_neuro_path(package)
    cls = loaded.cls
    cls.__neuro_files__ = loaded.files
    return cls


def _time_student(cls: Any, model: Model, inputs: list[dict[str, Any]]) -> float:
    """The median seconds the student's handler takes on the held-out inputs (the work of its
    confident path: read the input, answer, build the reply)."""
    msgs = [msgspec.convert(v, cls.In) for v in inputs[:TIMED_INPUTS]]
    Out = cls.Out
    times = []
    for msg in msgs * 3:
        began = time.perf_counter()
        Out(**model.answer(msg)[0])
        times.append(time.perf_counter() - began)
    return stats_.median(times) if times else 0.0


async def _teacher_service(k: Any, name: str, teacher: str, ds: Any) -> float:
    """The teacher's median service time on the held-out calls, as the log measured it."""
    since = float(ds.meta.get("split_time", "0"))
    for who in (name, teacher_name(name)):
        rows = await k.messages(neuro=who, kind="call", outcome="handled", since=since, limit=len(ds.test) + 50)
        services = [r.service for r in rows if r.version == teacher and r.service is not None]
        if services:
            return stats_.median(services)
    raise Rejected("speedup", "the log has no service times of the teacher's held-out calls (a log older than "
                   "schema 4?)", {})


async def _dry_run(k: Any, name: str, cls: Any, settings: DreamSettings, figures: dict[str, float]) -> Any:
    """Load, selfcheck and replay the student beside the live version; nothing goes live."""
    from neuro._errors import SwapFailed

    try:
        return await k.swap(name, cls, replay=settings.replay, tolerance=settings.tolerance, accept=True,
                            dry_run=True)
    except SwapFailed as e:
        report = getattr(e, "report", None)
        stage = getattr(report, "stage", "load")
        raise Rejected("selfcheck" if stage == "selfcheck" else stage, str(e), figures) from None


async def _ensure_teacher(k: Any, name: str, teacher: str) -> None:
    """The teacher, as a stored version under its other name, for the cascade to defer to."""
    other = teacher_name(name)
    running = {p.name: p for p in await k.ps()}
    if other in running and running[other].version == teacher:
        return
    if other in running:
        await k.stop(other)
    await k.spawn(name, version=teacher, as_name=other)


def _discard(folder: str, name: str, job: str) -> None:
    shutil.rmtree(os.path.join(folder, name, job), ignore_errors=True)
