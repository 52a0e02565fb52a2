"""The plan of a built net: what runs, in which steps, and what may run side by side.

Three optimisations at build, each shown by `neuro net show --plan`:

- **dead branches pruned**: an edge whose `when` is a constant that never holds is dropped,
  with every node that only it fed, and every node left with no way to the output;
- **lambda chains fused**: a lambda whose only output is the whole input of the next lambda
  (and that lambda's only input) runs with it as one step, with no scheduling between them;
- **parallel segments**: steps at the same depth (the longest path from the input) have no
  path between them, so they run side by side; the runner starts a step as soon as the
  steps it depends on are done, so a fast branch never waits for a slow one.
"""

from __future__ import annotations

from typing import Any

from neuro._net import INPUT, OUTPUT

from ._graph import Edge, Graph
from ._predicate import NeuroCondition

__all__ = ["Plan", "Step", "make_plan"]


class Step:
    """One or more nodes run back to back (a fused lambda chain is several)."""

    __slots__ = ("index", "nodes", "ins", "succs", "preds", "depth", "asks")

    def __init__(self, index: int, nodes: list[str], ins: list[Edge]) -> None:
        self.index, self.nodes, self.ins = index, nodes, ins
        self.asks = [e for e in ins if isinstance(e.when, NeuroCondition)]  # edges a predicate neuro decides
        self.succs: list[int] = []
        self.preds: list[int] = []
        self.depth = 0


class Plan:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.pruned_edges: list[str] = []
        self.pruned_nodes: list[str] = []
        self.fused: list[list[str]] = []
        self.outs: list[Edge] = []
        self.out_asks: list[Edge] = []  # edges into the output that a predicate neuro decides
        self.roots: list[int] = []
        self.live: dict[str, list[Edge]] = {}  # node -> its live in-edges
        self.step_of: dict[str, int] = {}
        self.chain: list[str] | None = None  # a plain chain of neuro nodes: the runner's fast path

    def segments(self) -> list[list[list[str]]]:
        """Steps by depth: each inner list of steps may run side by side."""
        by_depth: dict[int, list[list[str]]] = {}
        for s in self.steps:
            by_depth.setdefault(s.depth, []).append(s.nodes)
        return [by_depth[d] for d in sorted(by_depth)]

    def describe(self) -> dict[str, Any]:
        return {"steps": [s.nodes for s in self.steps], "parallel_segments": self.segments(),
                "pruned_edges": self.pruned_edges, "pruned_nodes": self.pruned_nodes, "fused": self.fused}


def _constant(edge: Edge) -> bool | None:
    """The value of an edge's `when` if it reads no field (a constant), else None."""
    if edge.when is None:
        return True
    if edge.when.names:
        return None
    try:
        return bool(edge.when.run({}))
    except Exception:  # noqa: BLE001 - it fails at run time too: not a constant we can use
        return None


def make_plan(g: Graph) -> Plan:
    plan = Plan()
    dead_edges = {e.index for e in g.edges if _constant(e) is False}
    plan.pruned_edges = [e.text for e in g.edges if e.index in dead_edges]
    alive = set(g.nodes)
    changed = True
    while changed:  # forward: a node none of whose in-edges lives is pruned
        changed = False
        for n in list(alive):
            ins = [e for e in g.nodes[n].ins if e.index not in dead_edges and (e.src.node == INPUT or e.src.node in alive)]
            if not ins:
                alive.discard(n)
                changed = True
        for n in list(alive):  # backward: a node with no live way out is pruned too (a sink, a side effect, is kept)
            outs = [e for e in g.nodes[n].outs if e.index not in dead_edges and (e.dst.node == OUTPUT or e.dst.node in alive)]
            if not outs and not g.nodes[n].sink:
                alive.discard(n)
                changed = True
    plan.pruned_nodes = [n for n in g.order if n not in alive]

    def live(e: Edge) -> bool:
        return (e.index not in dead_edges and (e.src.node == INPUT or e.src.node in alive)
                and (e.dst.node == OUTPUT or e.dst.node in alive))

    for n in g.order:
        if n in alive:
            plan.live[n] = [e for e in g.nodes[n].ins if live(e)]
    plan.outs = [e for e in g.into_out if live(e)]
    plan.out_asks = [e for e in plan.outs if isinstance(e.when, NeuroCondition)]
    # fuse lambda chains
    groups: list[list[str]] = []
    head_of: dict[str, list[str]] = {}
    for n in g.order:
        if n not in alive:
            continue
        node = g.nodes[n]
        ins = plan.live[n]
        if node.kind == "lambda" and len(ins) == 1 and not ins[0].dst.path and not ins[0].src.path \
                and ins[0].when is None and ins[0].src.node in head_of:
            prev = ins[0].src.node
            prev_outs = [e for e in g.nodes[prev].outs if live(e)]
            group = head_of[prev]
            if g.nodes[prev].kind == "lambda" and len(prev_outs) == 1 and group[-1] == prev:
                group.append(n)
                head_of[n] = group
                continue
        group = [n]
        groups.append(group)
        head_of[n] = group
    plan.fused = [grp for grp in groups if len(grp) > 1]
    for i, grp in enumerate(groups):
        step = Step(i, grp, plan.live[grp[0]])
        plan.steps.append(step)
        for n in grp:
            plan.step_of[n] = i
    for step in plan.steps:
        preds = sorted({plan.step_of[e.src.node] for e in step.ins if e.src.node != INPUT})
        step.preds = preds
        for p in preds:
            plan.steps[p].succs.append(step.index)
        step.depth = 1 + max((plan.steps[p].depth for p in preds), default=0)
        if not preds:
            plan.roots.append(step.index)
    plan.chain = _plain_chain(g, plan)
    return plan


def _plain(e: Edge) -> bool:
    return e.when is None and not e.src.path and not e.dst.path


def _plain_chain(g: Graph, plan: Plan) -> list[str] | None:
    """The nodes in order, if the plan is in -> n1 -> ... -> nk -> out of neuro nodes over
    whole messages with no condition (what most nets are); else None."""
    order, prev = [], INPUT
    for step in plan.steps:
        if len(step.nodes) != 1 or len(step.ins) != 1 or not _plain(step.ins[0]) or step.ins[0].src.node != prev:
            return None
        node = g.nodes[step.nodes[0]]
        if node.kind != "neuro":
            return None
        order.append(node.id)
        prev = node.id
    if len(plan.outs) != 1 or not _plain(plan.outs[0]) or plan.outs[0].src.node != prev or not order:
        return None
    return order
