"""What a distilled student version is made of: ``build(__name__, SPEC)`` in its generated code.

The dream daemon writes each student as a package folder of two files:

    __init__.py    SPEC = {...}; Student = build(__name__, SPEC)
    weights.npz    its model (dream/_model.py), declared as the version's artifact

so a student is a real version in the version store: its code and the hash of its weights
name it, its weights are kept in the log's artifact store, and a rollback or a restart loads
it again from there. `SPEC` holds the teacher's name and version, the policy and sandbox it
ran under, the `Plan` of its message types, and for a cascade the name the teacher serves
under and the confidence the student needs to answer alone.

Its input and output types are made from the teacher's schemas (same fields, names, types
and defaults), so the teacher's callers need not change; an in-process caller gets the
student's own Struct of the same name and fields.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from neuro import sdk

from ._features import Plan

__all__ = ["build", "WEIGHTS"]

WEIGHTS = "weights.npz"


def _field_type(f: dict[str, Any]) -> Any:
    kind = f["kind"]
    if kind == "enum":
        return Literal[tuple(f["values"])]  # type: ignore[misc]
    if kind == "vector":
        item = int if f.get("item") == "integer" else float
        return _fixed_list(item, f["size"])
    return {"number": float, "integer": int, "bool": bool, "text": str}[kind]


def _fixed_list(item: type, size: int) -> Any:
    from typing import Annotated

    return Annotated[list[item], msgspec.Meta(min_length=size, max_length=size)]  # type: ignore[valid-type]


def _struct(title: str, fields: list[dict[str, Any]], module: str) -> type[msgspec.Struct]:
    spec = []
    for f in fields:
        tp = _field_type(f)
        if "default" not in f:
            spec.append((f["name"], tp))
        elif isinstance(f["default"], list):
            spec.append((f["name"], tp, msgspec.field(default_factory=lambda d=f["default"]: list(d))))
        else:
            spec.append((f["name"], tp, f["default"]))
    return msgspec.defstruct(title, spec, bases=(sdk.Message,), kw_only=True, module=module)


class _StudentBase(sdk.Neuro, abstract=True):
    """What every student does: load its weights once, answer from them."""

    _spec: dict[str, Any]
    _plan: Plan

    def __init__(self) -> None:
        self.model: Any = None
        self.answered = 0
        self.deferred = 0

    def _load(self, path: str) -> Any:
        from ._model import Model

        self.model = Model.from_file(self._plan, path)
        return self.model

    def selfcheck(self) -> None:
        """Refuse to go live unless the weights fit the plan and answer a plain input."""
        import numpy as np

        from neuro._context import _artifacts

        path = _artifacts.get(type(self).version(), {}).get(WEIGHTS)
        if path is None:
            raise sdk.NeuroError(f"student of {self._spec['name']}: its {WEIGHTS} is not exported; load it again")
        model = self._load(path)
        first, last = model.layers[0][0], model.layers[-1][0]
        if first.shape[0] != self._plan.width or last.shape[1] != self._plan.out_width:
            raise sdk.NeuroError(f"student of {self._spec['name']}: weights of shape {first.shape} .. {last.shape} do "
                                 f"not fit its plan ({self._plan.width} inputs, {self._plan.out_width} outputs)")
        out = model.outputs(np.zeros((1, self._plan.width)))
        if not np.isfinite(out).all():
            raise sdk.NeuroError(f"student of {self._spec['name']}: its model answers NaN or infinity")


def build(module: str, spec: dict[str, Any]) -> type[sdk.Neuro]:
    """The student class `spec` describes, defined in `module` (its generated file)."""
    plan = Plan(spec["plan"])
    In = _struct(plan.input_title, plan.inputs, module)
    Out = _struct(plan.output_title, plan.outputs, module)
    cascade = spec.get("cascade")

    if cascade:
        teacher, threshold = cascade["teacher"], float(cascade["threshold"])

        def handle(self: Any, ctx: Any, msg: Any) -> Any:
            # A plain handler, so the answers it is sure of keep the caller's-task path; the
            # teacher's is a returned coroutine, which the kernel awaits in a task of its own.
            model = self.model or self._load(ctx.artifact(WEIGHTS))
            fields, confidence, inside = model.answer(msg)
            if inside and confidence >= threshold:
                self.answered += 1
                return Out(**fields)
            self.deferred += 1
            return ask_teacher(ctx, msg, fields)

        async def ask_teacher(ctx: Any, msg: Any, fields: dict[str, Any]) -> Any:
            try:
                reply = await ctx.call(teacher, msg)
            except Exception as e:  # noqa: BLE001 - no teacher to ask (a replay's shadow; not started yet)
                if type(e).__name__ not in ("ShadowRefused", "NoSuchNeuro"):
                    raise
                return Out(**fields)  # its best answer; the dream daemon starts the teacher again
            return msgspec.convert(msgspec.to_builtins(reply), Out)
    else:

        def handle(self: Any, ctx: Any, msg: Any) -> Any:
            model = self.model or self._load(ctx.artifact(WEIGHTS))
            return Out(**model.answer(msg)[0])

    doc = (f"Student of {spec['name']} {spec['teacher']}, distilled by neuro.dream (job {spec['job']})"
           + (f"; a cascade in front of {cascade['teacher']}" if cascade else "") + ".")
    attrs = {"name": spec["name"], "input": In, "output": Out, "policy": spec["policy"], "sandbox": spec["sandbox"],
             "artifacts": (WEIGHTS,), "handle": handle, "dream": spec.get("dream"), "_spec": spec, "_plan": plan, "__module__": module,
             "__qualname__": "Student", "__doc__": doc}
    cls = type("Student", (_StudentBase,), attrs)
    cls.In, cls.Out = In, Out  # type: ignore[attr-defined]
    return cls
