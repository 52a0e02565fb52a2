"""The bare textual app bench/shell.py feeds the same message stream as the shell's Log screen:
a client of the daemon tailing the log as it is committed (the same `tail` the Log screen
follows), each row one line of a plain textual `Log` widget, and nothing else. Run as
``python bench/_shell_bare_stream.py SOCKET``; it shows ``live`` once it follows the log."""

from __future__ import annotations

import json
import sys

from textual.app import App
from textual.widgets import Log, Static

KEEP = 1000  # lines held, as the Log screen holds rows


class BareStream(App):
    def __init__(self, socket: str) -> None:
        super().__init__()
        self.socket = socket

    def compose(self):
        yield Static("connecting", id="status")
        yield Log(max_lines=KEEP, id="log")

    def on_mount(self) -> None:
        self.run_worker(self._follow(), exclusive=True)

    async def _follow(self) -> None:
        from neuro.client import connect

        log = self.query_one("#log", Log)
        async with connect(self.socket, client="bench-bare") as client:
            newest = await client.messages(limit=1, newest_first=True)
            async with client.tail(after_id=newest[0].id if newest else None) as rows:
                self.query_one("#status", Static).update("live")
                async for m in rows:
                    log.write_line(f"{m.id} {m.sender} -> {m.recipient} {m.kind} {m.outcome or '…'} "
                                   f"{json.dumps(m.payload, default=str, separators=(',', ':'))}")


if __name__ == "__main__":
    BareStream(sys.argv[1]).run()
