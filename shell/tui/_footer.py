"""The footer of key bindings, redrawn once per burst of binding changes.

textual's `Footer` recomposes (one widget per key) each time the screen says its bindings
changed, and at start-up it is told so several times in a row (focus, the screen resuming,
tabs mounting): five recomposes of twenty keys, a tenth of a second before the first full frame.
This one queues at most one recompose at a time; the changes that come while it waits are
drawn by it. `drawn` is set once the keys are on the screen (the first full frame).
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import Footer

__all__ = ["ShellFooter"]


class ShellFooter(Footer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._queued = False
        self.drawn = asyncio.Event()

    def bindings_changed(self, screen: Any) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._queued:
            self._queued = True
            self.call_after_refresh(self._redraw)

    async def draw_now(self) -> None:
        """Compose the keys of the bindings in force now (the app's first frame shows them)."""
        self._bindings_ready = True
        with self._context():  # as the footer's own message pump (its keys bind to it)
            await self._redraw()

    async def _redraw(self) -> None:
        self._queued = False  # a change from here on queues the next one
        await self.recompose()
        if not self.drawn.is_set():
            self.call_after_refresh(self.drawn.set)
