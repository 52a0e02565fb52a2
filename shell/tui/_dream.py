"""The Dream and learning screen. There is no dream daemon yet (dream/ is empty) and the kernel
keeps no dream or learner jobs, so there is nothing to list: the screen says so, and shows the
versions the dream daemon would make (origin ``dream``) if any neuro has one."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from ._view import View, fmt_time, short

__all__ = ["DreamView", "NO_DREAM"]

NO_DREAM = ("No dream daemon yet: the kernel keeps no dream or learner jobs to show. "
            "When one lands, its jobs (queued, running, done, rejected) with gate figures and lineage appear here. "
            "Below: stored versions whose origin is `dream`.")


class DreamView(View):
    def compose(self) -> Any:
        yield Static(NO_DREAM, id="dream-note")
        table: DataTable = DataTable(id="dream-versions", cursor_type="row")
        for key in ("neuro", "version", "recorded", "teacher", "gate"):
            table.add_column(key, key=key)
        yield table

    async def shown(self) -> None:
        if self.client is None:
            return
        table = self.query_one("#dream-versions", DataTable)
        table.clear()
        for p in await self.client.ps():
            for v in await self.client.versions(p.name):
                if v.origin == "dream":
                    table.add_row(v.neuro, v.version[:16], fmt_time(v.time), (v.lineage.teacher or "")[:16],
                                  short(v.lineage.gate, 60))
