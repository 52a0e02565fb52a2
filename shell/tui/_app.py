"""`ShellApp`: the shell's frame: one tab per screen, the connection (and its banner when it is
lost), the refresh timer, the kernel-event feed, the command palette's actions and `?`."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Awaitable, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Static, TabbedContent, TabPane

from ._footer import ShellFooter
from ._source import Source
from ._view import View

__all__ = ["ShellApp", "SCREENS_IN_ORDER", "view_class"]

#: (id, title, module and class of its view) of each screen, with its number key. A view's
#: module is imported when the screen mounts: all but the first mount after the first frame.
SCREENS_IN_ORDER: tuple[tuple[str, str, str], ...] = (
    ("processes", "Processes", "_processes:ProcessesView"), ("log", "Log", "_logview:LogView"),
    ("call", "Call", "_callview:CallView"), ("versions", "Versions", "_versions:VersionsView"),
    ("policies", "Policies", "_policies:PoliciesView"), ("dream", "Dream", "_dream:DreamView"),
    ("nets", "Nets", "_nets:NetsView"),
)


def view_class(sid: str) -> type[View]:
    """The view class of screen `sid`."""
    import importlib

    where = next(w for s, _, w in SCREENS_IN_ORDER if s == sid)
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _collect_from_now_on() -> None:
    """Turn the cyclic GC back on where `neuro shell` started with it off (commands_tui): one
    collection for what the start left, then the rest is frozen, so that later collections
    do not pass over the modules and widgets that live as long as the app."""
    if gc.isenabled():
        return  # not started by `neuro shell` (a test's app): its GC is not ours to change
    gc.collect()
    gc.freeze()
    gc.enable()


CSS = """
#banner { background: $error; color: $text; height: auto; padding: 0 1; display: none; }
#banner.lost { display: block; }
#log-filters, #call-top, #call-buttons { height: auto; }
#log-filters Input { width: 1fr; } #log-filters Select { width: 24; } #log-filters #log-corr { width: 22; }
#call-top Select { width: 40; } #call-top Input { width: 16; }
#call-form { height: auto; max-height: 20; }
#call-result { height: auto; padding: 0 1; }
#call-progress-row { height: 1; } #call-progress-note { width: 1fr; padding: 0 1; }
.invalid { border: tall $error; color: $error; }
#ver-neuros { width: 30; }
DataTable { height: 1fr; }
#proc-status, #log-status, #ver-status, #pol-status { height: 1; background: $boost; padding: 0 1; }
#pol-table { height: 8; } #pol-use { height: 1fr; } #pol-breaches { height: 8; }
#nets-lists { width: 3fr; } #nets-picture { width: 2fr; } #nets-table { height: 6; } #nets-edges { height: 8; }
#nets-graph-title { height: auto; background: $boost; padding: 0 1; } #nets-graph { width: auto; }
"""


class ShellApp(App):
    """The textual shell on one `Source` (the daemon, or an embedded kernel), refreshed every
    `refresh` seconds while something changes."""

    TITLE = "neuro shell"
    CSS = CSS
    BINDINGS = [
        # the tabs show these keys' screens already: the footer leaves them out (`?` lists them)
        *(Binding(str(i), f"screen('{sid}')", title, show=False)
          for i, (sid, title, _) in enumerate(SCREENS_IN_ORDER, 1)),
        Binding("question_mark", "keys", "Keys"), Binding("q", "quit", "Quit"),
        Binding("escape", "leave_input", "Leave the field", show=False),
    ]

    def __init__(self, source: Source, *, refresh: float = 1.0, screen: str = "processes",
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        if refresh <= 0:
            raise ValueError(f"--refresh is seconds between looks, above 0; got {refresh}")
        self.source, self.refresh_every, self.first_screen, self.clock = source, refresh, screen, clock
        self.client: Any = None
        self.ready = asyncio.Event()  # set while a client is open
        self.subscribed = asyncio.Event()  # set while kernel events reach the views
        self.lost_reason: str | None = None
        self.reconnects = 0
        self._lost = asyncio.Event()
        self._ticking = False

    def compose(self) -> Any:
        yield Static("", id="banner")
        with TabbedContent(initial=self.first_screen, id="tabs"):
            for sid, title, _where in SCREENS_IN_ORDER:
                with TabPane(title, id=sid):
                    if sid == self.first_screen:
                        yield view_class(sid)(id=f"view-{sid}")
        yield ShellFooter()

    async def on_mount(self) -> None:
        self.sub_title = self.source.describe()
        self.shown_view().focus_first()
        await self.query_one(ShellFooter).draw_now()  # the keys are in the first frame, not a frame later
        self.set_interval(self.refresh_every, self._tick)
        infos = self.source.preview.infos() if self.source.preview is not None else None
        waits = infos is not None and self.first_screen == "processes"
        if waits:
            # the daemon's table as the lean path read it: the first frame shows it, and the client
            # (whose imports cost more than that frame) connects after it
            self.view("processes").apply(self.view("processes").model.update(infos, self.clock()))
        else:
            self._connect()
        self.run_worker(self._after_first_frame(connect=waits), group="first-frame")

    async def _after_first_frame(self, *, connect: bool) -> None:
        """Once the first full frame is on the screen: the client (if it waited for it), then the
        screens not shown, so neither delays that frame."""
        try:
            await asyncio.wait_for(self.query_one(ShellFooter).drawn.wait(), timeout=1.0)
        except (asyncio.TimeoutError, NoMatches):
            pass  # no footer to wait for (a pop-up, a closing app): go on now
        if connect:
            self._connect()
        try:
            for sid, _title, _view in SCREENS_IN_ORDER:
                await self._mount_view(sid)
        finally:
            _collect_from_now_on()

    async def _mount_view(self, sid: str) -> None:
        """Mount screen `sid` in its tab unless it is there (each but the first mounts after the first frame)."""
        try:
            pane = self.base.query_one(f"TabPane#{sid}", TabPane)
        except NoMatches:
            return  # the app is closing
        if not pane.query(f"#view-{sid}"):
            await pane.mount(view_class(sid)(id=f"view-{sid}"))

    def _connect(self) -> None:
        # screens mounted later (lazily) hear of the client in their own on_mount
        self.run_worker(self._keep_connected(), group="connection", exclusive=True)

    # -- the views ----------------------------------------------------------------------------

    @property
    def base(self) -> Any:
        """The screen the tabs are on (a pop-up may be on top of it). NoMatches, as for a screen
        gone, once a closing app has none: a refresh tick can come that late."""
        stack = self.screen_stack
        if not stack:
            raise NoMatches("the app is closing: it has no screen")
        return stack[0]

    def views(self) -> list[View]:
        return list(self.base.query(View))

    def view(self, sid: str) -> Any:
        return self.base.query_one(f"#view-{sid}")

    def shown_view(self) -> View:
        return self.view(self.base.query_one("#tabs", TabbedContent).active)

    def action_leave_input(self) -> None:
        """Escape in a text field gives the keys back to the screen (digits switch screens again)."""
        self.shown_view().focus_first()

    def action_screen(self, sid: str) -> None:
        self.base.query_one("#tabs", TabbedContent).active = sid

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        try:
            await self._mount_view(self.base.query_one("#tabs", TabbedContent).active)  # turned to before it mounted
            shown = self.shown_view()
        except NoMatches:
            return  # the app is closing
        shown.focus_first()
        for view in self.views():
            if view is not shown:
                view.hidden()
        if self.client is not None:
            await self._guard(shown.shown())

    def open_log(self, *, neuro: str | None = None) -> None:
        self.action_screen("log")
        self.view("log").set_filters(neuro=neuro)

    async def _tick(self) -> None:
        if self.client is None or self._ticking:
            return
        self._ticking = True  # a slow kernel makes ticks wait, never pile up
        try:
            processes = self.view("processes")
            await self._guard(processes.tick())
            shown = self.shown_view()
            if shown is not processes:
                await self._guard(shown.tick())
        except NoMatches:
            pass  # the app is closing: its screens are gone
        finally:
            self._ticking = False

    # -- the connection -----------------------------------------------------------------------

    async def _keep_connected(self) -> None:
        delay = 0.25
        while True:
            client = self.source.open()
            try:
                await client.__aenter__()
                await self.source.prepare(client)
            except Exception as e:
                if not self.source.reconnects:
                    self._banner(f"cannot start: {type(e).__name__}: {e}")
                    return
                self._banner(f"{e}. Trying again in {delay:g} s.")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.25
            self.client, self.lost_reason = client, None
            self._lost.clear()
            self._banner(None)
            self.ready.set()
            try:
                for view in self.views():
                    await self._guard(view.connected())
                await self._watch(client)
            finally:
                self.ready.clear()
                self.subscribed.clear()
                self.client = None
                try:
                    await client.__aexit__(None, None, None)
                except Exception:
                    pass
            if not self.source.reconnects:
                return
            self.reconnects += 1
            self._banner(f"connection lost ({self.lost_reason}); reconnecting…")

    async def _watch(self, client: Any) -> None:
        """Kernel events to the views, until the connection is lost."""
        feed = asyncio.ensure_future(self._feed(client))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({feed, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (feed, lost):
                task.cancel()
            await asyncio.gather(feed, lost, return_exceptions=True)

    async def _feed(self, client: Any) -> None:
        while True:
            try:
                async with client.subscribe("kernel.events") as events:
                    self.subscribed.set()
                    async for _topic, _sender, event in events:
                        for view in self.views():
                            view.kernel_event(event)
                await client.ping()  # the stream ended: is the kernel still there?
            except self.source.lost_errors as e:
                self.connection_lost(e)
                return

    def connection_lost(self, error: BaseException) -> None:
        """A call found the kernel gone: drop the client and reconnect."""
        if not self._lost.is_set():
            self.lost_reason = f"{type(error).__name__}: {error}"
            self._lost.set()

    def _banner(self, text: str | None) -> None:
        try:
            banner = self.base.query_one("#banner", Static)
        except NoMatches:
            return  # the app is closing
        banner.update(text or "")
        banner.set_class(bool(text), "lost")

    async def _guard(self, work: Awaitable[Any]) -> Any:
        """Run a view's work; a lost connection reconnects, any other error is a notice."""
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except self.source.lost_errors as e:
            self.connection_lost(e)
        except NoMatches:
            pass  # the app is closing and its widgets are gone
        except Exception as e:
            self.notify(f"{type(e).__name__}: {e}", severity="error", timeout=8)
        return None

    # -- actions ------------------------------------------------------------------------------

    def act(self, label: str, make: Callable[[], Awaitable[Any]], *, confirm: str | None = None,
            after: Callable[[Any], Awaitable[Any]] | None = None) -> None:
        """Do `make()` (after a yes to `confirm`), then tell the user how it went."""

        async def run() -> None:
            if confirm is not None:
                from ._details import ConfirmScreen

                if not await self.push_screen_wait(ConfirmScreen(confirm)):
                    return
            try:
                result = await make()
            except asyncio.CancelledError:
                raise
            except self.source.lost_errors as e:
                self.connection_lost(e)
                return
            except Exception as e:
                self.notify(f"{label}: {type(e).__name__}: {e}", severity="error", timeout=8)
                self.last_action = (label, e)
                return
            self.last_action = (label, result)
            self.notify(f"{label}: done")
            if after is not None:
                await self._guard(after(result))

        self.run_worker(self._guard(run()), group="action")

    last_action: tuple[str, Any] | None = None

    def action_keys(self) -> None:
        from ._details import HelpScreen

        def keys(bindings: Iterable[Any]) -> list[tuple[str, str]]:
            out = []
            for b in bindings:
                b = b[1] if isinstance(b, tuple) and len(b) == 2 and not isinstance(b[0], str) else b
                if isinstance(b, Binding):
                    out.append((b.key.replace("question_mark", "?").replace("slash", "/"), b.description or b.action))
            return out

        shown = self.shown_view()
        self.push_screen(HelpScreen([("everywhere", keys(self.BINDINGS)),
                                     (f"{type(shown).__name__.removesuffix('View')} screen", keys(shown.BINDINGS)),
                                     ("tables", [("up/down", "move"), ("enter", "open the selected row")])]))

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, (sid, title, _) in enumerate(SCREENS_IN_ORDER, 1):
            yield SystemCommand(f"Go to {title}", f"show the {title} screen (key {i})",
                                lambda sid=sid: self.action_screen(sid))
        for sid, title, _where in SCREENS_IN_ORDER:
            for b in view_class(sid).BINDINGS:
                if isinstance(b, Binding) and b.description:
                    yield SystemCommand(f"{title}: {b.description}", f"key {b.key} on the {title} screen",
                                        lambda sid=sid, action=b.action: self._run_view_action(sid, action))
        yield SystemCommand("Keys", "every key of this screen (?)", self.action_keys)

    def _run_view_action(self, sid: str, action: str) -> None:
        self.action_screen(sid)
        self.call_after_refresh(lambda: self.run_worker(self._guard(self.view(sid).run_action(action)),
                                                       group="palette"))
