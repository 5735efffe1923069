"""Code approval: the block an agent wants to run, with run / edit then run / skip."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


class ApprovalScreen(ModalScreen[object]):
    """Dismisses with "run", "skip", or the edited code (a string) to run instead."""

    CSS_PATH = "approval.tcss"

    BINDINGS = [
        Binding("ctrl+r", "run_editor", "Run (as edited)", id="approval.run", priority=True),
        Binding("ctrl+e", "edit", "Edit", id="approval.edit"),
        Binding("escape", "skip", "Skip", id="approval.skip"),
    ]

    def __init__(self, agent: str, language: str, code: str, executor: str | None = None) -> None:
        super().__init__()
        self.agent = agent
        self.language = language
        self.code = code
        self.executor = executor

    def compose(self) -> ComposeResult:
        where = f" on the {self.executor} executor" if self.executor else ""
        with Vertical(id="approval"):
            yield Static(Text.assemble(("Run this code?", "bold"), f"  {self.agent} wants to run {self.language}{where}."),
                         id="approval-title")
            yield TextArea.code_editor(self.code, id="approval-code", read_only=True, soft_wrap=True)
            yield Static("Run as shown, edit it first (Ctrl+E, then Ctrl+R to run your version), or skip (Esc).",
                         id="approval-help")
            with Horizontal(id="approval-buttons"):
                yield Button("Run", id="run", variant="success")
                yield Button("Edit then run", id="edit", variant="primary")
                yield Button("Skip", id="skip", variant="error")

    def on_mount(self) -> None:
        self.query_one("#run", Button).focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#approval-code", TextArea)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "run":
            self.dismiss("run")
        elif event.button.id == "skip":
            self.dismiss("skip")
        elif event.button.id == "edit":
            if self.editor.read_only:
                self.action_edit()
            else:
                self.action_run_editor()

    def action_edit(self) -> None:
        self.editor.read_only = False
        self.editor.focus()
        self.query_one("#edit", Button).label = "Run edited"
        self.query_one("#approval-help", Static).update("Editing: Ctrl+R (or Run edited) runs your version; Esc skips.")

    def action_run_editor(self) -> None:
        text = self.editor.text
        self.dismiss("run" if text == self.code else text)

    def action_skip(self) -> None:
        self.dismiss("skip")
