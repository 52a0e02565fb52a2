"""The lambda language: what it computes, what it refuses, and the types it infers."""

from __future__ import annotations

import msgspec.inspect as mi
import pytest

from neuro.nets import ExprError, compile_expr

from netneuros import Both, MaybeNum, Num


@pytest.mark.parametrize("text, value", [
    ("x + 1", 3), ("x * 2 - 1", 3), ("x // 2", 1), ("x / 4", 0.5), ("x > 1 and x < 3", True),
    ("'big' if x > 1 else 'small'", "big"), ("len([x, x, x])", 3), ("min(x, 7)", 2), ("x in [1, 2]", True),
    ("{'a': x}['a']", 2), ("not x", False), ("str(x) + '!'", "2!"), ("[x, 2][0]", 2),
])
def test_an_expression_computes_on_the_input_fields(text, value):
    """Each expression gives its value on {x: 2}."""
    assert value == compile_expr(text).run({"x": 2})


@pytest.mark.parametrize("text, why", [
    ("open('/etc/passwd')", "`open(...)` is not one of the functions allowed"),
    ("__import__('os')", "`__import__(...)` is not one of the functions allowed"),
    ("x.__class__", "`__class__` starts with `_`"),
    ("_secret", "the name `_secret` starts with `_`"),
    ("[i for i in x]", "ListComp is not part of the language"),
    ("lambda: 1", "Lambda is not part of the language"),
    ("(y := 1)", "NamedExpr is not part of the language"),
    ("x +", "is not an expression"),
    ("len(x, key=1)", "keyword arguments are not allowed"),
    ("x" * 1001, "at most 1000 characters"),
])
def test_what_is_not_in_the_language_is_refused_where_it_is_parsed(text, why):
    """Calls of other names, dunders, comprehensions, lambdas, walrus, bad syntax: refused, saying which."""
    with pytest.raises(ExprError, match=None) as info:
        compile_expr(text)
    assert why in str(info.value)


def test_a_huge_repetition_or_power_is_refused_when_it_runs():
    """'a' * 10**9 and 2 ** 10000 stop with an error instead of eating the memory or the CPU."""
    with pytest.raises(ExprError, match="more than 100,000"):
        compile_expr("'a' * n").run({"n": 10**9})
    with pytest.raises(ExprError, match="a power above 64"):
        compile_expr("2 ** n").run({"n": 10000})


def test_a_failing_expression_names_itself():
    """A division by zero says the expression and the error."""
    with pytest.raises(ExprError, match="`x / 0` failed: ZeroDivisionError"):
        compile_expr("x / 0").run({"x": 1})


@pytest.mark.parametrize("text, tp, expected", [
    ("x + 1", Num, mi.IntType), ("x / 2", Num, mi.FloatType), ("x > 1", Num, mi.BoolType),
    ("str(x)", Num, mi.StrType), ("x + y", Both, mi.IntType), ("x", MaybeNum, mi.UnionType),
])
def test_the_type_of_an_expression_is_inferred_from_its_input(text, tp, expected):
    """Arithmetic of ints is an int, / a float, a comparison a bool; a field its own type."""
    assert expected is type(compile_expr(text).infer(tp))


def test_a_name_the_input_does_not_have_is_an_error_at_inference():
    """`z + 1` on Num: Num has no field `z`, and the error lists its fields."""
    with pytest.raises(ExprError, match=r"Num has no field `z` \(its fields: x\)"):
        compile_expr("z + 1").infer(Num)
