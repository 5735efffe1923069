"""Search in the conversation: a bar above the panes (Ctrl+F) that finds every match in what the
conversation shows, highlights the current one (the screen's text selection) and the turns that
match, and counts them ("3/7"); Enter or Down goes to the next, Shift+Enter or Up to the previous."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.geometry import Offset
from textual.message import Message
from textual.selection import Selection
from textual.widget import Widget
from textual.widgets import Input, Static

from ..settings import declare, key_label


@dataclass
class Match:
    widget: Widget
    line: int
    column: int
    length: int

    @property
    def selection(self) -> Selection:
        return Selection(Offset(self.column, self.line), Offset(self.column + self.length, self.line))


def _shown(widget: Widget, root: Widget) -> bool:
    """Shown in ``root`` (not in a closed fold, a hidden turn or tail)."""
    node: Widget | None = widget
    while node is not None and node is not root:
        if not node.display:
            return False
        node = node.parent  # type: ignore[assignment]
    return node is root


def find_matches(root: Widget, query: str) -> list[Match]:
    """Every (case-insensitive) occurrence of ``query`` in the text ``root``'s widgets show, in
    order down the pane."""
    needle = query.lower()
    found: list[Match] = []
    if not needle:
        return found
    for widget in root.query(Static):
        if widget.children or not _shown(widget, root):
            continue
        visual = widget._render()
        if not isinstance(visual, (Text, Content)):
            continue
        for y, line in enumerate(str(visual).lower().split("\n")):
            x = line.find(needle)
            while x >= 0:
                found.append(Match(widget, y, x, len(needle)))
                x = line.find(needle, x + 1)
    return found


class SearchBar(Horizontal):
    DEFAULT_CSS = """
    SearchBar { height: 1; display: none; background: $panel; }
    SearchBar.-open { display: block; }
    SearchBar > Input, SearchBar > Input:focus { width: 1fr; height: 1; border: none; padding: 0 1; }
    SearchBar > #search-count { width: auto; min-width: 12; padding: 0 1; }
    """
    BINDINGS = declare("search", [
        Binding("down", "step(1)", "Next match", id="search.next"),
        Binding("up,shift+enter", "step(-1)", "Previous match", id="search.previous"),
        Binding("escape", "close", "Close search", id="search.close"),
    ])

    @dataclass
    class Find(Message):
        """Find ``query``; ``step``: 0 the first match from the top, 1 the next, -1 the previous."""
        query: str
        step: int

    class Closed(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Input(placeholder=f"Search the conversation · Enter/{key_label('search.next')}: next · "
                                f"{key_label('search.previous')}: previous · {key_label('search.close')}: close",
                    id="search-input")
        yield Static("", id="search-count")

    @property
    def query_text(self) -> str:
        return self.query_one(Input).value

    def open(self) -> None:
        self.add_class("-open")
        self.query_one(Input).focus()

    def show_count(self, current: int, total: int) -> None:
        text = f"{current + 1}/{total}" if total else ("no match" if self.query_text else "")
        self.query_one("#search-count", Static).update(Text(text, style="bold" if total else "yellow"))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Find(event.value, 0))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Find(event.value, 1))

    def action_step(self, step: int) -> None:
        self.post_message(self.Find(self.query_text, step))

    def action_close(self) -> None:
        self.remove_class("-open")
        self.post_message(self.Closed())
