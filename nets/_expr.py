"""The lambda nodes' expression language: small, pure, and safe for files nobody vetted.

An expression is Python's expression syntax, cut down to what a transformation of a message
needs, and nothing that reaches outside it: names (the fields of the node's input), literals,
``.field`` and ``[index]``, arithmetic, comparisons (``in`` too), ``and``/``or``/``not``,
``a if c else b``, list/tuple/dict literals and a few pure functions (`FUNCTIONS`). There is
no ``eval``: the text is parsed with `ast` and each allowed node becomes a closure; anything
else (calls of other names, attributes that start with ``_``, lambdas, comprehensions,
``**`` past a small power, strings or lists repeated past `MAX_SIZE`) is refused where it is
parsed or where it runs, with the expression named.

`infer` gives the type of an expression from the types of the input's fields, so a lambda's
result is checked at build like a neuro's output; where it cannot tell, the result is `Any`
and the next node's input type checks it at run time.
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Callable

import msgspec.inspect as mi

from ._types import FieldError, field_type, info

__all__ = ["ExprError", "Expr", "compile_expr", "FUNCTIONS", "MAX_LENGTH"]

MAX_LENGTH = 1000  # characters of one expression
MAX_DEPTH = 40  # nesting of its syntax tree
MAX_SIZE = 100_000  # items or characters a `*` may build
MAX_POWER = 64

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "str": str, "bool": bool, "sum": sum, "sorted": sorted, "any": any, "all": all, "list": list,
}
_RESULT = {"len": int, "int": int, "float": float, "str": str, "bool": bool, "any": bool, "all": bool}


class ExprError(ValueError):
    """An expression that is not in the language, or that failed when it ran."""


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj[name]
    return getattr(obj, name)


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, list, tuple, bytes)) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
            raise ExprError(f"a repetition would build {len(seq) * n:,} items, more than {MAX_SIZE:,}")
    return a * b


def _pow(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > MAX_POWER:
        raise ExprError(f"a power above {MAX_POWER} is refused (got {b})")
    return a ** b


class Expr:
    """One parsed expression: `names` it reads, `run(obj)` on an input object or dict."""

    __slots__ = ("text", "tree", "names", "_fn")

    def __init__(self, text: str, tree: ast.expr, fn: Callable[[Any], Any], names: frozenset[str]) -> None:
        self.text = text
        self.tree = tree
        self._fn = fn
        self.names = names

    def run(self, obj: Any) -> Any:
        try:
            return self._fn(obj)
        except ExprError:
            raise
        except (AttributeError, KeyError) as e:
            raise ExprError(f"`{self.text}`: the input has no field {e}") from None
        except Exception as e:  # noqa: BLE001 - any failure of the expression is its error
            raise ExprError(f"`{self.text}` failed: {type(e).__name__}: {e}") from None

    def infer(self, input_type: Any) -> Any:
        """The type of this expression's value for inputs of `input_type` (an inspect Type);
        raises ExprError naming a field the input does not have."""
        return _infer(self.tree, info(input_type), self.text)


def compile_expr(text: str) -> Expr:
    """Parse `text` into an Expr; raises ExprError saying what is not allowed and where."""
    if not isinstance(text, str):
        raise ExprError(f"an expression is a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"an expression is at most {MAX_LENGTH} characters, this one {len(text)}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ExprError(f"`{text}` is not an expression: {e.msg} (column {e.offset})") from None
    names: set[str] = set()
    fn = _compile(tree, text, names, 0)
    return Expr(text, tree, fn, frozenset(names))


def _refuse(node: ast.AST, text: str, what: str) -> ExprError:
    col = getattr(node, "col_offset", 0) + 1
    return ExprError(f"`{text}`: {what} (column {col}); lambdas take names of input fields, literals, "
                     f"arithmetic, comparisons, and/or/not, `x if c else y`, .field, [i] and "
                     f"{', '.join(FUNCTIONS)}")


def _compile(node: ast.expr, text: str, names: set[str], depth: int) -> Callable[[Any], Any]:
    if depth > MAX_DEPTH:
        raise _refuse(node, text, f"it nests deeper than {MAX_DEPTH}")
    sub = lambda n: _compile(n, text, names, depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, (int, float, str, bool, type(None))):
            raise _refuse(node, text, f"the literal {value!r} is not allowed")
        return lambda obj: value
    if isinstance(node, ast.Name):
        name = node.id
        if name in ("True", "False", "None"):
            const = {"True": True, "False": False, "None": None}[name]
            return lambda obj: const
        if name.startswith("_"):
            raise _refuse(node, text, f"the name `{name}` starts with `_`")
        names.add(name)
        return lambda obj: _get(obj, name)
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise _refuse(node, text, f"the attribute `{node.attr}` starts with `_`")
        inner, attr = sub(node.value), node.attr
        return lambda obj: _get(inner(obj), attr)
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            s = node.slice
            inner = sub(node.value)
            lo, hi = (sub(s.lower) if s.lower else None), (sub(s.upper) if s.upper else None)
            if s.step is not None:
                raise _refuse(node, text, "a slice with a step")
            return lambda obj: inner(obj)[(lo(obj) if lo else None):(hi(obj) if hi else None)]
        inner, index = sub(node.value), sub(node.slice)
        return lambda obj: inner(obj)[index(obj)]
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _refuse(node, text, f"the operator {type(node.op).__name__} is not allowed")
        if isinstance(node.op, ast.Mult):
            op = _mul
        elif isinstance(node.op, ast.Pow):
            op = _pow
        left, right = sub(node.left), sub(node.right)
        return lambda obj: op(left(obj), right(obj))
    if isinstance(node, ast.UnaryOp):
        operand = sub(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda obj: not operand(obj)
        if isinstance(node.op, ast.USub):
            return lambda obj: -operand(obj)
        if isinstance(node.op, ast.UAdd):
            return lambda obj: +operand(obj)
        raise _refuse(node, text, "the operator ~ is not allowed")
    if isinstance(node, ast.BoolOp):
        parts = [sub(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def both(obj: Any) -> Any:
                value = True
                for p in parts:
                    value = p(obj)
                    if not value:
                        return value
                return value
            return both

        def either(obj: Any) -> Any:
            value = False
            for p in parts:
                value = p(obj)
                if value:
                    return value
            return value
        return either
    if isinstance(node, ast.Compare):
        first = sub(node.left)
        ops = [(_CMPOPS[type(o)], sub(c)) for o, c in zip(node.ops, node.comparators)]

        def compare(obj: Any) -> bool:
            left = first(obj)
            for op, right_fn in ops:
                right = right_fn(obj)
                if not op(left, right):
                    return False
                left = right
            return True
        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = sub(node.test), sub(node.body), sub(node.orelse)
        return lambda obj: body(obj) if test(obj) else orelse(obj)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [sub(e) for e in node.elts]
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _refuse(node, text, "`*` unpacking is not allowed")
        return lambda obj: [i(obj) for i in items]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _refuse(node, text, "`**` unpacking is not allowed")
        pairs = [(sub(k), sub(v)) for k, v in zip(node.keys, node.values)]  # type: ignore[arg-type]
        return lambda obj: {k(obj): v(obj) for k, v in pairs}
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise _refuse(node, text, f"`{called}(...)` is not one of the functions allowed")
        if node.keywords:
            raise _refuse(node, text, "keyword arguments are not allowed")
        fn = FUNCTIONS[node.func.id]
        args = [sub(a) for a in node.args]
        return lambda obj: fn(*[a(obj) for a in args])
    raise _refuse(node, text, f"{type(node).__name__} is not part of the language")


_ANY = mi.AnyType()
_NUM = (mi.IntType, mi.FloatType)


def _infer(node: ast.expr, env: mi.Type, text: str) -> Any:
    """The inspect Type of `node`'s value (AnyType where it cannot tell)."""
    if isinstance(node, ast.Constant):
        return info(type(node.value)) if node.value is not None else mi.NoneType()
    if isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            return mi.BoolType()
        if node.id == "None":
            return mi.NoneType()
        return _field(env, [node.id], text)
    if isinstance(node, ast.Attribute):
        return _field(_infer(node.value, env, text), [node.attr], text)
    if isinstance(node, ast.Subscript):
        inner = _infer(node.value, env, text)
        if isinstance(node.slice, ast.Slice):
            return inner
        if isinstance(inner, (mi.ListType, mi.VarTupleType)):
            return inner.item_type
        if isinstance(inner, mi.DictType):
            return inner.value_type
        if isinstance(inner, mi.StrType):
            return inner
        return _ANY
    if isinstance(node, (ast.Compare, ast.BoolOp)) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                _infer(v, env, text)  # the names it reads must exist
        elif isinstance(node, ast.Compare):
            for v in (node.left, *node.comparators):
                _infer(v, env, text)
        else:
            _infer(node.operand, env, text)
        return mi.BoolType()
    if isinstance(node, ast.UnaryOp):
        return _infer(node.operand, env, text)
    if isinstance(node, ast.BinOp):
        left, right = _infer(node.left, env, text), _infer(node.right, env, text)
        if isinstance(node.op, ast.Div) and isinstance(left, _NUM) and isinstance(right, _NUM):
            return mi.FloatType()
        if isinstance(left, _NUM) and isinstance(right, _NUM):
            return mi.FloatType() if mi.FloatType in (type(left), type(right)) else mi.IntType()
        if isinstance(node.op, ast.Add) and type(left) is type(right) and isinstance(left, (mi.StrType, mi.ListType)):
            return left
        return _ANY
    if isinstance(node, ast.IfExp):
        _infer(node.test, env, text)
        a, b = _infer(node.body, env, text), _infer(node.orelse, env, text)
        return a if type(a) is type(b) and not isinstance(a, (mi.StructType, mi.ListType)) else _ANY
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_infer(e, env, text) for e in node.elts]
        same = items and all(type(i) is type(items[0]) for i in items) and not isinstance(items[0], mi.StructType)
        return mi.ListType(items[0] if same else _ANY)
    if isinstance(node, ast.Call):
        for a in node.args:
            _infer(a, env, text)
        name = node.func.id  # type: ignore[attr-defined]  # compile_expr allowed only these
        if name in _RESULT:
            return info(_RESULT[name])
        if name in ("min", "max", "abs", "round", "sum") and node.args:
            first = _infer(node.args[0], env, text)
            if name == "round" and len(node.args) == 1:
                return mi.IntType()
            if isinstance(first, _NUM):
                return first
            if isinstance(first, (mi.ListType, mi.VarTupleType)) and isinstance(first.item_type, _NUM):
                return first.item_type
        return _ANY
    if isinstance(node, ast.Dict):
        for v in node.values:
            _infer(v, env, text)
        return mi.DictType(mi.StrType(), _ANY)
    return _ANY


def _field(t: Any, parts: list[str], text: str) -> Any:
    try:
        return field_type(t, parts)
    except FieldError as e:
        raise ExprError(f"`{text}`: {e}") from None
