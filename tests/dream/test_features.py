"""What a student can read and give: the plan of a teacher's types, and the types it refuses."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec
import pytest

from neuro import sdk
from neuro.dream._features import TEXT_BUCKETS, NotDistillable, agrees, plan_from_schemas
from neuro.kernel._info import schema_of


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class In(sdk.Message):
    x: float
    n: int = 3
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    color: Color = Color.RED
    v: Annotated[list[float], msgspec.Meta(min_length=3, max_length=3)] = msgspec.field(
        default_factory=lambda: [0.0, 0.0, 0.0])
    text: str = ""


class Out(sdk.Message):
    y: float
    ok: bool
    label: Literal["lo", "hi"]
    k: int


def test_every_field_kind_gets_its_columns():
    """Numbers one column each, categories one-hot, a fixed list its length, text its buckets."""
    plan = plan_from_schemas(schema_of(In), schema_of(Out))
    assert 1 + 1 + 1 + 2 + 2 + 3 + TEXT_BUCKETS == plan.width
    row = plan.features({"x": 2.0, "n": 1, "flag": True, "mode": "b", "color": "blue", "v": [1, 2, 3], "text": "hi"})
    assert [2.0, 1.0, 1.0, 0.0, 1.0] == row[:5]
    assert [1.0, 2.0, 3.0] == row[7:10]


def test_an_integer_answer_with_few_values_is_a_category():
    """An int the teacher answers with a handful of values becomes a category; the answer reads back."""
    answers = [{"y": 0.5, "ok": True, "label": "hi", "k": k} for k in (1, 2, 3, 2)]
    plan = plan_from_schemas(schema_of(In), schema_of(Out), answers=answers)
    assert {"kind": "enum", "values": [1, 2, 3]} == {k: plan.outputs[3][k] for k in ("kind", "values")}
    assert answers[1] == plan.fields(answers[1])


def test_agreement_is_exact_for_categories_and_within_tolerance_for_numbers():
    """A number 1% off agrees at a 5% tolerance; another label never does."""
    plan = plan_from_schemas(schema_of(In), schema_of(Out))
    teacher = {"y": 10.0, "ok": True, "label": "hi", "k": 4}
    assert agrees(plan, teacher, {**teacher, "y": 10.1}, 0.05)
    assert not agrees(plan, teacher, {**teacher, "y": 11.0}, 0.05)
    assert not agrees(plan, teacher, {**teacher, "label": "lo"}, 0.05)


def test_a_free_string_answer_is_refused_naming_the_field():
    """A student gives numbers and categories, not free text: the field is named, with what to use instead."""
    class Text(sdk.Message):
        reply: str

    with pytest.raises(NotDistillable, match=r"output field 'reply' is a free string; .*\(use a Literal"):
        plan_from_schemas(schema_of(In), schema_of(Text))


def test_a_list_of_any_length_is_refused_with_the_fix():
    """A list without a fixed length names the Annotated type that would distil."""
    class Free(sdk.Message):
        xs: list[float]

    with pytest.raises(NotDistillable, match=r"input field 'xs' is a list without a fixed length.*min_length=N"):
        plan_from_schemas(schema_of(Free), schema_of(Out))


def test_a_union_input_is_refused():
    """A union of tagged inputs is not one struct of fields."""
    class A(sdk.Message, tag="a"):
        x: float

    class B(sdk.Message, tag="b"):
        y: float

    with pytest.raises(NotDistillable, match="its input type is a union of types"):
        plan_from_schemas(schema_of(A | B), schema_of(Out))


def test_no_answer_is_refused():
    """A neuro that answers nothing has nothing to imitate."""
    with pytest.raises(NotDistillable, match="answers nothing"):
        plan_from_schemas(schema_of(In), None)


def test_a_models_answer_to_one_input_is_its_answer_among_many():
    """`Model.answer` (scaling folded into its first layer) gives what `answers` and the plain
    `outputs` of the scaled row give: the same fields, the same confidence."""
    import numpy as np

    from neuro.dream._model import Model, scaling

    plan = plan_from_schemas(schema_of(In), schema_of(Out))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, plan.width)) * 3 + 1
    y = rng.normal(size=(30, plan.out_width))
    arrays = {**scaling(plan, x, y), "w0": rng.normal(size=(plan.width, 8)), "b0": rng.normal(size=8),
              "w1": rng.normal(size=(8, plan.out_width)), "b1": rng.normal(size=plan.out_width),
              "temperature": np.float64(2.0)}
    model = Model(plan, arrays)
    msg = {"x": 0.5, "n": 2, "flag": True, "mode": "b", "color": "blue", "v": [1.0, 2.0, 3.0], "text": "hello"}
    row = np.asarray(plan.features(msg))
    plain = plan.answer(model.outputs(model.scale(row[None, :]))[0])
    one = model.answer(msg)
    many = model.answers(row[None, :])[0]
    assert agrees(plan, plain[0], one[0], 1e-9)  # categories exactly, numbers to rounding
    assert agrees(plan, plain[0], many[0], 1e-9)
    assert abs(plain[1] - one[1]) < 1e-9


class Narrow(sdk.Message):
    x: float
    a: float


class Scored(sdk.Message):
    y: float


@pytest.mark.parametrize("types", [(In, Out), (Narrow, Scored)], ids=["wide", "narrow"])
def test_one_answer_and_many_agree_on_what_lies_outside_the_training_box(types):
    """A student's box check of one input (plain Python for a few columns, numpy for many) says
    what the check of many rows at once says, inside the box and out of it."""
    import numpy as np

    from neuro.dream._model import Model, fit_linear

    source, target = types
    plan = plan_from_schemas(schema_of(source), schema_of(target))
    rng = np.random.default_rng(0)
    inside = [source(x=float(v), a=1.0) if source is Narrow else source(x=float(v), text="hello there")
              for v in rng.uniform(0.0, 1.0, 40)]
    rows = np.asarray([plan.features(m) for m in inside])
    model = Model(plan, fit_linear(plan, rows, rng.normal(size=(len(rows), plan.out_width))))
    outside = [source(x=5.0, a=1.0) if source is Narrow else source(x=0.5, text="zzqx 991 unseen words")]
    probes = inside[:5] + outside
    one = [model.answer(m)[2] for m in probes]
    many = [a[2] for a in model.answers([plan.features(m) for m in probes])]
    assert ([True] * 5 + [False], one) == (many, many)
