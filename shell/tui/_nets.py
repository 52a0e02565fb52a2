"""The Nets screen: the Neuro-Nets running in the kernel (docs/nets.md), each with its nodes
(kind, neuro, version, types) and that neuro's state, its edges, and its last runs.

A net runs as a process whose neuro carries the built net; the daemon's `nets` system neuro
(`neuro.nets._host`, which `neuro net show` asks too) describes one by name. The screen asks
it about each process when it is shown (and on `u`), so a net started meanwhile appears; the
`nets` neuro is started, trusted (it is the project's own code), if it does not run yet.
"""

from __future__ import annotations

from typing import Any

import msgspec
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ._view import View, fmt_time, make_table, short

__all__ = ["NetsView", "HOST_NAME", "HOST_SPEC"]

HOST_NAME = "nets"
HOST_SPEC = "neuro.nets._host:NetHost"


class NetsView(View):
    BINDINGS = [Binding("u", "reload", "Reload nets")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.nets: dict[str, dict[str, Any]] = {}  # name -> its `show`

    def compose(self) -> Any:
        yield Static("", id="nets-note")
        yield make_table("nets-table", ("net", "version", "input", "output", "nodes", "edges"))
        yield make_table("nets-nodes", ("node", "kind", "neuro", "state", "version", "input", "output"),
                         zebra_stripes=True)
        yield make_table("nets-edges", ("edge", "when"))
        yield make_table("nets-runs", ("time", "net", "run", "called", "cached"))

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
        self.nets = found
        self.query_one("#nets-note", Static).update(
            f"{len(found)} nets running" + ("" if found else " (a net runs once spawned from Python or a drop "
                                                            "folder; `neuro net run FILE` runs one from a file)"))
        table = self.query_one("#nets-table", DataTable)
        table.clear()
        for name, show in sorted(found.items()):
            table.add_row(name, str(show.get("version", ""))[:12], str(show.get("input", "")),
                          str(show.get("output", "")), str(len(show.get("nodes", []))), str(len(show.get("edges", []))),
                          key=name)
        self._show_net(next(iter(sorted(found)), None), procs)
        await self._runs()

    def _show_net(self, name: str | None, procs: dict[str, Any] | None = None) -> None:
        nodes = self.query_one("#nets-nodes", DataTable)
        edges = self.query_one("#nets-edges", DataTable)
        nodes.clear()
        edges.clear()
        show = self.nets.get(name or "")
        if show is None:
            return
        procs = procs or {}
        for n in show.get("nodes", []):
            proc = procs.get(n.get("neuro") or "")
            nodes.add_row(n["id"], n["kind"], n.get("neuro") or "-", proc.state if proc else "-",
                          (n.get("version") or "")[:12], str(n.get("input", "")), str(n.get("output", "")))
        for e in show.get("edges", []):
            edges.add_row(f"{e['src']} -> {e['dst']}", e.get("when") or "-")

    async def _runs(self) -> None:
        runs = self.query_one("#nets-runs", DataTable)
        runs.clear()
        try:
            events = await self.client.events(name="net.run", newest_first=True, limit=20)
        except Exception:  # a kernel without a log keeps no runs
            return
        for ev in events:
            d = ev.data or {}
            runs.add_row(fmt_time(ev.time), str(d.get("net", ev.neuro or "")), str(d.get("run", "")),
                         short(d.get("called", ""), 40), short(d.get("cached", ""), 40))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "nets-table" and event.row_key is not None:
            self._show_net(event.row_key.value)
