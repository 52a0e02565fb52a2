"""The Nets screen: the Neuro-Nets running in the kernel (docs/nets.md), each with its nodes
(kind, neuro, version, types) and that neuro's state, its edges, and its last runs; beside
them the net drawn as a graph (`shell/_netgraph.py`), and, for a run picked in the runs
table, that run's path through it: the nodes it called, those it took from the memo, and the
edges that fired.

A net runs as a process whose neuro carries the built net; the daemon's `nets` system neuro
(`neuro.nets._host`, which `neuro net show` asks too) describes one by name. The screen asks
it about each process when it is shown (and on `u`), so a net started meanwhile appears; the
`nets` neuro is started, trusted (it is the project's own code), if it does not run yet.
"""

from __future__ import annotations

from typing import Any

import msgspec
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.widgets import DataTable, Static

from .._netgraph import LEGEND, draw
from ._view import View, fmt_time, make_table, short

__all__ = ["NetsView", "HOST_NAME", "HOST_SPEC"]

HOST_NAME = "nets"
HOST_SPEC = "neuro.nets._host:NetHost"


class NetsView(View):
    BINDINGS = [Binding("u", "reload", "Reload nets")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.nets: dict[str, dict[str, Any]] = {}  # name -> its `show`
        self.runs: dict[str, dict[str, Any]] = {}  # row key -> a `net.run` event's data
        self.procs: dict[str, Any] = {}  # name -> ProcessInfo, as of the last reload

    def compose(self) -> Any:
        yield Static("", id="nets-note")
        with Horizontal(id="nets-body"):
            with Vertical(id="nets-lists"):
                yield make_table("nets-table", ("net", "version", "input", "output", "nodes", "edges"))
                yield make_table("nets-nodes", ("node", "kind", "neuro", "state", "version", "input", "output"),
                                 zebra_stripes=True)
                yield make_table("nets-edges", ("edge", "when"))
                yield make_table("nets-runs", ("time", "net", "run", "called", "cached", "ok"))
            with Vertical(id="nets-picture"):
                yield Static("", id="nets-graph-title")
                with ScrollableContainer(id="nets-graph-box"):
                    yield Static("", id="nets-graph")

    async def shown(self) -> None:
        if self.client is not None:
            await self.reload()

    def action_reload(self) -> None:
        self.run_worker(self.shell._guard(self.reload()), group="nets", exclusive=True)

    async def reload(self) -> None:
        from neuro import NoSuchNeuro

        client = self.client
        try:
            await client.info(HOST_NAME)
        except NoSuchNeuro:
            try:
                await client.spawn(HOST_SPEC, trusted=True)
            except Exception as e:  # another client may have started it meanwhile
                if "already running" not in str(e):
                    raise
        procs = {p.name: p for p in await client.ps()}
        found: dict[str, dict[str, Any]] = {}
        for name in procs:
            if name == HOST_NAME:
                continue
            try:
                reply = await client.call(HOST_NAME, {"op": "show", "name": name})
            except Exception:  # not a net: the host refuses the name
                continue
            reply = reply if isinstance(reply, dict) else msgspec.to_builtins(reply)
            if reply.get("ok") and reply.get("show"):
                found[name] = reply["show"]
        self.nets, self.procs = found, procs
        self.query_one("#nets-note", Static).update(
            f"{len(found)} nets running" + ("" if found else " (a net runs once spawned from Python or a drop "
                                                            "folder; `neuro net run FILE` runs one from a file)"))
        table = self.query_one("#nets-table", DataTable)
        table.clear()
        for name, show in sorted(found.items()):
            table.add_row(name, str(show.get("version", ""))[:12], str(show.get("input", "")),
                          str(show.get("output", "")), str(len(show.get("nodes", []))), str(len(show.get("edges", []))),
                          key=name)
        self._show_net(next(iter(sorted(found)), None))
        await self._runs()

    def _show_net(self, name: str | None) -> None:
        nodes = self.query_one("#nets-nodes", DataTable)
        edges = self.query_one("#nets-edges", DataTable)
        nodes.clear()
        edges.clear()
        show = self.nets.get(name or "")
        if show is None:
            self._draw(None)
            return
        self._draw(name)
        for n in show.get("nodes", []):
            proc = self.procs.get(n.get("neuro") or "")
            nodes.add_row(n["id"], n["kind"], n.get("neuro") or "-", proc.state if proc else "-",
                          (n.get("version") or "")[:12], str(n.get("input", "")), str(n.get("output", "")))
        for e in show.get("edges", []):
            edges.add_row(f"{e['src']} -> {e['dst']}", e.get("when") or "-")

    async def _runs(self) -> None:
        runs = self.query_one("#nets-runs", DataTable)
        runs.clear()
        self.runs = {}
        try:
            events = await self.client.events(name="net.run", newest_first=True, limit=20)
        except Exception:  # a kernel without a log keeps no runs
            return
        for k, ev in enumerate(events):
            d = dict(ev.data or {})
            d.setdefault("net", ev.neuro or "")
            key = f"run-{k}"
            self.runs[key] = d
            runs.add_row(fmt_time(ev.time), str(d["net"]), str(d.get("run", "")), short(d.get("called", ""), 40),
                         short(d.get("cached", ""), 40), "yes" if d.get("ok", True) else "no", key=key)

    def _draw(self, net: str | None, run_key: str | None = None) -> None:
        """The graph of `net`, with the path of the run in row `run_key` of the runs table."""
        title = self.query_one("#nets-graph-title", Static)
        graph = self.query_one("#nets-graph", Static)
        show = self.nets.get(net or "")
        if show is None:
            title.update("no net to draw")
            graph.update("")
            return
        run = self.runs.get(run_key or "")
        if run is None:
            title.update(f"net {net}: pick one of its runs below to see its path")
            graph.update(draw(show))
            return
        outcome = "ok" if run.get("ok", True) else f"failed: {run.get('error') or ''}"
        title.update(f"run {run.get('run', '')} of net {net}: {run.get('called', 0)} called, "
                     f"{run.get('cached', 0)} from the memo, {outcome}\n{LEGEND}")
        graph.update(draw(show, run))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None:
            return
        if event.data_table.id == "nets-table":
            self._show_net(event.row_key.value)
        elif event.data_table.id == "nets-runs":
            run = self.runs.get(event.row_key.value or "")
            if run is not None and run["net"] in self.nets:
                self._draw(run["net"], event.row_key.value)
