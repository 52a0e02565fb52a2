"""A net drawn as a graph in the terminal, with one run's path through it: the shell's Nets
screen, and `neuro net show --graph`.

`draw(show, run)` (rich `Text`, with styles) and `draw_lines(show, run)` (plain lines) lay
out the net of `show` (what the `nets` neuro's `show` answers: nodes and edges, `in` and `out`
included) in layers, top to bottom:

- layers by longest path from `in`; an edge that spans layers passes through a point in each
  layer between, so every edge runs between neighbouring layers;
- the order within a layer by the mean position of its neighbours (a few sweeps down and up),
  which removes most crossings of small nets;
- between two layers each source's edges run on a track of their own, so two sources' edges
  cross (`┼`) rather than seem to join;
- boxes: `╭─╮` for `in` and `out`, `┌─┐` for a node; in a run, `┏━┓` for a node called and
  `╔═╗` for one from the memo (or a compiled graph's), the edges that fired drawn heavy;
- a conditional edge is dashed (`┆`, `╌`).

No textual, and rich only for `draw`: the CLI prints the plain lines; tests draw it without a
screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["draw", "draw_lines", "LEGEND"]

N, E, S, W = 1, 2, 4, 8
_LIGHT = {N | S: "│", E | W: "─", S | E: "┌", S | W: "┐", N | E: "└", N | W: "┘", N | S | E: "├", N | S | W: "┤",
          E | W | S: "┬", E | W | N: "┴", N | E | S | W: "┼", N: "│", S: "│", E: "─", W: "─"}
_HEAVY = {N | S: "┃", E | W: "━", S | E: "┏", S | W: "┓", N | E: "┗", N | W: "┛", N | S | E: "┣", N | S | W: "┫",
          E | W | S: "┳", E | W | N: "┻", N | E | S | W: "╋", N: "┃", S: "┃", E: "━", W: "━"}
_DASHED = {N | S: "┆", E | W: "╌", N: "┆", S: "┆", E: "╌", W: "╌"}
# top-left, top, top-right, side, bottom-left, bottom-right, bottom with an edge leaving
_BOXES = {"end": "╭─╮│╰╯┬", "node": "┌─┐│└┘┬", "called": "┏━┓┃┗┛┳", "cached": "╔═╗║╚╝╦"}
_STYLES = {"called": "bold green", "cached": "cyan", "path": "bold green", "idle": "dim", "when": "yellow"}
LEGEND = "┏━┓ called   ╔═╗ from the memo   ━ an edge that fired   ┆ ╌ a conditional edge"
GAP = 3  # columns between two boxes of a layer
ENDS = ("in", "out")


def draw(show: dict[str, Any], run: dict[str, Any] | None = None) -> Text:
    """The net of `show` as styled text; with `run` (a `net.run` event's data), that run's path too."""
    return _canvas(show, run).text()


def draw_lines(show: dict[str, Any], run: dict[str, Any] | None = None) -> list[str]:
    """The same, as plain lines."""
    return _canvas(show, run).lines()


def _canvas(show: dict[str, Any], run: dict[str, Any] | None) -> _Canvas:
    nodes, edges = _graph(show)
    reached: dict[str, str] = {}
    fired: set[tuple[str, str]] | None = None
    if run is not None:
        reached, fired = _path(run, edges)
    return _Canvas(_Layout(nodes, edges), nodes, edges, reached, fired)


def _path(run: dict[str, Any], edges: dict[tuple[str, str], bool]) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """The nodes a run reached (id -> called or cached) and the edges that fired, from its
    steps. The output has no step: a run that ended well got there by the edges into `out`
    from the nodes it reached, all but a conditional one, whose firing no step records."""
    reached = {"in": "called"}
    fired: set[tuple[str, str]] = set()
    for step in run.get("steps") or ():
        node = str(step.get("node", "")).split("/")[0]
        reached.setdefault(node, "called" if step.get("reason") == "called" else "cached")
        for edge in step.get("edges", ()):
            src, _, dst = str(edge).partition(" -> ")
            fired.add((_base(src), _base(dst.split(" ")[0])))
    if run.get("ok", True):
        fired |= {(src, dst) for (src, dst), when in edges.items() if dst == "out" and src in reached and not when}
    if any(dst == "out" for _, dst in fired):
        reached["out"] = "called"
    return reached, fired


def _base(endpoint: str) -> str:
    return endpoint.split(".")[0].split("/")[0]


def _graph(show: dict[str, Any]) -> tuple[dict[str, str], dict[tuple[str, str], bool]]:
    """The nodes (id -> label) and the edges between them ((src, dst) -> conditional); the edges
    into one node's fields are one edge here."""
    nodes = {"in": "in"}
    for n in show.get("nodes", []):
        node_id = str(n["id"])
        kind, calls = n.get("kind"), n.get("neuro") or n.get("net")
        label = node_id if not calls or calls == node_id else f"{node_id}: {calls}"
        nodes[node_id] = label if kind in (None, "neuro") else f"{label} ({kind})"
    nodes["out"] = "out"
    edges: dict[tuple[str, str], bool] = {}
    for e in show.get("edges", []):
        key = (_base(str(e["src"])), _base(str(e["dst"])))
        if key[0] in nodes and key[1] in nodes and key[0] != key[1]:
            edges[key] = edges.get(key, True) and bool(e.get("when"))
    return nodes, edges


class _Layout:
    """Layers, order and columns of the nodes and of the points of long edges."""

    def __init__(self, nodes: dict[str, str], edges: dict[tuple[str, str], bool]) -> None:
        layer = self._layers(list(nodes), list(edges))
        self.layers: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
        for node in nodes:
            self.layers[layer[node]].append(node)
        # each edge as a chain of segments between neighbouring layers, through points ("·k")
        self.segments: list[tuple[str, str, tuple[str, str]]] = []
        self.points: dict[str, tuple[str, str]] = {}  # a point -> the edge it is on
        for src, dst in edges:
            prev = src
            for k in range(layer[src] + 1, layer[dst]):
                point = f"·{len(self.points)}"
                self.points[point] = (src, dst)
                self.layers[k].append(point)
                self.segments.append((prev, point, (src, dst)))
                prev = point
            self.segments.append((prev, dst, (src, dst)))
        self.ups: dict[str, list[str]] = {}  # the items each segment's end is fed by, and feeds
        self.downs: dict[str, list[str]] = {}
        for a, b, _ in self.segments:
            self.downs.setdefault(a, []).append(b)
            self.ups.setdefault(b, []).append(a)
        self._order()
        self.width = {item: 1 if item in self.points else len(nodes[item]) + 4
                      for items in self.layers for item in items}
        self.x = self._columns()

    @staticmethod
    def _layers(names: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
        """Longest path from the sources (Kahn's order); a node left in a cycle, which a built
        net never has, goes below the rest rather than loop."""
        into = {n: 0 for n in names}
        out: dict[str, list[str]] = {n: [] for n in names}
        for src, dst in edges:
            into[dst] += 1
            out[src].append(dst)
        layer = {n: 0 for n in names}
        ready = [n for n in names if into[n] == 0]
        seen = 0
        while ready:
            node = ready.pop(0)
            seen += 1
            for dst in out[node]:
                layer[dst] = max(layer[dst], layer[node] + 1)
                into[dst] -= 1
                if into[dst] == 0:
                    ready.append(dst)
        if seen < len(names):
            deepest = max(layer.values()) + 1
            for n in names:
                if into[n] > 0:
                    layer[n] = deepest
        return layer

    def _order(self) -> None:
        ups, downs = self.ups, self.downs
        for sweep in range(4):
            rows = range(1, len(self.layers)) if sweep % 2 == 0 else range(len(self.layers) - 2, -1, -1)
            for i in rows:
                near = self.layers[i - 1] if sweep % 2 == 0 else self.layers[i + 1]
                links = ups if sweep % 2 == 0 else downs
                pos = {item: k for k, item in enumerate(near)}
                mine = {item: k for k, item in enumerate(self.layers[i])}

                def key(item: str) -> float:
                    around = [pos[n] for n in links.get(item, []) if n in pos]
                    return sum(around) / len(around) if around else mine[item]

                self.layers[i].sort(key=key)

    def _columns(self) -> dict[str, int]:
        """Left edges: each item as near the middle of what feeds it as its row allows; then,
        from the bottom up, a node that feeds several over their middle (not at their left),
        and a node that alone feeds the next over it."""
        ups, downs = self.ups, self.downs
        # a node that feeds several goes over their middle, and one link of a chain over the next
        fans = {k: v for k, v in downs.items() if len(v) > 1 or len(ups.get(v[0], ())) == 1}
        x: dict[str, int] = {}
        self._pack(self.layers, ups, x)
        self._pack(self.layers[-2::-1], fans, x)
        self._pack(self.layers[-1:], ups, x)  # the last row under what feeds it, as placed now
        shift = min(x.values(), default=0)
        return {item: v - shift for item, v in x.items()}

    def _pack(self, layers: Iterable[list[str]], near: dict[str, list[str]], x: dict[str, int]) -> None:
        """Place each layer's items left to right, each under (or over) the middle of its
        neighbours in `near` that are placed, never closer than GAP to the one on its left."""
        for items in layers:
            left = min((x[i] for i in items if i in x), default=0)
            for item in items:
                around = [x[u] + self.width[u] // 2 for u in near.get(item, []) if u in x]
                want = sum(around) // len(around) - self.width[item] // 2 if around else x.get(item, left)
                x[item] = max(left, want)
                left = x[item] + self.width[item] + GAP

    def centre(self, item: str) -> int:
        return self.x[item] + self.width[item] // 2


class _Canvas:
    """Characters and styles on a grid: boxes first, then the edges' arms, merged per cell."""

    def __init__(self, layout: _Layout, nodes: dict[str, str], edges: dict[tuple[str, str], bool],
                 reached: dict[str, str], fired: set[tuple[str, str]] | None) -> None:
        self.layout, self.nodes, self.reached, self.fired = layout, nodes, reached, fired
        self.cells: dict[tuple[int, int], str] = {}
        self.styles: dict[tuple[int, int], str] = {}
        self.arms: dict[tuple[int, int], list[int]] = {}  # [arms, heavy arms, dashed]
        self.edges = edges
        self.height = 0
        self._place()

    def _place(self) -> None:
        layout, y = self.layout, 0
        for i, items in enumerate(layout.layers):
            for item in items:
                if item in layout.points:
                    for dy in range(3):
                        self._arm(layout.centre(item), y + dy, N | S, layout.points[item])
                else:
                    self._box(item, layout.x[item], y)
            if i + 1 == len(layout.layers):
                self.height = y + 3
                break
            y = self._between(i, y + 3)

    def _kind(self, node: str) -> str:
        """Its box's kind: the ends' own, else called or cached in the run drawn, else plain."""
        if node in ENDS:
            return "end"
        how = self.reached.get(node)
        return how if how in ("called", "cached") else "node"

    def _box(self, node: str, x: int, y: int) -> None:
        how = self.reached.get(node)
        tl, top, tr, side, bl, br, _ = _BOXES[self._kind(node)]
        width = len(self.nodes[node]) + 4
        style = _STYLES.get(how or "", _STYLES["idle"] if self.fired is not None else "")
        rows = (tl + top * (width - 2) + tr, f"{side} {self.nodes[node]} {side}", bl + top * (width - 2) + br)
        for dy, row in enumerate(rows):
            for dx, ch in enumerate(row):
                self.cells[(x + dx, y + dy)] = ch
                if style:
                    self.styles[(x + dx, y + dy)] = style

    def _between(self, i: int, y: int) -> int:
        """The edges from layer `i` to the next, starting at row `y`; the next layer's row."""
        layout = self.layout
        segments = [s for s in layout.segments if s[0] in layout.layers[i]]
        by_source: dict[str, list[tuple[str, str, tuple[str, str]]]] = {}
        for s in segments:
            by_source.setdefault(s[0], []).append(s)
        tracks: list[int] = []  # the rightmost column used on each track
        track_of: dict[str, int] = {}
        for src in sorted(by_source, key=layout.centre):
            xs = [layout.centre(src), *(layout.centre(d) for _, d, _ in by_source[src])]
            lo, hi = min(xs), max(xs)
            if lo == hi:
                continue  # straight down: no track
            t = next((k for k, right in enumerate(tracks) if right < lo - 1), len(tracks))
            if t == len(tracks):
                tracks.append(hi)
            tracks[t] = hi
            track_of[src] = t
        bottom, last = y, y + 1 + len(tracks)  # the row leaving the boxes; the row of the arrows
        for src, out in by_source.items():
            x1 = layout.centre(src)
            if src not in layout.points:
                self.cells[(x1, bottom - 1)] = _BOXES[self._kind(src)][6]  # the mark where its edges leave
            row = bottom + track_of.get(src, 0)
            for _, dst, edge in out:
                x2 = layout.centre(dst)
                if x1 == x2:
                    for yy in range(bottom, last):
                        self._arm(x1, yy, N | S, edge)
                else:
                    step = 1 if x2 > x1 else -1
                    for yy in range(bottom, row):
                        self._arm(x1, yy, N | S, edge)
                    self._arm(x1, row, N | (E if step > 0 else W), edge)
                    for xx in range(x1 + step, x2, step):
                        self._arm(xx, row, E | W, edge)
                    self._arm(x2, row, S | (W if step > 0 else E), edge)
                    for yy in range(row + 1, last):
                        self._arm(x2, yy, N | S, edge)
                if dst in layout.points:
                    self._arm(x2, last, N | S, edge)
                else:
                    self.cells[(x2, last)] = "▼"
                    self._style(x2, last, edge)
        return last + 1

    def _arm(self, x: int, y: int, arms: int, edge: tuple[str, str]) -> None:
        cell = self.arms.setdefault((x, y), [0, 0, 0])
        cell[0] |= arms
        if self.fired is not None and edge in self.fired:
            cell[1] |= arms
        if self.edges.get(edge):
            cell[2] |= arms
        self._style(x, y, edge)

    def _style(self, x: int, y: int, edge: tuple[str, str]) -> None:
        if self.fired is not None:
            style = _STYLES["path"] if edge in self.fired else _STYLES["idle"]
        else:
            style = _STYLES["when"] if self.edges.get(edge) else ""
        if style and self.styles.get((x, y)) != _STYLES["path"]:
            self.styles[(x, y)] = style

    def _glyphs(self) -> int:
        """Give every cell with arms its character; the width of the drawing."""
        for (x, y), (arms, heavy, dashed) in self.arms.items():
            if (x, y) in self.cells:
                continue  # a box's border or an arrow keeps its mark
            if heavy and heavy == arms:
                self.cells[(x, y)] = _HEAVY[arms]
            elif dashed == arms and arms in _DASHED:
                self.cells[(x, y)] = _DASHED[arms]
            else:
                self.cells[(x, y)] = _LIGHT[arms]
        return max((x for x, _ in self.cells), default=-1) + 1

    def lines(self) -> list[str]:
        width = self._glyphs()
        return ["".join(self.cells.get((x, y), " ") for x in range(width)).rstrip() for y in range(self.height)]

    def text(self) -> Text:
        from rich.text import Text

        width = self._glyphs()
        out = Text(no_wrap=True, overflow="ignore")
        for y in range(self.height):
            for x in range(width):
                out.append(self.cells.get((x, y), " "), self.styles.get((x, y)))
            out.rstrip()
            if y + 1 < self.height:
                out.append("\n")
        return out
