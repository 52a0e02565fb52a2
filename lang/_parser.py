"""Parsing a `.neuro` file: lark's LALR parser over `grammar.lark`, into the tree of `_ast`.

A syntax error is a `LangError` with the file, line and column, what the parser found, what
it expected there (in words: `a name`, `"}"`), and the line with a caret. Comments are kept
beside the tree (`Module.comments`) for the formatter.
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import lark
from lark import Token, Transformer, v_args

from . import _ast as A
from ._errors import Located

__all__ = ["parse", "grammar_text"]

_parser: lark.Lark | None = None
_comments: list[Token] = []

_WORDS = {"NAME": "a name", "INT": "a whole number", "FLOAT": "a number", "STRING": "a string",
          "VERSION": "a version (hex digits of a content hash)", "BOOL": "true or false", "$END": "the end of the file"}


def grammar_text() -> str:
    """The grammar, as the file `grammar.lark` of this package holds it."""
    return importlib.resources.files(__package__).joinpath("grammar.lark").read_text()


def _lark() -> lark.Lark:
    global _parser
    if _parser is None:
        _parser = lark.Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True,
                            lexer_callbacks={"COMMENT": _comments.append})
    return _parser


def _pos(node: Any, at: Any) -> Any:
    node.line, node.column = getattr(at, "line", 0) or 0, getattr(at, "column", 0) or 0
    return node


def _word(parser: lark.Lark, name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    return f'"{pattern.value}"' if pattern.type == "str" else name.lower()


def _lit(text: str) -> str:
    if "\\" not in text:
        return text[1:-1]
    try:
        return json.loads(text)  # the escapes of JSON: \n \t \" \\ \uXXXX
    except ValueError:
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")


@v_args(meta=True, inline=True)
class _Build(Transformer):  # type: ignore[type-arg]
    # -- expressions
    def name(self, m, tok): return _pos(A.Name(id=str(tok)), tok)
    def int_(self, m, tok): return _pos(A.Lit(value=int(tok)), tok)
    def float_(self, m, tok): return _pos(A.Lit(value=float(tok)), tok)
    def string(self, m, tok): return _pos(A.Lit(value=_lit(str(tok))), tok)
    def boolean(self, m, tok): return _pos(A.Lit(value=str(tok) == "true"), tok)
    def none(self, m): return _pos(A.Lit(value=None), m)
    def hole(self, m): return _pos(A.Hole(), m)
    def attr(self, m, obj, tok): return _pos(A.Attr(obj=obj, name=str(tok)), m)
    def index(self, m, obj, idx): return _pos(A.Index(obj=obj, index=idx), m)
    def slice(self, m, obj, lo, hi): return _pos(A.Slice(obj=obj, lo=lo, hi=hi), m)

    def call(self, m, func, *args):
        node = _pos(A.Call(func=func), m)
        for a in args:
            if a is None:
                continue
            if isinstance(a, tuple):
                node.kwargs.append(a)
            else:
                node.args.append(a)
        return node

    def arg(self, m, e): return e
    def kwarg(self, m, tok, e): return (str(tok), e)
    def list_(self, m, *items): return _pos(A.ListLit(items=[i for i in items if i is not None]), m)
    def record(self, m, *fields): return _pos(A.Record(fields=[f for f in fields if f is not None]), m)
    def rfield(self, m, tok, e): return (str(tok), e)
    def or_(self, m, a, b): return _pos(A.BoolOp(op="or", left=a, right=b), m)
    def and_(self, m, a, b): return _pos(A.BoolOp(op="and", left=a, right=b), m)
    def not_(self, m, a): return _pos(A.Unary(op="not", operand=a), m)
    def neg(self, m, a): return _pos(A.Unary(op="-", operand=a), m)
    def compare(self, m, a, op, b): return _pos(A.Compare(op=op, left=a, right=b), m)
    def comp_op(self, m, *toks): return " ".join(str(t) for t in toks)

    def add(self, m, a, b): return _pos(A.BinOp(op="+", left=a, right=b), m)
    def sub(self, m, a, b): return _pos(A.BinOp(op="-", left=a, right=b), m)
    def mul(self, m, a, b): return _pos(A.BinOp(op="*", left=a, right=b), m)
    def div(self, m, a, b): return _pos(A.BinOp(op="/", left=a, right=b), m)
    def floordiv(self, m, a, b): return _pos(A.BinOp(op="//", left=a, right=b), m)
    def mod(self, m, a, b): return _pos(A.BinOp(op="%", left=a, right=b), m)
    def pow(self, m, a, b): return _pos(A.BinOp(op="**", left=a, right=b), m)

    # -- types
    def type(self, m, *atoms):
        return atoms[0] if len(atoms) == 1 else _pos(A.TypeRef(name="|", members=list(atoms)), m)

    def type_atom(self, m, tok, *args):
        return _pos(A.TypeRef(name=str(tok), args=[a for a in args if a is not None]), tok)

    # -- statements
    def block(self, m, *stmts): return list(stmts)
    def assign(self, m, tok, e): return _pos(A.Assign(name=str(tok), value=e), tok)
    def spawn(self, m, tok, e): return _pos(A.Assign(name=str(tok), value=e, how="spawn"), tok)

    def await_(self, m, tok, task):
        return _pos(A.Assign(name=str(tok), value=_pos(A.Name(id=str(task)), task), how="await"), tok)

    def get(self, m, tok, store, key): return _pos(A.Get(name=str(tok), store=str(store), key=key), tok)
    def put(self, m, store, key, value): return _pos(A.Put(store=str(store), key=key, value=value), m)
    def return_(self, m, e): return _pos(A.Return(value=e), m)
    def publish(self, m, topic, e): return _pos(A.Publish(topic=topic, value=e), m)
    def elif_(self, m, c, b): return (c, b)

    def if_(self, m, cond, then, *rest):
        orelse = rest[-1] if rest else None
        elifs = [r for r in rest[:-1]]
        return _pos(A.If(cond=cond, then=then, elifs=elifs, orelse=orelse), m)

    def match_(self, m, subject, *arms): return _pos(A.Match(subject=subject, arms=list(arms)), m)
    def arm(self, m, pattern, body): return (pattern, body)
    def pattern(self, m, lit): return lit
    def wildcard(self, m): return None

    def for_(self, m, var, it, limit, body):
        return _pos(A.For(var=str(var), iter=it, limit=int(limit) if limit is not None else None, body=body), m)

    def while_(self, m, cond, limit, body): return _pos(A.While(cond=cond, limit=int(limit), body=body), m)

    # -- declarations
    def neuro_name(self, m, *toks):
        return _lit(str(toks[0])) if toks[0].type == "STRING" else ".".join(str(t) for t in toks)

    def version_req(self, m, op, tok): return ("req", op, str(tok))
    def version_tag(self, m, tok): return ("tag", None, str(tok))
    def vop(self, m, tok): return str(tok)

    def use(self, m, name, version, alias):
        node = _pos(A.Use(neuro=name, alias=str(alias) if alias is not None else None), m)
        if version is not None:
            if version[0] == "req":
                node.op, node.version = version[1], version[2]
            else:
                node.tag = version[2]
        return node

    def import_(self, m, path): return _pos(A.Import(path=_lit(str(path))), m)

    def message(self, m, tok, *fields): return _pos(A.Message(name=str(tok), fields=[f for f in fields if f]), m)
    def field(self, m, tok, tp, default): return _pos(A.Field(name=str(tok), type=tp, default=default), tok)
    def param(self, m, tok, tp): return _pos(A.Param(name=str(tok), type=tp), tok)

    def fn(self, m, tok, *rest):
        *params, returns, body = rest
        return _pos(A.Fn(name=str(tok), params=[p for p in params if p is not None], returns=returns, body=body), m)

    def pure(self, m, tok, param, returns, body):
        return _pos(A.Pure(name=str(tok), param=param, returns=returns, body=body), m)

    def net(self, m, tok, param, intype, outtype, *rest):
        *options, body = rest
        node = _pos(A.NetDecl(name=str(tok), param=str(param), input=intype, output=outtype, body=body), m)
        for key, value in options:
            if key == "subscribe":
                node.subscribe.append(value)
            else:
                setattr(node, key, value)
        return node

    def opt_deadline(self, m, n): return ("deadline", float(n.value))
    def opt_memo(self, m, tok): return ("memo", str(tok) == "true")
    def opt_ray_graph(self, m, tok): return ("ray_graph", str(tok) == "true")
    def opt_policy(self, m, tok): return ("policy", str(tok))
    def opt_subscribe(self, m, topic): return ("subscribe", topic)

    def setting(self, m, *parts):
        *keys, value = parts
        return _pos(A.Setting(key=".".join(str(k) for k in keys), value=value), m)

    def channel(self, m, topic, tp): return _pos(A.Channel(topic=topic, type=tp), m)
    def store(self, m, tok, tp, default): return _pos(A.Store(name=str(tok), type=tp, default=default), m)
    def policy(self, m, tok, *settings): return _pos(A.Policy(name=str(tok), settings=list(settings)), m)
    def start(self, m, *items): return A.Module(items=list(items))


_BUILD = _Build()


def parse(text: str, file: str | None = None) -> A.Module:
    """The tree of `text` (the contents of `file`); raises LangError at a syntax error."""
    parser = _lark()
    found = Located(text, file)
    del _comments[:]
    try:
        tree = parser.parse(text)
    except lark.UnexpectedToken as e:
        tok = e.token
        got = "the end of the file" if tok.type == "$END" else f"{tok.value!r}"
        expected = sorted({_word(parser, n) for n in e.expected})
        found.add("syntax", f"unexpected {got}", line=e.line if e.line > 0 else len(found.lines) or 1,
                  column=e.column if e.column > 0 else 1, expected=expected)
        found.raise_if_any()
    except lark.UnexpectedCharacters as e:
        allowed = sorted({_word(parser, n) for n in (e.allowed or ())})
        found.add("syntax", f"unexpected character {text[e.pos_in_stream]!r}", line=e.line, column=e.column,
                  expected=allowed)
        found.raise_if_any()
    except lark.UnexpectedEOF as e:
        found.add("syntax", "unexpected end of the file", line=len(found.lines) or 1, column=1,
                  expected=sorted({_word(parser, n) for n in e.expected}))
        found.raise_if_any()
    module = _BUILD.transform(tree)
    module.file = file
    module.comments = [(c.line, c.column, str(c)) for c in _comments]
    del _comments[:]
    return module
