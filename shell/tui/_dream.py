"""The Dream screen: the dream daemon (neuro.dream, docs/dream.md) as `neuro dream status` and
`neuro dream jobs` show it, and the keys to steer it.

- what it watches: each neuro that opted in, whether its student cascades (answers itself and
  defers to the teacher when unsure), the settings and its last dream;
- its jobs, newest first: state (running, shipped, rejected, failed, cancelled, slept), stage,
  the version it made (the student) and its teacher, and the gate figures;
- the stored versions whose origin is `dream`;
- learner jobs (the `Progress` events learners publish on ``progress.<neuro>``) with their
  progress and a curve of each metric they report (a learner's loss, say).

Keys: `g` start dreaming (the daemon's dream neuro, under the `dream` policy), `S` stop it,
`d` dream of the selected neuro now, `x` cancel the selected running job. Everything goes
through the client API (a call to the `dream` neuro), as the CLI's does.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable, Static

from ._view import View, fmt_time, make_table, short

__all__ = ["DreamView", "NO_DREAM"]

NO_DREAM = "The dream neuro is not running: press g to start dreaming (or `neuro dream run NAME`)."


class DreamView(View):
    BINDINGS = [
        Binding("g", "start", "Start dreaming"), Binding("S", "stop", "Stop dreaming"),
        Binding("d", "dream", "Dream of it now"), Binding("x", "cancel", "Cancel job"),
    ]

    def compose(self) -> Any:
        yield Static(NO_DREAM, id="dream-note")
        yield make_table("dream-watching", ("neuro", "cascade", "every", "min traces", "last dream"))
        yield make_table("dream-jobs", ("job", "neuro", "kind", "trigger", "state", "stage", "started", "version",
                                        "teacher", "agreement", "speedup", "reason"), zebra_stripes=True)
        yield make_table("dream-versions", ("neuro", "version", "recorded", "teacher", "gate"))
        yield make_table("learn-jobs", ("learner", "job", "progress", "note", "metrics"))
        yield Static("no learner has reported progress yet", id="learn-curves")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        from ._curves import LearnerJobs

        self.learners = LearnerJobs()
        self._draw_queued = False

    async def connected(self) -> None:
        self.run_worker(self.shell._guard(self._follow_progress()), group="progress", exclusive=True)

    async def _follow_progress(self) -> None:
        async with self.client.subscribe("progress.*") as events:
            async for _topic, _sender, progress in events:
                self.learners.add(progress)
                if not self._draw_queued:  # a burst of progress is drawn once
                    self._draw_queued = True
                    self.set_timer(0.2, self._draw_learners)

    def _draw_learners(self) -> None:
        self._draw_queued = False
        _replace(self.query_one("#learn-jobs", DataTable), self.learners.rows(), key=None)
        self.query_one("#learn-curves", Static).update("\n".join(self.learners.curves()[:12]))

    # -- data ---------------------------------------------------------------------------------

    async def _ask(self, message: Any) -> dict[str, Any]:
        import msgspec

        from neuro.dream import DREAM_NAME

        return msgspec.to_builtins(await self.client.call(DREAM_NAME, message))

    async def _dream_runs(self) -> bool:
        from neuro.dream import DREAM_NAME

        return any(p.name == DREAM_NAME for p in await self.client.ps())

    async def shown(self) -> None:
        if self.client is None:
            return
        await self._show_daemon()
        table = self.query_one("#dream-versions", DataTable)
        table.clear()
        for p in await self.client.ps():
            for v in await self.client.versions(p.name):
                if v.origin == "dream":
                    table.add_row(v.neuro, v.version[:16], fmt_time(v.time), (v.lineage.teacher or "")[:16],
                                  short(v.lineage.gate, 60))

    async def tick(self) -> None:
        if self.client is not None:
            await self._show_daemon()

    async def _show_daemon(self) -> None:
        from neuro.dream import DreamJobs, DreamStatus

        note = self.query_one("#dream-note", Static)
        watching = self.query_one("#dream-watching", DataTable)
        jobs = self.query_one("#dream-jobs", DataTable)
        if not await self._dream_runs():
            note.update(NO_DREAM)
            watching.clear()
            jobs.clear()
            return
        status = (await self._ask(DreamStatus()))["status"]
        listed = (await self._ask(DreamJobs(limit=50)))["jobs"]
        running = ", ".join(f"job {j['id']} of {j['neuro']} at {j['stage']}" for j in status["running"]) or "none"
        errors = "; ".join(f"cannot look at {n}: {e}" for n, e in sorted((status.get("errors") or {}).items()))
        note.update(f"dreaming: watching {len(status['watching'])} neuros; running: {running}"
                    + (f"; {errors}" if errors else ""))
        rows = [(w["neuro"], "yes" if w["cascade"] else "", f"{w['settings']['every']:g}s",
                 str(w["settings"]["min_traces"]), fmt_time(w["last_dream"]) if w["last_dream"] else "-")
                for w in status["watching"]]
        _replace(watching, rows, key=0)
        _replace(jobs, [_job_row(j) for j in listed], key=0)

    # -- actions ------------------------------------------------------------------------------

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(table_id, DataTable)
        if not table.rows:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    async def _start(self) -> Any:
        if await self._dream_runs():
            return "already dreaming"
        from neuro.dream import DreamStatus

        info = await self.client.spawn("neuro.dream:Dream", policy="dream")  # as `neuro dream run` starts it
        await self._ask(DreamStatus())  # it starts watching
        return info

    def action_start(self) -> None:
        self.shell.act("start dreaming", self._start, after=lambda _: self._show_daemon())

    def action_stop(self) -> None:
        from neuro.dream import DREAM_NAME

        self.shell.act("stop dreaming", lambda: self.client.stop(DREAM_NAME), after=lambda _: self._show_daemon(),
                       confirm="Stop the dream neuro? A running job is cut short; nothing of it goes live.")

    def action_dream(self) -> None:
        from neuro.dream import DreamRun

        name = self._selected("#dream-watching")
        if name is None:
            self.notify("no watched neuro selected (start dreaming first: g)", severity="warning")
            return
        self.shell.act(f"dream of {name}", lambda: self._ask(DreamRun(name=name, wait=False)),
                       after=lambda _: self._show_daemon())

    def action_cancel(self) -> None:
        from neuro.dream import DreamCancel

        job = self._selected("#dream-jobs")
        if job is None:
            self.notify("no job selected", severity="warning")
            return
        self.shell.act(f"cancel job {job}", lambda: self._ask(DreamCancel(job=job)),
                       after=lambda _: self._show_daemon())


def _job_row(j: dict[str, Any]) -> tuple[str, ...]:
    figures = j.get("figures") or {}
    return (str(j["id"]), j["neuro"], j["kind"], j["trigger"], j["state"], j["stage"], fmt_time(j["started"]),
            (j.get("version") or "-")[:12], (j.get("teacher") or "-")[:12],
            f"{figures['agreement']:.4f}" if "agreement" in figures else "-",
            f"{figures['speedup']:.1f}x" if "speedup" in figures else "-", short(j.get("reason") or "", 50))


def _replace(table: DataTable, rows: list[tuple[str, ...]], key: int | None) -> None:
    """The table's rows become `rows` (keyed by column `key`, or the first two joined), redrawn
    only if they differ."""
    if [tuple(str(c) for c in table.get_row(k)) for k in table.rows] == rows:
        return
    selected = None
    if table.rows:
        selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for row in rows:
        table.add_row(*row, key=row[key] if key is not None else "/".join(row[:2]))
    if selected in table.rows:
        table.move_cursor(row=table.get_row_index(selected), animate=False)
