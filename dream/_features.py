"""From a neuro's message types to numbers and back: what a student sees and says.

A `Plan` is read from the JSON Schema of the teacher's input and output types (what
``ctx.kernel.describe`` gives), so the daemon never needs the teacher's code:

| field type | input: columns | output: target |
|---|---|---|
| number | 1 (standardized) | 1 regression column |
| integer | 1 | a category per value seen (few values), else regression, rounded |
| boolean | 1 (0/1) | a 2-way category |
| enum, `Literal` | one-hot | a category |
| fixed-length list of numbers | one column each | one regression column each |
| string (input only) | hashed character 3-grams and words (`TEXT_BUCKETS`) | refused |

Anything else (a free string answer, a nested struct, a union of types, a list of any length)
is refused with the field named: such a neuro is not distilled. The plan is plain data: it
travels inside the student's generated code and its weights' file.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import Any

__all__ = ["Plan", "NotDistillable", "plan_from_schemas", "TEXT_BUCKETS", "agrees"]

TEXT_BUCKETS = 64
# An integer answer with at most this many distinct values is a category, not a number.
MAX_INT_CATEGORIES = 32


class NotDistillable(ValueError):
    """The neuro's types hold something a student cannot learn or give (the message names it)."""


def _struct(schema: dict[str, Any], what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    defs = schema.get("$defs", {})
    root = schema
    if "$ref" in root:
        root = defs.get(root["$ref"].rsplit("/", 1)[-1], {})
    if root.get("type") != "object" or "properties" not in root:
        kinds = "a union of types" if "anyOf" in root or "oneOf" in root else "not one struct"
        raise NotDistillable(f"its {what} type is {kinds}; a student learns one struct of fields")
    return root, defs


def _field(name: str, prop: dict[str, Any], defs: dict[str, Any], what: str) -> dict[str, Any]:
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    out: dict[str, Any] = {"name": name}
    if "default" in prop:
        out["default"] = prop["default"]
    if "enum" in prop:
        return {**out, "kind": "enum", "values": list(prop["enum"])}
    kind = prop.get("type")
    if kind in ("number", "integer", "boolean"):
        return {**out, "kind": {"boolean": "bool"}.get(kind, kind)}
    if kind == "string":
        return {**out, "kind": "text"}
    if kind == "array":
        items = prop.get("items", {})
        size = prop.get("minItems")
        if items.get("type") in ("number", "integer") and size is not None and size == prop.get("maxItems") and size > 0:
            return {**out, "kind": "vector", "size": int(size), "item": items["type"]}
        raise NotDistillable(f"{what} field {name!r} is a list without a fixed length of numbers; give it "
                             "Annotated[list[float], msgspec.Meta(min_length=N, max_length=N)] to distil it")
    raise NotDistillable(f"{what} field {name!r} has a type a student cannot {'read' if what == 'input' else 'give'} "
                         f"({prop}); see docs/dream.md for the types that distil")


class Plan:
    """The columns of an input and the targets of an output (see the module)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.inputs: list[dict[str, Any]] = data["inputs"]
        self.outputs: list[dict[str, Any]] = data["outputs"]
        self.input_title: str = data["input_title"]
        self.output_title: str = data["output_title"]
        self._heads: tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]] | None = None
        self.by_name = {f["name"]: f for f in self.outputs}

    # -- widths ---------------------------------------------------------------------------

    @staticmethod
    def _in_width(f: dict[str, Any]) -> int:
        return {"enum": len(f.get("values", ())), "vector": f.get("size", 0), "text": TEXT_BUCKETS}.get(f["kind"], 1)

    @property
    def width(self) -> int:
        return sum(self._in_width(f) for f in self.inputs)

    def heads(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        """(regression blocks, category heads), each (field, start, size) in the output vector."""
        if self._heads is None:  # fixed by the plan; each answer reads them
            self._heads = self._layout()
        return self._heads

    def _layout(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        regs, cats, at = [], [], 0
        for f in self.outputs:
            if f["kind"] in ("number", "integer", "vector"):
                size = f.get("size", 1)
                regs.append((f["name"], at, size))
            else:
                size = len(f["values"])
                cats.append((f["name"], at, size))
            at += size
        return regs, cats

    @property
    def out_width(self) -> int:
        regs, cats = self.heads()
        return sum(s for _, _, s in regs) + sum(s for _, _, s in cats)

    # -- inputs ---------------------------------------------------------------------------

    def features(self, value: Any) -> list[float]:
        """One input (a Struct, its dict, or the flat row of numbers the log gave) as columns."""
        if isinstance(value, (list, tuple)) or hasattr(value, "shape"):
            return [float(v) for v in value]  # a row fromlog flattened: numbers in field order
        row: list[float] = []
        for f in self.inputs:
            item = _get(value, f)
            kind = f["kind"]
            if kind == "enum":
                item = getattr(item, "value", item)
                row += [1.0 if item == v else 0.0 for v in f["values"]]
            elif kind == "vector":
                row += [float(v) for v in item]
            elif kind == "text":
                row += _hashed(str(item))
            else:
                row.append(float(item))
        return row

    def input_fields(self, value: Any) -> dict[str, Any]:
        """One logged input as plain fields (a flat row of numbers read back field by field)."""
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != "type"}
        row, out, at = list(value), {}, 0
        for f in self.inputs:
            width = self._in_width(f)
            part = row[at:at + width]
            at += width
            kind = f["kind"]
            if kind == "vector":
                out[f["name"]] = [int(v) if f.get("item") == "integer" else float(v) for v in part]
            elif kind == "integer":
                out[f["name"]] = int(part[0])
            elif kind == "bool":
                out[f["name"]] = bool(part[0])
            else:
                out[f["name"]] = float(part[0])
        return out

    # -- outputs --------------------------------------------------------------------------

    def targets(self, value: Any) -> list[float]:
        """One answer (a Struct, its dict, or the flat row of numbers the log gave) as its
        target vector: each field in turn, a number as itself, a category one-hot."""
        if hasattr(value, "shape") and value.shape == ():  # one label, as fromlog gives it
            value = [value.item()]
        flat = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "shape") else None
        out: list[float] = []  # in field order, as `heads` lays the vector out
        at = 0
        for f in self.outputs:
            width = f.get("size", 1) if f["kind"] == "vector" else 1
            if flat is not None:
                item = flat[at:at + width] if f["kind"] == "vector" else flat[at]
            else:
                item = _get(value, f)
            at += width
            if f["kind"] in ("number", "integer", "vector"):
                out += [float(v) for v in item] if f["kind"] == "vector" else [float(item)]
            else:
                item = getattr(item, "value", item)
                if isinstance(item, float) and f["values"] and not isinstance(f["values"][0], float):
                    item = type(f["values"][0])(item)  # a flat row's 1.0 is True, its 3.0 is 3
                out += [1.0 if item == v else 0.0 for v in f["values"]]
        return out

    def fields(self, value: Any) -> dict[str, Any]:
        """A logged answer (any of the shapes `targets` takes) as plain fields."""
        return self.answer(self.targets(value))[0]

    def answer(self, vector: Any) -> tuple[dict[str, Any], float]:
        """The model's output vector as the answer's fields, and its confidence (the lowest
        top probability of its categories; 1.0 with none)."""
        fields: dict[str, Any] = {}
        confidence = 1.0
        regs, cats = self.heads()
        by_name = self.by_name
        for name, start, size in regs:
            f = by_name[name]
            if f["kind"] == "vector":
                vals = [float(v) for v in vector[start:start + size]]
                fields[name] = [round(v) for v in vals] if f.get("item") == "integer" else vals
            elif f["kind"] == "integer":
                fields[name] = int(round(float(vector[start])))
            else:
                fields[name] = float(vector[start])
        for name, start, size in cats:
            f = by_name[name]
            logits = [float(v) for v in vector[start:start + size]]
            top = max(range(size), key=logits.__getitem__)
            peak = logits[top]
            total = sum(math.exp(v - peak) for v in logits)
            confidence = min(confidence, 1.0 / total)
            fields[name] = f["values"][top]
        return {f["name"]: fields[f["name"]] for f in self.outputs}, confidence


def plan_from_schemas(input_schema: dict[str, Any], output_schema: dict[str, Any] | None,
                      answers: list[Any] | None = None) -> Plan:
    """The plan of a teacher's types; `answers` (its logged replies) decide whether an
    integer answer is a category (few values) or a number. Raises `NotDistillable`."""
    if output_schema is None:
        raise NotDistillable("it answers nothing (output = None): there is nothing to imitate")
    root_in, defs_in = _struct(input_schema, "input")
    root_out, defs_out = _struct(output_schema, "output")
    inputs = [_field(n, p, defs_in, "input") for n, p in root_in["properties"].items()]
    outputs = []
    for n, p in root_out["properties"].items():
        f = _field(n, p, defs_out, "output")
        if f["kind"] == "text":
            raise NotDistillable(f"output field {n!r} is a free string; a student gives numbers, booleans and "
                                 "categories (use a Literal or an enum for a string out of a known set)")
        if f["kind"] == "bool":
            f = {**f, "values": [False, True]}
        outputs.append(f)
    if not outputs:
        raise NotDistillable("its output type has no fields")
    plan = Plan({"inputs": inputs, "outputs": outputs, "input_title": root_in.get("title", "In"),
                 "output_title": root_out.get("title", "Out")})
    integers = [f for f in outputs if f["kind"] == "integer"]
    if integers and answers:
        read = [plan.fields(a) for a in answers]
        for f in integers:
            seen = sorted({int(r[f["name"]]) for r in read})
            if len(seen) <= MAX_INT_CATEGORIES:
                f.update(kind="enum", values=seen, item="integer")
        plan._heads = None  # laid out again with those categories
    return plan


def agrees(plan: Plan, teacher: dict[str, Any], student: dict[str, Any], tolerance: float) -> bool:
    """Whether two answers (as `Plan.fields` gives them) agree: categories exactly, numbers
    within `tolerance` of their size (absolutely below 1), as the replay gate compares."""
    for f in plan.outputs:
        a, b = teacher.get(f["name"]), student.get(f["name"])
        if f["kind"] in ("number", "integer", "vector"):
            xs = list(a) if f["kind"] == "vector" else [a]
            ys = list(b) if f["kind"] == "vector" else [b]
            if len(xs) != len(ys):
                return False
            for x, y in zip(xs, ys):
                if abs(float(x) - float(y)) > tolerance * max(1.0, abs(float(x))):
                    return False
        elif a != b:
            return False
    return True


def _get(value: Any, f: dict[str, Any]) -> Any:
    name = f["name"]
    if isinstance(value, dict):
        return value[name] if name in value else f.get("default")
    return getattr(value, name, f.get("default"))


@functools.lru_cache(maxsize=4096)  # a router sees the same requests again and again
def _hashed_cached(text: str) -> tuple[float, ...]:
    return tuple(_hashed_row(text))


def _hashed(text: str) -> list[float]:
    return list(_hashed_cached(text))


def _hashed_row(text: str) -> list[float]:
    """Character 3-grams and words of `text`, counted into `TEXT_BUCKETS` by crc32 (stable
    across processes, unlike `hash`), scaled to unit length."""
    text = f" {text.lower()} "
    counts = [0.0] * TEXT_BUCKETS
    grams = [text[i:i + 3] for i in range(len(text) - 2)] + [f"w:{w}" for w in text.split()]
    for g in grams:
        counts[zlib.crc32(g.encode()) % TEXT_BUCKETS] += 1.0
    norm = math.sqrt(sum(c * c for c in counts)) or 1.0
    return [c / norm for c in counts]
