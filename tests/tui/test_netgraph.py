"""The Nets screen's graph drawing (shell/_netgraph.py) without a screen: boxes, edges
between layers, long edges, conditional edges and a run's path."""

from __future__ import annotations

from neuro.shell._netgraph import draw, draw_lines

from ._fixed import NET_RUNS, NET_SHOW


def _show(edges, nodes=None):
    ids = nodes or sorted({e[i].split(".")[0] for e in edges for i in (0, 1)} - {"in", "out"})
    return {"nodes": [{"id": n, "kind": "neuro", "neuro": n} for n in ids],
            "edges": [{"src": s, "dst": d, "when": w} for s, d, *rest in edges for w in [rest[0] if rest else None]]}


def _lines(text):
    return str(text).split("\n")


def _row_of(text, label):
    return next(i for i, line in enumerate(_lines(text)) if f" {label} " in line)


def test_each_node_is_one_box_and_the_edges_into_it_join_in_one_arrow():
    """A fan-out and a fan-in: every node once, each layer below the one that feeds it, and
    one arrow into each node that has edges into it (b's two fields' edges are one edge, and
    b's and c's edges into out join above it)."""
    text = draw(_show([("in", "a"), ("a.x", "b.left"), ("a.y", "b.right"), ("a", "c"), ("b", "out.l"),
                       ("c", "out.r")]))
    assert str(text).count("▼") == 4  # into a, b, c and out
    plain = str(text)
    assert "┴" in plain and ("┤" in plain or "├" in plain)  # a's fan-out, out's fan-in
    for label in ("in", "a", "b", "c", "out"):
        assert sum(line.count(f"│ {label} │") for line in _lines(text)) == 1
    assert _row_of(text, "in") < _row_of(text, "a") < _row_of(text, "b") == _row_of(text, "c") < _row_of(text, "out")


def test_an_edge_past_a_layer_runs_down_beside_the_node_between():
    """in -> out directly and in -> a -> out: the long edge passes a's layer as a line and
    joins a's edge above out; no character of a's box is overwritten."""
    text = draw(_show([("in", "a"), ("a", "out"), ("in", "out")]))
    assert str(text).count("▼") == 2  # into a, into out
    row = _lines(text)[_row_of(text, "a")]
    assert "│ a │" in row and row.count("│") == 3  # the box's two sides and the long edge


def test_a_conditional_edge_is_dashed_and_a_plain_one_is_not():
    text = str(draw(_show([("in", "a", "x > 1"), ("a", "out")])))
    top, bottom = text.split("│ a │")
    assert "┆" in top and "┆" not in bottom


def test_a_runs_path_is_heavy_where_called_double_where_cached_and_light_elsewhere():
    """The fixed net's newest run took big from the memo and called again; small, the branch
    not taken, stays a light box, and so do its edges."""
    text = str(draw(NET_SHOW, NET_RUNS[0].data))
    assert "║ big: double ║" in text and "┃ again: inc ┃" in text and "│ small: inc │" in text
    assert "━" in text  # the edges that fired
    older = str(draw(NET_SHOW, NET_RUNS[1].data))
    assert "┃ small: inc ┃" in older and "│ big: double │" in older and "│ again: inc │" in older


def _style_at(text, label):
    at = str(text).index(label)
    return [span.style for span in text.spans if span.start <= at < span.end]


def test_a_failed_run_does_not_reach_the_output():
    """The output is drawn as reached only for a run that ended well."""
    assert "bold green" in _style_at(draw(NET_SHOW, NET_RUNS[1].data), "out")
    failed = draw(NET_SHOW, {**NET_RUNS[1].data, "ok": False})
    assert "bold green" not in _style_at(failed, "out") and "bold green" in _style_at(failed, "small")


def test_without_a_run_nothing_is_heavy():
    text = str(draw(NET_SHOW))
    assert not set(text) & set("┏┓┗┛━┃╔╗╚╝═║")
