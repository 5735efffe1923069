"""Code approval: the block an agent wants to run, with run / edit then run / skip."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

from ..settings import declare, key_label


ARM_DELAY_S = 0.6  # Run and Edit do nothing this long after the modal appears


class ApprovalScreen(ModalScreen[object]):
    """Dismisses with "run", "skip", or the edited code (a string) to run instead.

    Approval cannot happen by accident: the modal opens with the code in focus, not the Run
    button, and its buttons arm only after a moment, so keys the user was typing when it
    appeared (Enter included) approve nothing. Run runs what is shown (the edited code once
    edited); Esc while editing leaves the editor, keeping the edit."""

    CSS_PATH = "approval.tcss"
    armed = False  # (until a moment after the modal is shown)

    BINDINGS = declare("approval", [
        Binding("ctrl+r", "run_editor", "Run (as edited)", id="approval.run", priority=True),
        Binding("ctrl+e", "edit", "Edit", id="approval.edit"),
        Binding("escape", "skip", "Skip", id="approval.skip"),
    ])

    def __init__(self, agent: str, language: str, code: str, executor: str | None = None, author: str = "") -> None:
        super().__init__()
        self.agent = agent
        self.author = author  # who wrote the code ("" unknown): the agent only runs it
        self.language = language
        self.code = code
        self.executor = executor

    def compose(self) -> ComposeResult:
        where = f" on the {self.executor} executor" if self.executor else ""
        with Vertical(id="approval"):
            said = (f"  {self.author} wrote this {self.language}; {self.agent} would run it{where}."
                    if self.author and self.author != self.agent else f"  {self.agent} wants to run {self.language}{where}.")
            yield Static(Text.assemble(("Run this code?", "bold"), said), id="approval-title")
            yield TextArea.code_editor(self.code, id="approval-code", read_only=True, soft_wrap=True)
            yield Static(f"Run it as shown (Run, or {key_label('approval.run')}), edit it first ({key_label('approval.edit')}), "
                         f"or skip it ({key_label('approval.skip')}).",
                         id="approval-help")
            with Horizontal(id="approval-buttons"):
                yield Button("Run", id="run", variant="success")
                yield Button("Edit then run", id="edit", variant="primary")
                yield Input(placeholder="why skip? (optional: the agent is told)", id="skip-reason")
                yield Button("Skip", id="skip", variant="error")

    def on_mount(self) -> None:
        self.armed = False
        for button in self.query(Button):
            button.disabled = True
        self.editor.focus()
        self.set_timer(ARM_DELAY_S, self._arm)

    def _arm(self) -> None:
        self.armed = True
        for button in self.query(Button):
            button.disabled = False

    @property
    def editor(self) -> TextArea:
        return self.query_one("#approval-code", TextArea)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if not self.armed:
            return
        if event.button.id == "run":
            self.action_run_editor()  # what is shown: the edited code, once edited
        elif event.button.id == "skip":
            self.dismiss(self._skip_answer())
        elif event.button.id == "edit":
            if self.editor.read_only:
                self.action_edit()
            else:
                self.action_run_editor()

    def action_edit(self) -> None:
        if not self.armed:
            return
        self.editor.read_only = False
        self.editor.focus()
        self.query_one("#edit", Button).label = "Run edited"
        self.query_one("#approval-help", Static).update(f"Editing: {key_label('approval.run')} (or Run edited) runs your version; "
                                                            f"{key_label('approval.skip')} leaves the editor.")

    def action_run_editor(self) -> None:
        if not self.armed:
            return
        text = self.editor.text
        self.dismiss("run" if text == self.code else text)

    def action_skip(self) -> None:
        """Esc: while editing, leave the editor (the edit is kept); else skip the block."""
        editor = self.editor
        if not editor.read_only and editor.has_focus:
            self.query_one("#edit", Button).focus()
            self.query_one("#approval-help", Static).update(
                f"Edited: Run (or {key_label('approval.run')}) runs your version; {key_label('approval.edit')} edits again; "
                f"{key_label('approval.skip')} skips.")
            return
        self.dismiss(self._skip_answer())

    def _skip_answer(self) -> object:
        """"skip", or ("skip", reason) when the user wrote why (the agent reads it)."""
        reason = "".join(i.value for i in self.query("#skip-reason").results(Input)).strip()
        return ("skip", reason) if reason else "skip"
