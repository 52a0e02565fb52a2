"""The Call screen: pick a neuro, fill a form made from its input type (a union's members as a
choice, fields typed, defaults filled), then send (one way) or call (wait for the reply). The
reply shows below, or the error with the field it names marked. While a call waits, the bar
shows the callee's own progress where it reports some (`ctx.progress(job, done, total)`, on
``progress.<neuro>``, which the screen follows for the call's length), and pulses where not."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import msgspec
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from ._schema import Member, FormError, input_schema, members, payload
from ._view import View

__all__ = ["CallView"]


def _field_id(name: str) -> str:
    return "field-" + "".join(c if c.isalnum() else "_" for c in name)


class CallView(View):
    BINDINGS = [Binding("ctrl+s", "send", "Send"), Binding("ctrl+r", "call", "Call")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.members: list[Member] = []
        self.member = 0
        self.neuros: list[str] = []
        self._picked: str | None = None  # set by `pick` until its Select.Changed arrives
        self.last_result: Any = None
        self.last_error: Exception | None = None

    def compose(self) -> Any:
        with Horizontal(id="call-top"):
            yield Select([], prompt="pick a neuro", id="call-neuro", type_to_search=False)  # digits switch screens
            yield Select([], prompt="message type", id="call-member", type_to_search=False)
            yield Input("10", placeholder="timeout s", id="call-timeout")
        yield Label("", id="call-schema-note")
        yield VerticalScroll(id="call-form")
        with Horizontal(id="call-buttons"):
            yield Button("send (ctrl+s)", id="call-send")
            yield Button("call (ctrl+r)", id="call-call", variant="primary")
        with Horizontal(id="call-progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="call-progress")
            yield Static("", id="call-progress-note")
        yield Static("", id="call-result")

    async def connected(self) -> None:
        await self.shown()

    async def shown(self) -> None:
        if self.client is None:
            return
        names = sorted(p.name for p in await self.client.ps())
        if names != self.neuros:
            self.neuros = names
            select = self.query_one("#call-neuro", Select)
            current = select.value
            select.set_options([(n, n) for n in names])
            if current in names:
                select.value = current

    async def pick(self, name: str) -> None:
        """Make the form for neuro `name` (also what choosing it in the list does)."""
        if name not in self.neuros:  # asked before the list came (or for a neuro started since)
            await self.shown()
        select = self.query_one("#call-neuro", Select)
        if select.value != name:
            self._picked = name  # its Changed message comes later: the form is built by then
            select.value = name
        await self._build(name)

    async def _build(self, name: str) -> None:
        try:
            schema = await input_schema(self.client, name)
        except Exception as e:
            schema = None
            self.notify(f"info {name}: {e}", severity="warning")
        self.members = members(schema)
        note = ("" if schema else "The kernel gives no input schema for this neuro: the payload is one JSON value; "
                "a wrong field is named in the error.")
        self.query_one("#call-schema-note", Label).update(note)
        member_select = self.query_one("#call-member", Select)
        member_select.set_options([(m.title, i) for i, m in enumerate(self.members)])
        member_select.display = len(self.members) > 1
        self.member = 0
        if len(self.members) > 1:
            member_select.value = 0
        await self._fields()

    async def _fields(self) -> None:
        form = self.query_one("#call-form", VerticalScroll)
        await form.remove_children()
        if not self.members:
            return
        widgets: list[Any] = []
        for field in self.members[self.member].fields:
            label = f"{field.name}{'' if field.required else ' (optional)'}: {field.kind}"
            if field.description:
                label += f" [dim]{field.description}[/]"
            widgets.append(Label(label, id=_field_id(field.name) + "-label"))
            fid = _field_id(field.name)
            if field.kind == "boolean":
                widgets.append(Checkbox(field.name, value=field.default is True, id=fid))
            elif field.kind == "enum":
                opts = [(str(c), c) for c in field.choices]
                default = field.default if field.default in field.choices else Select.NULL
                widgets.append(Select(opts, value=default, allow_blank=not field.required, id=fid))
            else:
                widgets.append(Input(field.default_text(), placeholder=field.kind, id=fid,
                                     type="integer" if field.kind == "integer" else
                                     "number" if field.kind == "number" else "text"))
        await form.mount_all(widgets)
        inputs = [w for w in widgets if not isinstance(w, Label)]
        if inputs and self.shell.focused is not None and self in self.shell.focused.ancestors:
            inputs[0].focus()  # keyboard first: the neuro picked, type its first field

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self.members[self.member].fields:
            widget = self.query_one(f"#{_field_id(field.name)}")
            value = widget.value
            out[field.name] = None if value is Select.NULL else value
        return out

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "call-neuro" and event.value is not Select.NULL:
            if self._picked == event.value:  # `pick` built it already
                self._picked = None
                return
            await self._build(str(event.value))
        elif event.select.id == "call-member" and event.value is not Select.NULL:
            if self.member != event.value:
                self.member = int(event.value)  # type: ignore[arg-type]
                await self._fields()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "call-send":
            self.action_send()
        elif event.button.id == "call-call":
            self.action_call()

    def action_send(self) -> None:
        self.run_worker(self.shell._guard(self.submit(wait=False)), group="call", exclusive=True)

    def action_call(self) -> None:
        self.run_worker(self.shell._guard(self.submit(wait=True)), group="call", exclusive=True)

    async def submit(self, *, wait: bool) -> Any:
        """Send or call with what the form holds; the answer (or the error) shows below."""
        neuro = self.query_one("#call-neuro", Select).value
        result = self.query_one("#call-result", Static)
        self._mark(None)
        if neuro is Select.NULL or not self.members:
            result.update("[yellow]pick a neuro first[/yellow]")
            return None
        try:
            body = payload(self.members[self.member], self.values())
            timeout = float(self.query_one("#call-timeout", Input).value or 10)
        except FormError as e:
            self._fail(e, e.field)
            return None
        except ValueError as e:
            self._fail(e, None)
            return None
        bar = self.query_one("#call-progress", ProgressBar)
        bar.update(total=None, progress=0)  # it pulses until the callee says how far it is
        self.query_one("#call-progress-note", Static).update("")
        try:
            if wait:
                answer = await self._call_following_progress(str(neuro), body, timeout)
                text = json.dumps(msgspec.to_builtins(answer), indent=2, default=str)
                result.update(Text.assemble(("reply", "green"), f" from {neuro}:\n{text}"))
            else:
                answer = await self.client.send(str(neuro), body, timeout=timeout)
                result.update(f"[green]sent[/green] to {neuro}: message {answer}")
            self.last_result, self.last_error = answer, None
            return answer
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if isinstance(e, self.shell.source.lost_errors):
                self.shell.connection_lost(e)
            path = getattr(e, "path", None)
            field = path[2:].split(".")[0].split("[")[0] if isinstance(path, str) and path.startswith("$.") else None
            self._fail(e, field)
            return None
        finally:
            bar.update(total=1, progress=1)

    async def _call_following_progress(self, neuro: str, body: Any, timeout: float) -> Any:
        """The call, with the callee's progress events on the bar while it waits. Subscribed
        before the call is sent, so its first report is not missed."""
        async with self.client.subscribe(f"progress.{neuro}") as events:
            follow = asyncio.create_task(self._show_progress(events))
            try:
                return await self.client.call(neuro, body, timeout=timeout)
            finally:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow

    async def _show_progress(self, events: Any) -> None:
        from ._curves import progress_field

        bar = self.query_one("#call-progress", ProgressBar)
        note = self.query_one("#call-progress-note", Static)
        async for _topic, _sender, progress in events:
            done, total = progress_field(progress, "done", 0), progress_field(progress, "total", 0)
            if not isinstance(done, (int, float)) or not isinstance(total, (int, float)) or total <= 0:
                continue  # not a measure: the bar keeps pulsing
            bar.update(total=float(total), progress=min(float(done), float(total)))
            job, said = progress_field(progress, "job", ""), progress_field(progress, "note", "")
            note.update(f"{job}: {done:g} of {total:g}" + (f", {said}" if said else ""))

    def _fail(self, error: Exception, field: str | None) -> None:
        self.last_result, self.last_error = None, error
        where = f" (field {field})" if field else ""
        text = Text(f"{type(error).__name__}{where}: {error}", style="red")
        tb = getattr(error, "traceback", None)
        if tb:
            text.append(f"\n{tb}", style="dim")
        self.query_one("#call-result", Static).update(text)
        self._mark(field)

    def _mark(self, field: str | None) -> None:
        for widget in self.query_one("#call-form").children:
            widget.remove_class("invalid")
        if field:
            for widget in self.query(f"#{_field_id(field)}, #{_field_id(field)}-label"):
                widget.add_class("invalid")
