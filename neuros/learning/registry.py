"""The installed learners: every learning system a package declares, by name.

A package declares a learner as a Python entry point in the group ``neuro.learners``::

    [project.entry-points."neuro.learners"]
    eqprop = "neuro.neuros.learning.eqprop.neuro:EqPropNeuro"

Reading the registry imports no learner: an entry point is a name and a ``module:Class``
string, and a learner's description is the first line of its class docstring, read from the
module's source file (parsed, not run). The daemon gives the kernel `on_demand_table()`, so a
call to ``eqprop`` when no process of that name runs spawns it under the `learning` policy,
in that policy's sandbox, where its code is imported for the first time (kernel/_ondemand.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["GROUP", "LearnerEntry", "installed", "on_demand_table", "LEARNING_POLICY"]

GROUP = "neuro.learners"
LEARNING_POLICY = "learning"


@dataclass(frozen=True)
class LearnerEntry:
    """One installed learner: its `name`, `spec` (``module:Class``), a one-line
    `description`, and the `distribution` (package) and `version` that declare it."""

    name: str
    spec: str
    description: str
    distribution: str = ""
    version: str = ""

    @property
    def module(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def qualname(self) -> str:
        return self.spec.partition(":")[2]


def installed() -> dict[str, LearnerEntry]:
    """Every installed learner by name, sorted. Two packages declaring one name: the first
    found is kept (Python's entry-point order)."""
    from importlib.metadata import entry_points

    found: dict[str, LearnerEntry] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue
        dist = getattr(ep, "dist", None)
        found[ep.name] = LearnerEntry(
            name=ep.name, spec=ep.value, description=describe(ep.value),
            distribution=getattr(getattr(dist, "metadata", None), "get", lambda *_: "")("Name", "") or "",
            version=getattr(dist, "version", "") or "")
    return dict(sorted(found.items()))


def on_demand_table() -> dict[str, dict[str, str]]:
    """What the daemon gives the kernel's `on_demand`: name -> {target, policy, description}."""
    return {name: {"target": e.spec, "policy": LEARNING_POLICY, "description": e.description}
            for name, e in installed().items()}


def describe(spec: str) -> str:
    """The first line of the class docstring `spec` (``module:Class``) names, read from its
    source without importing it; "" where it cannot be read."""
    from neuro._modulefiles import ModuleNotFound, module_file

    module, _, qualname = spec.partition(":")
    try:
        with open(module_file(module), "rb") as f:
            tree = ast.parse(f.read())
    except (ModuleNotFound, OSError, SyntaxError, ValueError):
        return ""
    body = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == part), None)
        if node is None:
            return ""
        body = node.body
    doc = ast.get_docstring(node) if node is not None else None
    return doc.strip().splitlines()[0] if doc else ""
