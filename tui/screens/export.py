"""Export the chat from its screen: the session's recording as Markdown or JSON (``Session.export``,
what ``moot sessions export`` writes), to a file the user names; the suffix picks the format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..settings import declare, key_label


def export_format(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "md"


def write_export(session: Any, path: Path) -> str:
    """Write the export; returns what the user is told (where, which format, how big)."""
    fmt = export_format(path)
    text = session.export(fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    name = "JSON" if fmt == "json" else "Markdown"
    return f"exported the session to {path.resolve()} ({name}, {text.count(chr(10)) + 1} lines)"


class ExportScreen(ModalScreen[Path | None]):
    """Asks where to write (a path prefilled in the working directory); Enter writes."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 90; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    ExportScreen Static { height: auto; }
    ExportScreen Input { margin: 1 0 0 0; }
    """
    BINDINGS = declare("export", [Binding("escape", "cancel", "Cancel", id="export.cancel")])

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Export this chat", style="bold"))
            yield Static(Text(f"A file ending .md is Markdown (every message, readable); .json is the recording "
                              f"(moot sessions import reads it). Enter: write · {key_label('export.cancel')}: cancel",
                              style="dim"))
            yield Input(str(self.default), id="export-path")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.notify("name the file to write", severity="warning")
            return
        self.dismiss(Path(value).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)
