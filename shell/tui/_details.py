"""The shell's pop-up screens: a neuro's info, a message with its outcome and trace, text (a
version's source, a diff), a yes/no question, and the keys."""

from __future__ import annotations

import json
from typing import Any, Iterable

import msgspec
from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, Tree

from ._view import fmt_time, short

__all__ = ["InfoScreen", "MessageScreen", "TextScreen", "ConfirmScreen", "HelpScreen"]


def _pretty(value: Any) -> str:
    try:
        return json.dumps(msgspec.to_builtins(value), indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class _Popup(ModalScreen):
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    _Popup { align: center middle; }
    _Popup > VerticalScroll { width: 90%; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """


class InfoScreen(_Popup):
    """`info(name)`, its mailbox and its policy."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.neuro = name

    def compose(self) -> Any:
        with VerticalScroll():
            yield Label(f"[b]{self.neuro}[/b]  (escape closes)")
            yield Static("loading…", id="info-body")

    async def on_mount(self) -> None:
        client = self.app.client  # type: ignore[attr-defined]
        try:
            info = await client.info(self.neuro)
            mailbox = await client.mailbox_statistics(self.neuro)
            policy = (await client.policies()).get(getattr(info, "policy", ""), None)
            body = (f"[b]process[/b]\n{_pretty(info)}\n\n[b]mailbox[/b]\n{_pretty(mailbox)}\n\n"
                    f"[b]policy[/b]\n{_pretty(policy)}")
        except Exception as e:
            body = f"[red]{type(e).__name__}: {e}[/red]"
        self.query_one("#info-body", Static).update(Text.from_markup(body) if "[b]" in body else body)


class MessageScreen(_Popup):
    """One logged message: envelope, payload, outcome, error with traceback, and its trace."""

    def __init__(self, message_id: int) -> None:
        super().__init__()
        self.message_id = message_id

    def compose(self) -> Any:
        with VerticalScroll():
            yield Label(f"[b]message {self.message_id}[/b]  (escape closes)")
            yield Static("loading…", id="msg-body")
            yield Label("[b]trace[/b]: what was sent while handling it")
            yield Tree("trace", id="msg-trace")

    async def on_mount(self) -> None:
        client = self.app.client  # type: ignore[attr-defined]
        try:
            node = await client.trace(self.message_id)
        except Exception as e:
            self.query_one("#msg-body", Static).update(f"{type(e).__name__}: {e}")
            return
        if node is None:
            self.query_one("#msg-body", Static).update("not in the log (pruned, or never accepted)")
            return
        self.query_one("#msg-body", Static).update(self.describe(node.message))
        tree = self.query_one("#msg-trace", Tree)
        tree.root.expand()

        def add(parent: Any, n: Any) -> None:
            m = n.message
            label = f"{m.id} {m.sender} -> {m.recipient} {m.kind}: {m.outcome or 'pending'}"
            branch = parent.add(label, expand=True) if n.children else parent.add_leaf(label)
            for child in n.children:
                add(branch, child)

        add(tree.root, node)

    @staticmethod
    def describe(m: Any) -> Text:
        out = Text()
        out.append("envelope\n", style="bold")
        for key in ("id", "sender", "recipient", "kind", "topic", "correlation", "parent"):
            out.append(f"  {key:<12} {getattr(m, key)}\n")
        out.append(f"  {'time':<12} {fmt_time(m.time)}\n")
        out.append(f"  {'deadline':<12} {fmt_time(m.deadline) or 'none'}\n")
        out.append("payload\n", style="bold")
        out.append(_pretty(m.payload) + "\n")
        out.append("outcome\n", style="bold")
        style = {"handled": "green", "error": "red", "dead": "yellow"}.get(m.outcome or "", "")
        out.append(f"  {m.outcome or 'none yet'}", style=style)
        out.append(f"  {m.reason or ''}  latency {m.latency if m.latency is not None else '-'} s, "
                   f"service {m.service if m.service is not None else '-'} s, version {m.version or '-'}\n")
        if m.reply is not None:
            out.append("reply\n", style="bold")
            out.append(_pretty(m.reply) + "\n")
        if m.error:
            out.append("error\n", style="bold red")
            out.append(f"  {m.error.get('type')}: {m.error.get('message')}\n", style="red")
            if m.error.get("path"):
                out.append(f"  path {' -> '.join(map(str, m.error['path']))}\n")
            if m.error.get("traceback"):
                out.append(m.error["traceback"] + "\n", style="dim")
        return out


class TextScreen(_Popup):
    """A version's source or a diff, highlighted."""

    def __init__(self, title: str, text: str, lexer: str = "python") -> None:
        super().__init__()
        self.title_text, self.text, self.lexer = title, text, lexer

    def compose(self) -> Any:
        with VerticalScroll():
            yield Label(f"[b]{self.title_text}[/b]  (escape closes)")
            yield Static(Syntax(self.text or "(empty)", self.lexer, line_numbers=self.lexer == "python",
                                word_wrap=False), id="text-body")


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or enter says yes, n or escape no."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Horizontal { width: 70; height: auto; border: round $warning; background: $surface; padding: 1; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> Any:
        with Horizontal():
            yield Label(f"{self.question}  [b]y[/b]/[b]n[/b]")
            yield Button("yes", id="yes", variant="warning")
            yield Button("no", id="no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpScreen(_Popup):
    """The keys: the app's, then the shown screen's."""

    def __init__(self, sections: Iterable[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = list(sections)

    def compose(self) -> Any:
        lines = []
        for title, keys in self.sections:
            lines.append(f"[b]{title}[/b]")
            lines.extend(f"  [b]{key:<14}[/b] {short(what, 70)}" for key, what in keys)
            lines.append("")
        lines.append("ctrl+p opens the command palette: every action by name.")
        with VerticalScroll():
            yield Label("[b]keys[/b]  (escape closes)")
            yield Static("\n".join(lines), id="help-body")
