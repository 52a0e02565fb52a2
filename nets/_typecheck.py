"""The type checks of a net's build: every edge's source type against its target's.

Nodes are visited in topological order, so a lambda's input type (what its edges bring) and
output type (what its expressions give) are known before the nodes it feeds are checked. The
net's own input and output types are taken from its nodes when the declaration leaves them
out. Each problem names the edge, the field path and both types (`_types.misfit`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from neuro._net import INPUT, OUTPUT, Net

from ._expr import ExprError
from ._graph import Edge, Graph, Node, Problem
from ._predicate import NeuroCondition
from ._predicate import check as check_condition
from ._types import FieldError, as_type, field_type, info, misfit, type_name

__all__ = ["check_types"]


def check_types(g: Graph, decl: Net, problems: list[Problem]) -> None:
    g.input = decl.input if decl.input is not None else _infer_input(g, problems)
    if g.input is None:
        return
    for n in g.order:
        _check_into(g, g.nodes[n], problems)
    out = decl.output
    if out is None:
        out = _infer_output(g, problems)
    g.output = out
    if out is not None:
        _check_edges_into(g, OUTPUT, g.into_out, out, "the net's output", problems, lambda_ok=False)
    for edge in g.edges:
        if isinstance(edge.when, NeuroCondition):
            if edge.when.version:  # resolved (an unknown one is a problem already)
                problems += [Problem(kind, message, edge=edge.text, source_type=s, target_type=t)
                             for kind, message, s, t in check_condition(edge.when, edge.text,
                                                                        _source_node_type(g, edge.src.node))]
        elif edge.when is not None:
            try:
                edge.when.infer(_source_node_type(g, edge.src.node))
            except ExprError as e:
                problems.append(Problem("expression", f"edge {edge.text}: `when`: {e}", edge=edge.text))


def _source_node_type(g: Graph, node: str) -> Any:
    return g.input if node == INPUT else g.nodes[node].output


def _source_type(g: Graph, edge: Edge, problems: list[Problem]) -> Any:
    tp = _source_node_type(g, edge.src.node)
    if not edge.src.path:
        return tp
    try:
        return field_type(tp, edge.src.path)
    except FieldError as e:
        problems.append(Problem("field", f"edge {edge.text}: the source `{edge.src}` is not there: {e}",
                                edge=edge.text, source_type=type_name(tp)))
        return None


def _infer_input(g: Graph, problems: list[Problem]) -> Any:
    whole = [e for e in g.from_in if not e.src.path]
    for e in whole:
        if e.dst.node != OUTPUT and g.nodes[e.dst.node].kind != "lambda" and not e.dst.path:
            return g.nodes[e.dst.node].input
    fields: dict[str, Any] = {}
    for e in g.from_in:
        if len(e.src.path) == 1 and e.dst.node != OUTPUT and g.nodes[e.dst.node].kind != "lambda":
            try:
                fields.setdefault(e.src.path[0], as_type(field_type(g.nodes[e.dst.node].input, e.dst.path)))
            except FieldError:
                continue
    if fields and not whole:
        return msgspec.defstruct(f"{_cls(g.name)}Input", list(fields.items()), forbid_unknown_fields=True)
    problems.append(Problem("input", f"the input type of net {g.name!r} cannot be taken from its nodes; give it: "
                            "Net(..., input=Type) or, in a file, [input] fields"))
    return None


def _infer_output(g: Graph, problems: list[Problem]) -> Any:
    whole = [e for e in g.into_out if not e.dst.path]
    if whole:
        return _source_type(g, whole[0], problems)
    fields = []
    for e in g.into_out:
        tp = _source_type(g, e, problems)
        if len(e.dst.path) != 1:
            problems.append(Problem("field", f"edge {e.text}: without an output type, an edge into 'out' names one "
                                    "field (out.name)", edge=e.text))
            continue
        fields.append((e.dst.path[0], as_type(info(tp)) if tp is not None else Any))
    return msgspec.defstruct(f"{_cls(g.name)}Output", fields, forbid_unknown_fields=True) if fields else None


def _cls(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").replace(".", "_").split("_")) or "Net"


def _check_into(g: Graph, node: Node, problems: list[Problem]) -> None:
    if node.kind == "lambda":
        node.input = _lambda_input(g, node, problems)
        if node.input is None or node.broken or not node.exprs:
            node.output = Any
            return
        fields = []
        for field, expr in node.exprs.items():
            try:
                fields.append((field, as_type(expr.infer(node.input))))
            except ExprError as e:
                node.broken = True
                problems.append(Problem("expression", f"lambda node {node.id!r}, field `{field}`: {e}", node=node.id))
        if node.broken:
            node.output = Any
            return
        node.output = node.lam_type = msgspec.defstruct(f"{_cls(g.name)}{_cls(node.id)}", fields)
        return
    label = f"node {node.id!r} ({node.neuro})" if node.kind != "publish" else f"publish node {node.id!r} ({node.topic})"
    _check_edges_into(g, node.id, node.ins, node.input, label, problems, lambda_ok=False)
    if node.kind == "map" and any(e.dst.path for e in node.ins):
        problems.append(Problem("map", f"map node {node.id!r} takes one whole list; connect it with an edge into "
                                f"{node.id!r}, not into a field of it", node=node.id))


def _lambda_input(g: Graph, node: Node, problems: list[Problem]) -> Any:
    whole = [e for e in node.ins if not e.dst.path]
    if whole:
        types = [_source_type(g, e, problems) for e in whole]
        if any(t is None for t in types):
            return None
        if any(e.dst.path for e in node.ins):
            problems.append(Problem("join", f"lambda node {node.id!r} gets a whole message and fields; give it one or "
                                    "the other", node=node.id))
        return types[0]
    fields = []
    for e in node.ins:
        tp = _source_type(g, e, problems)
        if tp is None:
            return None
        if len(e.dst.path) != 1:
            problems.append(Problem("field", f"edge {e.text}: an edge into a lambda's field names one field",
                                    edge=e.text))
            return None
        fields.append((e.dst.path[0], as_type(info(tp))))
    return msgspec.defstruct(f"{_cls(g.name)}{_cls(node.id)}In", fields)


def _always(g: Graph, edge: Edge) -> bool:
    """Whether `edge` fires on every run: no `when` on it, and its source always runs (a node
    runs always when an edge that always fires leads into it)."""
    if edge.when is not None:
        return False
    if edge.src.node == INPUT:
        return True
    known = g.always
    node = edge.src.node
    if node not in known:
        known[node] = False  # (no cycles: the graph is ordered before its types are checked)
        known[node] = any(_always(g, e) for e in g.nodes[node].ins)
    return known[node]


def _check_edges_into(g: Graph, target: str, edges: list[Edge], input_type: Any, label: str,
                      problems: list[Problem], lambda_ok: bool) -> None:
    whole = [e for e in edges if not e.dst.path]
    sure = [e for e in whole if _always(g, e)]
    if len(sure) > 1:
        problems.append(Problem("join", f"{label} gets whole messages from {len(sure)} edges that always fire "
                                f"({', '.join(e.text for e in sure)}); only alternatives may (a `when`, or a source "
                                "that a `when` upstream may skip); to join, send fields into its fields", node=target))
    if whole and len(whole) != len(edges):
        problems.append(Problem("join", f"{label} gets a whole message and fields too; give it one or the other",
                                node=target))
    seen: dict[tuple[str, ...], Edge] = {}
    for e in edges:
        if e.dst.path:
            other = seen.get(e.dst.path)
            if other is not None and _always(g, other) and _always(g, e):
                problems.append(Problem("join", f"edges {other.text} and {e.text} both fill `{e.dst}`; only "
                                        "alternatives (each with `when`) may", edge=e.text, node=target))
            seen[e.dst.path] = e
        src = _source_type(g, e, problems)
        if src is None:
            continue
        if e.dst.path:
            try:
                dst = field_type(input_type, e.dst.path)
            except FieldError as err:
                problems.append(Problem("field", f"edge {e.text}: the target `{e.dst}` is not there: {err}",
                                        edge=e.text, source_type=type_name(src), target_type=type_name(input_type)))
                continue
        else:
            dst = input_type
        why = misfit(src, dst)
        if why is not None:
            problems.append(Problem("type", f"edge {e.text}: {e.src} is {type_name(src)}, {e.dst} takes "
                                    f"{type_name(dst)}: {why}", edge=e.text, node=target, source_type=type_name(src),
                                    target_type=type_name(dst)))
    if not whole and edges:
        filled = {e.dst.path[0] for e in edges if e.dst.path}
        t = info(input_type)
        for f in getattr(t, "fields", ()):
            if f.required and f.encode_name not in filled:
                problems.append(Problem("unconnected", f"{label}: required input field `{f.encode_name}` "
                                        f"({type_name(f.type)}) of {type_name(t)} is filled by no edge; add an edge "
                                        f"into `{target}.{f.encode_name}`", node=target,
                                        target_type=type_name(f.type)))


