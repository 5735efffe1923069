"""The chat's input bar: a TextArea that grows with its text (up to 8 lines).

Enter sends (while an agent streams: queued for the next turn; Ctrl+Enter or Alt+Enter sends it
now, cutting the turn short); Shift+Enter or Ctrl+J starts a new line; a paste is kept whole (every line); Up on the
first line recalls earlier messages (Down goes back toward the draft); Ctrl+G edits the message in
``$VISUAL`` / ``$EDITOR`` (the app steps aside while the editor runs).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from ..settings import declare


class ChatInput(TextArea):
    DEFAULT_CSS = """
    ChatInput { height: auto; min-height: 3; max-height: 10; }
    """
    BINDINGS = declare("chat", [
        Binding("ctrl+g", "editor", "Edit in $EDITOR", id="chat.editor"),
        Binding("ctrl+enter,alt+enter", "submit(True)", "Send now", id="chat.send_now", show=False),
    ])

    @dataclass
    class Submitted(Message):
        input: ChatInput
        value: str
        now: bool = False  # sent with the "send now" key: cut a streaming turn short for it

        @property
        def control(self) -> ChatInput:
            return self.input

    def __init__(self, *, sent: list[str] | None = None, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.sent = sent if sent is not None else []  # sent messages, oldest first
        self._at: int | None = None  # the history entry shown (None: the draft)
        self._draft = ""

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, self.wrapped_document.height)  # (TextArea itself fills its container)

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.refresh(layout=True)  # grow or shrink with the text

    @property
    def value(self) -> str:
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            if not self.read_only:
                self.insert("\n")
            return
        if key == "up" and self.cursor_location[0] == 0 and self.recall(-1):
            event.stop()
            event.prevent_default()
            return
        if key == "down" and self.cursor_location[0] == self.document.line_count - 1 and self.recall(1):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def submit(self, now: bool = False) -> None:
        text = self.text
        if text.strip() and (not self.sent or self.sent[-1] != text):
            self.sent.append(text)
        self._at = None
        self._draft = ""
        self.post_message(self.Submitted(self, text, now))

    def action_submit(self, now: bool = False) -> None:
        self.submit(now)

    def recall(self, step: int) -> bool:
        """Show the previous (``step`` -1) or next (+1) message of the history; False at its end."""
        if not self.sent:
            return False
        if self._at is None:
            if step > 0:
                return False
            self._draft = self.text
            at = len(self.sent) - 1
        else:
            at = self._at + step
        if at < 0:
            return True  # the oldest: stay on it
        if at >= len(self.sent):
            self._at = None
            self.value = self._draft
            return True
        self._at = at
        self.value = self.sent[at]
        return True

    def action_editor(self) -> None:
        """Ctrl+G: write the message in $VISUAL or $EDITOR (vi when neither is set)."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, name = tempfile.mkstemp(prefix="moot-message-", suffix=".md")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.text)
            with self.app.suspend():
                code = subprocess.run([*shlex.split(editor), name]).returncode
            if code != 0:
                self.notify(f"the editor ({editor}) exited with {code}; the message is unchanged", severity="warning")
                return
            self.value = path.read_text(encoding="utf-8").rstrip("\n")
        except Exception as exc:  # no terminal to give (tests, web), an editor that is not installed
            self.notify(f"cannot open the editor {editor!r}: {exc}", severity="warning")
        finally:
            path.unlink(missing_ok=True)
            self.focus()
